/* src/ops/conv2d_cuda.cu - 2-D convolution on the GPU through cuDNN, NHWC.
 * defines: ws_conv2d_plan_cuda, ws_conv2d_forward_cuda, ws_conv2d_backward_cuda,
 *          ws_conv2d_plan_apis_cuda, ws_cuda_conv_planning_get, and wsi_conv_plans_free /
 *          wsi_conv_env_read (the context's plan cache and its settings).
 * reference: src/ops/conv2d_cpu.c; contract and shapes: src/ops/conv2d.h; the graph-API
 * half: src/ops/cudnn_graph.cu.
 *
 * Choice by measurement, once per shape (N,C,H,W,K,R,S,stride,pad, storage type) at plan
 * time, for each of four routes: forward, backward data (dx =), backward data accumulating
 * (dx +=, a separate graph: beta is part of a graph-API operation), backward filter (dW).
 * cuDNN has two APIs whose engine sets differ; WATTSCALE_CUDNN_API says which compete:
 *   legacy  cudnnFind* (the fastest algorithm whose workspace fits WATTSCALE_CUDNN_WORKSPACE_MB,
 *           default an eighth of the GPU's memory up to 8 GiB), as before the graph API;
 *   graph   the graph (backend) API only: engine configs from heuristic modes A and B and
 *           the fallback list, filtered like PyTorch's Conv_v8.cpp (no DOWN_CONVERT_INPUTS;
 *           in fp32 no TENSOR_CORE, which for float data means TF32; no NONDETERMINISTIC
 *           when deterministic), plus no reduced-precision reduction and no runtime-
 *           compiled engines, at most WATTSCALE_CUDNN_GRAPH_CANDIDATES (default 10) plans
 *           within the workspace limit; each is timed and the fastest that a CUDA graph
 *           can capture wins (tested by capturing it: cuDNN's notes do not say which
 *           engines synchronise the host); a shape with no such engine is an error;
 *   auto    (default) both: legacy find's pick and the graph candidates are timed with
 *           the same harness on the same buffers, and the faster runs.
 * Timing: CUDA events, one warm-up, then the median of three executions (none where the
 * warm-up took over 5 ms and 10x the best so far, one where the first took over 3x the
 * best: it cannot win), on buffers of the real shape that live only while the shape is
 * planned (like cudnnFind's own, not counted in the peak).
 * fp32 dW is timed both ways: beta 1 into the gradient, and beta 0 into the stage plus
 * an add kernel; the faster stays. Planning is synchronous and may allocate; the DEBUG
 * log has one line per shape and route (API, engine or algorithm, both times, workspace,
 * host cost of a call) and the planning time.
 *
 * Kept between runs: each shape's timed choice (legacy algorithms, and per route the API
 * and the graph engine config's name) is appended to the choices file (ops/conv_choices.h:
 * WATTSCALE_CONV_CHOICES, default ~/.cache/wattscale/conv-choices.txt), keyed by GPU,
 * library versions, precision, API mode, workspace limit, candidate count and shape. A
 * later process with the same key rebuilds that choice without timing (the graph plan:
 * the same heuristics, only the named config finalized): ResNet-50 fp32 planned in 42 s
 * timed. An entry this cuDNN cannot rebuild is timed again and replaced. Choices made
 * with candidates left untimed for want of memory are not kept (another run may have the
 * memory); deterministic contexts neither read nor write the file.
 *
 * In a step: one variant pack per graph-API call (cuDNN ties data pointers to a variant
 * pack, and the pointers change from layer to layer; a pack costs host microseconds,
 * logged at plan time, and in a captured step it is paid once at capture). Everything
 * else - descriptors, plans, algorithms - lives in the plan. A call whose pointers are
 * not 16-byte aligned (what the graph tensors claim) takes the legacy API. A shape met
 * without a plan (the last, partial evaluation batch) takes the legacy API's heuristic
 * pick that fits the workspace reserved, in every mode: choice by measurement needs
 * plan time.
 *
 * Math: fp32 runs no TF32 (legacy: CUDNN_FMA_MATH; graph: no tensor-core engines), as the
 * study's fp32 ran; tf32, bf16 and fp16 may use tensor cores, always with fp32
 * accumulation (compute type float). For bf16/fp16, cuDNN writes dW in the storage type:
 * it goes to a staging area at the start of the workspace and is added to the fp32
 * gradient (+=) by one kernel, as PyTorch's autocast accumulates .grad in fp32. */
#include "ops/cuda_common.cuh"
#include "ops/cudnn_graph.cuh"

extern "C" {
#include "core/timeutil.h"
#include "ops/conv2d.h"
#include "ops/conv_choices.h"
}

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { R_FWD, R_DX, R_DX_ACC, R_DW, R_COUNT };

#if WS_HAVE_CUDNN
struct route {
    int graph;              /* 1: the graph-API plan below runs, 0: the legacy algorithm */
    int staged;             /* dW: written to the stage (beta 0), then added to the fp32 gradient */
    struct wsi_cg_conv g;   /* the plan's operation graph, kept while the plan lives */
    struct wsi_cg_plan plan;
    size_t ws;              /* workspace bytes after the stage */
};
#endif

struct wsi_conv_plan {
    struct wsi_conv_plan *next;
    ws_conv2d_desc d;
    ws_dtype act;
    int measured;
    int legacy_ready;       /* the legacy algorithms below are chosen */
    int timing_incomplete;  /* some candidates went untimed (no memory): not a choice to keep */
    int warned_alignment;
#if WS_HAVE_CUDNN
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    cudnnMathType_t fwd_math, bwd_data_math, bwd_filter_math;
    struct route route[R_COUNT];
#endif
    size_t fwd_ws, bwd_data_ws, bwd_filter_ws; /* the legacy algorithms' */
    size_t dw_stage; /* bytes of dW staging at the workspace's start (aligned): bf16/fp16, or fp32 staged */
    char name[96];   /* "conv 256x64x56x56 k64 1x1/1 pad 0 (fp32)" */
    char apis[64];   /* "fwd=graph dx=legacy dx+=graph dw=graph+add" */
};

