/* ops/cuda_ctx.h - the CUDA backend's context: one GPU, its streams, library handles and
 * the workspace every CUDA op shares; plus CUDA graphs and events for the trainer.
 * defines: ws_cuda_device_count, ws_cuda_ctx_open/close, ws_cuda_ctx_reserve, the device
 *          queries (name, UUID, memory), ws_cuda_peak_bytes, ws_cuda_stream, the graph
 *          calls (ws_cuda_graph_*) and events (ws_cuda_event_*).
 * Implementation: ops/cuda_ctx.cu (built with WS_HAVE_CUDA; without CUDA every call below
 * returns WS_ENOTSUP or 0 from ops/cuda_stub.c, so callers need no #if).
 *
 * One context per process and GPU (style.md: handles live in a context passed down, never
 * in globals). It owns:
 *   - the compute stream (every op enqueues there) and a copy stream for input uploads;
 *   - the cuDNN and cuBLAS handles, bound to the compute stream, with the math mode of the
 *     run's precision (fp32: no TF32 anywhere, as the study ran; tf32: TF32 tensor cores;
 *     bf16/fp16: tensor cores with fp32 accumulation);
 *   - one workspace for cuDNN algorithms and op scratch, grown only by ws_cuda_ctx_reserve
 *     at plan time (model open), never inside a step: nothing allocates in a step;
 *   - the cache of convolution algorithms, chosen once per shape by measurement at plan
 *     time among cuDNN's legacy and graph APIs (WATTSCALE_CUDNN_API, ops/conv2d_cuda.cu).
 * Not thread-safe: one host thread drives a context. */
#ifndef WS_OPS_CUDA_CTX_H
#define WS_OPS_CUDA_CTX_H

#include <stddef.h>
#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GPUs visible to this process (CUDA_VISIBLE_DEVICES applies); 0 when there is no driver,
 * no GPU, or the build has no CUDA. Never fails. */
int ws_cuda_device_count(void);

/* device: index among the visible GPUs. deterministic: only deterministic cuDNN algorithms
 * (slower backward-filter choices). Errors: WS_ENOTSUP (no CUDA in this build, no GPU: the
 * message says which), WS_EINVAL (device out of range, a bad WATTSCALE_CUDNN_API or
 * WATTSCALE_CUDNN_GRAPH_CANDIDATES), WS_ELIBRARY (CUDA/cuDNN/cuBLAS with the library's
 * words). On failure *out is NULL. */
ws_status ws_cuda_ctx_open(ws_cuda_ctx **out, int device, ws_dtype precision, int deterministic, ws_error *err);
void ws_cuda_ctx_close(ws_cuda_ctx *c); /* NULL is a no-op; waits for queued work first */

/* Makes the shared workspace at least `bytes` large (synchronises, then reallocates).
 * Plan time only: an op asks for what it will need, ops never allocate during a step. */
ws_status ws_cuda_ctx_reserve(ws_cuda_ctx *c, size_t bytes, ws_error *err);
size_t ws_cuda_ctx_workspace_bytes(const ws_cuda_ctx *c);

/* An exec for this context: device cuda, NHWC, the context's precision. */
ws_exec ws_cuda_exec(ws_cuda_ctx *c);

/* Device facts for logs and run records: name ("NVIDIA H200"), UUID ("GPU-8c2f..."),
 * total memory, the CUDA/cuDNN/cuBLAS versions. Strings belong to the context. */
const char *ws_cuda_device_name(const ws_cuda_ctx *c);
const char *ws_cuda_device_uuid(const ws_cuda_ctx *c);
int ws_cuda_device_index(const ws_cuda_ctx *c);
size_t ws_cuda_total_bytes(const ws_cuda_ctx *c);
const char *ws_cuda_versions(const ws_cuda_ctx *c);  /* "cuda 13.0 driver 13.0 cudnn 91900 cublas 130000" */
/* Peak device memory this process has allocated through the context and the ops' memory
 * calls (ops/mem.h), bytes: the planned footprint, since nothing allocates in a step. */
