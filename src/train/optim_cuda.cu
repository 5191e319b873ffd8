/* train/optim_cuda.cu - the optimizers' update rules as CUDA kernels over one flat
 * parameter buffer (the device half of train/optim.c).
 * defines: wsi_optim_dev_open, wsi_optim_dev_prepare, wsi_optim_dev_step, wsi_optim_dev_save,
 *          wsi_optim_dev_load, wsi_optim_dev_close (train/optim_internal.h).
 * reference: train/optim.c (the rules and their PyTorch counterparts are written in
 * train/optim.h).
 *
 * One block per chunk of the CPU's chunk table (at most CHUNK elements of one tensor), so a
 * tensor's weight decay and LARS ratio are per block. The arithmetic is the CPU's, element
 * for element: fmaf where the CPU calls fmaf, and explicitly rounded __fmul_rn/__fadd_rn
 * where the CPU rounds twice, because nvcc would otherwise contract a*b + c into one fma;
 * so SGD, Nesterov and the momentum buffer give the CPU's bits. The step also writes the
 * bf16/fp16 working copy of the weights (no extra pass) and does nothing when the fp16
 * loss scaler flagged the step. Per-step scalars come from device memory, copied there by
 * ws_optim_prepare from pinned host memory, so a CUDA graph holding the kernels replays
 * the update with each step's learning rate. */
#include "ops/cuda_common.cuh"

extern "C" {
#include "ops/mem.h"
#include "train/optim_internal.h"
}

#include <math.h>
#include <string.h>

#define WSI_OPTIM_SLOTS 64

struct wsi_optim_dev {
    float *buf0, *buf1;
    unsigned long long *c_begin;
    int *c_count, *c_tensor;
    float *t_wd;
    int *t_no_decay, *t_first_chunk, *t_n_chunks;
    double *sq_p, *sq_g;
    float *local;
    /* Per-step scalars: prepare writes a slot of a ring of pinned buffers and enqueues its
     * copy to d_hyper, which the kernels (or a graph of them) read; a slot is rewritten
     * only after its copy is done (its event), so prepare never races an earlier copy. */
    wsi_optim_hyper *h_host, *d_hyper;
    cudaEvent_t slot_done[WSI_OPTIM_SLOTS];
    size_t n_moment_bytes;
};

