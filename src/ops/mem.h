/* ops/mem.h - memory of an exec's device: allocation, copies, zeroing, synchronisation,
 * and pinned host buffers for uploads.
 * defines: ws_mem_alloc, ws_mem_free, ws_mem_zero, ws_mem_copy, ws_mem_upload,
 *          ws_mem_download, ws_mem_upload_async, ws_mem_upload_async_copy_stream, ws_mem_download_async,
 *          ws_mem_host_alloc, ws_mem_host_free,
 *          ws_exec_sync. Implementation: ops/mem.c (CPU) and ops/mem_cuda.cu (CUDA).
 *
 * CPU: 64-byte aligned malloc; copies are memcpy; sync does nothing. CUDA: cudaMalloc,
 * counted in the context's peak (ws_cuda_peak_bytes); zero, copy and upload_async are
 * enqueued on the compute stream; upload and download are synchronous and meant for set-up,
 * checkpoints and tests, never for a step. Host buffers for the step's input are pinned
 * (cudaMallocHost) so that their upload overlaps compute. */
#ifndef WS_OPS_MEM_H
#define WS_OPS_MEM_H

#include <stddef.h>
#include "ops/ops.h"

/* bytes 0 gives a valid, unique pointer. `what` names the buffer in the error message. On
 * failure *out is NULL: WS_ENOMEM says how much was free and to lower --local-batch. */
ws_status ws_mem_alloc(const ws_exec *ex, size_t bytes, const char *what, void **out, ws_error *err);
/* bytes: what was allocated (the peak accounting needs it). NULL is a no-op. */
void ws_mem_free(const ws_exec *ex, void *p, size_t bytes);

/* Asynchronous on CUDA (compute stream). */
void ws_mem_zero(const ws_exec *ex, void *p, size_t bytes);
void ws_mem_copy(const ws_exec *ex, void *dst, const void *src, size_t bytes); /* device to device */
void ws_mem_upload_async(const ws_exec *ex, void *dst, const void *src_host, size_t bytes);
/* The same on the context's copy stream (ops/cuda_ctx.h), so that an upload overlaps the
 * compute stream's work; order it with events (ws_cuda_event_record_copy, then
 * ws_cuda_wait_event before reading dst). src_host must be pinned. CPU: a copy. */
void ws_mem_upload_async_copy_stream(const ws_exec *ex, void *dst, const void *src_host, size_t bytes);
/* dst_host should be pinned (ws_mem_host_alloc) for the copy to be truly asynchronous; it
 * holds the data once the stream has passed this point (an event or ws_exec_sync). */
void ws_mem_download_async(const ws_exec *ex, void *dst_host, const void *src, size_t bytes);

/* Synchronous: the copy is done when they return; download waits for queued work first. */
ws_status ws_mem_upload(const ws_exec *ex, void *dst, const void *src_host, size_t bytes, ws_error *err);
ws_status ws_mem_download(const ws_exec *ex, void *dst_host, const void *src, size_t bytes, ws_error *err);

/* Host memory that the device copies from without staging (pinned on CUDA). */
ws_status ws_mem_host_alloc(const ws_exec *ex, size_t bytes, const char *what, void **out, ws_error *err);
void ws_mem_host_free(const ws_exec *ex, void *p);

/* Waits for every op queued on ex; reports a failed kernel (WS_ELIBRARY). CPU: WS_OK. */
ws_status ws_exec_sync(const ws_exec *ex, ws_error *err);

#endif
