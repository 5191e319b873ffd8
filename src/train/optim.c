/* train/optim.c - SGD, LARS, Adam and AdamW over one flat float parameter buffer.
 * defines: everything declared in train/optim.h (update rules and their PyTorch
 * counterparts are written there).
 *
 * Work is cut into chunks of at most CHUNK elements that never cross a tensor boundary;
 * the chunk table is built once at open. Every pass is one loop over chunks (OpenMP when
 * built with it), and the LARS norms are summed per chunk in double and then added chunk
 * by chunk in a fixed order, so the result does not depend on the thread count. */
#include "train/optim.h"
#include "train/optim_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "ws_config.h"


/* Below this many elements a step is a few microseconds: threads would cost more. */
#define PARALLEL_MIN_COUNT 65536

#define STATE_MAGIC 0x31545354504f5357ull /* the bytes "WSOPTST1" on a little-endian machine */
#define STATE_VERSION 1u

/* The checkpoint header; the moment buffers follow it, n_buffers * total_count floats. */
typedef struct {
    uint64_t magic;
    uint32_t version, kind;
    uint64_t total_count;
    uint64_t layout_hash;
    uint64_t steps;
    uint32_t n_buffers, reserved;
} state_header;

int ws_optimizer_parse(const char *name, ws_optimizer_kind *out) {
    static const struct {
        const char *name;
        ws_optimizer_kind kind;
    } names[] = {{"sgd", WS_OPT_SGD}, {"lars", WS_OPT_LARS}, {"adam", WS_OPT_ADAM}, {"adamw", WS_OPT_ADAMW}};
    if (!name) return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].kind;
            return 0;
        }
    }
    return -1;
}

const char *ws_optimizer_name(ws_optimizer_kind k) {
    switch (k) {
    case WS_OPT_SGD: return "sgd";
    case WS_OPT_LARS: return "lars";
    case WS_OPT_ADAM: return "adam";
    case WS_OPT_ADAMW: return "adamw";
    }
    return "unknown";
}

ws_optim_opts ws_optim_opts_default(ws_optimizer_kind kind) {
    ws_optim_opts o = {
        .kind = kind,
        .momentum = 0.9,
        .nesterov = 0,
        .weight_decay = 1e-4,
        .decay_bn_and_bias = 1,
        .lars_trust = 0.001,
        .lars_eps = 1e-9,
        .beta1 = 0.9,
        .beta2 = 0.999,
        .eps = 1e-8,
    };
    /* MLPerf's LARS (and You et al.) leave BN parameters and biases undecayed; with SGD
     * the study uses PyTorch's default of decaying everything. */
    if (kind == WS_OPT_LARS) o.decay_bn_and_bias = 0;
    return o;
}

static int is_kind(int k) { return k == WS_OPT_SGD || k == WS_OPT_LARS || k == WS_OPT_ADAM || k == WS_OPT_ADAMW; }

static ws_status check_opts(const ws_optim_opts *o, ws_error *err) {
    if (!is_kind((int)o->kind)) return wsi_error(err, WS_EINVAL, "optimizer: unknown kind %d", (int)o->kind);
    const char *k = ws_optimizer_name(o->kind);
    /* !(x >= 0) also rejects NaN. */
    if (!(o->weight_decay >= 0) || !isfinite(o->weight_decay))
        return wsi_error(err, WS_EINVAL, "optimizer %s: weight_decay %g must be finite and >= 0", k,
                         o->weight_decay);
    if (o->kind == WS_OPT_SGD || o->kind == WS_OPT_LARS) {
        if (!(o->momentum >= 0 && o->momentum < 1))
            return wsi_error(err, WS_EINVAL, "optimizer %s: momentum %g must be in [0, 1)", k, o->momentum);
        if (o->nesterov && o->momentum == 0)
            return wsi_error(err, WS_EINVAL, "optimizer %s: nesterov needs momentum > 0 (as torch.optim.SGD)", k);
    } else if (o->nesterov) {
        return wsi_error(err, WS_EINVAL, "optimizer %s: nesterov applies to sgd and lars only", k);
    }
    if (o->kind == WS_OPT_LARS) {
        if (!(o->lars_trust > 0) || !isfinite(o->lars_trust))
            return wsi_error(err, WS_EINVAL, "optimizer lars: lars_trust %g must be finite and > 0", o->lars_trust);
        if (!(o->lars_eps >= 0) || !isfinite(o->lars_eps))
            return wsi_error(err, WS_EINVAL, "optimizer lars: lars_eps %g must be finite and >= 0", o->lars_eps);
    }
    if (o->kind == WS_OPT_ADAM || o->kind == WS_OPT_ADAMW) {
        if (!(o->beta1 >= 0 && o->beta1 < 1))
            return wsi_error(err, WS_EINVAL, "optimizer %s: beta1 %g must be in [0, 1)", k, o->beta1);
        if (!(o->beta2 >= 0 && o->beta2 < 1))
            return wsi_error(err, WS_EINVAL, "optimizer %s: beta2 %g must be in [0, 1)", k, o->beta2);
        if (!(o->eps >= 0) || !isfinite(o->eps))
            return wsi_error(err, WS_EINVAL, "optimizer %s: eps %g must be finite and >= 0", k, o->eps);
    }
    return WS_OK;
}

