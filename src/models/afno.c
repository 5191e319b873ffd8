/* models/afno.c - AFNONet (FourCastNet) on the ops: forward, backward, planning, init.
 * defines: ws_afno_opts_default, ws_afno_param_count, ws_afno_open, ws_afno_input_grad
 * (models/afno.h). An instance opened with share_params computes with another's params and
 * grads and owns only its activations (two-step fine-tuning runs two of them).
 *
 * Tokens are rows: [N*L, E] with L = GH*GW tokens per sample in row-major grid order and E
 * the embed dim, so every token-wise layer is one product of N*L rows (ops/linear over
 * ops/gemm), and the filter sees [N, GH, GW, E] channels last, as FourCastNet's
 * x.reshape(B, h, w, embed_dim). Per block (shapes per sample):
 *   n1 = norm1(x)            [L, E]  (+ mean1, rstd1 [L])
 *   x1 = filter(n1) + x      [L, E]  (the op's output already holds its "+ n1")
 *   n2 = norm2(x1)           [L, E]
 *   h1 = fc1(n2)             [L, HID]
 *   g  = gelu(h1)            [L, HID]
 *   out = fc2(g) + x1        [L, E]  (the next block's x)
 * Every activation a backward needs is kept for max_batch samples in one arena planned at
 * open; backward walks the blocks in reverse through three [N*L, E] gradient buffers and one
 * [N*L, HID], announcing each tensor's gradient (grads_ready) as soon as it is final.
 *
 * One code for both backends, as models/resnet.c: every buffer comes from ops/mem.h on the
 * model's exec (host memory on the CPU, the GPU's on CUDA) and every computation is an op,
 * so the CPU runs the references and CUDA their twins, asynchronously on the context's
 * stream (nothing here waits for the GPU). Parameters are drawn on the host, whatever the
 * device, and uploaded, so a seed gives the same model everywhere. Activations are fp32 on
 * every device in fp32 and tf32 (tf32 runs the products on tensor cores); the model's input
 * and output are fp32 in every precision.
 *
 * bf16 (CUDA), as PyTorch's autocast runs FourCastNet: the four token-wise products (patch
 * embedding, fc1, fc2, head) take bf16 inputs and weights on tensor cores with fp32
 * accumulation (ops/linear on the bf16 exec: bf16 in, bf16 out, the bias added in fp32 and
 * rounded once, dW rounded to bf16 and added to the fp32 gradient, as autocast's weight
 * cast gives); everything else (LayerNorm, the spectral filter, which FourCastNet's AFNO2D
 * casts to float, GELU, the residual adds, the loss) computes on fp32 buffers through the
 * fp32 view of the exec (ops.h ws_exec_f32), and the optimizer keeps fp32 master weights.
 * The filter's block MLP runs on TF32 tensor cores in bf16 (and tf32) runs (filter_desc:
 * autocast runs those einsums in bf16; ops/afno_filter.h), its FFTs in fp32.
 * Design: a product's fp32 input is cast to bf16 by one kernel (ops/convert ws_cast) and
 * its bf16 output cast back where an fp32 op reads it. The MLP's inside stays bf16, as
 * under autocast: fc1 writes h1 in bf16, GELU reads it and writes g in bf16 (ops/gelu
 * _act: fp32 arithmetic, one rounding), fc2 reads g; backward likewise keeps dh in bf16
 * from fc2's dX through GELU's gradient into fc1. So n2, h1 and g are kept in bf16 only
 * (half the fp32 bytes of the largest part of the arena, and half the traffic of the
 * element-wise passes on [R, HID]); n2's fp32 form (LayerNorm's output) lives in one
 * scratch buffer shared by the blocks. The weights' bf16 copy is the model's params_work
 * (all parameters, 2 bytes each), which the optimizer's fused step rewrites after every
 * update (train/optim.c ws_optim_set_work), so no per-call weight cast is needed. */
#include "models/afno.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "ops/afno_filter.h"
#include "ops/bias_add.h"
#include "ops/convert.h"
#include "ops/eltwise.h"
#include "ops/gelu.h"
#include "ops/layernorm.h"
#include "ops/linear.h"
#include "ops/mem.h"
#include "ops/patch.h"
#include "models/profile.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LN_EPS 1e-6f /* FourCastNet: partial(nn.LayerNorm, eps=1e-6) */

/* A block's tensors, in FourCastNet's registration (state_dict) order. */
enum { N1W, N1B, FW1, FB1, FW2, FB2, N2W, N2B, FC1W, FC1B, FC2W, FC2B, BLOCK_TENSORS };

typedef struct {
    int tensor[BLOCK_TENSORS];      /* indices into base.tensors */
    float *n1, *mean1, *rstd1, *x1; /* activations for max_batch samples */
    float *saved;                   /* the filter's kept spectra */
    float *n2, *mean2, *rstd2, *h1, *g, *out; /* bf16: n2 is the shared fp32 scratch, h1, g NULL */
    void *n2_16, *h1_16, *g16;                /* bf16 runs: the products' inputs backward reads */
} block;

