/* src/ops/conv2d_cuda.cu - 2-D convolution on the GPU through cuDNN, NHWC.
 * defines: ws_conv2d_plan_cuda, ws_conv2d_forward_cuda, ws_conv2d_backward_cuda and
 *          wsi_conv_plans_free (the context's plan cache).
 * reference: src/ops/conv2d_cpu.c; contract and shapes: src/ops/conv2d.h
 *
 * Algorithms are chosen once per shape (N,C,H,W,K,R,S,stride,pad, storage type) by
 * measurement, cudnnFind* for forward, backward data and backward filter, at plan time;
 * the fastest whose workspace fits WATTSCALE_CUDNN_WORKSPACE_MB (default: an eighth of the
 * GPU's memory, at most 8 GiB) wins, with
 * only deterministic ones when the context asks. A shape met without a plan (the last,
 * partial evaluation batch) takes cuDNN's heuristic pick that fits the workspace reserved.
 * Descriptors live in the plan, so a step creates none.
 *
 * Math: fp32 runs CUDNN_FMA_MATH (no TF32, as the study's fp32 ran: cuDNN's default would
 * allow TF32 on Ampere and newer); tf32, bf16 and fp16 run tensor-core kernels with fp32
 * accumulation (compute type float). For bf16/fp16, cuDNN writes dW in the storage type:
 * it goes to a staging area at the start of the workspace and is added to the fp32
 * gradient (+=) by one kernel, as PyTorch's autocast accumulates .grad in fp32. */
#include "ops/cuda_common.cuh"

extern "C" {
#include "ops/conv2d.h"
}

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wsi_conv_plan {
    struct wsi_conv_plan *next;
    ws_conv2d_desc d;
    ws_dtype act;
    int measured;
#if WS_HAVE_CUDNN
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    cudnnMathType_t fwd_math, bwd_data_math, bwd_filter_math;
#endif
    size_t fwd_ws, bwd_data_ws, bwd_filter_ws;
    size_t dw_stage; /* bytes of bf16/fp16 dW staging at the workspace's start (aligned) */
};

void wsi_conv_plans_free(ws_cuda_ctx *c) {
    struct wsi_conv_plan *p = c->conv_plans;
    while (p) {
        struct wsi_conv_plan *next = p->next;
#if WS_HAVE_CUDNN
        if (p->xd) cudnnDestroyTensorDescriptor(p->xd);
        if (p->yd) cudnnDestroyTensorDescriptor(p->yd);
        if (p->wd) cudnnDestroyFilterDescriptor(p->wd);
        if (p->cd) cudnnDestroyConvolutionDescriptor(p->cd);
#endif
        free(p);
        p = next;
    }
    c->conv_plans = NULL;
}

#if WS_HAVE_CUDNN

static int same_shape(const ws_conv2d_desc *a, const ws_conv2d_desc *b) {
    return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w && a->k == b->k && a->r == b->r &&
           a->s == b->s && a->stride == b->stride && a->pad == b->pad;
}

static cudnnDataType_t cudnn_type(ws_dtype act) {
    return act == WS_BF16 ? CUDNN_DATA_BFLOAT16 : act == WS_FP16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
}

/* The fastest algorithms of ResNet-50's largest layers need more than 1 GiB at batch 256 in
 * fp32 (with 1 GiB, two 1x1 convolutions at 56x56 fell back to workspace-free algorithms
 * 20x slower: measured on an H200, 2026-12-01), so the default is an eighth of the GPU's
 * memory up to 8 GiB; the workspace is shared by all convolutions. */
static size_t workspace_limit(const ws_cuda_ctx *c) {
    const char *v = getenv("WATTSCALE_CUDNN_WORKSPACE_MB");
    if (v) {
        long mb = atol(v);
        return (size_t)(mb < 0 ? 0 : mb) << 20;
    }
    size_t lim = c->total_bytes / 8, cap = (size_t)8 << 30;
    return lim < cap ? lim : cap;
}

/* fp32 must never run TF32 kernels, whatever the perf entry says. */
static cudnnMathType_t run_math(const ws_cuda_ctx *c, cudnnMathType_t found) {
    return c->precision == WS_FP32 ? CUDNN_FMA_MATH : found;
}

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

/* Perf entries arrive sorted by time; the first usable one wins. */
template <typename Perf>
static int pick(const ws_cuda_ctx *c, const Perf *perf, int n, size_t limit) {
    for (int i = 0; i < n; i++) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > limit) continue;
        if (c->deterministic && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
        return i;
    }
    return -1;
}

