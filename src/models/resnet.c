/* models/resnet.c - ResNet v1.5 as a list of nodes over planned activations.
 * defines: ws_resnet_opts_default, ws_resnet_param_count, ws_resnet_open, and the test hooks
 * wsi_resnet_activation_count, wsi_resnet_activation, wsi_resnet_bn_stats (models/resnet.h).
 *
 * The network is built once into a flat list of nodes (conv, batch norm with optional
 * residual add and ReLU, max pool, global average pool, fc) that read and write numbered
 * activations. Forward runs the list; backward runs it in reverse. An activation read by
 * two nodes (a block's input: its first conv and its shortcut) gets its gradient summed:
 * the first writer overwrites, later ones add through a scratch buffer. Every buffer is
 * planned and allocated at open for max_batch (style.md: nothing allocates in a step).
 *
 * One code path for both backends: every buffer lives in the memory of the model's exec
 * (ws_mem_alloc) and every computation is an op, so the CPU runs the references and CUDA
 * the twins. On CUDA the activations are NHWC in the run's storage type, conv weights are
 * stored [K,R,S,C] (device_krsc) and the ops read the bf16/fp16 working copy of the
 * weights (params_work). Gradients of an activation with two readers are summed in place:
 * the first writer overwrites, a later conv adds (WS_ACCUMULATE); other ops add through a
 * scratch buffer, which is allocated only when the graph needs one (never for ResNet). */
#include "models/resnet.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "ops/batchnorm.h"
#include "ops/conv2d.h"
#include "ops/eltwise.h"
#include "ops/linear.h"
#include "ops/mem.h"
#include "ops/pool.h"
#include "models/profile.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { NODE_CONV, NODE_BN, NODE_MAXPOOL, NODE_GAP, NODE_FC } node_kind;

typedef struct {
    int c, h, w;      /* per sample */
    void *data;       /* [max_batch, c, h, w]; the input activation points at the caller's x */
    void *grad;       /* same shape; NULL for the input */
} activation;

typedef struct {
    node_kind kind;
    int in, out;
    int relu;              /* BN: ReLU after */
    int residual;          /* BN: activation added before the ReLU, or -1 */
    size_t w_off, b_off;   /* params: conv/fc weight, fc bias; BN gamma, beta */
    size_t rm_off, rv_off; /* buffers: BN running mean, var */
    float *save_mean, *save_invstd;
    uint8_t *relu_mask;    /* BN with residual and ReLU on CUDA: what the ReLU kept (NULL: none) */
    int32_t *argmax;
    ws_conv2d_desc conv;   /* n set per call */
    ws_maxpool_desc pool;
} node;

typedef struct {
    ws_model base;
    ws_resnet_opts opts;
    node *nodes;
    size_t n_nodes, cap_nodes;
    activation *acts;
    size_t n_acts, cap_acts;
    size_t cap_tensors;
    int *grad_written;     /* per activation, during backward */
    void *scratch;         /* gradient sums for ops that cannot accumulate (NULL when unneeded) */
    size_t scratch_bytes;
    void *workspace;       /* CPU conv scratch (CUDA: the context's workspace) */
    size_t workspace_bytes;
    int workspace_threads;  /* the ws_exec.threads the workspace was sized for */
    void *arena;           /* activations and their gradients */
    size_t arena_bytes;
    float *bn_stats;       /* save_mean/save_invstd of all BN nodes */
    size_t bn_bytes;
    int32_t *argmax_arena;
    size_t argmax_bytes;
    uint8_t *mask_arena;   /* the relu_masks (CUDA; NULL on the CPU, whose backward reads y) */
    size_t mask_bytes;
    size_t work_bytes;     /* params_work when it is a copy */
    ws_profile *profile;   /* WATTSCALE_PROFILE=1: per-node times (models/profile.h) */
    int planning;          /* building pass 1: count only */
} resnet;

ws_resnet_opts ws_resnet_opts_default(void) {
    ws_resnet_opts o;
    memset(&o, 0, sizeof o);
    o.depth = 50;
    o.classes = 1000;
    o.in_c = 3;
    o.in_h = o.in_w = 224;
    o.base_width = 64;
    o.max_batch = 32;
    return o;
}

/* ------------------------------------------------------------------ building */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap * 2 : 64;
    while (cap2 < need) cap2 *= 2;
    void *q = realloc(*p, cap2 * elem);
    if (!q) return -1;
    *p = q;
    *cap = cap2;
    return 0;
}

static int add_act(resnet *r, int c, int h, int w) {
    if (grow((void **)&r->acts, &r->cap_acts, r->n_acts + 1, sizeof(activation))) return -1;
    activation *a = &r->acts[r->n_acts];
    memset(a, 0, sizeof *a);
    a->c = c;
    a->h = h;
    a->w = w;
    return (int)r->n_acts++;
}

static node *add_node(resnet *r, node_kind kind, int in) {
    if (grow((void **)&r->nodes, &r->cap_nodes, r->n_nodes + 1, sizeof(node))) return NULL;
    node *n = &r->nodes[r->n_nodes++];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->in = in;
    n->residual = -1;
    return n;
}