typedef struct {
    ws_model base;
    ws_afno_opts opts;
    int gh, gw, tokens, hidden, patch_dim, head_dim; /* patch_dim = in_c*P*P, head_dim = out_c*P*P */
    int t_pe_w, t_pe_b, t_pos, t_norm_w, t_norm_b, t_head; /* tensor indices */
    block *blocks;
    float *patches, *x0, *head_out, *y;              /* activations */
    float *d, *da, *db, *dh, *dhead, *dpatches, *dinput; /* gradients */
    int half;                                        /* bf16 run: the products in bf16 (see top) */
    float *s_n2;                                     /* bf16: fp32 scratch [R,E] */
    void *patches16, *head_in16;                     /* bf16: kept product inputs [R,P], [R,E] */
    void *e16, *w16;                                 /* bf16: scratch [R,E], [R,max(HID,P,head)] */
    size_t work_bytes;                               /* params_work when it is a bf16 copy */
    ws_afno_filter_plan *plan;
    void *filter_ws;
    size_t filter_ws_bytes;
    float *arena;
    size_t arena_bytes;
    int opened_threads;
    int shared;                                      /* params and grads belong to opts.share_params */
    ws_profile *profile;                             /* WATTSCALE_PROFILE=1: per-op times (models/profile.h) */
    char prof_shape[48];                             /* the profile rows' shape: the call's batch */
} afno;

/* WATTSCALE_PROFILE=1: `call` (an op returning ws_status into st) timed under kind, with a
 * synchronisation before and after; without the variable it is the call alone. */
#define TIMED(kind, call)                                                                                              \
    do {                                                                                                               \
        ws_profile_begin(a->profile, ex);                                                                              \
        st = (call);                                                                                                   \
        ws_profile_end(a->profile, ex, kind, a->prof_shape);                                                           \
    } while (0)

ws_afno_opts ws_afno_opts_default(void) {
    ws_afno_opts o;
    memset(&o, 0, sizeof o);
    o.img_h = 720;
    o.img_w = 1440;
    o.patch = 8;
    o.in_c = o.out_c = 20;
    o.embed = 768;
    o.depth = 12;
    o.num_blocks = 8;
    o.mlp_ratio = 4.0;
    o.hidden_size_factor = 1;
    o.sparsity_threshold = 0.01;
    o.hard_thresholding_fraction = 1.0;
    o.max_batch = 1;
    return o;
}

static int hidden_of(const ws_afno_opts *o) { return (int)(o->embed * o->mlp_ratio); }

static ws_status validate(const ws_afno_opts *o, ws_error *err) {
    if (o->patch < 1 || o->img_h < o->patch || o->img_w < o->patch || o->img_h % o->patch || o->img_w % o->patch)
        return wsi_error(err, WS_EINVAL, "afno: image %dx%d is not a whole number of %dx%d patches", o->img_h,
                         o->img_w, o->patch, o->patch);
    if (o->in_c < 1 || o->out_c < 1 || o->embed < 1 || o->depth < 1 || o->max_batch < 1)
        return wsi_error(err, WS_EINVAL, "afno: channels, embed, depth and batch must be positive");
    if (o->num_blocks < 1 || o->embed % o->num_blocks)
        return wsi_error(err, WS_EINVAL, "afno: embed %d is not divisible by num_blocks %d", o->embed, o->num_blocks);
    if (!(o->mlp_ratio > 0.0) || o->embed * o->mlp_ratio >= INT_MAX || hidden_of(o) < 1 || o->hidden_size_factor < 1)
        return wsi_error(err, WS_EINVAL, "afno: mlp_ratio %g or hidden_size_factor %d out of range", o->mlp_ratio,
                         o->hidden_size_factor);
    if (!(o->sparsity_threshold >= 0.0) || isinf(o->sparsity_threshold))
        return wsi_error(err, WS_EINVAL, "afno: sparsity_threshold %g must be >= 0", o->sparsity_threshold);
    if (!(o->hard_thresholding_fraction >= 0.0 && o->hard_thresholding_fraction <= 1.0))
        return wsi_error(err, WS_EINVAL, "afno: hard_thresholding_fraction %g outside [0, 1]",
                         o->hard_thresholding_fraction);
    /* token rows and their widths are ints in the products */
    size_t rows = (size_t)o->max_batch * (o->img_h / o->patch) * (o->img_w / o->patch);
    size_t widest = (size_t)o->patch * o->patch * (o->in_c > o->out_c ? o->in_c : o->out_c);
    if (widest < (size_t)hidden_of(o)) widest = (size_t)hidden_of(o);
    if (rows > INT_MAX || rows * widest > ((size_t)1 << 40))
        return wsi_error(err, WS_EINVAL, "afno: batch %d of %dx%d images is too large to plan", o->max_batch, o->img_h,
                         o->img_w);
    return WS_OK;
}

/* ------------------------------------------------------------------ tensors */