size_t ws_cuda_peak_bytes(const ws_cuda_ctx *c);
size_t ws_cuda_current_bytes(const ws_cuda_ctx *c);

/* How the convolutions' algorithms were chosen so far (ops/conv2d_cuda.cu): shapes timed,
 * shapes whose earlier timed choice came from the choices file (ops/conv_choices.h,
 * WATTSCALE_CONV_CHOICES), shapes given cuDNN's heuristic choice (deterministic runs), the
 * seconds all that took, and the file ("" when none is used). For run records. */
typedef struct {
    int shapes_timed, shapes_from_file, shapes_heuristic;
    double seconds;
    const char *choices_file;
} ws_cuda_conv_planning;
ws_cuda_conv_planning ws_cuda_conv_planning_get(const ws_cuda_ctx *c);

/* The compute and copy streams as void * (cudaStream_t), for NCCL and the data path. */
void *ws_cuda_stream(const ws_cuda_ctx *c);
void *ws_cuda_copy_stream(const ws_cuda_ctx *c);

/* Waits for everything queued on the compute stream; reports an asynchronous CUDA error
 * (a failed kernel) as WS_ELIBRARY with its text. */
ws_status ws_cuda_sync(ws_cuda_ctx *c, ws_error *err);

/* The profiler's collection range (cudaProfilerStart/Stop), for `ncu --profile-from-start
 * off` and `nsys --capture-range=cudaProfilerApi`: only the steps asked for are profiled,
 * not the start-up's algorithm timing. stop waits for the compute stream first. */
void ws_cuda_profiler_start(ws_cuda_ctx *c);
void ws_cuda_profiler_stop(ws_cuda_ctx *c);

/* CUDA graphs: capture of the work enqueued on the compute stream (and streams that join
 * it through events, as NCCL's does) between begin and end, replayed by launch. A capture
 * that fails (an op that is not capturable) returns WS_ENOTSUP with CUDA's words; the
 * stream is then usable again and the caller runs the work eagerly. */
typedef struct ws_cuda_graph ws_cuda_graph;
ws_status ws_cuda_graph_begin(ws_cuda_ctx *c, ws_error *err);
ws_status ws_cuda_graph_end(ws_cuda_ctx *c, ws_cuda_graph **out, ws_error *err);
ws_status ws_cuda_graph_launch(ws_cuda_ctx *c, ws_cuda_graph *g, ws_error *err);
void ws_cuda_graph_free(ws_cuda_graph *g); /* NULL is a no-op */
int ws_cuda_capturing(const ws_cuda_ctx *c);

/* Events on the compute stream, for timing phases of a step without stalling it, and on
 * the copy stream, so that input uploads overlap compute: the compute stream waits for a
 * copy's event (ws_cuda_wait_event), the copy stream for the compute work that last read
 * the copy's destination (ws_cuda_copy_wait_event). */
typedef struct ws_cuda_event ws_cuda_event;
ws_status ws_cuda_event_create(ws_cuda_event **out, ws_error *err);
void ws_cuda_event_free(ws_cuda_event *e);
void ws_cuda_event_record(ws_cuda_ctx *c, ws_cuda_event *e);          /* on the compute stream */
void ws_cuda_event_record_copy(ws_cuda_ctx *c, ws_cuda_event *e);     /* on the copy stream */
void ws_cuda_wait_event(ws_cuda_ctx *c, ws_cuda_event *e);            /* compute waits for e */
void ws_cuda_copy_wait_event(ws_cuda_ctx *c, ws_cuda_event *e);       /* the copy stream waits for e */
int ws_cuda_event_done(ws_cuda_event *e);  /* 1: e has completed (or was never recorded); 0: not yet */
void ws_cuda_event_sync(ws_cuda_event *e);                             /* the host waits for e */
double ws_cuda_event_elapsed_s(ws_cuda_event *from, ws_cuda_event *to); /* both complete */

#ifdef __cplusplus
}
#endif
#endif