static int by_offset(const void *a, const void *b) {
    const ws_param_tensor *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static ws_status check_layout(const ws_param_tensor *t, size_t n, size_t total, ws_error *err) {
    for (size_t i = 0; i < n; i++) {
        /* Written so that offset + count cannot overflow. */
        if (t[i].offset > total || t[i].count > total - t[i].offset)
            return wsi_error(err, WS_EINVAL, "optimizer: tensor %zu [%zu, +%zu) lies past total_count %zu", i,
                             t[i].offset, t[i].count, total);
    }
    if (n < 2) return WS_OK;
    ws_param_tensor *sorted = malloc(n * sizeof *sorted);
    if (!sorted) return wsi_error(err, WS_ENOMEM, "optimizer: out of memory checking %zu tensors", n);
    memcpy(sorted, t, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, by_offset);
    ws_status st = WS_OK;
    size_t end = 0; /* the furthest end of the non-empty tensors seen so far */
    for (size_t i = 0; i < n; i++) {
        if (sorted[i].count == 0) continue; /* an empty tensor overlaps nothing */
        if (sorted[i].offset < end) {
            st = wsi_error(err, WS_EINVAL, "optimizer: the tensor at offset %zu (+%zu) overlaps one ending at %zu",
                           sorted[i].offset, sorted[i].count, end);
            break;
        }
        end = sorted[i].offset + sorted[i].count;
    }
    free(sorted);
    return st;
}

/* FNV-1a over the table, so a checkpoint of another model's layout is refused. */
static uint64_t hash_layout(const ws_param_tensor *t, size_t n, size_t total) {
    uint64_t h = 14695981039346656037ull;
    uint64_t words[3];
    for (size_t i = 0; i <= n; i++) {
        if (i < n) {
            words[0] = t[i].offset;
            words[1] = t[i].count;
            words[2] = t[i].no_decay != 0;
        } else {
            words[0] = total;
            words[1] = n;
            words[2] = 0;
        }
        const unsigned char *b = (const unsigned char *)words;
        for (size_t j = 0; j < sizeof words; j++) h = (h ^ b[j]) * 1099511628211ull;
    }
    return h;
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

ws_status ws_optim_open(ws_optim **out, const ws_optim_opts *o, const ws_param_tensor *tensors, size_t n_tensors,
                        size_t total_count, ws_error *err) {
    return ws_optim_open_on(out, NULL, o, tensors, n_tensors, total_count, err);
}

ws_status ws_optim_open_on(ws_optim **out, const ws_exec *ex, const ws_optim_opts *o, const ws_param_tensor *tensors,
                           size_t n_tensors, size_t total_count, ws_error *err) {
    *out = NULL;
    const int on_device = ex && ex->device != WS_DEVICE_CPU;
    if (!o) return wsi_error(err, WS_EINVAL, "ws_optim_open: opts is NULL");
    ws_status st = check_opts(o, err);
    if (st != WS_OK) return st;
    ws_param_tensor whole = {.offset = 0, .count = total_count, .no_decay = 0};
    if (!tensors) {
        if (n_tensors != 0) return wsi_error(err, WS_EINVAL, "ws_optim_open: tensors is NULL but n_tensors is %zu", n_tensors);
        tensors = &whole;
        n_tensors = 1;
    }
    st = check_layout(tensors, n_tensors, total_count, err);
    if (st != WS_OK) return st;

    size_t n_chunks = 0;
    for (size_t i = 0; i < n_tensors; i++) n_chunks += (tensors[i].count + CHUNK - 1) / CHUNK;

    int n_buffers = 0;
    if (o->kind == WS_OPT_ADAM || o->kind == WS_OPT_ADAMW) n_buffers = 2;
    else if (o->momentum != 0) n_buffers = 1;
    /* on a device the moments and LARS scratch live there (train/optim_cuda.cu) */
    int lars = o->kind == WS_OPT_LARS && !on_device;
    int host_buffers = on_device ? 0 : n_buffers;

    /* One block for the whole lifetime: tensor table, chunk table, moments, LARS scratch. */
    if (total_count > (SIZE_MAX / 4) / sizeof(float))
        return wsi_error(err, WS_EINVAL, "ws_optim_open: total_count %zu is too large", total_count);
    size_t off_tensors = 0;
    size_t off_chunks = align64(off_tensors + n_tensors * sizeof(ws_param_tensor));
    size_t off_buf0 = align64(off_chunks + n_chunks * sizeof(chunk));
    size_t off_buf1 = align64(off_buf0 + (host_buffers >= 1 ? total_count : 0) * sizeof(float));
    size_t off_sq = align64(off_buf1 + (host_buffers >= 2 ? total_count : 0) * sizeof(float));
    size_t off_local = align64(off_sq + (lars ? 2 * n_chunks : 0) * sizeof(double));
    size_t size_bytes = align64(off_local + (lars ? n_tensors : 0) * sizeof(float));

    ws_optim *opt = calloc(1, sizeof *opt);
    unsigned char *block = calloc(1, size_bytes ? size_bytes : 1); /* zeroed: moments start at 0 */
    if (!opt || !block) {
        free(opt);
        free(block);
        return wsi_error(err, WS_ENOMEM, "ws_optim_open(%s): cannot allocate %.1f MiB of optimizer state",
                         ws_optimizer_name(o->kind), (double)size_bytes / (1024.0 * 1024.0));
    }
    opt->o = *o;
    opt->total_count = total_count;
    opt->n_tensors = n_tensors;
    opt->n_chunks = n_chunks;
    opt->n_buffers = n_buffers;
    opt->block = block;
    opt->tensors = (ws_param_tensor *)(block + off_tensors);
    opt->chunks = (chunk *)(block + off_chunks);
    opt->buf0 = host_buffers >= 1 ? (float *)(block + off_buf0) : NULL;
    opt->buf1 = host_buffers >= 2 ? (float *)(block + off_buf1) : NULL;
    opt->sq_p = lars ? (double *)(block + off_sq) : NULL;
    opt->sq_g = lars ? opt->sq_p + n_chunks : NULL;
    opt->local = lars ? (float *)(block + off_local) : NULL;
    memcpy(opt->tensors, tensors, n_tensors * sizeof *tensors);
    size_t c = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        for (size_t b = 0; b < tensors[i].count; b += CHUNK) {
            size_t left = tensors[i].count - b;
            opt->chunks[c++] = (chunk){.begin = tensors[i].offset + b, .count = left < CHUNK ? left : CHUNK, .tensor = i};
        }
    }
    opt->layout_hash = hash_layout(tensors, n_tensors, total_count);
    opt->ex = ex ? *ex : ws_exec_cpu(0);
    opt->on_device = on_device;
    if (on_device) {
        st = wsi_optim_dev_open(opt, err);
        if (st != WS_OK) {
            ws_optim_close(opt);
            return st;
        }
    }
    ws_log(WS_LOG_DEBUG, "optimizer %s: %zu tensors, %zu parameters, %.1f MiB of state",
           ws_optimizer_name(o->kind), n_tensors, total_count, (double)size_bytes / (1024.0 * 1024.0));
    *out = opt;
    return WS_OK;
}

void ws_optim_close(ws_optim *opt) {
    if (!opt) return;
    if (opt->on_device) wsi_optim_dev_close(opt);
    free(opt->block);
    free(opt);
}

uint64_t ws_optim_steps(const ws_optim *opt) { return opt->steps; }

/* The weight decay of tensor t, as a float like PyTorch's Scalar on a float tensor. */
static float tensor_wd(const ws_optim *opt, const ws_param_tensor *t) {
    if (t->no_decay && !opt->o.decay_bn_and_bias) return 0.0f;
    return (float)opt->o.weight_decay;
}

/* SGD and LARS share this: d = (g + wd*p) * scale, then PyTorch's momentum and update.
 * scale is 1 for SGD and for LARS tensors that are not adapted (skipped; d*1 is exact anyway).
 * fmaf wherever ATen computes a + alpha*b (add with alpha, lerp, addcmul): its CPU kernels
 * fuse these (Vectorized fmadd) and its CUDA ones are contracted to fma, so only fmaf gives
 * PyTorch's bits. fmaf is exact by definition, so the result does not depend on -mfma
 * either; without hardware FMA in the build it is a libm call, slower but the same. */
static void momentum_chunk(const ws_optim *opt, const chunk *c, float *p, const float *g, float wd, float scale,
                           float lr, int first) {
    const float m = (float)opt->o.momentum;
    const int nesterov = opt->o.nesterov;
    float *buf = opt->buf0;
    const size_t end = c->begin + c->count;
    for (size_t i = c->begin; i < end; i++) {
        float d = g[i];
        if (wd != 0.0f) d = fmaf(wd, p[i], d); /* grad.add(param, alpha=wd) */
        if (scale != 1.0f) d = d * scale;
        if (buf) {
            /* clone on the first step, else mul_(m) then add_(d): two roundings, no fma */
            float b = first ? d : m * buf[i] + d;
            buf[i] = b;
            d = nesterov ? fmaf(m, b, d) : b; /* grad.add(buf, alpha=momentum) */
        }
        p[i] = fmaf(-lr, d, p[i]); /* param.add_(d, alpha=-lr) */
    }
}

static void adam_chunk(const ws_optim *opt, const chunk *c, float *p, const float *g, float wd, float keep,
                       float one_minus_beta1, float beta2, float one_minus_beta2, float bc2_sqrt, float eps,
                       float neg_step_size) {
    float *mom = opt->buf0, *vel = opt->buf1;
    const int decoupled = opt->o.kind == WS_OPT_ADAMW;
    const size_t end = c->begin + c->count;
    for (size_t i = c->begin; i < end; i++) {
        float pi = p[i], gi = g[i];
        if (wd != 0.0f) {
            if (decoupled) pi = pi * keep; /* param.mul_(1 - lr*wd) */
            else gi = fmaf(wd, pi, gi);    /* grad.add(param, alpha=wd) */
        }
        float mi = mom[i];
        mi = fmaf(one_minus_beta1, gi - mi, mi); /* exp_avg.lerp_(grad, 1-beta1), weight < 0.5 */
        float vi = fmaf(one_minus_beta2 * gi, gi, vel[i] * beta2); /* mul_(beta2).addcmul_(g, g, 1-beta2) */
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        mom[i] = mi;
        vel[i] = vi;
        p[i] = pi + neg_step_size * mi / denom; /* addcdiv_: self + value * t1 / t2 */
    }
}

/* LARS trust ratios: per-chunk sums of squares in parallel, then per tensor in chunk order. */
static void lars_local(ws_optim *opt, const float *params, const float *grads) {
    const size_t n_chunks = opt->n_chunks;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (opt->total_count >= PARALLEL_MIN_COUNT)
#endif
    for (size_t k = 0; k < n_chunks; k++) {
        const chunk *c = &opt->chunks[k];
        double sp = 0, sg = 0;
        if (!opt->tensors[c->tensor].no_decay) {
            for (size_t i = c->begin; i < c->begin + c->count; i++) {
                sp += (double)params[i] * params[i];
                sg += (double)grads[i] * grads[i];
            }
        }
        opt->sq_p[k] = sp;
        opt->sq_g[k] = sg;
    }
    const double eta = opt->o.lars_trust, wd = opt->o.weight_decay, eps = opt->o.lars_eps;
    size_t k = 0;
    for (size_t t = 0; t < opt->n_tensors; t++) {
        double sp = 0, sg = 0;
        for (; k < n_chunks && opt->chunks[k].tensor == t; k++) {
            sp += opt->sq_p[k];
            sg += opt->sq_g[k];
        }
        double local = 1.0;
        if (!opt->tensors[t].no_decay) {
            double pn = sqrt(sp), gn = sqrt(sg);
            if (pn > 0 && gn > 0) local = eta * pn / (gn + wd * pn + eps);
        }
        opt->local[t] = (float)local;
    }
}

void ws_optim_set_work(ws_optim *opt, void *work, ws_dtype dt) {
    opt->work = work;
    opt->work_type = dt;
}

void ws_optim_set_skip(ws_optim *opt, const int *skip) { opt->skip = skip; }

/* The CPU's step: the whole update, counted. */
static void step_cpu(ws_optim *opt, float *params, const float *grads, double lr);

void ws_optim_step(ws_optim *opt, float *params, const float *grads, double lr) {
    if (!opt->on_device) {
        step_cpu(opt, params, grads, lr);
        return;
    }
    ws_optim_prepare(opt, lr);
    ws_optim_enqueue(opt, params, grads);
}

void ws_optim_prepare(ws_optim *opt, double lr) {
    opt->pending_lr = lr;
    if (!opt->on_device) return;
    wsi_optim_hyper h;
    memset(&h, 0, sizeof h);
    h.lr = (float)lr;
    h.first = opt->steps == 0;
    if (opt->o.kind == WS_OPT_ADAM || opt->o.kind == WS_OPT_ADAMW) {
        /* as step_cpu: PyTorch's Python-float (double) bias corrections */
        const double t = (double)(opt->steps + 1);
        const double bc1 = 1.0 - pow(opt->o.beta1, t), bc2 = 1.0 - pow(opt->o.beta2, t);
        h.neg_step_size = (float)(-(lr / bc1));
        h.bc2_sqrt = (float)sqrt(bc2);
        h.keep = (float)(1.0 - lr * opt->o.weight_decay);
    }
    wsi_optim_dev_prepare(opt, &h);
    opt->steps++;
}

void ws_optim_enqueue(ws_optim *opt, float *params, const float *grads) {
    if (!opt->on_device) {
        step_cpu(opt, params, grads, opt->pending_lr);
        return;
    }
    wsi_optim_dev_step(opt, params, grads);
}

void ws_optim_unstep(ws_optim *opt) {
    if (opt->steps > 0) opt->steps--;
}


static void step_cpu(ws_optim *opt, float *params, const float *grads, double lr) {
    const size_t n_chunks = opt->n_chunks;
    const int first = opt->steps == 0;
    const float lr_f = (float)lr;
    switch (opt->o.kind) {
    case WS_OPT_SGD:
    case WS_OPT_LARS: {
        const int lars = opt->o.kind == WS_OPT_LARS;
        if (lars) lars_local(opt, params, grads);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (opt->total_count >= PARALLEL_MIN_COUNT)
#endif
        for (size_t k = 0; k < n_chunks; k++) {
            const chunk *c = &opt->chunks[k];
            const ws_param_tensor *t = &opt->tensors[c->tensor];
            float scale = lars ? opt->local[c->tensor] : 1.0f;
            momentum_chunk(opt, c, params, grads, tensor_wd(opt, t), scale, lr_f, first);
        }
        break;
    }
    case WS_OPT_ADAM:
    case WS_OPT_ADAMW: {
        /* PyTorch computes these in Python floats (double) from the step count. */
        const double t = (double)(opt->steps + 1);
        const double bc1 = 1.0 - pow(opt->o.beta1, t);
        const double bc2 = 1.0 - pow(opt->o.beta2, t);
        const float neg_step_size = (float)(-(lr / bc1));
        const float bc2_sqrt = (float)sqrt(bc2);
        const float keep = (float)(1.0 - lr * opt->o.weight_decay);
        const float omb1 = (float)(1.0 - opt->o.beta1), b2 = (float)opt->o.beta2;
        const float omb2 = (float)(1.0 - opt->o.beta2), eps = (float)opt->o.eps;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (opt->total_count >= PARALLEL_MIN_COUNT)
#endif
        for (size_t k = 0; k < n_chunks; k++) {
            const chunk *c = &opt->chunks[k];
            adam_chunk(opt, c, params, grads, tensor_wd(opt, &opt->tensors[c->tensor]), keep, omb1, b2, omb2,
                       bc2_sqrt, eps, neg_step_size);
        }
        break;
    }
    }
    opt->steps++;
}

size_t ws_optim_state_bytes(const ws_optim *opt) {
    return sizeof(state_header) + (size_t)opt->n_buffers * opt->total_count * sizeof(float);
}

ws_status ws_optim_state_save(const ws_optim *opt, void *buf, ws_error *err) {
    state_header h = {
        .magic = STATE_MAGIC,
        .version = STATE_VERSION,
        .kind = (uint32_t)opt->o.kind,
        .total_count = opt->total_count,
        .layout_hash = opt->layout_hash,
        .steps = opt->steps,
        .n_buffers = (uint32_t)opt->n_buffers,
    };
    unsigned char *b = buf;
    memcpy(b, &h, sizeof h);
    if (opt->on_device) return wsi_optim_dev_save(opt, b + sizeof h, err);
    size_t n = opt->total_count * sizeof(float);
    if (opt->n_buffers >= 1) memcpy(b + sizeof h, opt->buf0, n);
    if (opt->n_buffers >= 2) memcpy(b + sizeof h + n, opt->buf1, n);
    return WS_OK;
}

ws_status ws_optim_state_load(ws_optim *opt, const void *buf, size_t bytes, ws_error *err) {
    state_header h;
    const char *k = ws_optimizer_name(opt->o.kind);
    if (!buf || bytes < sizeof h)
        return wsi_error(err, WS_EFORMAT, "optimizer %s state: %zu bytes, shorter than the %zu-byte header", k,
                         bytes, sizeof h);
    memcpy(&h, buf, sizeof h);
    if (h.magic != STATE_MAGIC || h.version != STATE_VERSION)
        return wsi_error(err, WS_EFORMAT, "optimizer %s state: not an optimizer checkpoint (magic/version %u)", k,
                         (unsigned)h.version);
    if (h.kind != (uint32_t)opt->o.kind)
        return wsi_error(err, WS_EFORMAT, "optimizer %s state: saved by optimizer %s", k,
                         ws_optimizer_name((ws_optimizer_kind)h.kind));
    if (h.total_count != opt->total_count || h.layout_hash != opt->layout_hash)
        return wsi_error(err, WS_EFORMAT,
                         "optimizer %s state: saved for %llu parameters in another tensor layout (this one has %zu)",
                         k, (unsigned long long)h.total_count, opt->total_count);
    if (h.n_buffers != (uint32_t)opt->n_buffers)
        return wsi_error(err, WS_EFORMAT, "optimizer %s state: %u moment buffers saved, %d expected (momentum 0 vs not?)",
                         k, (unsigned)h.n_buffers, opt->n_buffers);
    if (bytes != ws_optim_state_bytes(opt))
        return wsi_error(err, WS_EFORMAT, "optimizer %s state: %zu bytes, expected %zu", k, bytes,
                         ws_optim_state_bytes(opt));
    const unsigned char *b = buf;
    size_t n = opt->total_count * sizeof(float);
    if (opt->on_device) {
        ws_status st = wsi_optim_dev_load(opt, b + sizeof h, err);
        if (st != WS_OK) return st;
    } else {
        if (opt->n_buffers >= 1) memcpy(opt->buf0, b + sizeof h, n);
        if (opt->n_buffers >= 2) memcpy(opt->buf1, b + sizeof h + n, n);
    }
    opt->steps = h.steps;
    return WS_OK;
}

#if !WS_HAVE_CUDA
/* Without CUDA there is no device half: ws_optim_open_on says so. */
ws_status wsi_optim_dev_open(ws_optim *opt, ws_error *err) {
    return wsi_error(err, WS_ENOTSUP, "optimizer on %s: this build has no CUDA backend", ws_device_name(opt->ex.device));
}
void wsi_optim_dev_prepare(ws_optim *opt, const wsi_optim_hyper *h) { (void)opt, (void)h; }
void wsi_optim_dev_step(ws_optim *opt, float *params, const float *grads) { (void)opt, (void)params, (void)grads; }
ws_status wsi_optim_dev_save(const ws_optim *opt, void *moments, ws_error *err) {
    (void)opt, (void)moments;
    return wsi_error(err, WS_ENOTSUP, "no CUDA backend");
}
ws_status wsi_optim_dev_load(ws_optim *opt, const void *moments, ws_error *err) {
    (void)opt, (void)moments;
    return wsi_error(err, WS_ENOTSUP, "no CUDA backend");
}
void wsi_optim_dev_close(ws_optim *opt) { (void)opt; }
#endif