namespace {

__device__ __forceinline__ void store_work(void *work, int work_type, size_t i, float p) {
    if (!work) return;
    if (work_type == WS_BF16) ((__nv_bfloat16 *)work)[i] = __float2bfloat16_rn(p);
    else if (work_type == WS_FP16) ((__half *)work)[i] = __float2half_rn(p);
    else ((float *)work)[i] = p;
}

__global__ void momentum_update(float *__restrict__ p, const float *__restrict__ g, float *__restrict__ buf,
                                const unsigned long long *__restrict__ c_begin, const int *__restrict__ c_count,
                                const int *__restrict__ c_tensor, const float *__restrict__ t_wd,
                                const float *__restrict__ local, float momentum, int nesterov,
                                const wsi_optim_hyper *__restrict__ hp, const int *__restrict__ skip, void *work,
                                int work_type) {
    if (skip && *skip) return;
    const int c = blockIdx.x, t = c_tensor[c];
    const size_t begin = c_begin[c], end = begin + (size_t)c_count[c];
    const float wd = t_wd[t], scale = local ? local[t] : 1.0f, lr = hp->lr;
    const int first = hp->first;
    for (size_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
        float d = g[i], pi = p[i];
        if (wd != 0.0f) d = fmaf(wd, pi, d);
        if (scale != 1.0f) d = __fmul_rn(d, scale);
        if (buf) {
            float b = first ? d : __fadd_rn(__fmul_rn(momentum, buf[i]), d);
            buf[i] = b;
            d = nesterov ? fmaf(momentum, b, d) : b;
        }
        pi = fmaf(-lr, d, pi);
        p[i] = pi;
        store_work(work, work_type, i, pi);
    }
}

__global__ void adam_update(float *__restrict__ p, const float *__restrict__ g, float *__restrict__ mom,
                            float *__restrict__ vel, const unsigned long long *__restrict__ c_begin,
                            const int *__restrict__ c_count, const int *__restrict__ c_tensor,
                            const float *__restrict__ t_wd, int decoupled, float omb1, float beta2, float omb2,
                            float eps, const wsi_optim_hyper *__restrict__ hp, const int *__restrict__ skip, void *work,
                            int work_type) {
    if (skip && *skip) return;
    const int c = blockIdx.x, t = c_tensor[c];
    const size_t begin = c_begin[c], end = begin + (size_t)c_count[c];
    const float wd = t_wd[t], keep = hp->keep, bc2_sqrt = hp->bc2_sqrt, nss = hp->neg_step_size;
    for (size_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
        float pi = p[i], gi = g[i];
        if (wd != 0.0f) {
            if (decoupled) pi = __fmul_rn(pi, keep);
            else gi = fmaf(wd, pi, gi);
        }
        float mi = mom[i];
        mi = fmaf(omb1, __fsub_rn(gi, mi), mi);
        float vi = fmaf(__fmul_rn(omb2, gi), gi, __fmul_rn(vel[i], beta2));
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
        mom[i] = mi;
        vel[i] = vi;
        pi = __fadd_rn(pi, __fdiv_rn(__fmul_rn(nss, mi), denom));
        p[i] = pi;
        store_work(work, work_type, i, pi);
    }
}

/* LARS: per-chunk sums of squares (0 for no_decay tensors), in double. */
__global__ void lars_sums(const float *__restrict__ p, const float *__restrict__ g,
                          const unsigned long long *__restrict__ c_begin, const int *__restrict__ c_count,
                          const int *__restrict__ c_tensor, const int *__restrict__ t_no_decay, double *sq_p,
                          double *sq_g, const int *__restrict__ skip) {
    if (skip && *skip) return;
    __shared__ double sp_w[32], sg_w[32];
    const int c = blockIdx.x;
    const size_t begin = c_begin[c], end = begin + (size_t)c_count[c];
    double sp = 0, sg = 0;
    if (!t_no_decay[c_tensor[c]])
        for (size_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
            sp += (double)p[i] * p[i];
            sg += (double)g[i] * g[i];
        }
    for (int o = 16; o > 0; o >>= 1) {
        sp += __shfl_xor_sync(0xffffffffu, sp, o);
        sg += __shfl_xor_sync(0xffffffffu, sg, o);
    }
    if ((threadIdx.x & 31) == 0) {
        sp_w[threadIdx.x >> 5] = sp;
        sg_w[threadIdx.x >> 5] = sg;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double a = 0, b = 0;
        for (int w = 0; w < (int)(blockDim.x >> 5); w++) {
            a += sp_w[w];
            b += sg_w[w];
        }
        sq_p[c] = a;
        sq_g[c] = b;
    }
}

__global__ void lars_ratios(const double *__restrict__ sq_p, const double *__restrict__ sq_g,
                            const int *__restrict__ t_first_chunk, const int *__restrict__ t_n_chunks,
                            const int *__restrict__ t_no_decay, float *local, int n_tensors, double eta, double wd,
                            double eps, const int *__restrict__ skip) {
    if (skip && *skip) return;
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n_tensors) return;
    double sp = 0, sg = 0;
    for (int k = 0; k < t_n_chunks[t]; k++) {
        sp += sq_p[t_first_chunk[t] + k];
        sg += sq_g[t_first_chunk[t] + k];
    }
    double l = 1.0;
    if (!t_no_decay[t]) {
        double pn = sqrt(sp), gn = sqrt(sg);
        if (pn > 0 && gn > 0) l = eta * pn / (gn + wd * pn + eps);
    }
    local[t] = (float)l;
}

} // namespace

static ws_status dev_alloc(ws_optim *opt, void **p, size_t bytes, const char *what, ws_error *err) {
    return ws_mem_alloc(&opt->ex, bytes, what, p, err);
}