/* Registers a named tensor and returns its offset into params or buffers. */
static size_t add_tensor(resnet *r, const char *name, int is_buffer, int no_decay, int ndims, int d0, int d1, int d2,
                         int d3) {
    ws_model *m = &r->base;
    int dims[4] = {d0, d1, d2, d3};
    size_t count = 1;
    for (int i = 0; i < ndims; i++) count *= (size_t)dims[i];
    size_t *total = is_buffer ? &m->n_buffers : &m->n_params;
    size_t off = *total;
    *total += count;
    if (grow((void **)&m->tensors, &r->cap_tensors, m->n_tensors + 1, sizeof(ws_model_tensor))) return off;
    ws_model_tensor *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->offset = off;
    t->count = count;
    t->ndims = ndims;
    memcpy(t->dims, dims, sizeof dims);
    t->no_decay = no_decay;
    t->is_buffer = is_buffer;
    return off;
}

/* Builders copy what they need of their input activation: add_act may move r->acts. */
static int conv(resnet *r, const char *name, int in, int k, int ksize, int stride, int pad) {
    const int c = r->acts[in].c;
    ws_conv2d_desc d = ws_conv2d_desc_make(1, c, r->acts[in].h, r->acts[in].w, k, ksize, ksize, stride, pad);
    char tn[64];
    snprintf(tn, sizeof tn, "%s.weight", name);
    size_t w_off = add_tensor(r, tn, 0, 0, 4, k, c, ksize, ksize);
    int out = add_act(r, k, d.p, d.q);
    node *n = add_node(r, NODE_CONV, in);
    if (out < 0 || !n) return -1;
    n->out = out;
    n->w_off = w_off;
    n->conv = d;
    r->base.forward_flop_per_sample += 2.0 * k * c * ksize * ksize * (double)d.p * d.q;
    return out;
}

static int bn(resnet *r, const char *name, int in, int relu, int residual) {
    const activation a_copy = r->acts[in], *a = &a_copy;
    char tn[64];
    snprintf(tn, sizeof tn, "%s.weight", name);
    size_t g = add_tensor(r, tn, 0, 1, 1, a->c, 0, 0, 0);
    snprintf(tn, sizeof tn, "%s.bias", name);
    size_t b = add_tensor(r, tn, 0, 1, 1, a->c, 0, 0, 0);
    snprintf(tn, sizeof tn, "%s.running_mean", name);
    size_t rm = add_tensor(r, tn, 1, 0, 1, a->c, 0, 0, 0);
    snprintf(tn, sizeof tn, "%s.running_var", name);
    size_t rv = add_tensor(r, tn, 1, 0, 1, a->c, 0, 0, 0);
    int out = add_act(r, a->c, a->h, a->w);
    node *n = add_node(r, NODE_BN, in);
    if (out < 0 || !n) return -1;
    n->out = out;
    n->relu = relu;
    n->residual = residual;
    n->w_off = g;
    n->b_off = b;
    n->rm_off = rm;
    n->rv_off = rv;
    return out;
}

static int maxpool(resnet *r, int in) {
    const activation a_copy = r->acts[in], *a = &a_copy;
    ws_maxpool_desc d = ws_maxpool_desc_make(1, a->c, a->h, a->w, 3, 3, 2, 1);
    int out = add_act(r, a->c, d.p, d.q);
    node *n = add_node(r, NODE_MAXPOOL, in);
    if (out < 0 || !n) return -1;
    n->out = out;
    n->pool = d;
    return out;
}

static int gap(resnet *r, int in) {
    int out = add_act(r, r->acts[in].c, 1, 1);
    node *n = add_node(r, NODE_GAP, in);
    if (out < 0 || !n) return -1;
    n->out = out;
    return out;
}

static int fc(resnet *r, int in, int classes) {
    int c = r->acts[in].c;
    size_t w = add_tensor(r, "fc.weight", 0, 0, 2, classes, c, 0, 0);
    size_t b = add_tensor(r, "fc.bias", 0, 1, 1, classes, 0, 0, 0);
    int out = add_act(r, classes, 1, 1);
    node *n = add_node(r, NODE_FC, in);
    if (out < 0 || !n) return -1;
    n->out = out;
    n->w_off = w;
    n->b_off = b;
    r->base.forward_flop_per_sample += 2.0 * c * classes;
    return out;
}

/* torchvision's BasicBlock: conv3x3(stride) bn relu conv3x3 bn (+shortcut) relu. */
static int basic_block(resnet *r, const char *p, int x, int planes, int stride) {
    char n1[96], n2[96];
    int shortcut = x;
    if (stride != 1 || r->acts[x].c != planes) {
        snprintf(n1, sizeof n1, "%s.downsample.0", p);
        snprintf(n2, sizeof n2, "%s.downsample.1", p);
        shortcut = bn(r, n2, conv(r, n1, x, planes, 1, stride, 0), 0, -1);
    }
    snprintf(n1, sizeof n1, "%s.conv1", p);
    snprintf(n2, sizeof n2, "%s.bn1", p);
    int a = bn(r, n2, conv(r, n1, x, planes, 3, stride, 1), 1, -1);
    snprintf(n1, sizeof n1, "%s.conv2", p);
    snprintf(n2, sizeof n2, "%s.bn2", p);
    return bn(r, n2, conv(r, n1, a, planes, 3, 1, 1), 1, shortcut);
}