static ws_status make_descriptors(ws_cuda_ctx *c, struct wsi_conv_plan *p, ws_error *err) {
    const ws_conv2d_desc *d = &p->d;
    cudnnDataType_t dt = cudnn_type(p->act);
    cudnnStatus_t s;
    if ((s = cudnnCreateTensorDescriptor(&p->xd)) != CUDNN_STATUS_SUCCESS ||
        (s = cudnnCreateTensorDescriptor(&p->yd)) != CUDNN_STATUS_SUCCESS ||
        (s = cudnnCreateFilterDescriptor(&p->wd)) != CUDNN_STATUS_SUCCESS ||
        (s = cudnnCreateConvolutionDescriptor(&p->cd)) != CUDNN_STATUS_SUCCESS ||
        (s = cudnnSetTensor4dDescriptor(p->xd, CUDNN_TENSOR_NHWC, dt, d->n, d->c, d->h, d->w)) != CUDNN_STATUS_SUCCESS ||
        (s = cudnnSetTensor4dDescriptor(p->yd, CUDNN_TENSOR_NHWC, dt, d->n, d->k, d->p, d->q)) != CUDNN_STATUS_SUCCESS ||
        (s = cudnnSetFilter4dDescriptor(p->wd, dt, CUDNN_TENSOR_NHWC, d->k, d->c, d->r, d->s)) != CUDNN_STATUS_SUCCESS ||
        (s = cudnnSetConvolution2dDescriptor(p->cd, d->pad, d->pad, d->stride, d->stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                             CUDNN_DATA_FLOAT)) != CUDNN_STATUS_SUCCESS ||
        (s = cudnnSetConvolutionMathType(p->cd, c->precision == WS_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH)) !=
            CUDNN_STATUS_SUCCESS)
        return wsi_error(err, WS_ELIBRARY, "cuDNN descriptors for conv %dx%dx%dx%d k%d %dx%d/%d: %s", d->n, d->c, d->h,
                         d->w, d->k, d->r, d->s, d->stride, cudnnGetErrorString(s));
    if (p->act != WS_FP32) p->dw_stage = align256((size_t)d->k * d->c * d->r * d->s * ws_dtype_size(p->act));
    return WS_OK;
}

/* Measured choice for all three directions (plan time: synchronous, may allocate). */
static ws_status measure(ws_cuda_ctx *c, struct wsi_conv_plan *p, ws_error *err) {
    const size_t limit = workspace_limit(c);
    cudnnHandle_t h = c->cudnn;
    int max_n = 0, got = 0, i = -1;
    cudnnStatus_t s;
    const ws_conv2d_desc *d = &p->d;
    char name[128];
    snprintf(name, sizeof name, "conv %dx%dx%dx%d k%d %dx%d/%d pad %d (%s)", d->n, d->c, d->h, d->w, d->k, d->r, d->s,
             d->stride, d->pad, ws_dtype_name(p->act));
    {
        cudnnConvolutionFwdAlgoPerf_t perf[16];
        cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max_n);
        if (max_n > 16) max_n = 16;
        s = cudnnFindConvolutionForwardAlgorithm(h, p->xd, p->wd, p->cd, p->yd, max_n, &got, perf);
        if (s != CUDNN_STATUS_SUCCESS || (i = pick(c, perf, got, limit)) < 0) /* heuristics, unmeasured */
            if ((s = cudnnGetConvolutionForwardAlgorithm_v7(h, p->xd, p->wd, p->cd, p->yd, 16, &got, perf)) ==
                CUDNN_STATUS_SUCCESS)
                i = pick(c, perf, got, limit);
        if (s != CUDNN_STATUS_SUCCESS || i < 0)
            return wsi_error(err, WS_ELIBRARY, "cudnnFindConvolutionForwardAlgorithm for %s: %s", name,
                             s != CUDNN_STATUS_SUCCESS ? cudnnGetErrorString(s) : "no algorithm fits the workspace limit");
        p->fwd = perf[i].algo;
        p->fwd_math = run_math(c, perf[i].mathType);
        p->fwd_ws = perf[i].memory;
    }
    {
        cudnnConvolutionBwdDataAlgoPerf_t perf[16];
        cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_n);
        if (max_n > 16) max_n = 16;
        s = cudnnFindConvolutionBackwardDataAlgorithm(h, p->wd, p->yd, p->cd, p->xd, max_n, &got, perf);
        if (s != CUDNN_STATUS_SUCCESS || (i = pick(c, perf, got, limit)) < 0)
            if ((s = cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->wd, p->yd, p->cd, p->xd, 16, &got, perf)) ==
                CUDNN_STATUS_SUCCESS)
                i = pick(c, perf, got, limit);
        if (s != CUDNN_STATUS_SUCCESS || i < 0)
            return wsi_error(err, WS_ELIBRARY, "cudnnFindConvolutionBackwardDataAlgorithm for %s: %s", name,
                             s != CUDNN_STATUS_SUCCESS ? cudnnGetErrorString(s) : "no algorithm fits the workspace limit");
        p->bwd_data = perf[i].algo;
        p->bwd_data_math = run_math(c, perf[i].mathType);
        p->bwd_data_ws = perf[i].memory;
    }
    {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[16];
        cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_n);
        if (max_n > 16) max_n = 16;
        s = cudnnFindConvolutionBackwardFilterAlgorithm(h, p->xd, p->yd, p->cd, p->wd, max_n, &got, perf);
        if (s != CUDNN_STATUS_SUCCESS || (i = pick(c, perf, got, limit)) < 0)
            if ((s = cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->xd, p->yd, p->cd, p->wd, 16, &got, perf)) ==
                CUDNN_STATUS_SUCCESS)
                i = pick(c, perf, got, limit);
        if (s != CUDNN_STATUS_SUCCESS || i < 0)
            return wsi_error(err, WS_ELIBRARY, "cudnnFindConvolutionBackwardFilterAlgorithm for %s: %s", name,
                             s != CUDNN_STATUS_SUCCESS ? cudnnGetErrorString(s) : "no algorithm fits the workspace limit");
        p->bwd_filter = perf[i].algo;
        p->bwd_filter_math = run_math(c, perf[i].mathType);
        p->bwd_filter_ws = perf[i].memory;
    }
    p->measured = 1;
    ws_log(WS_LOG_DEBUG, "conv %dx%dx%dx%d k%d %dx%d/%d %s: fwd algo %d (%.1f MiB), bwd data %d, bwd filter %d",
           d->n, d->c, d->h, d->w, d->k, d->r, d->s, d->stride, ws_dtype_name(p->act), (int)p->fwd,
           p->fwd_ws / 1048576.0, (int)p->bwd_data, (int)p->bwd_filter);
    return WS_OK;
}