extern "C" ws_status wsi_optim_dev_open(ws_optim *opt, ws_error *err) {
    if (opt->ex.device != WS_DEVICE_CUDA || !opt->ex.cuda)
        return wsi_error(err, WS_ENOTSUP, "optimizer on %s: not supported", ws_device_name(opt->ex.device));
    wsi_optim_dev *d = (wsi_optim_dev *)calloc(1, sizeof *d);
    if (!d) return wsi_error(err, WS_ENOMEM, "optimizer: out of memory");
    opt->dev = d;
    const size_t nc = opt->n_chunks, nt = opt->n_tensors, n = opt->total_count;
    ws_status st = WS_OK;
    unsigned long long *h_begin = (unsigned long long *)malloc(nc * sizeof *h_begin);
    int *h_count = (int *)malloc(nc * sizeof(int)), *h_tensor = (int *)malloc(nc * sizeof(int));
    int *h_nd = (int *)malloc(nt * sizeof(int)), *h_first = (int *)calloc(nt, sizeof(int)),
        *h_nch = (int *)calloc(nt, sizeof(int));
    float *h_wd = (float *)malloc(nt * sizeof(float));
    if (!h_begin || !h_count || !h_tensor || !h_nd || !h_first || !h_nch || !h_wd) {
        st = wsi_error(err, WS_ENOMEM, "optimizer: out of memory");
        goto out;
    }
    for (size_t k = 0; k < nc; k++) {
        h_begin[k] = opt->chunks[k].begin;
        h_count[k] = (int)opt->chunks[k].count;
        h_tensor[k] = (int)opt->chunks[k].tensor;
        if (h_nch[h_tensor[k]]++ == 0) h_first[h_tensor[k]] = (int)k;
    }
    for (size_t t = 0; t < nt; t++) {
        h_nd[t] = opt->tensors[t].no_decay;
        /* as optim.c's tensor_wd: a float, like PyTorch's Scalar on a float tensor */
        h_wd[t] = (opt->tensors[t].no_decay && !opt->o.decay_bn_and_bias) ? 0.0f : (float)opt->o.weight_decay;
    }
    d->n_moment_bytes = n * sizeof(float);
    if ((opt->n_buffers >= 1 && (st = dev_alloc(opt, (void **)&d->buf0, d->n_moment_bytes, "optimizer moments", err)) != WS_OK) ||
        (opt->n_buffers >= 2 && (st = dev_alloc(opt, (void **)&d->buf1, d->n_moment_bytes, "optimizer moments", err)) != WS_OK) ||
        (st = dev_alloc(opt, (void **)&d->c_begin, nc * sizeof *h_begin, "optimizer chunks", err)) != WS_OK ||
        (st = dev_alloc(opt, (void **)&d->c_count, nc * sizeof(int), "optimizer chunks", err)) != WS_OK ||
        (st = dev_alloc(opt, (void **)&d->c_tensor, nc * sizeof(int), "optimizer chunks", err)) != WS_OK ||
        (st = dev_alloc(opt, (void **)&d->t_wd, nt * sizeof(float), "optimizer tensors", err)) != WS_OK ||
        (st = dev_alloc(opt, (void **)&d->t_no_decay, nt * sizeof(int), "optimizer tensors", err)) != WS_OK ||
        (st = dev_alloc(opt, (void **)&d->t_first_chunk, nt * sizeof(int), "optimizer tensors", err)) != WS_OK ||
        (st = dev_alloc(opt, (void **)&d->t_n_chunks, nt * sizeof(int), "optimizer tensors", err)) != WS_OK ||
        (st = dev_alloc(opt, (void **)&d->d_hyper, sizeof(wsi_optim_hyper), "optimizer scalars", err)) != WS_OK ||
        (st = ws_mem_host_alloc(&opt->ex, WSI_OPTIM_SLOTS * sizeof(wsi_optim_hyper), "optimizer scalars",
                                (void **)&d->h_host, err)) != WS_OK)
        goto out;
    for (int k = 0; k < WSI_OPTIM_SLOTS; k++) {
        cudaError_t e = cudaEventCreateWithFlags(&d->slot_done[k], cudaEventDisableTiming);
        if (e != cudaSuccess) {
            st = wsi_cuda_status(err, e, "cudaEventCreate (optimizer)");
            goto out;
        }
    }
    if (opt->o.kind == WS_OPT_LARS &&
        ((st = dev_alloc(opt, (void **)&d->sq_p, nc * sizeof(double), "LARS sums", err)) != WS_OK ||
         (st = dev_alloc(opt, (void **)&d->sq_g, nc * sizeof(double), "LARS sums", err)) != WS_OK ||
         (st = dev_alloc(opt, (void **)&d->local, nt * sizeof(float), "LARS ratios", err)) != WS_OK))
        goto out;
    memset(d->h_host, 0, WSI_OPTIM_SLOTS * sizeof *d->h_host);
    if ((st = ws_mem_upload(&opt->ex, d->c_begin, h_begin, nc * sizeof *h_begin, err)) != WS_OK ||
        (st = ws_mem_upload(&opt->ex, d->c_count, h_count, nc * sizeof(int), err)) != WS_OK ||
        (st = ws_mem_upload(&opt->ex, d->c_tensor, h_tensor, nc * sizeof(int), err)) != WS_OK ||
        (st = ws_mem_upload(&opt->ex, d->t_wd, h_wd, nt * sizeof(float), err)) != WS_OK ||
        (st = ws_mem_upload(&opt->ex, d->t_no_decay, h_nd, nt * sizeof(int), err)) != WS_OK ||
        (st = ws_mem_upload(&opt->ex, d->t_first_chunk, h_first, nt * sizeof(int), err)) != WS_OK ||
        (st = ws_mem_upload(&opt->ex, d->t_n_chunks, h_nch, nt * sizeof(int), err)) != WS_OK)
        goto out;
    if (d->buf0) ws_mem_zero(&opt->ex, d->buf0, d->n_moment_bytes);
    if (d->buf1) ws_mem_zero(&opt->ex, d->buf1, d->n_moment_bytes);
    st = ws_exec_sync(&opt->ex, err);
out:
    free(h_begin);
    free(h_count);
    free(h_tensor);
    free(h_nd);
    free(h_first);
    free(h_nch);
    free(h_wd);
    return st; /* on failure the caller closes, which frees what was allocated */
}