/* torchvision's Bottleneck (v1.5): conv1x1 bn relu conv3x3(stride) bn relu conv1x1 bn
 * (+shortcut) relu; expansion 4. */
static int bottleneck(resnet *r, const char *p, int x, int planes, int stride) {
    char n1[96], n2[96];
    int shortcut = x;
    if (stride != 1 || r->acts[x].c != planes * 4) {
        snprintf(n1, sizeof n1, "%s.downsample.0", p);
        snprintf(n2, sizeof n2, "%s.downsample.1", p);
        shortcut = bn(r, n2, conv(r, n1, x, planes * 4, 1, stride, 0), 0, -1);
    }
    snprintf(n1, sizeof n1, "%s.conv1", p);
    snprintf(n2, sizeof n2, "%s.bn1", p);
    int a = bn(r, n2, conv(r, n1, x, planes, 1, 1, 0), 1, -1);
    snprintf(n1, sizeof n1, "%s.conv2", p);
    snprintf(n2, sizeof n2, "%s.bn2", p);
    a = bn(r, n2, conv(r, n1, a, planes, 3, stride, 1), 1, -1);
    snprintf(n1, sizeof n1, "%s.conv3", p);
    snprintf(n2, sizeof n2, "%s.bn3", p);
    return bn(r, n2, conv(r, n1, a, planes * 4, 1, 1, 0), 1, shortcut);
}

static int blocks_of(int depth, int counts[4], int *bottle) {
    static const struct {
        int depth, b[4], bottleneck;
    } table[] = {{18, {2, 2, 2, 2}, 0}, {34, {3, 4, 6, 3}, 0}, {50, {3, 4, 6, 3}, 1},
                 {101, {3, 4, 23, 3}, 1}, {152, {3, 8, 36, 3}, 1}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].depth == depth) {
            memcpy(counts, table[i].b, sizeof table[i].b);
            *bottle = table[i].bottleneck;
            return 0;
        }
    return -1;
}

/* Builds the node list; returns the logits activation or -1 (no memory). */
static int build(resnet *r) {
    const ws_resnet_opts *o = &r->opts;
    int counts[4] = {0}, bottle = 0;
    if (blocks_of(o->depth, counts, &bottle)) return -1;
    int x = add_act(r, o->in_c, o->in_h, o->in_w);
    if (o->small_stem) {
        x = bn(r, "bn1", conv(r, "conv1", x, o->base_width, 3, 1, 1), 1, -1);
    } else {
        x = bn(r, "bn1", conv(r, "conv1", x, o->base_width, 7, 2, 3), 1, -1);
        x = maxpool(r, x);
    }
    for (int stage = 0; stage < 4 && x >= 0; stage++) {
        int planes = o->base_width << stage;
        for (int b = 0; b < counts[stage] && x >= 0; b++) {
            char p[32];
            snprintf(p, sizeof p, "layer%d.%d", stage + 1, b);
            int stride = (b == 0 && stage > 0) ? 2 : 1;
            x = bottle ? bottleneck(r, p, x, planes, stride) : basic_block(r, p, x, planes, stride);
        }
    }
    if (x < 0) return -1;
    return fc(r, gap(r, x), o->classes);
}

/* ------------------------------------------------------------------ init */

/* Into host copies in PyTorch's order; open uploads them. */
static void init_params(resnet *r, float *params, float *buffers) {
    ws_model *m = &r->base;
    ws_rng rng = ws_rng_seeded(r->opts.seed);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const ws_model_tensor *t = &m->tensors[i];
        /* each tensor its own stream: adding a layer does not reshuffle the others */
        ws_rng tr = ws_rng_split(&rng, i);
        float *p = t->is_buffer ? buffers + t->offset : params + t->offset;
        const char *leaf = strrchr(t->name, '.');
        int is_fc = strncmp(t->name, "fc.", 3) == 0;
        if (t->is_buffer) {
            float v = strcmp(leaf, ".running_var") == 0 ? 1.0f : 0.0f;
            for (size_t j = 0; j < t->count; j++) p[j] = v;
        } else if (is_fc) {
            double bound = 1.0 / sqrt((double)r->acts[r->nodes[r->n_nodes - 1].in].c);
            for (size_t j = 0; j < t->count; j++) p[j] = (float)((2.0 * ws_rng_uniform(&tr) - 1.0) * bound);
        } else if (t->ndims == 4) {
            /* kaiming_normal_(mode='fan_out', nonlinearity='relu'): std = sqrt(2 / (K*R*S)) */
            double std = sqrt(2.0 / ((double)t->dims[0] * t->dims[2] * t->dims[3]));
            for (size_t j = 0; j < t->count; j++) p[j] = (float)(std * ws_rng_normal(&tr));
        } else {
            int is_weight = strcmp(leaf, ".weight") == 0;
            /* zero_init_residual: the last BN of each block (bn3 of a bottleneck, bn2 of a basic block) */
            const char *last = r->opts.depth >= 50 ? ".bn3." : ".bn2.";
            int last_bn = strncmp(t->name, "layer", 5) == 0 && strstr(t->name, last) != NULL;
            float v = is_weight ? ((r->opts.zero_init_residual && last_bn) ? 0.0f : 1.0f) : 0.0f;
            for (size_t j = 0; j < t->count; j++) p[j] = v;
        }
    }
}