/* Registers one tensor (the table was sized at the start) and returns its index. */
static int add_tensor(afno *a, const char *name, int no_decay, int ndims, const int *dims) {
    ws_model *m = &a->base;
    ws_model_tensor *t = &m->tensors[m->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->count = 1;
    for (int i = 0; i < ndims; i++) t->count *= (size_t)dims[i], t->dims[i] = dims[i];
    t->ndims = ndims;
    t->offset = m->n_params;
    t->no_decay = no_decay;
    m->n_params += t->count;
    return (int)m->n_tensors++;
}

static size_t tensor_count(int depth) { return 3 + (size_t)BLOCK_TENSORS * depth + 3; }

/* The tensor list of the configuration; -1 when the table cannot be allocated. */
static int layout(afno *a) {
    const ws_afno_opts *o = &a->opts;
    const int E = o->embed, NB = o->num_blocks, BS = E / NB, BSF = BS * o->hidden_size_factor, HID = a->hidden;
    ws_model *m = &a->base;
    m->tensors = calloc(tensor_count(o->depth), sizeof *m->tensors);
    if (!m->tensors) return -1;
    /* no_decay: biases, norms and the position embedding (FourCastNet's no_weight_decay) */
    a->t_pe_w = add_tensor(a, "patch_embed.proj.weight", 0, 4, (int[]){E, o->in_c, o->patch, o->patch});
    a->t_pe_b = add_tensor(a, "patch_embed.proj.bias", 1, 1, (int[]){E});
    a->t_pos = add_tensor(a, "pos_embed", 1, 3, (int[]){1, a->tokens, E});
    for (int k = 0; k < o->depth; k++) {
        static const struct {
            const char *leaf;
            int no_decay;
        } names[BLOCK_TENSORS] = {{"norm1.weight", 1}, {"norm1.bias", 1}, {"filter.w1", 0}, {"filter.b1", 0},
                                  {"filter.w2", 0},    {"filter.b2", 0},  {"norm2.weight", 1}, {"norm2.bias", 1},
                                  {"mlp.fc1.weight", 0}, {"mlp.fc1.bias", 1}, {"mlp.fc2.weight", 0},
                                  {"mlp.fc2.bias", 1}};
        const int dims[BLOCK_TENSORS][4] = {{E}, {E}, {2, NB, BS, BSF}, {2, NB, BSF}, {2, NB, BSF, BS}, {2, NB, BS},
                                            {E}, {E}, {HID, E},         {HID},        {E, HID},         {E}};
        const int nd[BLOCK_TENSORS] = {1, 1, 4, 3, 4, 3, 1, 1, 2, 1, 2, 1};
        for (int j = 0; j < BLOCK_TENSORS; j++) {
            char name[64];
            snprintf(name, sizeof name, "blocks.%d.%s", k, names[j].leaf);
            int t = add_tensor(a, name, names[j].no_decay, nd[j], dims[j]);
            if (a->blocks) a->blocks[k].tensor[j] = t;
        }
    }
    a->t_norm_w = add_tensor(a, "norm.weight", 1, 1, (int[]){E});
    a->t_norm_b = add_tensor(a, "norm.bias", 1, 1, (int[]){E});
    a->t_head = add_tensor(a, "head.weight", 0, 2, (int[]){a->head_dim, E});
    return 0;
}

static void set_sizes(afno *a) {
    const ws_afno_opts *o = &a->opts;
    a->gh = o->img_h / o->patch;
    a->gw = o->img_w / o->patch;
    a->tokens = a->gh * a->gw;
    a->hidden = hidden_of(o);
    a->patch_dim = o->in_c * o->patch * o->patch;
    a->head_dim = o->out_c * o->patch * o->patch;
}

size_t ws_afno_param_count(const ws_afno_opts *o) {
    if (!o || validate(o, NULL) != WS_OK) return 0;
    afno a;
    memset(&a, 0, sizeof a);
    a.opts = *o;
    set_sizes(&a);
    size_t n = layout(&a) == 0 ? a.base.n_params : 0;
    free(a.base.tensors);
    return n;
}

static float *param(afno *a, int t) { return a->base.params + a->base.tensors[t].offset; }
static float *grad(afno *a, int t) { return a->base.grads + a->base.tensors[t].offset; }
/* A product's weight as the products read it: params_work (bf16 in bf16 runs). */
static const void *work(afno *a, int t) {
    const ws_model *m = &a->base;
    return (const char *)m->params_work + m->tensors[t].offset * ws_dtype_size(ws_act_dtype(m->exec.precision));
}

static void announce(afno *a, int t) {
    ws_model *m = &a->base;
    if (m->grads_ready) m->grads_ready(m->grads_ready_ctx, m->tensors[t].offset, m->tensors[t].count);
}

/* ------------------------------------------------------------------ init */

/* timm's trunc_normal_(std): N(0, std^2) cut at a = -2, b = 2 (absolute bounds, not in
 * units of std: at std .02 the cut is at 100 sigma and never bites), drawn by rejection. */
static float trunc_normal(ws_rng *r, double std) {
    double v;
    do v = std * ws_rng_normal(r);
    while (v < -2.0 || v > 2.0);
    return (float)v;
}

/* Into a host copy (params, n_params floats); open uploads it. */
static void init_params(afno *a, float *params) {
    ws_model *m = &a->base;
    ws_rng rng = ws_rng_seeded(a->opts.seed);
    const double conv_bound = 1.0 / sqrt((double)a->patch_dim);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const ws_model_tensor *t = &m->tensors[i];
        ws_rng tr = ws_rng_split(&rng, i); /* one stream per tensor */
        float *p = params + t->offset;
        const char *leaf = strrchr(t->name, '.');
        leaf = leaf ? leaf + 1 : t->name;
        int is_norm = strstr(t->name, "norm") != NULL, is_filter = strstr(t->name, ".filter.") != NULL;
        for (size_t j = 0; j < t->count; j++) {
            if ((int)i == a->t_pe_w || (int)i == a->t_pe_b) /* Conv2d's default init */
                p[j] = (float)((2.0 * ws_rng_uniform(&tr) - 1.0) * conv_bound);
            else if (is_filter) /* AFNO2D: scale * torch.randn */
                p[j] = (float)(0.02 * ws_rng_normal(&tr));
            else if (is_norm)
                p[j] = strcmp(leaf, "weight") == 0 ? 1.0f : 0.0f;
            else if (strcmp(leaf, "bias") == 0) /* Linear biases */
                p[j] = 0.0f;
            else /* Linear weights and pos_embed */
                p[j] = trunc_normal(&tr, 0.02);
        }
    }
}