void wsi_conv_plans_free(ws_cuda_ctx *c) {
    struct wsi_conv_plan *p = c->conv_plans;
    while (p) {
        struct wsi_conv_plan *next = p->next;
#if WS_HAVE_CUDNN
        for (int r = 0; r < R_COUNT; r++) {
            wsi_cg_plan_free(&p->route[r].plan); /* before its graph and the handle */
            wsi_cg_conv_free(&p->route[r].g);
        }
        if (p->xd) cudnnDestroyTensorDescriptor(p->xd);
        if (p->yd) cudnnDestroyTensorDescriptor(p->yd);
        if (p->wd) cudnnDestroyFilterDescriptor(p->wd);
        if (p->cd) cudnnDestroyConvolutionDescriptor(p->cd);
#endif
        free(p);
        p = next;
    }
    c->conv_plans = NULL;
    wsi_conv_choices_close(c->conv_choices);
    c->conv_choices = NULL;
    c->conv_choices_state = 0;
}

ws_status wsi_conv_env_read(ws_cuda_ctx *c, ws_error *err) {
    const char *v = getenv("WATTSCALE_CUDNN_API");
    if (!v || !*v || strcmp(v, "auto") == 0) c->conv_api = WSI_CONV_API_AUTO;
    else if (strcmp(v, "legacy") == 0) c->conv_api = WSI_CONV_API_LEGACY;
    else if (strcmp(v, "graph") == 0) c->conv_api = WSI_CONV_API_GRAPH;
    else
        return wsi_error(err, WS_EINVAL, "WATTSCALE_CUDNN_API=%s: expected auto (the default), legacy or graph", v);
    c->conv_graph_max = 10;
    if ((v = getenv("WATTSCALE_CUDNN_GRAPH_CANDIDATES")) && *v) {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 64)
            return wsi_error(err, WS_EINVAL, "WATTSCALE_CUDNN_GRAPH_CANDIDATES=%s: expected a count from 1 to 64", v);
        c->conv_graph_max = (int)n;
    }
    return WS_OK;
}

extern "C" ws_cuda_conv_planning ws_cuda_conv_planning_get(const ws_cuda_ctx *c) {
    ws_cuda_conv_planning s = {c->conv_plan_shapes, c->conv_shapes_loaded, c->conv_shapes_heuristic, c->conv_plan_s,
                               c->conv_choices_state == 1 ? wsi_conv_choices_file(c->conv_choices) : ""};
    return s;
}

#if WS_HAVE_CUDNN

static const char *const ROUTE_NAME[R_COUNT] = {"fwd", "dx", "dx+", "dw"};

static int same_shape(const ws_conv2d_desc *a, const ws_conv2d_desc *b) {
    return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w && a->k == b->k && a->r == b->r &&
           a->s == b->s && a->stride == b->stride && a->pad == b->pad;
}

static cudnnDataType_t cudnn_type(ws_dtype act) {
    return act == WS_BF16 ? CUDNN_DATA_BFLOAT16 : act == WS_FP16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
}

static int is_not_supported(cudnnStatus_t s) { return CUDNN_STATUS_CATEGORY(s) == CUDNN_STATUS_NOT_SUPPORTED; }

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
static size_t filter_count(const ws_conv2d_desc *d) { return (size_t)d->k * d->c * d->r * d->s; }

/* ---------------------------------------------------------------- legacy API */

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
        return wsi_error(err, WS_ELIBRARY, "cuDNN descriptors for %s: %s", p->name, cudnnGetErrorString(s));
    if (p->act != WS_FP32) p->dw_stage = align256(filter_count(d) * ws_dtype_size(p->act));
    return WS_OK;
}

/* Measured choice for all three directions (plan time: synchronous, may allocate). */
static ws_status legacy_find(ws_cuda_ctx *c, struct wsi_conv_plan *p, ws_error *err) {
    const size_t limit = workspace_limit(c);
    cudnnHandle_t h = c->cudnn;
    int max_n = 0, got = 0, i = -1;
    cudnnStatus_t s;
    const char *name = p->name;
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
    p->legacy_ready = 1;
    ws_log(WS_LOG_DEBUG, "%s: legacy find: fwd algo %d (%.1f MiB), bwd data %d (%.1f MiB), bwd filter %d (%.1f MiB)",
           name, (int)p->fwd, p->fwd_ws / 1048576.0, (int)p->bwd_data, p->bwd_data_ws / 1048576.0,
           (int)p->bwd_filter, p->bwd_filter_ws / 1048576.0);
    return WS_OK;
}

/* The workspace a step may use beside p's dW stage: what is reserved now. */
static size_t reserved_for(const ws_cuda_ctx *c, const struct wsi_conv_plan *p) {
    return c->workspace_bytes > p->dw_stage ? c->workspace_bytes - p->dw_stage : 0;
}

/* Heuristic choice that fits avail bytes of workspace: for shapes never planned, and for a
 * graph-API shape whose call has misaligned pointers. Fatal when even the workspace-free
 * algorithms are unavailable (cannot happen for valid shapes). */
static void legacy_heuristic(ws_cuda_ctx *c, struct wsi_conv_plan *p, size_t avail) {
    cudnnHandle_t h = c->cudnn;
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
    p->legacy_ready = 1;
}

/* ---------------------------------------------------------------- one route, either API */

/* Runs route r of plan p: with the graph-API plan gp, or (gp NULL) the legacy algorithm.
 * Pointers: x, w, y (forward output, or dy), dx, the fp32 dw, the stage and the workspace
 * after it. staged: dW goes to the stage and is added to dw (bf16/fp16 always). add: 0
 * leaves the add out (the capture test probes cuDNN's part only). */
static cudnnStatus_t run_route(ws_cuda_ctx *c, const struct wsi_conv_plan *p, int r, const struct wsi_cg_plan *gp,
                               int staged, int add, const void *x, const void *w, void *y, void *dx, float *dw,
                               void *stage, void *ws) {
    cudnnHandle_t h = c->cudnn;
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
    if (gp) {
        switch (r) {
        case R_FWD: s = wsi_cg_execute(h, gp, (void *)x, (void *)w, y, ws); break;
        case R_DX:
        case R_DX_ACC: s = wsi_cg_execute(h, gp, dx, (void *)w, y, ws); break;
        default: s = wsi_cg_execute(h, gp, (void *)x, staged ? stage : (void *)dw, y, ws); break;
        }
    } else {
        const float one = 1.0f, zero = 0.0f;
        switch (r) {
        case R_FWD:
            if (!(s = cudnnSetConvolutionMathType(p->cd, p->fwd_math)))
                s = cudnnConvolutionForward(h, &one, p->xd, x, p->wd, w, p->cd, p->fwd, ws, p->fwd_ws, &zero, p->yd, y);
            break;
        case R_DX:
        case R_DX_ACC:
            if (!(s = cudnnSetConvolutionMathType(p->cd, p->bwd_data_math)))
                s = cudnnConvolutionBackwardData(h, &one, p->wd, w, p->yd, y, p->cd, p->bwd_data, ws, p->bwd_data_ws,
                                                 r == R_DX_ACC ? &one : &zero, p->xd, dx);
            break;
        default:
            staged = p->act != WS_FP32; /* legacy fp32 accumulates with beta 1 */
            if (!(s = cudnnSetConvolutionMathType(p->cd, p->bwd_filter_math)))
                s = cudnnConvolutionBackwardFilter(h, &one, p->xd, x, p->yd, y, p->cd, p->bwd_filter, ws,
                                                   p->bwd_filter_ws, staged ? &zero : &one, p->wd,
                                                   staged ? stage : (void *)dw);
            break;
        }
    }
    if (s == CUDNN_STATUS_SUCCESS && r == R_DW && staged && add)
        wsi_accumulate_f32(c, dw, stage, p->act, filter_count(&p->d));
    return s;
}