/* ------------------------------------------------------------------ run */

static size_t act_elems(const activation *a, int n) { return (size_t)n * a->c * a->h * a->w; }
/* A BN node's ReLU mask at batch n (ops/batchnorm.h). */
static size_t mask_bytes_of(const resnet *r, const node *nd, int n) {
    const activation *a = &r->acts[nd->in];
    ws_batchnorm_desc d = {n, a->c, a->h, a->w, 1e-5, 0.1};
    return ws_batchnorm_relu_mask_bytes(&d);
}

static size_t act_bytes(const resnet *r, const activation *a, int n) {
    return act_elems(a, n) * ws_dtype_size(ws_act_dtype(r->base.exec.precision));
}
static const void *weight(const ws_model *m, size_t off) {
    return (const char *)m->params_work + off * ws_dtype_size(ws_act_dtype(m->exec.precision));
}

static ws_status check_exec(const ws_model *m, const resnet *r, const ws_exec *ex, ws_error *err) {
    if (ex->device != m->exec.device || ex->precision != m->exec.precision || ex->cuda != m->exec.cuda ||
        ex->layout != m->exec.layout)
        return wsi_error(err, WS_EINVAL, "%s: opened for %s %s, called with %s %s", m->name,
                         ws_device_name(m->exec.device), ws_dtype_name(m->exec.precision), ws_device_name(ex->device),
                         ws_dtype_name(ex->precision));
    /* CPU conv scratch grows with the thread count: refuse one it was not sized for */
    if (ex->device == WS_DEVICE_CPU && ex->threads != r->workspace_threads)
        return wsi_error(err, WS_EINVAL, "%s: opened for %d threads, called with %d", m->name, r->workspace_threads,
                         ex->threads);
    return WS_OK;
}

/* WATTSCALE_PROFILE=1: the node's time under its kind and shape. */
static void profile_node(resnet *r, const ws_exec *ex, const node *nd, int n, const char *dir) {
    static const char *names[] = {"conv", "bn", "pool", "pool", "fc"};
    const activation *in = &r->acts[nd->in], *out = &r->acts[nd->out];
    char kind[24], shape[48];
    snprintf(kind, sizeof kind, "%s%s", nd->kind == NODE_GAP ? "pool" : names[nd->kind], dir);
    if (nd->kind == NODE_CONV)
        snprintf(shape, sizeof shape, "%dx%dx%dx%d k%d %dx%d/%d", n, in->c, in->h, in->w, out->c, nd->conv.r,
                 nd->conv.s, nd->conv.stride);
    else
        snprintf(shape, sizeof shape, "%dx%dx%dx%d%s%s", n, in->c, in->h, in->w, nd->residual >= 0 ? " +res" : "",
                 nd->kind == NODE_MAXPOOL ? " max" : nd->kind == NODE_GAP ? " avg" : "");
    ws_profile_end(r->profile, ex, kind, shape);
}

static ws_status resnet_forward(ws_model *m, const ws_exec *ex, const void *x, int n, int train, const void **logits,
                                ws_error *err) {
    resnet *r = (resnet *)m;
    if (n < 1 || n > m->max_batch)
        return wsi_error(err, WS_EINVAL, "%s: batch %d outside 1..%d planned at open", m->name, n, m->max_batch);
    ws_status st = check_exec(m, r, ex, err);
    if (st != WS_OK) return st;
    r->acts[0].data = (void *)x;
    for (size_t i = 0; i < r->n_nodes && st == WS_OK; i++) {
        node *nd = &r->nodes[i];
        activation *in = &r->acts[nd->in], *out = &r->acts[nd->out];
        ws_profile_begin(r->profile, ex);
        switch (nd->kind) {
        case NODE_CONV: {
            ws_conv2d_desc d = nd->conv;
            d.n = n;
            st = ws_conv2d_forward(ex, &d, out->data, in->data, weight(m, nd->w_off), r->workspace);
            break;
        }
        case NODE_BN: {
            ws_batchnorm_desc d = {n, in->c, in->h, in->w, 1e-5, 0.1};
            const float *g = m->params + nd->w_off, *b = m->params + nd->b_off;
            const void *res = nd->residual >= 0 ? r->acts[nd->residual].data : NULL;
            st = train ? ws_batchnorm_forward_train(ex, &d, out->data, in->data, g, b, m->buffers + nd->rm_off,
                                                    m->buffers + nd->rv_off, nd->save_mean, nd->save_invstd, res,
                                                    nd->relu, nd->relu_mask)
                       : ws_batchnorm_forward_eval(ex, &d, out->data, in->data, g, b, m->buffers + nd->rm_off,
                                                   m->buffers + nd->rv_off, res, nd->relu);
            break;
        }
        case NODE_MAXPOOL: {
            ws_maxpool_desc d = nd->pool;
            d.n = n;
            st = ws_maxpool_forward(ex, &d, out->data, nd->argmax, in->data);
            break;
        }
        case NODE_GAP: st = ws_avgpool_global_forward(ex, n, in->c, in->h, in->w, out->data, in->data); break;
        case NODE_FC:
            st = ws_linear_forward(ex, n, in->c, out->c, out->data, in->data, weight(m, nd->w_off),
                                   m->params + nd->b_off);
            break;
        }
        if (r->profile) profile_node(r, ex, nd, n, train ? " fwd" : " eval");
    }
    if (st != WS_OK) return wsi_error(err, st, "%s forward: an operator failed (%s)", m->name, ws_status_message(st));
    *logits = r->acts[r->n_acts - 1].data;
    return WS_OK;
}