/* ------------------------------------------------------------------ run */

/* bf16 and tf32 runs: the filter's block MLP on TF32 tensor cores (ops/afno_filter.h says
 * why: PyTorch's autocast runs FourCastNet's einsums in bf16); fp32 keeps full fp32. */
static ws_afno_filter_desc filter_desc(const afno *a, int n) {
    const ws_afno_opts *o = &a->opts;
    ws_afno_filter_desc d = ws_afno_filter_desc_make(n, a->gh, a->gw, o->embed, o->num_blocks, o->hidden_size_factor,
                                                     o->hard_thresholding_fraction, (float)o->sparsity_threshold);
    d.mlp_tf32 = a->base.exec.precision == WS_BF16 || a->base.exec.precision == WS_TF32;
    return d;
}

/* A batch inside what was planned, on the exec the model was opened with (on the CPU, the
 * thread count the workspace was sized for). */
static ws_status call_ok(const afno *a, const ws_exec *ex, int n, ws_error *err) {
    const ws_model *m = &a->base;
    if (n < 1 || n > m->max_batch)
        return wsi_error(err, WS_EINVAL, "%s: batch %d outside 1..%d planned at open", m->name, n, m->max_batch);
    if (ex->device != m->exec.device || ex->precision != m->exec.precision || ex->cuda != m->exec.cuda)
        return wsi_error(err, WS_EINVAL, "%s: opened on %s %s, called on %s %s", m->name, ws_device_name(m->exec.device),
                         ws_dtype_name(m->exec.precision), ws_device_name(ex->device), ws_dtype_name(ex->precision));
    if (ex->device == WS_DEVICE_CPU && ex->threads != a->opened_threads)
        return wsi_error(err, WS_EINVAL, "%s: opened for %d threads, called with %d", m->name, a->opened_threads,
                         ex->threads);
    return WS_OK;
}

/* y = x w^T + b for token rows. fp32/tf32: the fp32 buffers directly. bf16: x32 (when not
 * NULL) is first cast into x16, the product runs x16 -> y16, and y16 is cast into y32 (when
 * not NULL). */
static ws_status product_forward(afno *a, const ws_exec *ex, const char *kind, int rows, int in, int out, float *y32,
                                 void *y16, const float *x32, void *x16, int t_weight, const float *bias) {
    ws_status st = WS_OK;
    if (!a->half) {
        TIMED(kind, ws_linear_forward(ex, rows, in, out, y32, x32, work(a, t_weight), bias));
        return st;
    }
    if (x32) TIMED("cast to bf16", ws_cast(ex, x16, WS_BF16, x32, WS_FP32, (size_t)rows * in));
    if (st == WS_OK) TIMED(kind, ws_linear_forward(ex, rows, in, out, y16, x16, work(a, t_weight), bias));
    if (st == WS_OK && y32) TIMED("cast to fp32", ws_cast(ex, y32, WS_FP32, y16, WS_BF16, (size_t)rows * out));
    return st;
}

/* Its backward: dW (+=), db (+=, when not NULL), dX (=). fp32/tf32: from dy32 and x32 into
 * dx32 (skipped when NULL). bf16: dy32 (when not NULL) is cast into dy16, the product reads
 * dy16 and x16 (kept by forward) and writes dx16 (skipped when NULL), which is cast into
 * dx32 (when not NULL). */
static ws_status product_backward(afno *a, const ws_exec *ex, const char *kind, int rows, int in, int out,
                                  float *dx32, void *dx16, int t_weight, float *db, const float *dy32, void *dy16,
                                  const float *x32, const void *x16) {
    ws_status st = WS_OK;
    if (!a->half) {
        TIMED(kind, ws_linear_backward(ex, rows, in, out, dx32, grad(a, t_weight), db, dy32, x32, work(a, t_weight)));
        return st;
    }
    if (dy32) TIMED("cast to bf16", ws_cast(ex, dy16, WS_BF16, dy32, WS_FP32, (size_t)rows * out));
    if (st == WS_OK)
        TIMED(kind, ws_linear_backward(ex, rows, in, out, dx16, grad(a, t_weight), db, dy16, x16, work(a, t_weight)));
    if (st == WS_OK && dx32) TIMED("cast to fp32", ws_cast(ex, dx32, WS_FP32, dx16, WS_BF16, (size_t)rows * in));
    return st;
}

