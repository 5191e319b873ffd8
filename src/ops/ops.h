/* ops/ops.h - what every operator shares: element types, layouts, devices, tensors, and
 * the execution context that picks a backend.
 * defines: ws_dtype, ws_layout, ws_device, ws_tensor, ws_exec, ws_exec_cpu, ws_act_dtype.
 *
 * Operators are one stem each (style.md): ops/<op>.h holds the contract (shapes, which
 * outputs are overwritten and which accumulate), ops/<op>_cpu.c the reference, and, from
 * the CUDA issue on, ops/<op>_cuda.cu the twin; only ops/<op>.c chooses between them.
 * Conventions for every op:
 *   - Every pointer an op takes lives in the memory of ex->device (host memory on the CPU,
 *     device memory on CUDA). Activations (x, y, dx, dy) are stored in ex->layout and in
 *     ws_act_dtype(ex->precision), which is why they are void *; parameters, their
 *     gradients and statistics are always fp32.
 *   - CPU reference: fp32, NCHW, float accumulation in double where sums are long
 *     (batch-norm statistics, the loss); other layouts/types return WS_ENOTSUP.
 *   - CUDA (ops/<op>_cuda.cu, built with WS_HAVE_CUDA): NHWC, fp32/tf32/bf16/fp16
 *     activations, work enqueued on the context's stream (asynchronous: ws_exec_sync
 *     waits); library failures inside a step are fatal (ws_fatal), as a sticky CUDA error
 *     cannot be recovered from.
 *   - Input gradients (dx) are overwritten (=); parameter gradients (dw, db, dgamma,
 *     dbeta) accumulate (+=), so micro-batches (--accum) add up like PyTorch's .grad.
 *   - Nothing allocates: callers pass workspace sized by the op's *_workspace_bytes.
 *   - Shape letters: N batch, C in-channels, H W input size, K out-channels, R S filter
 *     size, P Q output size. */
#ifndef WS_OPS_OPS_H
#define WS_OPS_OPS_H

#include <stddef.h>
#include <stdint.h>
#include "wattscale/status.h"

typedef enum { WS_FP32 = 0, WS_TF32 = 1, WS_BF16 = 2, WS_FP16 = 3 } ws_dtype;   /* run precision */
typedef enum { WS_NCHW = 0, WS_NHWC = 1 } ws_layout;
typedef enum { WS_DEVICE_CPU = 0, WS_DEVICE_CUDA = 1 } ws_device;

const char *ws_dtype_name(ws_dtype t);    /* "fp32", "tf32", "bf16", "fp16" */
int ws_dtype_parse(const char *s, ws_dtype *out); /* 0 on success */
size_t ws_dtype_size(ws_dtype t);         /* storage bytes per element (tf32 is stored as fp32) */
const char *ws_device_name(ws_device d);  /* "cpu", "cuda" */

/* A view of memory owned elsewhere (an arena): 4-D, in the layout named. */
typedef struct {
    void *data;
    ws_dtype dtype;
    ws_layout layout;
    ws_device device;
    int n, c, h, w;
} ws_tensor;

static inline size_t ws_tensor_count(const ws_tensor *t) { return (size_t)t->n * t->c * t->h * t->w; }

typedef struct ws_cuda_ctx ws_cuda_ctx; /* ops/cuda_ctx.h */

/* How ops run: backend, threads, precision. Upper layers own it and pass it down. */
typedef struct {
    ws_device device;
    ws_dtype precision;
    int threads;        /* CPU: OpenMP threads (0: the OpenMP default) */
    ws_cuda_ctx *cuda;  /* CUDA backend state (handles, streams, workspace); NULL on the CPU */
    ws_layout layout;   /* of activations: NCHW on the CPU, NHWC on CUDA */
} ws_exec;

/* The CPU reference context: fp32, NCHW. */
static inline ws_exec ws_exec_cpu(int threads) {
    ws_exec e = {WS_DEVICE_CPU, WS_FP32, threads, NULL, WS_NCHW};
    return e;
}

/* Storage type of activations for a run precision: tf32 computes on fp32 storage. */
static inline ws_dtype ws_act_dtype(ws_dtype precision) { return precision == WS_TF32 ? WS_FP32 : precision; }

/* The same device, context and layout with fp32 storage: for the fp32-buffer ops (and
 * ws_add_forward on fp32 data) inside a bf16/fp16 run, whose activations are not all in
 * the run's storage type (the AFNO keeps the spectral filter, the norms and the loss in
 * fp32, as PyTorch's autocast does). fp32 and tf32 execs are returned unchanged. */
static inline ws_exec ws_exec_f32(const ws_exec *ex) {
    ws_exec e = *ex;
    if (ws_act_dtype(e.precision) != WS_FP32) e.precision = WS_FP32;
    return e;
}

/* Op flags. WS_ACCUMULATE: an input gradient is added (+=) to what its buffer holds
 * instead of overwriting it, so an activation read by two nodes (a residual block's input)
 * gets both gradients without a scratch buffer and an extra pass. */
enum { WS_ACCUMULATE = 1 };

/* Which implementation runs an op for ex (ops/ops.c). CPU: the reference, fp32 NCHW only;
 * CUDA: built with CUDA, a context present, NHWC. WSI_RUN_NONE: the dispatcher returns
 * WS_ENOTSUP (another precision on the CPU, a CUDA exec without a context or in a build
 * without CUDA). */
typedef enum { WSI_RUN_NONE = 0, WSI_RUN_CPU = 1, WSI_RUN_CUDA = 2 } wsi_backend;
wsi_backend wsi_exec_run(const ws_exec *ex);
/* The same for the ops that take fp32 buffers only, whatever the run precision (the AFNO's:
 * layernorm, gelu, bias_add, patch, afno_filter, rel_l2): the CPU at fp32 in any layout
 * (they are layout-free or fix their own), CUDA (as wsi_exec_run) at fp32 or tf32, which
 * compute alike for them; bf16/fp16 runs are WSI_RUN_NONE (WS_ENOTSUP). */
wsi_backend wsi_exec_run_f32(const ws_exec *ex);

/* The OpenMP team size for an op: threads when > 0, else the OpenMP default (1 without
 * OpenMP). */
int wsi_omp_threads(int threads);

#endif