/* Heuristic choice that fits what is reserved: for shapes never planned. Fatal when even
 * the workspace-free algorithms are unavailable (cannot happen for valid shapes). */
static void heuristic(ws_cuda_ctx *c, struct wsi_conv_plan *p) {
    cudnnHandle_t h = c->cudnn;
    size_t avail = c->workspace_bytes > p->dw_stage ? c->workspace_bytes - p->dw_stage : 0;
    int got = 0, i;
    {
        cudnnConvolutionFwdAlgoPerf_t perf[16];
        WS_CHECK_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(h, p->xd, p->wd, p->cd, p->yd, 16, &got, perf));
        if ((i = pick(c, perf, got, avail)) < 0) ws_fatal("no cuDNN forward algorithm fits %zu bytes of workspace", avail);
        p->fwd = perf[i].algo;
        p->fwd_math = run_math(c, perf[i].mathType);
        p->fwd_ws = perf[i].memory;
    }
    {
        cudnnConvolutionBwdDataAlgoPerf_t perf[16];
        WS_CHECK_CUDNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->wd, p->yd, p->cd, p->xd, 16, &got, perf));
        if ((i = pick(c, perf, got, avail)) < 0) ws_fatal("no cuDNN backward-data algorithm fits %zu bytes", avail);
        p->bwd_data = perf[i].algo;
        p->bwd_data_math = run_math(c, perf[i].mathType);
        p->bwd_data_ws = perf[i].memory;
    }
    {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[16];
        WS_CHECK_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->xd, p->yd, p->cd, p->wd, 16, &got, perf));
        if ((i = pick(c, perf, got, avail)) < 0) ws_fatal("no cuDNN backward-filter algorithm fits %zu bytes", avail);
        p->bwd_filter = perf[i].algo;
        p->bwd_filter_math = run_math(c, perf[i].mathType);
        p->bwd_filter_ws = perf[i].memory;
    }
}

static struct wsi_conv_plan *find_plan(ws_cuda_ctx *c, const ws_conv2d_desc *d, ws_dtype act) {
    for (struct wsi_conv_plan *p = c->conv_plans; p; p = p->next)
        if (p->act == act && same_shape(&p->d, d)) return p;
    return NULL;
}

static struct wsi_conv_plan *new_plan(ws_cuda_ctx *c, const ws_conv2d_desc *d, ws_dtype act, ws_error *err) {
    struct wsi_conv_plan *p = (struct wsi_conv_plan *)calloc(1, sizeof *p);
    if (!p) {
        wsi_error(err, WS_ENOMEM, "conv plan: out of memory");
        return NULL;
    }
    p->d = *d;
    p->act = act;
    p->next = c->conv_plans;
    c->conv_plans = p; /* owned by the context from here on, also if the descriptors fail */
    if (make_descriptors(c, p, err) != WS_OK) return NULL;
    return p;
}