/* Where a node that cannot accumulate writes the gradient of activation a: straight into
 * it when nothing has written it yet this pass, else into scratch, added by finish_grad. */
static void *grad_target(resnet *r, int a) { return r->grad_written[a] ? r->scratch : r->acts[a].grad; }

static ws_status finish_grad(resnet *r, const ws_exec *ex, int a, size_t count) {
    ws_status st = WS_OK;
    if (r->grad_written[a]) st = ws_add_forward(ex, count, r->acts[a].grad, r->acts[a].grad, r->scratch);
    r->grad_written[a] = 1;
    return st;
}

/* Tells the listener which parameter gradients the node just finished. */
static void announce(ws_model *m, const resnet *r, const node *nd) {
    switch (nd->kind) {
    case NODE_CONV: {
        const ws_conv2d_desc *d = &nd->conv;
        m->grads_ready(m->grads_ready_ctx, nd->w_off, (size_t)d->k * d->c * d->r * d->s);
        break;
    }
    case NODE_BN:
        m->grads_ready(m->grads_ready_ctx, nd->w_off, (size_t)r->acts[nd->in].c);
        m->grads_ready(m->grads_ready_ctx, nd->b_off, (size_t)r->acts[nd->in].c);
        break;
    case NODE_FC:
        m->grads_ready(m->grads_ready_ctx, nd->w_off, (size_t)r->acts[nd->out].c * r->acts[nd->in].c);
        m->grads_ready(m->grads_ready_ctx, nd->b_off, (size_t)r->acts[nd->out].c);
        break;
    default: break;
    }
}

static ws_status resnet_backward(ws_model *m, const ws_exec *ex, const void *dlogits, int n, ws_error *err) {
    resnet *r = (resnet *)m;
    ws_status st = check_exec(m, r, ex, err);
    if (st != WS_OK) return st;
    memset(r->grad_written, 0, r->n_acts * sizeof *r->grad_written);
    size_t last = r->n_acts - 1;
    ws_mem_copy(ex, r->acts[last].grad, dlogits, act_bytes(r, &r->acts[last], n));
    r->grad_written[last] = 1;
    for (size_t k = r->n_nodes; k-- > 0 && st == WS_OK;) {
        node *nd = &r->nodes[k];
        activation *in = &r->acts[nd->in], *out = &r->acts[nd->out];
        size_t in_count = act_elems(in, n);
        int need_dx = nd->in != 0; /* no gradient for the input images */
        void *dy = out->grad;
        int accumulates = 0;       /* the op added into in->grad itself */
        void *dx = need_dx ? grad_target(r, nd->in) : NULL;
        ws_profile_begin(r->profile, ex);
        switch (nd->kind) {
        case NODE_CONV: {
            ws_conv2d_desc d = nd->conv;
            d.n = n;
            int acc = need_dx && r->grad_written[nd->in];
            if (acc) dx = in->grad;
            st = ws_conv2d_backward(ex, &d, dx, m->grads + nd->w_off, dy, in->data, weight(m, nd->w_off),
                                    r->workspace, acc ? WS_ACCUMULATE : 0);
            accumulates = acc;
            break;
        }
        case NODE_BN: {
            ws_batchnorm_desc d = {n, in->c, in->h, in->w, 1e-5, 0.1};
            void *dres = NULL;
            int res_scratch = 0;
            if (nd->residual >= 0) {
                res_scratch = r->grad_written[nd->residual];
                if (res_scratch && dx == r->scratch)
                    return wsi_error(err, WS_ESTATE, "%s: two gradient sums in one node (model graph)", m->name);
                dres = res_scratch ? r->scratch : r->acts[nd->residual].grad;
            }
            st = ws_batchnorm_backward(ex, &d, dx, m->grads + nd->w_off, m->grads + nd->b_off, dy, out->data, in->data,
                                       m->params + nd->w_off, m->params + nd->b_off, nd->save_mean, nd->save_invstd,
                                       dres, nd->relu, nd->relu_mask);
            if (st == WS_OK && nd->residual >= 0) {
                if (res_scratch) st = finish_grad(r, ex, nd->residual, act_elems(out, n));
                else r->grad_written[nd->residual] = 1;
            }
            break;
        }
        case NODE_MAXPOOL: {
            ws_maxpool_desc d = nd->pool;
            d.n = n;
            st = ws_maxpool_backward(ex, &d, dx, dy, nd->argmax);
            break;
        }
        case NODE_GAP: st = ws_avgpool_global_backward(ex, n, in->c, in->h, in->w, dx, dy); break;
        case NODE_FC:
            st = ws_linear_backward(ex, n, in->c, out->c, dx, m->grads + nd->w_off, m->grads + nd->b_off, dy, in->data,
                                    weight(m, nd->w_off));
            break;
        }
        if (r->profile) profile_node(r, ex, nd, n, " bwd");
        if (st == WS_OK && need_dx) {
            if (accumulates) r->grad_written[nd->in] = 1;
            else st = finish_grad(r, ex, nd->in, in_count);
        }
        if (st == WS_OK && m->grads_ready) announce(m, r, nd);
    }
    if (st != WS_OK) return wsi_error(err, st, "%s backward: an operator failed (%s)", m->name, ws_status_message(st));
    return WS_OK;
}