static ws_status afno_forward(ws_model *m, const ws_exec *ex, const void *xv, int n, int train, const void **out,
                              ws_error *err) {
    afno *a = (afno *)m;
    const float *x = xv; /* fp32 [N, C, H, W] on every device */
    (void)train; /* no dropout, no batch statistics: training and evaluation compute the same */
    ws_status st = call_ok(a, ex, n, err);
    if (st != WS_OK) return st;
    const ws_afno_opts *o = &a->opts;
    const int E = o->embed, HID = a->hidden, R = n * a->tokens;
    const size_t RE = (size_t)R * E;
    ws_patch_desc pin = {n, o->in_c, o->img_h, o->img_w, o->patch}, pout = {n, o->out_c, o->img_h, o->img_w, o->patch};
    ws_afno_filter_desc fd = filter_desc(a, n);
    const ws_exec fx = ws_exec_f32(ex); /* the fp32 ops' exec (ex itself in fp32 and tf32) */
    snprintf(a->prof_shape, sizeof a->prof_shape, "%d samples", n);
    TIMED("patchify", ws_patchify(&fx, &pin, WS_PATCH_CRS, a->patches, x));
    if (st == WS_OK)
        st = product_forward(a, ex, "patch embed fwd", R, a->patch_dim, E, a->x0, a->e16, a->patches, a->patches16, a->t_pe_w,
                             param(a, a->t_pe_b));
    if (st == WS_OK) TIMED("pos add fwd", ws_bias_add_forward(&fx, n, (size_t)a->tokens * E, a->x0, a->x0, param(a, a->t_pos)));
    const float *cur = a->x0;
    for (int k = 0; k < o->depth && st == WS_OK; k++) {
        block *b = &a->blocks[k];
        const int *t = b->tensor;
        TIMED("layernorm fwd", ws_layernorm_forward(&fx, R, E, LN_EPS, b->n1, b->mean1, b->rstd1, cur,
                                                    param(a, t[N1W]), param(a, t[N1B])));
        if (st == WS_OK)
            TIMED("filter fwd", ws_afno_filter_forward(&fx, a->plan, &fd, b->x1, b->saved, b->n1, param(a, t[FW1]),
                                                       param(a, t[FB1]), param(a, t[FW2]), param(a, t[FB2]),
                                                       a->filter_ws));
        if (st == WS_OK) TIMED("residual add", ws_add_forward(&fx, RE, b->x1, b->x1, cur));
        if (st == WS_OK)
            TIMED("layernorm fwd", ws_layernorm_forward(&fx, R, E, LN_EPS, b->n2, b->mean2, b->rstd2, b->x1,
                                                        param(a, t[N2W]), param(a, t[N2B])));
        /* bf16: h1 and g stay bf16 (see top) */
        if (st == WS_OK)
            st = product_forward(a, ex, "fc1 fwd", R, E, HID, b->h1, b->h1_16, b->n2, b->n2_16, t[FC1W], param(a, t[FC1B]));
        if (st == WS_OK)
            TIMED("gelu fwd", a->half ? ws_gelu_forward_act(ex, (size_t)R * HID, b->g16, b->h1_16)
                                      : ws_gelu_forward(&fx, (size_t)R * HID, b->g, b->h1));
        if (st == WS_OK)
            st = product_forward(a, ex, "fc2 fwd", R, HID, E, b->out, a->e16, b->g, b->g16, t[FC2W], param(a, t[FC2B]));
        if (st == WS_OK) TIMED("residual add", ws_add_forward(&fx, RE, b->out, b->out, b->x1));
        cur = b->out;
    }
    if (st == WS_OK)
        st = product_forward(a, ex, "head fwd", R, E, a->head_dim, a->head_out, a->w16, cur, a->head_in16, a->t_head, NULL);
    if (st == WS_OK) TIMED("patchify", ws_unpatchify(&fx, &pout, WS_PATCH_RSC, a->y, a->head_out));
    if (st != WS_OK) return wsi_error(err, st, "%s forward: an operator failed (%s)", m->name, ws_status_message(st));
    *out = a->y;
    return WS_OK;
}