/* ---------------------------------------------------------------- plan-time measurement */

/* Buffers of the shape for timing, made and freed around one shape's planning. Filled
 * with a constant (0x3C3C..: 0.0115 in fp32 and bf16; 0x1C1C: 0.0039 in fp16, small enough
 * that its sums stay finite): kernels' times do not depend on the values. */
struct bench {
    void *x, *w, *y, *dx, *stage;
    float *dw;
    size_t x_bytes, w_bytes, y_bytes, dw_bytes;
    void *ws;
    size_t ws_bytes;
    int ws_own;      /* ws is ours (else the context's workspace, large enough) */
    cudaEvent_t e0, e1;
};

static void bench_close(struct bench *b) {
    wsi_cuda_free(NULL, b->x, b->x_bytes);
    wsi_cuda_free(NULL, b->dx, b->x_bytes);
    wsi_cuda_free(NULL, b->w, b->w_bytes);
    wsi_cuda_free(NULL, b->y, b->y_bytes);
    wsi_cuda_free(NULL, b->dw, b->dw_bytes);
    wsi_cuda_free(NULL, b->stage, b->dw_bytes);
    if (b->ws_own) wsi_cuda_free(NULL, b->ws, b->ws_bytes);
    if (b->e0) cudaEventDestroy(b->e0);
    if (b->e1) cudaEventDestroy(b->e1);
    memset(b, 0, sizeof *b);
}

static ws_status bench_open(ws_cuda_ctx *c, const struct wsi_conv_plan *p, struct bench *b, ws_error *err) {
    const ws_conv2d_desc *d = &p->d;
    size_t esz = ws_dtype_size(p->act);
    memset(b, 0, sizeof *b);
    b->x_bytes = (size_t)d->n * d->c * d->h * d->w * esz;
    b->y_bytes = (size_t)d->n * d->k * d->p * d->q * esz;
    b->w_bytes = filter_count(d) * esz;
    b->dw_bytes = filter_count(d) * sizeof(float);
    ws_status st;
    if ((st = wsi_cuda_malloc(NULL, &b->x, b->x_bytes, "conv timing x", err)) != WS_OK ||
        (st = wsi_cuda_malloc(NULL, &b->dx, b->x_bytes, "conv timing dx", err)) != WS_OK ||
        (st = wsi_cuda_malloc(NULL, &b->w, b->w_bytes, "conv timing w", err)) != WS_OK ||
        (st = wsi_cuda_malloc(NULL, &b->y, b->y_bytes, "conv timing y", err)) != WS_OK ||
        (st = wsi_cuda_malloc(NULL, (void **)&b->dw, b->dw_bytes, "conv timing dw", err)) != WS_OK ||
        (st = wsi_cuda_malloc(NULL, &b->stage, b->dw_bytes, "conv timing stage", err)) != WS_OK) {
        bench_close(b);
        return st;
    }
    int fill = p->act == WS_FP16 ? 0x1C : 0x3C;
    cudaStream_t s = c->stream; /* non-blocking: a plain cudaMemset would not order before it */
    cudaError_t e;
    if ((e = cudaMemsetAsync(b->x, fill, b->x_bytes, s)) != cudaSuccess ||
        (e = cudaMemsetAsync(b->dx, fill, b->x_bytes, s)) || (e = cudaMemsetAsync(b->w, fill, b->w_bytes, s)) ||
        (e = cudaMemsetAsync(b->y, fill, b->y_bytes, s)) || (e = cudaMemsetAsync(b->dw, 0, b->dw_bytes, s)) ||
        (e = cudaEventCreateWithFlags(&b->e0, cudaEventBlockingSync)) ||
        (e = cudaEventCreateWithFlags(&b->e1, cudaEventBlockingSync))) {
        bench_close(b);
        return wsi_cuda_status(err, e, "conv timing buffers");
    }
    return WS_OK;
}

