/* ops/cuda_common.cuh - what every CUDA file of libwattscale shares (internal; .cu only).
 * defines: struct ws_cuda_ctx (the fields behind ops/cuda_ctx.h), the check macros
 *          WS_CHECK_CUDA / WS_CHECK_CUDNN / WS_CHECK_CUBLAS / WS_CHECK_LAUNCH (fatal:
 *          file:line, the call, the library's words), wsi_cuda_status (the same as a
 *          ws_status for set-up paths), element conversions between fp32 and the storage
 *          types, WS_DISPATCH_ACT (a switch over the activation storage type) and grid
 *          sizing helpers.
 * .cu files are C++: the C headers of the library are included inside extern "C". */
#ifndef WS_OPS_CUDA_COMMON_CUH
#define WS_OPS_CUDA_COMMON_CUH

#include "ws_config.h"

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cublas_v2.h>
#if WS_HAVE_CUDNN
#include <cudnn.h>
#endif
#include <stdint.h>

extern "C" {
#include "core/error.h"
#include "core/log.h"
#include "ops/cuda_ctx.h"
#include "ops/ops.h"
}

/* A convolution shape's algorithms, chosen once (ops/conv2d_cuda.cu), and their release. */
struct wsi_conv_plan;
struct wsi_conv_choices;
void wsi_conv_plans_free(struct ws_cuda_ctx *c); /* the choices file's entries too */
/* Which cuDNN API convolutions may use (WATTSCALE_CUDNN_API=auto|legacy|graph) and how
 * many graph-API plans compete per direction (WATTSCALE_CUDNN_GRAPH_CANDIDATES), read
 * into the context when it opens (ops/conv2d_cuda.cu); WS_EINVAL names a bad value. */
enum { WSI_CONV_API_AUTO = 0, WSI_CONV_API_LEGACY = 1, WSI_CONV_API_GRAPH = 2 };
ws_status wsi_conv_env_read(struct ws_cuda_ctx *c, ws_error *err);

/* Fixed scratch for the reductions of batch norm, the loss and the optimizer (partial sums
 * per block): allocated with the context, so ops never need to reserve it. */
#define WSI_CUDA_SMALL_SCRATCH_BYTES ((size_t)32 << 20)

struct ws_cuda_ctx {
    int device;
    ws_dtype precision;
    int deterministic;
    cudaStream_t stream, copy_stream;
#if WS_HAVE_CUDNN
    cudnnHandle_t cudnn;
#endif
    cublasHandle_t cublas;
    void *cublas_ws;          /* cuBLAS's own workspace (set, so graph capture never allocates) */
    void *workspace;          /* grown by ws_cuda_ctx_reserve at plan time */
    size_t workspace_bytes;
    void *small;              /* WSI_CUDA_SMALL_SCRATCH_BYTES */
    struct wsi_conv_plan *conv_plans; /* linked list, searched per call */
    int conv_api;             /* WSI_CONV_API_* */
    int conv_graph_max;       /* graph-API plans timed per direction */
    double conv_plan_s;       /* time spent planning convolutions so far */
    int conv_plan_shapes;     /* shapes timed */
    int conv_shapes_loaded;   /* shapes whose choice came from the choices file */
    int conv_shapes_heuristic; /* deterministic: cuDNN's heuristic choice */
    struct wsi_conv_choices *conv_choices; /* ops/conv_choices.h; NULL: none (yet) */
    int conv_choices_state;   /* 0 not looked for yet, 1 open, -1 none (off, or it failed) */
    int conv_choices_unwritable; /* a write failed: warned once, no more writes */
    int capturing;
    cudaGraph_t capture_graph;
    size_t current_bytes, peak_bytes;
    int sm_count;
    char name[256], uuid[64], versions[160];
    size_t total_bytes;
};

/* ---- checks ---- */