/* The plan for a shape, made heuristically when the shape was never planned. */
static struct wsi_conv_plan *plan_for_step(ws_cuda_ctx *c, const ws_conv2d_desc *d, ws_dtype act) {
    struct wsi_conv_plan *p = find_plan(c, d, act);
    if (p) return p;
    ws_error e = {WS_OK, ""};
    if (!(p = new_plan(c, d, act, &e))) ws_fatal("%s", e.msg);
    heuristic(c, p);
    return p;
}

extern "C" ws_status ws_conv2d_plan_cuda(const ws_exec *ex, const ws_conv2d_desc *d, ws_error *err) {
    ws_cuda_ctx *c = ex->cuda;
    ws_dtype act = wsi_ctx_act(ex);
    struct wsi_conv_plan *p = find_plan(c, d, act);
    if (!p) {
        if (!(p = new_plan(c, d, act, err))) return err ? err->code : WS_ENOMEM;
    }
    if (!p->measured) {
        ws_status st = measure(c, p, err);
        if (st != WS_OK) return st;
    }
    size_t need = p->fwd_ws;
    if (p->bwd_data_ws > need) need = p->bwd_data_ws;
    if (p->bwd_filter_ws > need) need = p->bwd_filter_ws;
    return ws_cuda_ctx_reserve(c, p->dw_stage + need, err);
}

extern "C" void ws_conv2d_forward_cuda(const ws_exec *ex, const ws_conv2d_desc *d, void *y, const void *x,
                                       const void *w) {
    ws_cuda_ctx *c = ex->cuda;
    struct wsi_conv_plan *p = plan_for_step(c, d, wsi_ctx_act(ex));
    const float one = 1.0f, zero = 0.0f;
    WS_CHECK_CUDNN(cudnnSetConvolutionMathType(p->cd, p->fwd_math));
    WS_CHECK_CUDNN(cudnnConvolutionForward(c->cudnn, &one, p->xd, x, p->wd, w, p->cd, p->fwd, c->workspace, p->fwd_ws,
                                           &zero, p->yd, y));
}

extern "C" void ws_conv2d_backward_cuda(const ws_exec *ex, const ws_conv2d_desc *d, void *dx, float *dw,
                                        const void *dy, const void *x, const void *w, int accumulate_dx) {
    ws_cuda_ctx *c = ex->cuda;
    ws_dtype act = wsi_ctx_act(ex);
    struct wsi_conv_plan *p = plan_for_step(c, d, act);
    const float one = 1.0f, zero = 0.0f;
    char *ws = (char *)c->workspace + p->dw_stage;
    if (dx) {
        WS_CHECK_CUDNN(cudnnSetConvolutionMathType(p->cd, p->bwd_data_math));
        WS_CHECK_CUDNN(cudnnConvolutionBackwardData(c->cudnn, &one, p->wd, w, p->yd, dy, p->cd, p->bwd_data, ws,
                                                    p->bwd_data_ws, accumulate_dx ? &one : &zero, p->xd, dx));
    }
    WS_CHECK_CUDNN(cudnnSetConvolutionMathType(p->cd, p->bwd_filter_math));
    if (act == WS_FP32) {
        WS_CHECK_CUDNN(cudnnConvolutionBackwardFilter(c->cudnn, &one, p->xd, x, p->yd, dy, p->cd, p->bwd_filter, ws,
                                                      p->bwd_filter_ws, &one, p->wd, dw));
        return;
    }
    void *stage = c->workspace;
    WS_CHECK_CUDNN(cudnnConvolutionBackwardFilter(c->cudnn, &one, p->xd, x, p->yd, dy, p->cd, p->bwd_filter, ws,
                                                  p->bwd_filter_ws, &zero, p->wd, stage));
    wsi_accumulate_f32(c, dw, stage, act, (size_t)d->k * d->c * d->r * d->s);
}

#else /* CUDA without cuDNN: convolutions are not available on the GPU */

extern "C" ws_status ws_conv2d_plan_cuda(const ws_exec *ex, const ws_conv2d_desc *d, ws_error *err) {
    (void)ex, (void)d;
    return wsi_error(err, WS_ENOTSUP, "conv2d on CUDA needs cuDNN, which this build did not find");
}
extern "C" void ws_conv2d_forward_cuda(const ws_exec *ex, const ws_conv2d_desc *d, void *y, const void *x,
                                       const void *w) {
    (void)ex, (void)d, (void)y, (void)x, (void)w;
    ws_fatal("conv2d on CUDA needs cuDNN, which this build did not find");
}
extern "C" void ws_conv2d_backward_cuda(const ws_exec *ex, const ws_conv2d_desc *d, void *dx, float *dw,
                                        const void *dy, const void *x, const void *w, int accumulate_dx) {
    (void)ex, (void)d, (void)dx, (void)dw, (void)dy, (void)x, (void)w, (void)accumulate_dx;
    ws_fatal("conv2d on CUDA needs cuDNN, which this build did not find");
}

#endif