static ws_status afno_backward(ws_model *m, const ws_exec *ex, const void *doutv, int n, ws_error *err) {
    afno *a = (afno *)m;
    const float *dout = doutv;
    ws_status st = call_ok(a, ex, n, err);
    if (st != WS_OK) return st;
    const ws_afno_opts *o = &a->opts;
    const int E = o->embed, HID = a->hidden, R = n * a->tokens;
    const size_t RE = (size_t)R * E;
    ws_patch_desc pin = {n, o->in_c, o->img_h, o->img_w, o->patch}, pout = {n, o->out_c, o->img_h, o->img_w, o->patch};
    ws_afno_filter_desc fd = filter_desc(a, n);
    const ws_exec fx = ws_exec_f32(ex);
    const float *last = a->blocks[o->depth - 1].out;
    /* head: d = dL/d(last block's output) */
    snprintf(a->prof_shape, sizeof a->prof_shape, "%d samples", n);
    TIMED("patchify", ws_patchify(&fx, &pout, WS_PATCH_RSC, a->dhead, dout));
    if (st == WS_OK)
        st = product_backward(a, ex, "head bwd", R, E, a->head_dim, a->d, a->e16, a->t_head, NULL, a->dhead, a->w16, last,
                              a->head_in16);
    if (st == WS_OK) {
        announce(a, a->t_head);
        announce(a, a->t_norm_w); /* never used in forward: its gradient is final (0 added) now */
        announce(a, a->t_norm_b);
    }
    for (int k = o->depth - 1; k >= 0 && st == WS_OK; k--) {
        block *b = &a->blocks[k];
        const int *t = b->tensor;
        const float *in = k == 0 ? a->x0 : a->blocks[k - 1].out;
        /* out = fc2(gelu(fc1(norm2(x1)))) + x1: d holds dout; afterwards dx1 */
        /* bf16: dh stays bf16 in w16 from fc2's dX through GELU's gradient into fc1 */
        st = product_backward(a, ex, "fc2 bwd", R, HID, E, a->dh, a->w16, t[FC2W], grad(a, t[FC2B]), a->d, a->e16, b->g, b->g16);
        if (st == WS_OK)
            TIMED("gelu bwd", a->half ? ws_gelu_backward_act(ex, (size_t)R * HID, a->w16, a->w16, b->h1_16)
                                      : ws_gelu_backward(&fx, (size_t)R * HID, a->dh, a->dh, b->h1));
        if (st == WS_OK)
            st = product_backward(a, ex, "fc1 bwd", R, E, HID, a->da, a->e16, t[FC1W], grad(a, t[FC1B]), a->dh, a->w16, b->n2,
                                  b->n2_16);
        if (st == WS_OK)
            TIMED("layernorm bwd", ws_layernorm_backward(&fx, R, E, a->db, grad(a, t[N2W]), grad(a, t[N2B]), a->da,
                                                         b->x1, param(a, t[N2W]), b->mean2, b->rstd2));
        if (st == WS_OK) TIMED("residual add", ws_add_forward(&fx, RE, a->d, a->d, a->db));
        /* x1 = filter(norm1(in)) + in: afterwards d holds d(in) */
        if (st == WS_OK)
            TIMED("filter bwd", ws_afno_filter_backward(&fx, a->plan, &fd, a->da, grad(a, t[FW1]), grad(a, t[FB1]),
                                                        grad(a, t[FW2]), grad(a, t[FB2]), a->d, b->saved,
                                                        param(a, t[FW1]), param(a, t[FW2]), a->filter_ws));
        if (st == WS_OK)
            TIMED("layernorm bwd", ws_layernorm_backward(&fx, R, E, a->db, grad(a, t[N1W]), grad(a, t[N1B]), a->da,
                                                         in, param(a, t[N1W]), b->mean1, b->rstd1));
        if (st == WS_OK) TIMED("residual add", ws_add_forward(&fx, RE, a->d, a->d, a->db));
        if (st == WS_OK) {
            static const int order[BLOCK_TENSORS] = {FC2W, FC2B, FC1W, FC1B, N2W, N2B, FW1, FB1, FW2, FB2, N1W, N1B};
            for (int j = 0; j < BLOCK_TENSORS; j++) announce(a, t[order[j]]);
        }
    }
    if (st == WS_OK) TIMED("pos add bwd", ws_bias_add_backward(&fx, n, (size_t)a->tokens * E, grad(a, a->t_pos), a->d));
    if (st == WS_OK) announce(a, a->t_pos);
    if (st == WS_OK)
        st = product_backward(a, ex, "patch embed bwd", R, a->patch_dim, E, o->input_grad ? a->dpatches : NULL,
                              o->input_grad ? a->w16 : NULL, a->t_pe_w, grad(a, a->t_pe_b), a->d, a->e16, a->patches,
                              a->patches16);
    if (st == WS_OK) {
        announce(a, a->t_pe_b);
        announce(a, a->t_pe_w);
    }
    if (st == WS_OK && o->input_grad) TIMED("patchify", ws_unpatchify(&fx, &pin, WS_PATCH_CRS, a->dinput, a->dpatches));
    if (st != WS_OK) return wsi_error(err, st, "%s backward: an operator failed (%s)", m->name, ws_status_message(st));
    return WS_OK;
}

static void afno_close(ws_model *m) {
    afno *a = (afno *)m;
    const ws_exec *ex = &m->exec;
    ws_profile_report(a->profile, m->name, stderr);
    ws_profile_close(a->profile);
    ws_afno_filter_plan_close(a->plan);
    ws_mem_free(ex, a->filter_ws, a->filter_ws_bytes);
    ws_mem_free(ex, a->arena, a->arena_bytes);
    free(a->blocks);
    if (!a->shared) {
        if (m->params_work != (void *)m->params) ws_mem_free(ex, m->params_work, a->work_bytes);
        ws_mem_free(ex, m->params, m->n_params * sizeof(float));
        ws_mem_free(ex, m->grads, m->n_params * sizeof(float));
    }
    ws_mem_free(ex, m->buffers, sizeof(float));
    free(m->tensors);
    free(a);
}

static const ws_model_ops afno_ops = {afno_forward, afno_backward, afno_close};

const float *ws_afno_input_grad(const ws_model *m) {
    if (!m || m->ops != &afno_ops) return NULL;
    return ((const afno *)m)->dinput;
}

/* ------------------------------------------------------------------ planning */

enum { ALIGN_FLOATS = 16 }; /* 64 B: every activation starts on its own cache line */