/* A workspace of at least `bytes` for timing: the context's when large enough, else ours. */
static ws_status bench_ws(ws_cuda_ctx *c, struct bench *b, size_t bytes, ws_error *err) {
    if (bytes <= b->ws_bytes) return WS_OK;
    if (b->ws_own) wsi_cuda_free(NULL, b->ws, b->ws_bytes);
    b->ws = NULL, b->ws_bytes = 0, b->ws_own = 0;
    if (c->workspace && c->workspace_bytes >= bytes) {
        b->ws = c->workspace, b->ws_bytes = c->workspace_bytes;
        return WS_OK;
    }
    ws_status st = wsi_cuda_malloc(NULL, &b->ws, bytes, "conv timing workspace", err);
    if (st == WS_OK) b->ws_bytes = bytes, b->ws_own = 1;
    return st;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Milliseconds of run() on the stream (median of the timed executions after a warm-up)
 * and its host cost in microseconds; -1 when cuDNN refuses to execute it. beat_ms, the
 * best time so far, cuts the sampling of candidates that cannot win. */
template <typename Run>
static double time_ms(ws_cuda_ctx *c, struct bench *b, Run run, double beat_ms, double *host_us) {
    enum { TIMED = 3 };
    double t[TIMED], h[TIMED];
    int n = 0;
    float warm_ms = 0;
    WS_CHECK_CUDA(cudaEventRecord(b->e0, c->stream));
    cudnnStatus_t warm = run();
    WS_CHECK_CUDA(cudaEventRecord(b->e1, c->stream));
    WS_CHECK_CUDA(cudaEventSynchronize(b->e1)); /* a failed kernel is sticky: fatal */
    if (warm != CUDNN_STATUS_SUCCESS) return -1;
    WS_CHECK_CUDA(cudaEventElapsedTime(&warm_ms, b->e0, b->e1));
    /* Far slower even with the first launch's module loading counted: no more samples.
     * (Bounds the planning time that slow engines cost; 5 ms keeps loading from pruning
     * fast kernels of small shapes.) */
    if (warm_ms > 10 * beat_ms && warm_ms > 5) {
        *host_us = 0;
        return warm_ms;
    }
    while (n < TIMED) {
        WS_CHECK_CUDA(cudaEventRecord(b->e0, c->stream));
        double h0 = ws_now_s();
        cudnnStatus_t s = run();
        h[n] = (ws_now_s() - h0) * 1e6;
        WS_CHECK_CUDA(cudaEventRecord(b->e1, c->stream));
        WS_CHECK_CUDA(cudaEventSynchronize(b->e1)); /* a failed kernel is sticky: fatal */
        if (s != CUDNN_STATUS_SUCCESS) return -1;
        float ms = 0;
        WS_CHECK_CUDA(cudaEventElapsedTime(&ms, b->e0, b->e1));
        t[n++] = ms;
        if (ms > 3 * beat_ms) break; /* cannot win: one sample says so */
    }
    qsort(t, n, sizeof *t, cmp_double);
    qsort(h, n, sizeof *h, cmp_double);
    *host_us = h[n / 2];
    return t[n / 2];
}

/* Whether a CUDA graph can capture run(): captured on the compute stream, as the trainer
 * does (thread-local mode), then thrown away. An engine that synchronises, allocates or
 * queries the stream invalidates the capture. */
template <typename Run>
static int capturable(ws_cuda_ctx *c, Run run) {
    if (cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    c->capturing = 1; /* WATTSCALE_SYNC_CHECK must not synchronise inside */
    cudnnStatus_t s = run();
    c->capturing = 0;
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &g);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    return s == CUDNN_STATUS_SUCCESS && e == cudaSuccess;
}

/* The graph-API variants that compete for a route: direction, beta, dW staged, filter type. */
typedef struct {
    wsi_cg_dir dir;
    float beta;
    int staged;
    cudnnDataType_t w_type;
} variant;

static int route_variants(const struct wsi_conv_plan *p, int r, variant *v) {
    cudnnDataType_t act = cudnn_type(p->act);
    switch (r) {
    case R_FWD: v[0] = variant{WSI_CG_FWD, 0.0f, 0, act}; return 1;
    case R_DX: v[0] = variant{WSI_CG_BWD_DATA, 0.0f, 0, act}; return 1;
    case R_DX_ACC: v[0] = variant{WSI_CG_BWD_DATA, 1.0f, 0, act}; return 1;
    default:
        if (p->act != WS_FP32) { /* cuDNN writes dW in the storage type: always staged */
            v[0] = variant{WSI_CG_BWD_FILTER, 0.0f, 1, act};
            return 1;
        }
        v[0] = variant{WSI_CG_BWD_FILTER, 1.0f, 0, CUDNN_DATA_FLOAT}; /* += straight into the gradient */
        v[1] = variant{WSI_CG_BWD_FILTER, 0.0f, 1, CUDNN_DATA_FLOAT}; /* = into the stage, then added */
        return 2;
    }
}

typedef struct {
    struct wsi_cg_conv g;
    struct wsi_cg_plan plan;
    double ms, host_us;
    int staged, timed;
} graph_choice;

static void graph_choice_free(graph_choice *b) {
    wsi_cg_plan_free(&b->plan);
    wsi_cg_conv_free(&b->g);
}

/* The fastest capturable graph-API plan for route r (best->ms stays INFINITY when none
 * beats `beat_ms`). A graph cuDNN rejects with other than NOT_SUPPORTED is an error in
 * graph mode, a warning in auto mode (the legacy API runs the route). */
static ws_status best_graph(ws_cuda_ctx *c, struct wsi_conv_plan *p, int r, struct bench *b, double beat_ms,
                            graph_choice *best, wsi_cg_census *census_all, ws_error *err) {
    variant v[2];
    int nv = route_variants(p, r, v);
    struct wsi_cg_plan cand[64];
    double ms[64], host[64];
    wsi_cg_filter f = {c->precision == WS_FP32, c->deterministic, workspace_limit(c), c->conv_graph_max, NULL};
    if (f.max > 64) f.max = 64;
    for (int k = 0; k < nv; k++) {
        struct wsi_cg_conv g;
        cudnnStatus_t s = wsi_cg_conv_build(&g, c->cudnn, &p->d, v[k].dir, cudnn_type(p->act), v[k].w_type, v[k].beta);
        if (s != CUDNN_STATUS_SUCCESS) {
            char detail[256];
            if (is_not_supported(s)) {
                ws_log(WS_LOG_DEBUG, "%s %s%s: no graph (%s)", p->name, ROUTE_NAME[r], v[k].staged ? " staged" : "",
                       cudnnGetErrorString(s));
                continue;
            }
            ws_error e = {WS_OK, ""};
            ws_status st = wsi_error(&e, WS_ELIBRARY, "cuDNN graph for %s %s: %s (%s)", p->name, ROUTE_NAME[r],
                                     cudnnGetErrorString(s), wsi_cg_last_error(detail, sizeof detail));
            if (c->conv_api == WSI_CONV_API_GRAPH) {
                if (err) *err = e;
                return st;
            }
            ws_log(WS_LOG_WARN, "%s; the legacy API runs it", e.msg);
            continue;
        }
        wsi_cg_census census;
        int n = wsi_cg_candidates(c->cudnn, &g, &f, cand, &census);
        census_all->offered += census.offered, census_all->duplicate += census.duplicate;
        census_all->numerics += census.numerics, census_all->behaviour += census.behaviour;
        census_all->unsupported += census.unsupported, census_all->over_ws += census.over_ws;
        size_t need = 0;
        for (int i = 0; i < n; i++) need = cand[i].ws_bytes > need ? cand[i].ws_bytes : need;
        ws_error werr = {WS_OK, ""};
        if (bench_ws(c, b, need, &werr) != WS_OK) { /* time those that fit what we could get */
            ws_log(WS_LOG_DEBUG, "%s %s: %s; larger plans untimed", p->name, ROUTE_NAME[r], werr.msg);
            p->timing_incomplete = 1;
        }
        double beat = beat_ms < best->ms ? beat_ms : best->ms;
        for (int i = 0; i < n; i++) {
            ms[i] = -1;
            if (cand[i].ws_bytes > b->ws_bytes) continue;
            const struct wsi_cg_plan *gp = &cand[i];
            int staged = v[k].staged;
            ms[i] = time_ms(c, b, [&] {
                return run_route(c, p, r, gp, staged, 1, b->x, b->w, b->y, b->dx, b->dw, b->stage, b->ws);
            }, beat, &host[i]);
            if (ms[i] >= 0 && ms[i] < beat) beat = ms[i];
            best->timed++;
        }
        /* the fastest that a CUDA graph can capture */
        int win = -1;
        for (;;) {
            int i_min = -1;
            for (int i = 0; i < n; i++)
                if (ms[i] >= 0 && (i_min < 0 || ms[i] < ms[i_min])) i_min = i;
            if (i_min < 0 || ms[i_min] >= best->ms || ms[i_min] >= beat_ms) break; /* it would lose anyway */
            const struct wsi_cg_plan *gp = &cand[i_min];
            int staged = v[k].staged;
            if (capturable(c, [&] {
                    return run_route(c, p, r, gp, staged, 0, b->x, b->w, b->y, b->dx, b->dw, b->stage, b->ws);
                })) {
                win = i_min;
                break;
            }
            ws_log(WS_LOG_DEBUG, "%s %s: %s is not capturable by a CUDA graph; skipped", p->name, ROUTE_NAME[r],
                   cand[i_min].name);
            ms[i_min] = -1;
        }
        if (win >= 0) {
            graph_choice_free(best);
            best->g = g;
            best->plan = cand[win];
            best->ms = ms[win];
            best->host_us = host[win];
            best->staged = v[k].staged;
            memset(&cand[win], 0, sizeof cand[win]);
        } else {
            wsi_cg_conv_free(&g);
        }
        for (int i = 0; i < n; i++) wsi_cg_plan_free(&cand[i]);
    }
    return WS_OK;
}

/* Route r's API: legacy find's algorithm (timed here too) against the graph candidates. */
static ws_status choose_route(ws_cuda_ctx *c, struct wsi_conv_plan *p, int r, struct bench *b, ws_error *err) {
    struct route *rt = &p->route[r];
    double legacy_ms = INFINITY, legacy_host = 0;
    size_t lws = r == R_FWD ? p->fwd_ws : r == R_DW ? p->bwd_filter_ws : p->bwd_data_ws;
    if (p->legacy_ready) {
        ws_error e = {WS_OK, ""};
        if (bench_ws(c, b, lws, &e) != WS_OK) {
            ws_log(WS_LOG_WARN, "%s %s: %s; the legacy API's choice stays", p->name, ROUTE_NAME[r], e.msg);
            p->timing_incomplete = 1;
            return WS_OK;
        }
        legacy_ms = time_ms(c, b, [&] {
            return run_route(c, p, r, NULL, 0, 1, b->x, b->w, b->y, b->dx, b->dw, b->stage, b->ws);
        }, INFINITY, &legacy_host);
        if (legacy_ms < 0)
            return wsi_error(err, WS_ELIBRARY, "%s %s: the legacy algorithm cudnnFind chose failed to run", p->name,
                             ROUTE_NAME[r]);
    }
    graph_choice best;
    memset(&best, 0, sizeof best);
    best.ms = INFINITY;
    wsi_cg_census census = {0, 0, 0, 0, 0, 0};
    ws_status st = best_graph(c, p, r, b, legacy_ms, &best, &census, err);
    if (st != WS_OK) {
        graph_choice_free(&best);
        return st;
    }
    char census_text[160];
    snprintf(census_text, sizeof census_text,
             "%d timed of %d configs offered (%d duplicate, %d numerics, %d behaviour, %d unsupported, %d over "
             "workspace)",
             best.timed, census.offered, census.duplicate, census.numerics, census.behaviour, census.unsupported,
             census.over_ws);
    int legacy_algo = r == R_FWD ? (int)p->fwd : r == R_DW ? (int)p->bwd_filter : (int)p->bwd_data;
    if (best.ms < legacy_ms) {
        rt->graph = 1;
        rt->staged = best.staged;
        rt->g = best.g;
        rt->plan = best.plan;
        rt->ws = best.plan.ws_bytes;
        if (r == R_DW && rt->staged && p->act == WS_FP32) p->dw_stage = align256(filter_count(&p->d) * sizeof(float));
        if (p->legacy_ready)
            ws_log(WS_LOG_DEBUG,
                   "%s %s: graph %s%s %.3f ms (%.1f MiB, host %.0f us) vs legacy algo %d %.3f ms (%.1f MiB, host "
                   "%.0f us); %s",
                   p->name, ROUTE_NAME[r], rt->plan.name, rt->staged ? " +add" : "", best.ms, rt->ws / 1048576.0,
                   best.host_us, legacy_algo, legacy_ms, lws / 1048576.0, legacy_host, census_text);
        else
            ws_log(WS_LOG_DEBUG, "%s %s: graph %s%s %.3f ms (%.1f MiB, host %.0f us); %s", p->name, ROUTE_NAME[r],
                   rt->plan.name, rt->staged ? " +add" : "", best.ms, rt->ws / 1048576.0, best.host_us, census_text);
        return WS_OK;
    }
    graph_choice_free(&best);
    if (!p->legacy_ready)
        return wsi_error(err, WS_ENOTSUP,
                         "WATTSCALE_CUDNN_API=graph: no graph-API engine runs %s %s (%s); unset it or use auto",
                         p->name, ROUTE_NAME[r], census_text);
    if (isfinite(best.ms))
        ws_log(WS_LOG_DEBUG, "%s %s: legacy algo %d %.3f ms (host %.0f us) vs graph %.3f ms; %s", p->name,
               ROUTE_NAME[r], legacy_algo, legacy_ms, legacy_host, best.ms, census_text);
    else
        ws_log(WS_LOG_DEBUG, "%s %s: legacy algo %d %.3f ms (host %.0f us), no graph plan faster; %s", p->name,
               ROUTE_NAME[r], legacy_algo, legacy_ms, legacy_host, census_text);
    return WS_OK;
}

/* The graph API's turn for every route (after legacy find in auto mode). */
static ws_status choose_routes(ws_cuda_ctx *c, struct wsi_conv_plan *p, ws_error *err) {
    struct bench b;
    ws_error berr = {WS_OK, ""};
    ws_status st = bench_open(c, p, &b, &berr);
    if (st != WS_OK) {
        if (c->conv_api == WSI_CONV_API_GRAPH)
            return wsi_error(err, st, "WATTSCALE_CUDNN_API=graph: %s: %s", p->name, berr.msg);
        ws_log(WS_LOG_WARN, "%s: no memory to time graph-API engines (%s); the legacy API's choice stays", p->name,
               berr.msg);
        p->timing_incomplete = 1;
        return WS_OK;
    }
    for (int r = 0; r < R_COUNT && st == WS_OK; r++) st = choose_route(c, p, r, &b, err);
    WS_CHECK_CUDA(cudaStreamSynchronize(c->stream));
    bench_close(&b);
    return st;
}

static void describe(struct wsi_conv_plan *p) {
    size_t len = 0;
    for (int r = 0; r < R_COUNT; r++) {
        const struct route *rt = &p->route[r];
        len += (size_t)snprintf(p->apis + len, sizeof p->apis - len, "%s%s=%s%s", r ? " " : "", ROUTE_NAME[r],
                                rt->graph ? "graph" : "legacy", rt->graph && rt->staged ? "+add" : "");
        if (len >= sizeof p->apis) break;
    }
}

/* ---------------------------------------------------------------- choices kept between runs */

/* The choices file (ops/conv_choices.h), opened at the first shape planned by timing. A
 * file that cannot be read is a warning: this run times its shapes, as without a file. */
static wsi_conv_choices *choices_of(ws_cuda_ctx *c) {
    if (c->conv_choices_state == 0) {
        char path[4096];
        ws_error e = {WS_OK, ""};
        c->conv_choices_state = -1;
        if (wsi_conv_choices_path(path, sizeof path) != 0)
            ws_log(WS_LOG_WARN, "the convolution choices file's path is longer than %zu bytes (WATTSCALE_CONV_CHOICES, "
                   "XDG_CACHE_HOME or HOME); choices are timed and not kept", sizeof path - 1);
        else if (path[0] && wsi_conv_choices_open(&c->conv_choices, path, &e) != WS_OK)
            ws_log(WS_LOG_WARN, "%s; convolutions are timed and their choices not kept", e.msg);
        else if (path[0]) {
            c->conv_choices_state = 1;
            int ignored = wsi_conv_choices_ignored(c->conv_choices);
            if (ignored)
                ws_log(WS_LOG_WARN, "convolution choices file %s: %d line%s not entries, ignored (deleting the file is "
                       "safe: shapes are then timed again)", path, ignored, ignored == 1 ? " is" : "s are");
            ws_log(WS_LOG_DEBUG, "convolution choices file %s: %d entries", path,
                   wsi_conv_choices_count(c->conv_choices));
        }
    }
    return c->conv_choices_state == 1 ? c->conv_choices : NULL;
}

static const char *api_name(int api) {
    return api == WSI_CONV_API_LEGACY ? "legacy" : api == WSI_CONV_API_GRAPH ? "graph" : "auto";
}

/* Everything a timed choice depends on besides chance: the same text in every process that
 * would choose among the same candidates. */
static void choice_key(const ws_cuda_ctx *c, const struct wsi_conv_plan *p, char *key, size_t size) {
    const ws_conv2d_desc *d = &p->d;
    snprintf(key, size, "v1|%s|%s|%s/%s|%s|ws %zu MiB|candidates %d|%dx%dx%dx%d k%d %dx%d/%d pad %d", c->name,
             c->versions, ws_dtype_name(c->precision), ws_dtype_name(p->act), api_name(c->conv_api),
             workspace_limit(c) >> 20, c->conv_graph_max, d->n, d->c, d->h, d->w, d->k, d->r, d->s, d->stride, d->pad);
}

/* "L<fwd algo>:<math>,<bwd data>:<math>,<bwd filter>:<math>" (or "L-": not chosen), then per
 * route "|L" (legacy) or "|G<staged> <engine config name>". 0 when it does not fit. */
static int choice_value(const struct wsi_conv_plan *p, char *v, size_t size) {
    int n = p->legacy_ready ? snprintf(v, size, "L%d:%d,%d:%d,%d:%d", (int)p->fwd, (int)p->fwd_math, (int)p->bwd_data,
                                       (int)p->bwd_data_math, (int)p->bwd_filter, (int)p->bwd_filter_math)
                            : snprintf(v, size, "L-");
    size_t len = n < 0 ? size : (size_t)n;
    for (int r = 0; r < R_COUNT && len < size; r++) {
        const struct route *rt = &p->route[r];
        n = rt->graph ? snprintf(v + len, size - len, "|G%d %s", rt->staged, rt->plan.name)
                      : snprintf(v + len, size - len, "|L");
        len = n < 0 ? size : len + (size_t)n;
    }
    return len < size;
}

static void routes_reset(struct wsi_conv_plan *p) {
    for (int r = 0; r < R_COUNT; r++) {
        wsi_cg_plan_free(&p->route[r].plan);
        wsi_cg_conv_free(&p->route[r].g);
        memset(&p->route[r], 0, sizeof p->route[r]);
    }
    p->legacy_ready = 0;
    p->fwd_ws = p->bwd_data_ws = p->bwd_filter_ws = 0;
    if (p->act == WS_FP32) p->dw_stage = 0;
}

/* The legacy algorithms of a kept choice, with their workspace from cuDNN (it depends on
 * the math type). 0 when one is out of range or needs more than the limit. */
static int legacy_restore(ws_cuda_ctx *c, struct wsi_conv_plan *p, const int *a) {
    cudnnHandle_t h = c->cudnn;
    const size_t limit = workspace_limit(c);
    for (int i = 0; i < 3; i++)
        if (a[2 * i + 1] < CUDNN_DEFAULT_MATH || a[2 * i + 1] > CUDNN_FMA_MATH || a[2 * i] < 0) return 0;
    if (a[0] >= CUDNN_CONVOLUTION_FWD_ALGO_COUNT || a[2] >= CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT ||
        a[4] >= CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT)
        return 0;
    p->fwd = (cudnnConvolutionFwdAlgo_t)a[0];
    p->fwd_math = run_math(c, (cudnnMathType_t)a[1]);
    p->bwd_data = (cudnnConvolutionBwdDataAlgo_t)a[2];
    p->bwd_data_math = run_math(c, (cudnnMathType_t)a[3]);
    p->bwd_filter = (cudnnConvolutionBwdFilterAlgo_t)a[4];
    p->bwd_filter_math = run_math(c, (cudnnMathType_t)a[5]);
    if (cudnnSetConvolutionMathType(p->cd, p->fwd_math) ||
        cudnnGetConvolutionForwardWorkspaceSize(h, p->xd, p->wd, p->cd, p->yd, p->fwd, &p->fwd_ws) ||
        cudnnSetConvolutionMathType(p->cd, p->bwd_data_math) ||
        cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->wd, p->yd, p->cd, p->xd, p->bwd_data, &p->bwd_data_ws) ||
        cudnnSetConvolutionMathType(p->cd, p->bwd_filter_math) ||
        cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->xd, p->yd, p->cd, p->wd, p->bwd_filter,
                                                       &p->bwd_filter_ws) ||
        p->fwd_ws > limit || p->bwd_data_ws > limit || p->bwd_filter_ws > limit)
        return 0;
    p->legacy_ready = 1;
    return 1;
}