static inline void wsi_check_cuda(cudaError_t e, const char *expr, const char *file, int line) {
    if (e != cudaSuccess) wsi_fatal(file, line, "%s: %s (%s)", expr, cudaGetErrorString(e), cudaGetErrorName(e));
}
static inline const char *wsi_cublas_string(cublasStatus_t s) { return cublasGetStatusString(s); }
static inline void wsi_check_cublas(cublasStatus_t s, const char *expr, const char *file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS) wsi_fatal(file, line, "%s: %s", expr, wsi_cublas_string(s));
}
#if WS_HAVE_CUDNN
static inline void wsi_check_cudnn(cudnnStatus_t s, const char *expr, const char *file, int line) {
    if (s != CUDNN_STATUS_SUCCESS) wsi_fatal(file, line, "%s: %s", expr, cudnnGetErrorString(s));
}
#define WS_CHECK_CUDNN(call) wsi_check_cudnn((call), #call, __FILE__, __LINE__)
#endif
#define WS_CHECK_CUDA(call) wsi_check_cuda((call), #call, __FILE__, __LINE__)
#define WS_CHECK_CUBLAS(call) wsi_check_cublas((call), #call, __FILE__, __LINE__)

/* After every launch: the launch error now; with WATTSCALE_SYNC_CHECK=1 (and not while a
 * graph is captured) also the kernel's own, synchronously, so the failing op is named. */
void wsi_check_launch(const ws_cuda_ctx *c, const char *what, const char *file, int line);
#define WS_CHECK_LAUNCH(ctx, what) wsi_check_launch((ctx), (what), __FILE__, __LINE__)

/* For set-up paths that report instead of aborting. */
static inline ws_status wsi_cuda_status(ws_error *err, cudaError_t e, const char *what) {
    return wsi_error(err, WS_ELIBRARY, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

/* Device allocations that count towards the context's peak (ops/mem.h uses these too). */
ws_status wsi_cuda_malloc(ws_cuda_ctx *c, void **out, size_t bytes, const char *what, ws_error *err);
void wsi_cuda_free(ws_cuda_ctx *c, void *p, size_t bytes);

/* ---- element types ---- */

__device__ __forceinline__ float wsi_to_f(float v) { return v; }
__device__ __forceinline__ float wsi_to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float wsi_to_f(__half v) { return __half2float(v); }
template <typename T> __device__ __forceinline__ T wsi_from_f(float v);
template <> __device__ __forceinline__ float wsi_from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 wsi_from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ __half wsi_from_f<__half>(float v) { return __float2half_rn(v); }

/* 16-byte vectors of storage elements: 4 floats or 8 halves. */
template <typename T> struct wsi_vec {
    static constexpr int N = 16 / sizeof(T);
    T v[N];
};
template <typename T> __device__ __forceinline__ wsi_vec<T> wsi_load16(const T *p) {
    wsi_vec<T> r;
    *reinterpret_cast<uint4 *>(r.v) = __ldg(reinterpret_cast<const uint4 *>(p));
    return r;
}
template <typename T> __device__ __forceinline__ void wsi_store16(T *p, const wsi_vec<T> &r) {
    *reinterpret_cast<uint4 *>(p) = *reinterpret_cast<const uint4 *>(r.v);
}

/* Runs the statement with T the C++ storage type of activation dtype `dt`. */
#define WS_DISPATCH_ACT(dt, T, ...)                                                                                    \
    do {                                                                                                               \
        switch (ws_act_dtype(dt)) {                                                                                    \
        case WS_BF16: { typedef __nv_bfloat16 T; __VA_ARGS__; } break;                                                 \
        case WS_FP16: { typedef __half T; __VA_ARGS__; } break;                                                        \
        default: { typedef float T; __VA_ARGS__; } break;                                                              \
        }                                                                                                              \
    } while (0)

static inline ws_dtype wsi_ctx_act(const ws_exec *ex) { return ws_act_dtype(ex->precision); }

/* Blocks for n independent items at `threads` per block, capped at a few waves so grid-
 * stride loops do the rest. */
static inline unsigned wsi_blocks(const ws_cuda_ctx *c, size_t n, int threads) {
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    size_t cap = (size_t)(c->sm_count > 0 ? c->sm_count : 132) * 16;
    if (b > cap) b = cap;
    return (unsigned)(b ? b : 1);
}

/* dst[i] += (float)src[i], src in storage type t: how a bf16/fp16 weight gradient computed
 * by a library in its storage type joins the fp32 gradient (ops/convert_cuda.cu). */
void wsi_accumulate_f32(ws_cuda_ctx *c, float *dst, const void *src, ws_dtype t, size_t n);

/* 16-byte aligned pointers and a count that is a whole number of vectors. */
static inline int wsi_aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

#endif