extern "C" void wsi_optim_dev_prepare(ws_optim *opt, const wsi_optim_hyper *h) {
    wsi_optim_dev *d = opt->dev;
    ws_cuda_ctx *c = opt->ex.cuda;
    int s = (int)(opt->steps % WSI_OPTIM_SLOTS);
    WS_CHECK_CUDA(cudaEventSynchronize(d->slot_done[s])); /* never recorded: returns at once */
    d->h_host[s] = *h;
    WS_CHECK_CUDA(cudaMemcpyAsync(d->d_hyper, d->h_host + s, sizeof *d->h_host, cudaMemcpyHostToDevice, c->stream));
    WS_CHECK_CUDA(cudaEventRecord(d->slot_done[s], c->stream));
}

extern "C" void wsi_optim_dev_step(ws_optim *opt, float *params, const float *grads) {
    wsi_optim_dev *d = opt->dev;
    ws_cuda_ctx *c = opt->ex.cuda;
    const unsigned nc = (unsigned)opt->n_chunks;
    int wt = opt->work ? (int)ws_act_dtype(opt->work_type) : 0;
    switch (opt->o.kind) {
    case WS_OPT_LARS:
        lars_sums<<<nc, 256, 0, c->stream>>>(params, grads, d->c_begin, d->c_count, d->c_tensor, d->t_no_decay, d->sq_p,
                                            d->sq_g, opt->skip);
        WS_CHECK_LAUNCH(c, "lars_sums");
        lars_ratios<<<(unsigned)((opt->n_tensors + 127) / 128), 128, 0, c->stream>>>(
            d->sq_p, d->sq_g, d->t_first_chunk, d->t_n_chunks, d->t_no_decay, d->local, (int)opt->n_tensors,
            opt->o.lars_trust, opt->o.weight_decay, opt->o.lars_eps, opt->skip);
        WS_CHECK_LAUNCH(c, "lars_ratios");
        [[fallthrough]]; /* LARS is SGD on scaled gradients */
    case WS_OPT_SGD:
        momentum_update<<<nc, 256, 0, c->stream>>>(params, grads, d->buf0, d->c_begin, d->c_count, d->c_tensor, d->t_wd,
                                                   opt->o.kind == WS_OPT_LARS ? d->local : NULL, (float)opt->o.momentum,
                                                   opt->o.nesterov, d->d_hyper, opt->skip, opt->work, wt);
        WS_CHECK_LAUNCH(c, "momentum_update");
        break;
    case WS_OPT_ADAM:
    case WS_OPT_ADAMW:
        adam_update<<<nc, 256, 0, c->stream>>>(params, grads, d->buf0, d->buf1, d->c_begin, d->c_count, d->c_tensor,
                                               d->t_wd, opt->o.kind == WS_OPT_ADAMW, (float)(1.0 - opt->o.beta1),
                                               (float)opt->o.beta2, (float)(1.0 - opt->o.beta2), (float)opt->o.eps,
                                               d->d_hyper, opt->skip, opt->work, wt);
        WS_CHECK_LAUNCH(c, "adam_update");
        break;
    }
}