/* Route r's graph-API plan from the name of its engine config: the same graph, the same
 * filter, and of the configs the heuristics offer only that one is finalized. 0 when this
 * cuDNN no longer offers it. */
static int graph_restore(ws_cuda_ctx *c, struct wsi_conv_plan *p, int r, int staged, const char *name) {
    variant v[2];
    int nv = route_variants(p, r, v), k = 0;
    while (k < nv && v[k].staged != staged) k++;
    if (k == nv) return 0;
    struct wsi_cg_conv g;
    if (wsi_cg_conv_build(&g, c->cudnn, &p->d, v[k].dir, cudnn_type(p->act), v[k].w_type, v[k].beta) !=
        CUDNN_STATUS_SUCCESS)
        return 0;
    wsi_cg_filter f = {c->precision == WS_FP32, c->deterministic, workspace_limit(c), 1, name};
    struct wsi_cg_plan plan;
    wsi_cg_census census;
    if (wsi_cg_candidates(c->cudnn, &g, &f, &plan, &census) != 1) {
        wsi_cg_conv_free(&g);
        return 0;
    }
    struct route *rt = &p->route[r];
    rt->graph = 1, rt->staged = staged, rt->g = g, rt->plan = plan, rt->ws = plan.ws_bytes;
    if (r == R_DW && staged && p->act == WS_FP32) p->dw_stage = align256(filter_count(&p->d) * sizeof(float));
    return 1;
}