/* Carves `floats` from the arena cursor (or only counts them when base is NULL). */
static float *take(float *base, size_t *cursor, size_t floats) {
    float *p = base ? base + *cursor : NULL;
    *cursor += (floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    return p;
}

/* The same for `count` bf16 elements (in whole floats, so alignment is kept). */
static void *take16(float *base, size_t *cursor, size_t count) { return take(base, cursor, (count + 1) / 2); }

/* Two passes: base NULL sizes the arena, then the same calls carve it. */
static size_t carve(afno *a, float *base) {
    const ws_afno_opts *o = &a->opts;
    const size_t N = (size_t)o->max_batch, L = (size_t)a->tokens, E = (size_t)o->embed, HID = (size_t)a->hidden;
    ws_afno_filter_desc fd = filter_desc(a, o->max_batch);
    size_t c = 0;
    a->patches = take(base, &c, N * L * a->patch_dim);
    a->x0 = take(base, &c, N * L * E);
    if (a->half) {
        size_t wide = HID > (size_t)a->patch_dim ? HID : (size_t)a->patch_dim;
        if (wide < (size_t)a->head_dim) wide = (size_t)a->head_dim;
        a->s_n2 = take(base, &c, N * L * E);
        a->patches16 = take16(base, &c, N * L * a->patch_dim);
        a->head_in16 = take16(base, &c, N * L * E);
        a->e16 = take16(base, &c, N * L * E);
        a->w16 = take16(base, &c, N * L * wide);
    }
    for (int k = 0; k < o->depth; k++) {
        block *b = &a->blocks[k];
        b->n1 = take(base, &c, N * L * E);
        b->mean1 = take(base, &c, N * L);
        b->rstd1 = take(base, &c, N * L);
        b->x1 = take(base, &c, N * L * E);
        b->saved = take(base, &c, ws_afno_filter_saved_floats(&fd));
        b->mean2 = take(base, &c, N * L);
        b->rstd2 = take(base, &c, N * L);
        if (a->half) {
            b->n2 = a->s_n2;
            b->h1 = b->g = NULL;
            b->n2_16 = take16(base, &c, N * L * E);
            b->h1_16 = take16(base, &c, N * L * HID);
            b->g16 = take16(base, &c, N * L * HID);
        } else {
            b->n2 = take(base, &c, N * L * E);
            b->h1 = take(base, &c, N * L * HID);
            b->g = take(base, &c, N * L * HID);
        }
        b->out = take(base, &c, N * L * E);
    }
    a->head_out = take(base, &c, N * L * a->head_dim);
    a->y = take(base, &c, N * o->out_c * o->img_h * o->img_w);
    a->d = take(base, &c, N * L * E);
    a->da = take(base, &c, N * L * E);
    a->db = take(base, &c, N * L * E);
    a->dh = a->half ? NULL : take(base, &c, N * L * HID); /* bf16: dh lives in w16 */
    a->dhead = take(base, &c, N * L * a->head_dim);
    if (o->input_grad) {
        a->dpatches = take(base, &c, N * L * a->patch_dim);
        a->dinput = take(base, &c, N * o->in_c * o->img_h * o->img_w);
    } else {
        a->dpatches = a->dinput = NULL;
    }
    return c;
}

/* Matrix products per sample (forward), in flops: patch embedding, the filters' complex
 * products (as the real products that run them), fc1, fc2, head. The FFTs (~2.5 N log2 N
 * flop per real transform of N points) and the element-wise ops are left out. */
static double forward_flops(const afno *a) {
    const ws_afno_opts *o = &a->opts;
    const double L = a->tokens, E = o->embed, HID = a->hidden;
    ws_afno_filter_desc fd = filter_desc(a, 1);
    double kept = (double)ws_afno_filter_kept(&fd), bsf = (double)E / o->num_blocks * o->hidden_size_factor;
    double filter = 2.0 * 2.0 * kept * 4.0 * E * bsf; /* 2 layers x 2 flop x K modes x NB x 2BS x 2BSF */
    return 2.0 * L * a->patch_dim * E + o->depth * (2.0 * L * E * HID * 2.0 + filter) + 2.0 * L * E * a->head_dim;
}

ws_status ws_afno_open(ws_model **out, const ws_afno_opts *o, ws_error *err) {
    *out = NULL;
    ws_status st = validate(o, err);
    if (st != WS_OK) return st;
    afno *a = calloc(1, sizeof *a);
    if (!a) return wsi_error(err, WS_ENOMEM, "afno: out of memory");
    ws_model *m = &a->base;
    a->opts = *o;
    m->ops = &afno_ops;
    snprintf(m->name, sizeof m->name, "afno");
    m->in_c = o->in_c;
    m->in_h = o->img_h;
    m->in_w = o->img_w;
    m->classes = 0;
    m->out_per_sample = (size_t)o->out_c * o->img_h * o->img_w;
    m->max_batch = o->max_batch;
    set_sizes(a);
    a->blocks = calloc((size_t)o->depth, sizeof *a->blocks);
    if (!a->blocks || layout(a) != 0) goto nomem;

    ws_exec ex = o->exec ? *o->exec : ws_exec_cpu(o->threads);
    m->exec = ex; /* before anything is allocated: close frees on it */
    if (wsi_exec_run(&ex) == WSI_RUN_NONE || ex.precision == WS_FP16) {
        st = wsi_error(err, WS_ENOTSUP,
                       "afno: %s %s is not supported: the AFNO runs on the CPU in fp32 and, in a CUDA build, on a GPU in "
                       "fp32, tf32 or bf16 (fp16 is not implemented for it: use bf16, which needs no loss scaling)",
                       ws_device_name(ex.device), ws_dtype_name(ex.precision));
        afno_close(m);
        return st;
    }
    const ws_model *owner = o->share_params;
    if (owner && (owner->ops != &afno_ops || owner->n_params != m->n_params || owner->exec.device != ex.device ||
                  owner->exec.cuda != ex.cuda || owner->exec.precision != ex.precision)) {
        st = wsi_error(err, WS_EINVAL,
                       "afno: share_params is %s with %zu parameters on %s %s, this configuration has %zu on %s %s",
                       owner->ops == &afno_ops ? "an AFNO" : "no AFNO", owner->n_params,
                       ws_device_name(owner->exec.device), ws_dtype_name(owner->exec.precision), m->n_params,
                       ws_device_name(ex.device), ws_dtype_name(ex.precision));
        afno_close(m);
        return st;
    }
    a->half = ex.precision == WS_BF16;
    a->profile = ws_profile_open_from_env();
    const ws_exec fx = ws_exec_f32(&ex); /* the filter and the other fp32 ops */
    ws_afno_filter_desc fd = filter_desc(a, o->max_batch);
    st = ws_afno_filter_plan_open(&a->plan, &fx, &fd, err);
    const int R = o->max_batch * a->tokens;
    /* the products' plans (CUDA bf16: workspace for dW in bf16; nothing in fp32) */
    if (st == WS_OK) st = ws_linear_plan(&ex, R, a->patch_dim, o->embed, err);
    if (st == WS_OK) st = ws_linear_plan(&ex, R, o->embed, a->hidden, err);
    if (st == WS_OK) st = ws_linear_plan(&ex, R, a->hidden, o->embed, err);
    if (st == WS_OK) st = ws_linear_plan(&ex, R, o->embed, a->head_dim, err);
    if (st != WS_OK) {
        afno_close(m);
        return st;
    }
    a->filter_ws_bytes = ws_afno_filter_workspace_bytes(&fx, &fd);
    size_t arena_floats = carve(a, NULL);
    a->arena_bytes = arena_floats * sizeof(float);
    a->shared = owner != NULL;
    if (owner) {
        m->params = owner->params;
        m->grads = owner->grads;
        m->params_work = owner->params_work;
    } else if ((st = ws_mem_alloc(&ex, m->n_params * sizeof(float), "afno parameters", (void **)&m->params, err)) !=
                   WS_OK ||
               (st = ws_mem_alloc(&ex, m->n_params * sizeof(float), "afno gradients", (void **)&m->grads, err)) !=
                   WS_OK) {
        afno_close(m);
        return st;
    }
    if (!owner) m->params_work = m->params; /* fp32 and tf32: the ops read the fp32 weights */
    if (!owner && a->half) { /* the products' bf16 weights (refreshed by set_params and the optimizer) */
        a->work_bytes = m->n_params * ws_dtype_size(WS_BF16);
        if ((st = ws_mem_alloc(&ex, a->work_bytes, "afno bf16 weights", &m->params_work, err)) != WS_OK) {
            afno_close(m);
            return st;
        }
    }
    /* buffers: one float, as there is nothing like batch-norm statistics (n_buffers 0) */
    if ((st = ws_mem_alloc(&ex, sizeof(float), "afno buffers", (void **)&m->buffers, err)) != WS_OK ||
        (st = ws_mem_alloc(&ex, a->filter_ws_bytes, "afno filter workspace", &a->filter_ws, err)) != WS_OK ||
        (st = ws_mem_alloc(&ex, a->arena_bytes, "afno activations", (void **)&a->arena, err)) != WS_OK) {
        afno_close(m);
        return st;
    }
    carve(a, a->arena);
    a->opened_threads = ex.threads; /* the workspace was sized for these */
    m->activation_bytes = a->arena_bytes + a->filter_ws_bytes;
    m->forward_flop_per_sample = forward_flops(a);
    if (!owner) {
        float *host = malloc(m->n_params * sizeof *host);
        if (!host) goto nomem;
        init_params(a, host);
        ws_mem_zero(&ex, m->grads, m->n_params * sizeof(float));
        st = ws_model_set_params(m, host, err);
        free(host);
        if (st != WS_OK) {
            afno_close(m);
            return st;
        }
    }
    ws_log(WS_LOG_DEBUG,
           "%s on %s %s: %zu parameters, %d tokens of %d, %.1f MiB activations+gradients at batch %d, %.1f MiB filter "
           "workspace",
           m->name, ws_device_name(ex.device), ws_dtype_name(ex.precision), m->n_params, a->tokens, o->embed,
           a->arena_bytes / 1048576.0, o->max_batch, a->filter_ws_bytes / 1048576.0);
    *out = m;
    return WS_OK;
nomem:
    afno_close(m);
    return wsi_error(err, WS_ENOMEM, "afno: out of memory for batch %d of %dx%d (try a smaller --local-batch)",
                     o->max_batch, o->img_h, o->img_w);
}
