/* dist/grad_sync.h - data-parallel gradient averaging in buckets, overlapped with backward.
 * defines: ws_grad_range, ws_grad_sync (opaque), ws_grad_sync_open/begin/ready/finish/close,
 * the counters (wait_s, ready_s, bytes, buckets, started) and ws_grad_sync_bucket. Implementation:
 * dist/grad_sync.c (planning and readiness; the reduction itself sits behind four
 * functions there: MPI on host memory, in a tcp world dist/tcp.h's reducer (a star through
 * rank 0, which sums in rank order; rank 0 keeps (size-1) x the gradients as staging), or
 * NCCL on device memory after ws_grad_sync_use_nccl, in either kind of world).
 *
 * Plan (once, at open): the parameter tensors, taken in reverse order (the order backward
 * finishes them), are packed into buckets of at most bucket_bytes; a bucket is one
 * contiguous range of grads, so a tensor joins the current bucket only if it fits and is
 * adjacent to it. A tensor is split only when it alone exceeds bucket_bytes (into equal
 * pieces, each its own bucket). Floats outside every tensor are never touched.
 *
 * A pass: ws_grad_sync_begin; backward reports each finished range with ws_grad_sync_ready
 * (any sub-range of a tensor, in any order, each float once); a bucket all of whose floats
 * are reported starts its in-place sum (MPI_Iallreduce, or the tcp reducer) at once, overlapping the rest of
 * backward; ws_grad_sync_finish starts what is left, waits for all and divides by the world
 * size, so every rank ends with the same average. Buckets start in plan order on every rank
 * (a bucket that is complete early waits for its predecessors): MPI and NCCL require every
 * rank to start collectives in the same order, while the order of ready() calls may differ
 * between ranks.
 *
 * Gradient accumulation: ready() calls outside a pass (before begin, after finish) are
 * ignored, so the model may report ranges on every micro-batch and the trainer calls begin
 * only before the last one. finish without begin reduces everything (no overlap).
 *
 * World of size 1: begin, ready and finish do nothing (the buckets are still planned).
 * Errors: after a failed ready or finish the pass is broken and the run must end
 * (ws_world_end); the object may only be closed. */
#ifndef WS_DIST_GRAD_SYNC_H
#define WS_DIST_GRAD_SYNC_H

#include <stddef.h>

#include "dist/world.h"
#include "wattscale/status.h"

/* PyTorch DistributedDataParallel's bucket_cap_mb = 25. */
#define WS_GRAD_SYNC_DEFAULT_BUCKET_BYTES ((size_t)25 << 20)

typedef struct {
    size_t offset, count; /* floats, into grads */
} ws_grad_range;

typedef struct ws_grad_sync ws_grad_sync;

/* grads: the flat gradient buffer (host memory for this backend), kept, not owned; tensors
 * [n_tensors] in forward (layer) order, not overlapping (copied); bucket_bytes 0: the
 * default. Fails with WS_EINVAL on overlapping tensors or sizes that overflow. */
ws_status ws_grad_sync_open(ws_grad_sync **out, ws_world *w, float *grads, const ws_grad_range *tensors,
                            size_t n_tensors, size_t bucket_bytes, ws_error *err);
/* Before a backward pass whose gradients are to be averaged. Calling it while a pass is
 * in flight (begin, begin) is a bug in the caller: ws_fatal. */
void ws_grad_sync_begin(ws_grad_sync *s);
/* grads[offset, offset+count) is final for this pass. WS_EINVAL: the range is not inside the
 * tensors; WS_ESTATE: part of it was already reported in this pass; WS_ELIBRARY: MPI. */
ws_status ws_grad_sync_ready(ws_grad_sync *s, size_t offset, size_t count, ws_error *err);
/* Starts the buckets not yet started, waits for all, divides by the world size; ends the pass. */
ws_status ws_grad_sync_finish(ws_grad_sync *s, ws_error *err);

double ws_grad_sync_wait_s(const ws_grad_sync *s); /* cumulative time inside finish, s */
/* Cumulative time inside the reduction calls made by ready(), s. On the CPU backend the
 * reduction is work for the same cores (OpenMPI progresses it only inside MPI calls, and
 * the shared-memory copies and sums are done by the calling rank), so overlap moves that
 * work from finish into ready(): wait_s + ready_s is the communication cost of a step, and
 * wait_s alone understates it. With NCCL, ready_s is enqueue time only. */
double ws_grad_sync_ready_s(const ws_grad_sync *s);
double ws_grad_sync_bytes(const ws_grad_sync *s);  /* cumulative payload bytes all-reduced */
size_t ws_grad_sync_buckets(const ws_grad_sync *s);
/* Buckets started so far in the current pass (all of them after finish): how much of the
 * reduction ready() got going during backward; for tests and diagnostics. */
size_t ws_grad_sync_started(const ws_grad_sync *s);
/* Bucket i (0 <= i < buckets, plan order: the first one backward completes) as a range of
 * grads; for tests and the start-up log. */
ws_grad_range ws_grad_sync_bucket(const ws_grad_sync *s, size_t i);
/* Gradients on a GPU (grads a device pointer): the reductions become ncclAllReduce (average)
 * on a stream of their own, each waiting for its bucket on compute_stream (a cudaStream_t),
 * and finish makes compute_stream wait for the last one; the host never blocks, and a CUDA
 * graph captured on compute_stream holds the whole exchange. Creates the NCCL communicator
 * (rank 0's unique id broadcast through the world). Collective. Size 1: nothing to do.
 * WS_ENOTSUP without NCCL in the build; WS_ELIBRARY with NCCL's words. */
ws_status ws_grad_sync_use_nccl(ws_grad_sync *s, int device, void *compute_stream, ws_error *err);
/* NULL is a no-op. Must not be called with a pass in flight in an MPI world (the requests
 * would dangle): finish first. */
void ws_grad_sync_close(ws_grad_sync *s);

#endif