/* Sets p's routes from a value of choice_value; 0 when it does not apply (garbled, from
 * another API mode, or naming what this cuDNN does not offer): p is then unplanned again,
 * for timing. */
static int choice_restore(ws_cuda_ctx *c, struct wsi_conv_plan *p, const char *value) {
    char buf[WSI_CONV_CHOICES_FIELD_MAX + 1], *part[1 + R_COUNT], *s = buf, end;
    int n = 0, a[6];
    snprintf(buf, sizeof buf, "%s", value);
    while (n < 1 + R_COUNT) {
        part[n++] = s;
        char *bar = strchr(s, '|');
        if (!bar) break;
        *bar = '\0';
        s = bar + 1;
    }
    if (n != 1 + R_COUNT || strchr(part[R_COUNT], '|')) return 0;
    if (!strcmp(part[0], "L-")) {
        if (c->conv_api != WSI_CONV_API_GRAPH) return 0; /* legacy find ran in every other mode */
    } else if (c->conv_api == WSI_CONV_API_GRAPH ||
               sscanf(part[0], "L%d:%d,%d:%d,%d:%d%c", &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &end) != 6 ||
               !legacy_restore(c, p, a)) {
        routes_reset(p);
        return 0;
    }
    for (int r = 0; r < R_COUNT; r++) {
        const char *t = part[1 + r];
        if (!strcmp(t, "L") && p->legacy_ready) continue;
        if (t[0] != 'G' || (t[1] != '0' && t[1] != '1') || t[2] != ' ' || !graph_restore(c, p, r, t[1] - '0', t + 3)) {
            routes_reset(p);
            return 0;
        }
    }
    for (int r = 0; r < R_COUNT; r++)
        if (!p->route[r].graph) p->route[r].ws = r == R_FWD ? p->fwd_ws : r == R_DW ? p->bwd_filter_ws : p->bwd_data_ws;
    return 1;
}