static void resnet_close(ws_model *m) {
    resnet *r = (resnet *)m;
    const ws_exec *ex = &m->exec;
    ws_profile_report(r->profile, m->name, stderr);
    ws_profile_close(r->profile);
    free(r->nodes);
    free(r->acts);
    free(r->grad_written);
    ws_mem_free(ex, r->scratch, r->scratch_bytes);
    free(r->workspace);
    ws_mem_free(ex, r->arena, r->arena_bytes);
    ws_mem_free(ex, r->bn_stats, r->bn_bytes);
    ws_mem_free(ex, r->argmax_arena, r->argmax_bytes);
    ws_mem_free(ex, r->mask_arena, r->mask_bytes);
    if (m->params_work != (void *)m->params) ws_mem_free(ex, m->params_work, r->work_bytes);
    ws_mem_free(ex, m->params, m->n_params * sizeof(float));
    ws_mem_free(ex, m->grads, m->n_params * sizeof(float));
    ws_mem_free(ex, m->buffers, (m->n_buffers ? m->n_buffers : 1) * sizeof(float));
    free(m->tensors);
    free(r);
}

static const ws_model_ops resnet_ops = {resnet_forward, resnet_backward, resnet_close};

static ws_status validate(const ws_resnet_opts *o, ws_error *err) {
    int counts[4], bottle;
    if (blocks_of(o->depth, counts, &bottle))
        return wsi_error(err, WS_EINVAL, "resnet: depth %d unknown (18, 34, 50, 101 or 152)", o->depth);
    if (o->classes < 1 || o->in_c < 1 || o->base_width < 1 || o->max_batch < 1)
        return wsi_error(err, WS_EINVAL, "resnet: classes, channels, width and batch must be positive");
    int min_px = o->small_stem ? 8 : 32;
    if (o->in_h < min_px || o->in_w < min_px)
        return wsi_error(err, WS_EINVAL, "resnet: %dx%d input too small for the %s stem (at least %d px)", o->in_h,
                         o->in_w, o->small_stem ? "small" : "ImageNet", min_px);
    return WS_OK;
}

size_t ws_resnet_param_count(const ws_resnet_opts *o) {
    if (validate(o, NULL) != WS_OK) return 0;
    resnet r;
    memset(&r, 0, sizeof r);
    r.opts = *o;
    size_t n = build(&r) >= 0 ? r.base.n_params : 0;
    free(r.nodes);
    free(r.acts);
    free(r.base.tensors);
    return n;
}

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

/* Gradient buffers of activations, shared by lifetime: activation a's gradient is live
 * from the backward of its first (last in forward order) reader to the backward of its
 * producer. A replay of backward's order assigns each a byte offset from a pool of freed
 * blocks (smallest that fits), so the peak holds only what is live at once, about the
 * three largest gradients at a time instead of all of them. Also finds whether any node
 * would need the scratch buffer (a second gradient written by an op that cannot add).
 * grad_off[a] (SIZE_MAX: no gradient) and returns the pool's total bytes. */
typedef struct {
    size_t off, bytes;
    int free;
} grad_block;

static size_t plan_gradients(resnet *r, size_t *grad_off, size_t *scratch_bytes) {
    const int n = r->opts.max_batch;
    size_t esz = ws_dtype_size(ws_act_dtype(r->base.exec.precision));
    grad_block *blocks = calloc(r->n_acts + 1, sizeof *blocks);
    int *written = calloc(r->n_acts, sizeof *written);
    size_t nb = 0, total = 0;
    *scratch_bytes = 0;
    if (!blocks || !written) {
        free(blocks);
        free(written);
        return SIZE_MAX;
    }
    for (size_t a = 0; a < r->n_acts; a++) grad_off[a] = SIZE_MAX;
    /* takes a block of at least `bytes` for activation a */
#define TAKE(a)                                                                                                        \
    do {                                                                                                               \
        size_t need_ = align256(act_elems(&r->acts[a], n) * esz), best_ = SIZE_MAX;                                     \
        for (size_t b_ = 0; b_ < nb; b_++)                                                                             \
            if (blocks[b_].free && blocks[b_].bytes >= need_ && (best_ == SIZE_MAX || blocks[b_].bytes < blocks[best_].bytes)) \
                best_ = b_;                                                                                            \
        if (best_ == SIZE_MAX) {                                                                                       \
            best_ = nb++;                                                                                              \
            blocks[best_].off = total;                                                                                 \
            blocks[best_].bytes = need_;                                                                               \
            total += need_;                                                                                            \
        }                                                                                                              \
        blocks[best_].free = 0;                                                                                        \
        grad_off[a] = best_;                                                                                           \
    } while (0)
    size_t last = r->n_acts - 1;
    TAKE(last);
    written[last] = 1;
    for (size_t k = r->n_nodes; k-- > 0;) {
        const node *nd = &r->nodes[k];
        if (nd->in != 0) {
            if (!written[nd->in]) TAKE(nd->in);
            else if (nd->kind != NODE_CONV) {
                size_t b = act_elems(&r->acts[nd->in], n) * esz;
                if (b > *scratch_bytes) *scratch_bytes = b;
            }
            written[nd->in] = 1;
        }
        if (nd->kind == NODE_BN && nd->residual >= 0) {
            if (!written[nd->residual]) TAKE(nd->residual);
            else {
                size_t b = act_elems(&r->acts[nd->residual], n) * esz;
                if (b > *scratch_bytes) *scratch_bytes = b;
            }
            written[nd->residual] = 1;
        }
        /* the node's own output gradient dies with it: its readers all ran before */
        if (grad_off[nd->out] != SIZE_MAX) blocks[grad_off[nd->out]].free = 1;
    }
#undef TAKE
    for (size_t a = 0; a < r->n_acts; a++)
        if (grad_off[a] != SIZE_MAX) grad_off[a] = blocks[grad_off[a]].off;
    free(blocks);
    free(written);
    return total;
}

