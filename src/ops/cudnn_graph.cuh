/* ops/cudnn_graph.cuh - one convolution direction through cuDNN's graph (backend) API:
 * its operation graph, the engine configurations cuDNN offers for it, their execution
 * plans, and execution (internal; used by ops/conv2d_cuda.cu, which measures and chooses).
 * defines: wsi_cg_dir, struct wsi_cg_conv (the descriptors of one operation graph),
 *          wsi_cg_conv_build / wsi_cg_conv_free, struct wsi_cg_plan (a finalized execution
 *          plan and its engine config), wsi_cg_filter, wsi_cg_census, wsi_cg_candidates,
 *          wsi_cg_plan_free, wsi_cg_execute, wsi_cg_last_error.
 * Implementation: ops/cudnn_graph.cu (C API of cudnn_graph.h; cudnn-frontend is not used).
 *
 * Every graph has three tensors, NHWC, with fixed unique ids, and the data pointers of an
 * execution are always given in the order (x-like, w-like, y-like):
 *   forward          (x,  w,  y)    y  = alpha * conv(x, w)        + beta * y
 *   backward data    (dx, w,  dy)   dx = alpha * conv_t(dy, w)     + beta * dx
 *   backward filter  (x,  dw, dy)   dw = alpha * correlate(x, dy)  + beta * dw
 * Tensors claim 16-byte aligned pointers (what vectorised engines need); the caller checks
 * each call's pointers and uses the legacy API where one is not. */
#ifndef WS_OPS_CUDNN_GRAPH_CUH
#define WS_OPS_CUDNN_GRAPH_CUH

#include "ops/cuda_common.cuh"

#if WS_HAVE_CUDNN
extern "C" {
#include "ops/conv2d.h"
}

typedef enum { WSI_CG_FWD = 0, WSI_CG_BWD_DATA = 1, WSI_CG_BWD_FILTER = 2 } wsi_cg_dir;

/* The byte alignment every tensor of a graph claims. */
#define WSI_CG_ALIGN 16

struct wsi_cg_conv {
    cudnnBackendDescriptor_t tx, tw, ty, conv, op, graph; /* graph finalized; NULL: not built */
};

/* Builds and finalizes the graph of direction `dir` for shape d: x and y tensors of type
 * xy, the filter tensor of type w (fp32 dW into an fp32 gradient, or the storage type),
 * compute type float, cross-correlation, alpha 1 and the given beta. On failure g holds
 * nothing and the status says why (CUDNN_STATUS_NOT_SUPPORTED*: cuDNN has no engine for
 * this graph, which is not an error for the caller). */
cudnnStatus_t wsi_cg_conv_build(struct wsi_cg_conv *g, cudnnHandle_t h, const ws_conv2d_desc *d, wsi_cg_dir dir,
                                cudnnDataType_t xy, cudnnDataType_t w, float beta);
void wsi_cg_conv_free(struct wsi_cg_conv *g); /* a zeroed or freed g is a no-op */

struct wsi_cg_plan {
    cudnnBackendDescriptor_t cfg, plan; /* the engine config is kept alive with its plan */
    size_t ws_bytes;
    int64_t engine; /* cuDNN's global engine index */
    char name[96];  /* "eng12 k(2=1,14=3)": engine and knob choices */
};
void wsi_cg_plan_free(struct wsi_cg_plan *p); /* a zeroed or freed p is a no-op */

/* Which engine configs may run (PyTorch's filterEngineConfigs, Conv_v8.cpp, plus ours). */
typedef struct {
    int no_tensor_cores; /* fp32 with TF32 off: drop CUDNN_NUMERICAL_NOTE_TENSOR_CORE */
    int deterministic;   /* drop CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC */
    size_t ws_limit;     /* drop plans needing more workspace */
    int max;             /* at most this many plans */
    const char *only;    /* non-NULL: only the config of this name (wsi_cg_plan.name), at most one
                            plan: a choice made by an earlier process, rebuilt without timing */
} wsi_cg_filter;

/* What happened to the configs the heuristics offered (for the DEBUG log). */
typedef struct {
    int offered, duplicate, numerics, behaviour, unsupported, over_ws;
} wsi_cg_census;

/* Engine configs from heuristic modes A and B (interleaved: their top picks differ) and
 * then the fallback list, filtered and deduplicated (engine and knob choices), each built
 * into an execution plan; configs cuDNN refuses to finalize are skipped. Fills out[0..n)
 * in that order and returns n (0 when none passed). */
int wsi_cg_candidates(cudnnHandle_t h, const struct wsi_cg_conv *g, const wsi_cg_filter *f, struct wsi_cg_plan *out,
                      wsi_cg_census *census);

/* Enqueues the plan on the handle's stream: a variant pack is made for this call's
 * pointers (cuDNN binds pointers to a variant pack, not to the plan), executed and
 * destroyed. Host work only besides the launch, so a CUDA graph may capture it. */
cudnnStatus_t wsi_cg_execute(cudnnHandle_t h, const struct wsi_cg_plan *p, void *x_like, void *w_like, void *y_like,
                             void *workspace);

/* cuDNN's own detail on the last failure of this thread (cudnnGetLastErrorString), or "". */
const char *wsi_cg_last_error(char *buf, size_t size);

#endif
#endif