/* Appends p's timed choice; a file that cannot be written is warned about once. */
static void choice_keep(ws_cuda_ctx *c, wsi_conv_choices *cc, const struct wsi_conv_plan *p, const char *key) {
    char value[WSI_CONV_CHOICES_FIELD_MAX + 1];
    ws_error e = {WS_OK, ""};
    if (c->conv_choices_unwritable || !choice_value(p, value, sizeof value)) return;
    if (wsi_conv_choices_add(cc, key, value, &e) != WS_OK) {
        ws_log(WS_LOG_WARN, "%s; this run's convolution choices are not kept (WATTSCALE_CONV_CHOICES names another "
               "file, off none)", e.msg);
        c->conv_choices_unwritable = 1;
    }
}

/* A deterministic context takes cuDNN's heuristic choice, untimed, whatever
 * WATTSCALE_CUDNN_API says: choices by timing differ between processes when two candidates
 * run about as fast, and different algorithms round differently, so two deterministic runs
 * of the same job parted after a few steps (test_train_imagenet_cuda on an H200, 2026-12-01:
 * 8e-3 relative by step 14 with the graph API timed in). As PyTorch with deterministic
 * algorithms and benchmark mode off. */
static ws_status plan_shape(ws_cuda_ctx *c, struct wsi_conv_plan *p, ws_error *err) {
    double t0 = ws_now_s();
    ws_status st;
    if (c->deterministic) {
        legacy_heuristic(c, p, workspace_limit(c)); /* plan time: the workspace is reserved after */
        p->route[R_FWD].ws = p->fwd_ws;
        p->route[R_DX].ws = p->route[R_DX_ACC].ws = p->bwd_data_ws;
        p->route[R_DW].ws = p->bwd_filter_ws;
        p->measured = 1;
        describe(p);
        c->conv_shapes_heuristic++;
        c->conv_plan_s += ws_now_s() - t0;
        ws_log(WS_LOG_DEBUG, "%s: %s (deterministic: cuDNN's heuristic choice, untimed)", p->name, p->apis);
        return WS_OK;
    }
    char key[WSI_CONV_CHOICES_FIELD_MAX + 1];
    wsi_conv_choices *cc = choices_of(c);
    if (cc) {
        choice_key(c, p, key, sizeof key);
        const char *kept = wsi_conv_choices_find(cc, key);
        if (kept && choice_restore(c, p, kept)) {
            p->measured = 1;
            describe(p);
            double dt = ws_now_s() - t0;
            c->conv_plan_s += dt;
            c->conv_shapes_loaded++;
            ws_log(WS_LOG_DEBUG, "%s: %s, as timed by an earlier run (%s), restored in %.0f ms", p->name, p->apis,
                   wsi_conv_choices_file(cc), dt * 1e3);
            return WS_OK;
        }
        if (kept)
            ws_log(WS_LOG_INFO, "%s: the choice kept in %s does not apply here (another cuDNN build?); timed again",
                   p->name, wsi_conv_choices_file(cc));
    }
    if (c->conv_api != WSI_CONV_API_GRAPH && (st = legacy_find(c, p, err)) != WS_OK) return st;
    p->route[R_FWD].ws = p->fwd_ws;
    p->route[R_DX].ws = p->route[R_DX_ACC].ws = p->bwd_data_ws;
    p->route[R_DW].ws = p->bwd_filter_ws;
    if (c->conv_api != WSI_CONV_API_LEGACY && (st = choose_routes(c, p, err)) != WS_OK) return st;
    p->measured = 1;
    describe(p);
    if (cc && !p->timing_incomplete) choice_keep(c, cc, p, key);
    double dt = ws_now_s() - t0;
    c->conv_plan_s += dt;
    c->conv_plan_shapes++;
    ws_log(WS_LOG_DEBUG, "%s: %s, planned in %.0f ms (%d shapes in %.1f s so far)", p->name, p->apis, dt * 1e3,
           c->conv_plan_shapes, c->conv_plan_s);
    return WS_OK;
}