ws_status ws_resnet_open(ws_model **out, const ws_resnet_opts *o, ws_error *err) {
    *out = NULL;
    ws_status st = validate(o, err);
    if (st != WS_OK) return st;
    ws_exec ex = o->exec ? *o->exec : ws_exec_cpu(o->threads);
    if (wsi_exec_run(&ex) == WSI_RUN_NONE)
        return wsi_error(err, WS_ENOTSUP, "resnet: %s %s is not supported by this build", ws_device_name(ex.device),
                         ws_dtype_name(ex.precision));
    resnet *r = calloc(1, sizeof *r);
    if (!r) return wsi_error(err, WS_ENOMEM, "resnet: out of memory");
    ws_model *m = &r->base;
    r->opts = *o;
    m->ops = &resnet_ops;
    m->exec = ex;
    snprintf(m->name, sizeof m->name, "resnet%d", o->depth);
    m->in_c = o->in_c;
    m->in_h = o->in_h;
    m->in_w = o->in_w;
    m->classes = o->classes;
    m->out_per_sample = (size_t)o->classes;
    m->max_batch = o->max_batch;
    float *host_params = NULL, *host_buffers = NULL;
    size_t *grad_off = NULL;
    if (build(r) < 0) goto nomem;
    const int cuda = ex.device == WS_DEVICE_CUDA;
    /* WATTSCALE_BN_RELU_MASK=off: the residual BNs' backward reads y instead (for A/B timing) */
    const char *mask_env = getenv("WATTSCALE_BN_RELU_MASK");
    const int masks = cuda && !(mask_env && !strcmp(mask_env, "off"));
    const size_t esz = ws_dtype_size(ws_act_dtype(ex.precision));
    if (cuda)
        for (size_t i = 0; i < m->n_tensors; i++) m->tensors[i].device_krsc = m->tensors[i].ndims == 4;

    /* plan: activations (not the input) and their shared gradients, BN statistics, argmax,
     * the CPU conv workspace or the CUDA algorithms */
    size_t data_bytes = 0, bn_floats = 0, argmax_count = 0, scratch_bytes = 0, mask_bytes = 0;
    for (size_t i = 1; i < r->n_acts; i++) data_bytes += align256(act_elems(&r->acts[i], o->max_batch) * esz);
    grad_off = malloc(r->n_acts * sizeof *grad_off);
    if (!grad_off) goto nomem;
    size_t grad_bytes = plan_gradients(r, grad_off, &scratch_bytes);
    if (grad_bytes == SIZE_MAX) goto nomem;
    for (size_t i = 0; i < r->n_nodes; i++) {
        node *nd = &r->nodes[i];
        if (nd->kind == NODE_BN) bn_floats += 2 * (size_t)r->acts[nd->in].c;
        if (nd->kind == NODE_BN && masks && nd->residual >= 0 && nd->relu) mask_bytes += align256(mask_bytes_of(r, nd, o->max_batch));
        if (nd->kind == NODE_MAXPOOL) argmax_count += (size_t)o->max_batch * r->acts[nd->out].c * nd->pool.p * nd->pool.q;
        if (nd->kind == NODE_FC &&
            (st = ws_linear_plan(&ex, o->max_batch, r->acts[nd->in].c, r->acts[nd->out].c, err)) != WS_OK)
            goto fail;
        if (nd->kind == NODE_CONV) {
            ws_conv2d_desc d = nd->conv;
            d.n = o->max_batch;
            if ((st = ws_conv2d_plan(&ex, &d, err)) != WS_OK) goto fail;
            size_t b = ws_conv2d_workspace_bytes(&ex, &d);
            if (b > r->workspace_bytes) r->workspace_bytes = b;
        }
    }
    r->arena_bytes = data_bytes + grad_bytes;
    r->bn_bytes = (bn_floats ? bn_floats : 1) * sizeof(float);
    r->argmax_bytes = (argmax_count ? argmax_count : 1) * sizeof(int32_t);
    r->mask_bytes = mask_bytes;
    r->scratch_bytes = scratch_bytes;
    if ((st = ws_mem_alloc(&ex, m->n_params * sizeof(float), "parameters", (void **)&m->params, err)) != WS_OK ||
        (st = ws_mem_alloc(&ex, m->n_params * sizeof(float), "gradients", (void **)&m->grads, err)) != WS_OK ||
        (st = ws_mem_alloc(&ex, (m->n_buffers ? m->n_buffers : 1) * sizeof(float), "BN buffers", (void **)&m->buffers,
                           err)) != WS_OK ||
        (st = ws_mem_alloc(&ex, r->arena_bytes, "activations", &r->arena, err)) != WS_OK ||
        (st = ws_mem_alloc(&ex, r->bn_bytes, "BN statistics", (void **)&r->bn_stats, err)) != WS_OK ||
        (st = ws_mem_alloc(&ex, r->argmax_bytes, "max-pool indices", (void **)&r->argmax_arena, err)) != WS_OK ||
        (mask_bytes && (st = ws_mem_alloc(&ex, mask_bytes, "ReLU masks", (void **)&r->mask_arena, err)) != WS_OK) ||
        (scratch_bytes && (st = ws_mem_alloc(&ex, scratch_bytes, "gradient scratch", &r->scratch, err)) != WS_OK))
        goto fail;
    m->params_work = m->params;
    if (esz != sizeof(float)) {
        r->work_bytes = m->n_params * esz;
        if ((st = ws_mem_alloc(&ex, r->work_bytes, "working weights", &m->params_work, err)) != WS_OK) goto fail;
    }
    ws_mem_zero(&ex, m->grads, m->n_params * sizeof(float));
    r->workspace = malloc(r->workspace_bytes ? r->workspace_bytes : 1);
    r->grad_written = calloc(r->n_acts, sizeof(int));
    host_params = calloc(m->n_params, sizeof(float));
    host_buffers = calloc(m->n_buffers ? m->n_buffers : 1, sizeof(float));
    if (!r->workspace || !r->grad_written || !host_params || !host_buffers) goto nomem;
    char *p = r->arena;
    for (size_t i = 1; i < r->n_acts; i++) {
        r->acts[i].data = p;
        p += align256(act_elems(&r->acts[i], o->max_batch) * esz);
    }
    for (size_t i = 1; i < r->n_acts; i++)
        r->acts[i].grad = grad_off[i] == SIZE_MAX ? NULL : (char *)r->arena + data_bytes + grad_off[i];
    float *s = r->bn_stats;
    int32_t *am = r->argmax_arena;
    uint8_t *mk = r->mask_arena;
    for (size_t i = 0; i < r->n_nodes; i++) {
        node *nd = &r->nodes[i];
        if (nd->kind == NODE_BN) {
            nd->save_mean = s;
            nd->save_invstd = s + r->acts[nd->in].c;
            s += 2 * (size_t)r->acts[nd->in].c;
        }
        if (nd->kind == NODE_BN && mk && nd->residual >= 0 && nd->relu) {
            nd->relu_mask = mk;
            mk += align256(mask_bytes_of(r, nd, o->max_batch));
        }
        if (nd->kind == NODE_MAXPOOL) {
            nd->argmax = am;
            am += (size_t)o->max_batch * r->acts[nd->out].c * nd->pool.p * nd->pool.q;
        }
    }
    r->workspace_threads = o->threads;
    r->profile = ws_profile_open_from_env();
    m->activation_bytes = r->arena_bytes + r->workspace_bytes + scratch_bytes + mask_bytes;
    init_params(r, host_params, host_buffers);
    if ((st = ws_model_set_params(m, host_params, err)) != WS_OK || (st = ws_model_set_buffers(m, host_buffers, err)) != WS_OK)
        goto fail;
    ws_log(WS_LOG_DEBUG,
           "%s on %s %s: %zu parameters, %zu buffers, at batch %d: %.1f MiB activations + %.1f MiB shared gradients, "
           "%.1f MiB CPU workspace",
           m->name, ws_device_name(ex.device), ws_dtype_name(ex.precision), m->n_params, m->n_buffers, o->max_batch,
           data_bytes / 1048576.0, grad_bytes / 1048576.0, r->workspace_bytes / 1048576.0);
    free(host_params);
    free(host_buffers);
    free(grad_off);
    *out = m;
    return WS_OK;
nomem:
    st = wsi_error(err, WS_ENOMEM, "resnet%d: out of host memory for batch %d (try a smaller --local-batch)", o->depth,
                   o->max_batch);
fail:
    free(host_params);
    free(host_buffers);
    free(grad_off);
    resnet_close(m);
    return st;
}

size_t wsi_resnet_activation_count(const ws_model *m) { return ((const resnet *)m)->n_acts; }

void *wsi_resnet_activation(const ws_model *m, size_t i, int *c, int *h, int *w) {
    const resnet *r = (const resnet *)m;
    if (i >= r->n_acts) return NULL;
    *c = r->acts[i].c;
    *h = r->acts[i].h;
    *w = r->acts[i].w;
    return r->acts[i].data;
}

float *wsi_resnet_bn_stats(const ws_model *m, size_t *bytes) {
    const resnet *r = (const resnet *)m;
    *bytes = r->bn_bytes;
    return r->bn_stats;
}