extern "C" ws_status wsi_optim_dev_save(const ws_optim *opt, void *moments, ws_error *err) {
    const wsi_optim_dev *d = opt->dev;
    ws_status st = WS_OK;
    if (d->buf0) st = ws_mem_download(&opt->ex, moments, d->buf0, d->n_moment_bytes, err);
    if (st == WS_OK && d->buf1)
        st = ws_mem_download(&opt->ex, (char *)moments + d->n_moment_bytes, d->buf1, d->n_moment_bytes, err);
    return st;
}

extern "C" ws_status wsi_optim_dev_load(ws_optim *opt, const void *moments, ws_error *err) {
    wsi_optim_dev *d = opt->dev;
    ws_status st = WS_OK;
    if (d->buf0) st = ws_mem_upload(&opt->ex, d->buf0, moments, d->n_moment_bytes, err);
    if (st == WS_OK && d->buf1)
        st = ws_mem_upload(&opt->ex, d->buf1, (const char *)moments + d->n_moment_bytes, d->n_moment_bytes, err);
    return st;
}

extern "C" void wsi_optim_dev_close(ws_optim *opt) {
    wsi_optim_dev *d = opt->dev;
    if (!d) return;
    const ws_exec *ex = &opt->ex;
    const size_t nc = opt->n_chunks, nt = opt->n_tensors;
    ws_exec_sync(ex, NULL);
    ws_mem_free(ex, d->buf0, d->n_moment_bytes);
    ws_mem_free(ex, d->buf1, d->n_moment_bytes);
    ws_mem_free(ex, d->c_begin, nc * sizeof(unsigned long long));
    ws_mem_free(ex, d->c_count, nc * sizeof(int));
    ws_mem_free(ex, d->c_tensor, nc * sizeof(int));
    ws_mem_free(ex, d->t_wd, nt * sizeof(float));
    ws_mem_free(ex, d->t_no_decay, nt * sizeof(int));
    ws_mem_free(ex, d->t_first_chunk, nt * sizeof(int));
    ws_mem_free(ex, d->t_n_chunks, nt * sizeof(int));
    ws_mem_free(ex, d->sq_p, nc * sizeof(double));
    ws_mem_free(ex, d->sq_g, nc * sizeof(double));
    ws_mem_free(ex, d->local, nt * sizeof(float));
    ws_mem_free(ex, d->d_hyper, sizeof(wsi_optim_hyper));
    ws_mem_host_free(ex, d->h_host);
    for (int k = 0; k < WSI_OPTIM_SLOTS; k++)
        if (d->slot_done[k]) cudaEventDestroy(d->slot_done[k]);
    free(d);
    opt->dev = NULL;
}