/* ---------------------------------------------------------------- the cache */

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
    snprintf(p->name, sizeof p->name, "conv %dx%dx%dx%d k%d %dx%d/%d pad %d (%s)", d->n, d->c, d->h, d->w, d->k, d->r,
             d->s, d->stride, d->pad, ws_dtype_name(c->precision));
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
    legacy_heuristic(c, p, reserved_for(c, p));
    for (int r = 0; r < R_COUNT; r++)
        p->route[r].ws = r == R_FWD ? p->fwd_ws : r == R_DW ? p->bwd_filter_ws : p->bwd_data_ws;
    describe(p);
    return p;
}

extern "C" ws_status ws_conv2d_plan_cuda(const ws_exec *ex, const ws_conv2d_desc *d, ws_error *err) {
    ws_cuda_ctx *c = ex->cuda;
    ws_dtype act = wsi_ctx_act(ex);
    if (c->capturing) return wsi_error(err, WS_ESTATE, "ws_conv2d_plan during CUDA graph capture (plan at model open)");
    struct wsi_conv_plan *p = find_plan(c, d, act);
    if (!p) {
        if (!(p = new_plan(c, d, act, err))) return err ? err->code : WS_ENOMEM;
    }
    if (!p->measured) {
        ws_status st = plan_shape(c, p, err);
        if (st != WS_OK) return st;
    }
    /* what the chosen routes need, and the legacy algorithms' needs too: a call whose
     * pointers the graph API cannot take falls back to them */
    size_t need = 0;
    for (int r = 0; r < R_COUNT; r++) need = p->route[r].ws > need ? p->route[r].ws : need;
    if (p->legacy_ready) {
        if (p->fwd_ws > need) need = p->fwd_ws;
        if (p->bwd_data_ws > need) need = p->bwd_data_ws;
        if (p->bwd_filter_ws > need) need = p->bwd_filter_ws;
    }
    return ws_cuda_ctx_reserve(c, p->dw_stage + need, err);
}

extern "C" const char *ws_conv2d_plan_apis_cuda(const ws_exec *ex, const ws_conv2d_desc *d) {
    struct wsi_conv_plan *p = find_plan(ex->cuda, d, wsi_ctx_act(ex));
    return p ? p->apis : NULL;
}

/* ---------------------------------------------------------------- the step */

static void step(ws_cuda_ctx *c, struct wsi_conv_plan *p, int r, const void *x, const void *w, void *y, void *dx,
                 float *dw) {
    struct route *rt = &p->route[r];
    int graph = rt->graph;
    if (graph) {
        const void *out = r == R_FWD ? y : r == R_DW ? (rt->staged ? c->workspace : (void *)dw) : dx;
        const void *in = r == R_DX || r == R_DX_ACC ? y : x;
        if (!wsi_aligned16(out) || !wsi_aligned16(in) || !wsi_aligned16(r == R_DW ? y : w)) {
            if (!p->warned_alignment)
                ws_log(WS_LOG_WARN, "%s %s: pointers not 16-byte aligned; the legacy API runs this call", p->name,
                       ROUTE_NAME[r]);
            p->warned_alignment = 1;
            graph = 0;
        }
    }
    if (!graph && !p->legacy_ready) legacy_heuristic(c, p, reserved_for(c, p));
    char *stage = (char *)c->workspace;
    cudnnStatus_t s = run_route(c, p, r, graph ? &rt->plan : NULL, graph ? rt->staged : p->act != WS_FP32, 1, x, w, y,
                                dx, dw, stage, stage + p->dw_stage);
    if (s != CUDNN_STATUS_SUCCESS) {
        char detail[256];
        ws_fatal("%s %s (%s API): %s %s", p->name, ROUTE_NAME[r], graph ? "graph" : "legacy", cudnnGetErrorString(s),
                 wsi_cg_last_error(detail, sizeof detail));
    }
}

extern "C" void ws_conv2d_forward_cuda(const ws_exec *ex, const ws_conv2d_desc *d, void *y, const void *x,
                                       const void *w) {
    ws_cuda_ctx *c = ex->cuda;
    step(c, plan_for_step(c, d, wsi_ctx_act(ex)), R_FWD, x, w, y, NULL, NULL);
}

extern "C" void ws_conv2d_backward_cuda(const ws_exec *ex, const ws_conv2d_desc *d, void *dx, float *dw,
                                        const void *dy, const void *x, const void *w, int accumulate_dx) {
    ws_cuda_ctx *c = ex->cuda;
    struct wsi_conv_plan *p = plan_for_step(c, d, wsi_ctx_act(ex));
    if (dx) step(c, p, accumulate_dx ? R_DX_ACC : R_DX, x, w, (void *)dy, dx, dw);
    step(c, p, R_DW, x, w, (void *)dy, dx, dw);
}

#else /* CUDA without cuDNN: convolutions are not available on the GPU */

extern "C" ws_status ws_conv2d_plan_cuda(const ws_exec *ex, const ws_conv2d_desc *d, ws_error *err) {
    (void)ex, (void)d;
    return wsi_error(err, WS_ENOTSUP, "conv2d on CUDA needs cuDNN, which this build did not find");
}
extern "C" const char *ws_conv2d_plan_apis_cuda(const ws_exec *ex, const ws_conv2d_desc *d) {
    (void)ex, (void)d;
    return NULL;
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
