/* dist/grad_sync.c - bucketed, overlapped gradient averaging; contract in dist/grad_sync.h.
 * defines: ws_grad_sync_* .
 *
 * Two halves. The first plans buckets and tracks, per pass, which floats backward has
 * reported (one bit per float of grads: exact, so a range reported twice is caught, and
 * cheap: 3 MiB for ResNet-50, cleared once per pass). The second is the reduction:
 * reduce_start / reduce_progress / reduce_wait_all / reduce_scale, MPI on host memory (or,
 * in a tcp world, dist/tcp.h's non-blocking reducer: the same four steps). The
 * NCCL twin (with the CUDA backend) replaces those four: ready then means "enqueued on the
 * compute stream", start records an event there, makes the NCCL stream wait for it and
 * enqueues ncclAllReduce (ncclAvg), wait_all synchronises the NCCL stream with compute. */
#include "dist/grad_sync.h"
#include "core/error.h"
#include "dist/tcp.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "ws_config.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if WS_HAVE_MPI
#include <mpi.h>
#endif
#if WS_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

typedef struct {
    size_t offset, count; /* floats, a contiguous range of grads */
    size_t remaining;     /* floats not yet reported in this pass */
} bucket;

struct ws_grad_sync {
    ws_world *w;
    int size;
    float *grads;
    bucket *b;          /* [nb] in plan order */
    size_t nb;
    bucket **by_offset; /* [nb] the buckets sorted by offset, for ready()'s look-up */
    uint64_t *seen;     /* one bit per float of grads[0, span): reported in this pass */
    size_t span;        /* end of the last tensor */
    size_t next;        /* buckets [0, next) are started in this pass */
    int active;         /* between begin and finish */
    double wait_s, ready_s, bytes;
#if WS_HAVE_MPI
    MPI_Request *req;   /* [nb]; MPI_REQUEST_NULL once complete or never started */
#endif
    wsi_tcp_reducer *tcp; /* host gradients in a tcp world */
    int nccl;           /* device gradients, reduced by NCCL (ws_grad_sync_use_nccl) */
#if WS_HAVE_NCCL
    ncclComm_t comm;
    cudaStream_t compute, stream; /* the model's stream, and NCCL's own */
    cudaEvent_t *ready;           /* [nb]: the bucket's gradients are written on compute */
    cudaEvent_t done;             /* the last all-reduce has finished on stream */
#endif
};

#if WS_HAVE_NCCL
static ws_status nccl_error(ws_error *err, ncclResult_t rc, ncclComm_t comm, const char *what) {
    const char *last = comm ? ncclGetLastError(comm) : NULL;
    return wsi_error(err, WS_ELIBRARY, "%s: %s%s%s (NCCL_DEBUG=WARN says more)", what, ncclGetErrorString(rc),
                     last && *last ? ": " : "", last ? last : "");
}
#endif

/* ------------------------------------------------------------------ reduction (MPI, tcp, NCCL) */

static ws_status reduce_start(ws_grad_sync *s, size_t i, ws_error *err) {
#if WS_HAVE_NCCL
    if (s->nccl) {
        /* the bucket's gradients were enqueued on the compute stream: NCCL's stream waits
         * for them there, then averages in place (ncclAvg: no separate division) */
        float *p = s->grads + s->b[i].offset;
        cudaError_t e = cudaEventRecord(s->ready[i], s->compute);
        if (e == cudaSuccess) e = cudaStreamWaitEvent(s->stream, s->ready[i], 0);
        if (e != cudaSuccess)
            return wsi_error(err, WS_ELIBRARY, "gradient bucket %zu: %s", i, cudaGetErrorString(e));
        ncclResult_t rc = ncclAllReduce(p, p, s->b[i].count, ncclFloat, ncclAvg, s->comm, s->stream);
        if (rc != ncclSuccess) return nccl_error(err, rc, s->comm, "ncclAllReduce (gradient bucket)");
        s->bytes += (double)s->b[i].count * sizeof(float);
        return WS_OK;
    }
#endif
    if (s->tcp) {
        ws_status st = wsi_tcp_reducer_start(s->tcp, s->grads + s->b[i].offset, s->b[i].count, err);
        if (st == WS_OK) s->bytes += (double)s->b[i].count * sizeof(float);
        return st;
    }
#if WS_HAVE_MPI
    MPI_Comm comm = *(MPI_Comm *)wsi_world_mpi_comm(s->w);
    int rc = MPI_Iallreduce(MPI_IN_PLACE, s->grads + s->b[i].offset, (int)s->b[i].count, MPI_FLOAT, MPI_SUM, comm,
                            &s->req[i]);
    if (rc != MPI_SUCCESS)
        return wsi_world_mpi_error(err, rc, "MPI_Iallreduce(bucket %zu of %zu: %zu floats at %zu)", i, s->nb,
                                   s->b[i].count, s->b[i].offset);
#else
    (void)err;
#endif
    s->bytes += (double)s->b[i].count * sizeof(float);
    return WS_OK;
}

/* OpenMPI moves non-blocking collectives forward mostly inside MPI calls; backward calls
 * this after each report, so the reduction advances while backward computes. */
static ws_status reduce_progress(ws_grad_sync *s, ws_error *err) {
    if (s->nccl) return WS_OK; /* NCCL progresses on its own */
    if (s->tcp) return wsi_tcp_reducer_progress(s->tcp, err);
#if WS_HAVE_MPI
    int done = 0;
    int rc = MPI_Testall((int)s->next, s->req, &done, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) return wsi_world_mpi_error(err, rc, "MPI_Testall(%zu gradient buckets)", s->next);
#else
    (void)s, (void)err;
#endif
    return WS_OK;
}

static ws_status reduce_wait_all(ws_grad_sync *s, ws_error *err) {
#if WS_HAVE_NCCL
    if (s->nccl) {
        /* asynchronous: the compute stream (the optimizer) waits, the host does not */
        cudaError_t e = cudaEventRecord(s->done, s->stream);
        if (e == cudaSuccess) e = cudaStreamWaitEvent(s->compute, s->done, 0);
        if (e != cudaSuccess) return wsi_error(err, WS_ELIBRARY, "gradient all-reduce join: %s", cudaGetErrorString(e));
        return WS_OK;
    }
#endif
    if (s->tcp) return wsi_tcp_reducer_wait(s->tcp, err);
#if WS_HAVE_MPI
    int rc = MPI_Waitall((int)s->nb, s->req, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) return wsi_world_mpi_error(err, rc, "MPI_Waitall(%zu gradient buckets)", s->nb);
#else
    (void)s, (void)err;
#endif
    return WS_OK;
}

/* Sum to mean. A division, not a multiplication by 1/size: identical for powers of two,
 * and for other sizes it is the mean PyTorch computes (it divides too). */
static void reduce_scale(ws_grad_sync *s, size_t i) {
    if (s->nccl) return; /* ncclAvg did it */
    float *g = s->grads + s->b[i].offset;
    float d = (float)s->size;
    for (size_t k = 0; k < s->b[i].count; k++) g[k] /= d;
}

/* ------------------------------------------------------------------ plan */

static int cmp_range(const void *a, const void *b) {
    const ws_grad_range *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_bucket_ptr(const void *a, const void *b) {
    size_t x = (*(bucket *const *)a)->offset, y = (*(bucket *const *)b)->offset;
    return x < y ? -1 : x > y;
}

/* Appends bucket [offset, offset+count) to the plan (capacity checked by the caller). */
static void add_bucket(ws_grad_sync *s, size_t offset, size_t count) {
    s->b[s->nb].offset = offset;
    s->b[s->nb].count = count;
    s->b[s->nb].remaining = count;
    s->nb++;
}

/* limit: floats per bucket. Reverse tensor order; see the plan in grad_sync.h. */
static ws_status plan(ws_grad_sync *s, const ws_grad_range *t, size_t n, size_t limit, ws_error *err) {
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) cap += t[i].count > limit ? (t[i].count + limit - 1) / limit : 1;
    s->b = calloc(cap ? cap : 1, sizeof *s->b);
    s->by_offset = calloc(cap ? cap : 1, sizeof *s->by_offset);
    if (!s->b || !s->by_offset) return wsi_error(err, WS_ENOMEM, "ws_grad_sync_open: out of memory for %zu buckets", cap);
    int open_bucket = 0;
    size_t lo = 0, hi = 0; /* the bucket being filled, [lo, hi) */
    for (size_t k = n; k-- > 0;) {
        size_t off = t[k].offset, c = t[k].count;
        if (c == 0) continue;
        if (c > limit) {
            if (open_bucket) add_bucket(s, lo, hi - lo);
            open_bucket = 0;
            /* Equal pieces, the last one first (reverse order, like the tensors). */
            size_t pieces = (c + limit - 1) / limit, piece = (c + pieces - 1) / pieces;
            for (size_t p = (c - 1) / piece * piece;; p -= piece) {
                add_bucket(s, off + p, c - p < piece ? c - p : piece);
                if (p == 0) break;
            }
            continue;
        }
        if (open_bucket && hi - lo + c <= limit && (off + c == lo || off == hi)) {
            if (off + c == lo) lo = off;
            else hi = off + c;
            continue;
        }
        if (open_bucket) add_bucket(s, lo, hi - lo);
        open_bucket = 1;
        lo = off;
        hi = off + c;
    }
    if (open_bucket) add_bucket(s, lo, hi - lo);
    for (size_t i = 0; i < s->nb; i++) s->by_offset[i] = &s->b[i];
    qsort(s->by_offset, s->nb, sizeof *s->by_offset, cmp_bucket_ptr);
    return WS_OK;
}

ws_status ws_grad_sync_open(ws_grad_sync **out, ws_world *w, float *grads, const ws_grad_range *tensors,
                            size_t n_tensors, size_t bucket_bytes, ws_error *err) {
    *out = NULL;
    if (bucket_bytes == 0) bucket_bytes = WS_GRAD_SYNC_DEFAULT_BUCKET_BYTES;
    size_t limit = bucket_bytes / sizeof(float);
    if (limit < 1) limit = 1;
    if (limit > (size_t)INT_MAX) limit = (size_t)INT_MAX; /* MPI counts are int */

    /* Validate on a sorted copy: no overflow, no overlap. */
    ws_grad_range *sorted = malloc((n_tensors ? n_tensors : 1) * sizeof *sorted);
    if (!sorted) return wsi_error(err, WS_ENOMEM, "ws_grad_sync_open: out of memory");
    if (n_tensors) memcpy(sorted, tensors, n_tensors * sizeof *sorted);
    qsort(sorted, n_tensors, sizeof *sorted, cmp_range);
    size_t span = 0;
    ws_status st = WS_OK;
    for (size_t i = 0; i < n_tensors && st == WS_OK; i++) {
        if (sorted[i].offset > SIZE_MAX / sizeof(float) ||
            sorted[i].count > SIZE_MAX / sizeof(float) - sorted[i].offset)
            st = wsi_error(err, WS_EINVAL, "ws_grad_sync_open: tensor at offset %zu, count %zu overflows",
                           sorted[i].offset, sorted[i].count);
        else if (sorted[i].count && sorted[i].offset < span)
            st = wsi_error(err, WS_EINVAL, "ws_grad_sync_open: tensor at offset %zu (count %zu) overlaps the one before",
                           sorted[i].offset, sorted[i].count);
        else if (sorted[i].count)
            span = sorted[i].offset + sorted[i].count;
    }
    free(sorted);
    if (st != WS_OK) return st;
    if (span > 0 && !grads) return wsi_error(err, WS_EINVAL, "ws_grad_sync_open: grads is NULL");

    ws_grad_sync *s = calloc(1, sizeof *s);
    if (!s) return wsi_error(err, WS_ENOMEM, "ws_grad_sync_open: out of memory");
    s->w = w;
    s->size = ws_world_size(w);
    s->grads = grads;
    s->span = span;
    st = plan(s, tensors, n_tensors, limit, err);
    if (st == WS_OK && s->size > 1) {
        s->seen = calloc(span / 64 + 1, sizeof *s->seen);
#if WS_HAVE_MPI
        s->req = malloc((s->nb ? s->nb : 1) * sizeof *s->req);
        if (s->req)
            for (size_t i = 0; i < s->nb; i++) s->req[i] = MPI_REQUEST_NULL;
        if (!s->req) st = wsi_error(err, WS_ENOMEM, "ws_grad_sync_open: out of memory");
#endif
        if (!s->seen) st = wsi_error(err, WS_ENOMEM, "ws_grad_sync_open: out of memory for %zu floats' bits", span);
        size_t floats = 0;
        for (size_t i = 0; i < s->nb; i++) floats += s->b[i].count;
        if (st == WS_OK && wsi_world_tcp(w))
            st = wsi_tcp_reducer_open(&s->tcp, wsi_world_tcp(w), s->nb, floats, err);
    }
    if (st != WS_OK) {
        ws_grad_sync_close(s);
        return st;
    }
    ws_log(WS_LOG_DEBUG, "grad sync: %zu floats in %zu tensors, %zu buckets of at most %zu bytes, world %d", span,
           n_tensors, s->nb, limit * sizeof(float), s->size);
    *out = s;
    return WS_OK;
}

/* ------------------------------------------------------------------ a pass */

void ws_grad_sync_begin(ws_grad_sync *s) {
    if (s->size == 1) return;
    if (s->active && s->next > 0)
        ws_fatal("ws_grad_sync_begin: the previous pass started %zu buckets and was not finished", s->next);
    memset(s->seen, 0, (s->span / 64 + 1) * sizeof *s->seen);
    for (size_t i = 0; i < s->nb; i++) s->b[i].remaining = s->b[i].count;
    s->next = 0;
    s->active = 1;
}

/* Whether any bit of [lo, hi) is set. */
static int bits_any(const uint64_t *bits, size_t lo, size_t hi) {
    while (lo < hi && lo % 64) {
        if (bits[lo / 64] >> (lo % 64) & 1) return 1;
        lo++;
    }
    for (; lo + 64 <= hi; lo += 64)
        if (bits[lo / 64]) return 1;
    for (; lo < hi; lo++)
        if (bits[lo / 64] >> (lo % 64) & 1) return 1;
    return 0;
}

static void bits_set(uint64_t *bits, size_t lo, size_t hi) {
    while (lo < hi && lo % 64) {
        bits[lo / 64] |= (uint64_t)1 << (lo % 64);
        lo++;
    }
    for (; lo + 64 <= hi; lo += 64) bits[lo / 64] = ~(uint64_t)0;
    for (; lo < hi; lo++) bits[lo / 64] |= (uint64_t)1 << (lo % 64);
}

/* Index into by_offset of the first bucket that ends after `offset`. */
static size_t first_bucket_after(const ws_grad_sync *s, size_t offset) {
    size_t lo = 0, hi = s->nb;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const bucket *b = s->by_offset[mid];
        if (b->offset + b->count <= offset) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

ws_status ws_grad_sync_ready(ws_grad_sync *s, size_t offset, size_t count, ws_error *err) {
    if (s->size == 1 || !s->active || count == 0) return WS_OK;
    size_t end = offset + count;
    if (end < offset || end > s->span)
        return wsi_error(err, WS_EINVAL, "ws_grad_sync_ready(offset %zu, count %zu): beyond the tensors (%zu floats)",
                         offset, count, s->span);
    /* Check everything before changing anything. */
    size_t first = first_bucket_after(s, offset), covered = 0;
    for (size_t j = first; j < s->nb; j++) {
        const bucket *b = s->by_offset[j];
        if (b->offset >= end) break;
        size_t lo = b->offset > offset ? b->offset : offset;
        size_t hi = b->offset + b->count < end ? b->offset + b->count : end;
        covered += hi - lo;
    }
    if (covered != count)
        return wsi_error(err, WS_EINVAL,
                         "ws_grad_sync_ready(offset %zu, count %zu): %zu of these floats lie outside the tensors given "
                         "to ws_grad_sync_open",
                         offset, count, count - covered);
    if (bits_any(s->seen, offset, end))
        return wsi_error(err, WS_ESTATE,
                         "ws_grad_sync_ready(offset %zu, count %zu): part of this range was already reported in this "
                         "pass (a missing ws_grad_sync_begin, or a model reporting a tensor twice)",
                         offset, count);
    bits_set(s->seen, offset, end);
    for (size_t j = first; j < s->nb; j++) {
        bucket *b = s->by_offset[j];
        if (b->offset >= end) break;
        size_t lo = b->offset > offset ? b->offset : offset;
        size_t hi = b->offset + b->count < end ? b->offset + b->count : end;
        b->remaining -= hi - lo;
    }
    /* Start complete buckets, in plan order only (see grad_sync.h). */
    if (s->next == 0 && s->b[0].remaining > 0) return WS_OK; /* nothing to start or advance */
    double t0 = ws_now_s();
    ws_status st = WS_OK;
    while (st == WS_OK && s->next < s->nb && s->b[s->next].remaining == 0) {
        st = reduce_start(s, s->next, err);
        if (st == WS_OK) s->next++;
    }
    if (st == WS_OK) st = reduce_progress(s, err);
    s->ready_s += ws_now_s() - t0;
    return st;
}

ws_status ws_grad_sync_finish(ws_grad_sync *s, ws_error *err) {
    if (s->size == 1) return WS_OK;
    double t0 = ws_now_s();
    if (!s->active) s->next = 0; /* no begin: nothing started, reduce everything now */
    wsi_world_enter(s->w, "ws_grad_sync_finish");
    ws_status st = WS_OK;
    for (; s->next < s->nb && st == WS_OK; s->next++) st = reduce_start(s, s->next, err);
    if (st == WS_OK) st = reduce_wait_all(s, err);
    wsi_world_leave(s->w);
    if (st != WS_OK) return st;
    for (size_t i = 0; i < s->nb; i++) reduce_scale(s, i);
    s->active = 0;
    s->wait_s += ws_now_s() - t0;
    return WS_OK;
}

double ws_grad_sync_wait_s(const ws_grad_sync *s) { return s->wait_s; }
double ws_grad_sync_ready_s(const ws_grad_sync *s) { return s->ready_s; }
double ws_grad_sync_bytes(const ws_grad_sync *s) { return s->bytes; }
size_t ws_grad_sync_buckets(const ws_grad_sync *s) { return s->nb; }
size_t ws_grad_sync_started(const ws_grad_sync *s) { return s->size == 1 ? 0 : s->next; }

ws_grad_range ws_grad_sync_bucket(const ws_grad_sync *s, size_t i) {
    ws_grad_range r = {0, 0};
    if (i < s->nb) {
        r.offset = s->b[i].offset;
        r.count = s->b[i].count;
    }
    return r;
}

ws_status ws_grad_sync_use_nccl(ws_grad_sync *s, int device, void *compute_stream, ws_error *err) {
    if (s->size == 1) return WS_OK;
#if WS_HAVE_NCCL
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    ncclResult_t rc = ncclSuccess;
    if (ws_world_rank(s->w) == 0 && (rc = ncclGetUniqueId(&id)) != ncclSuccess)
        return nccl_error(err, rc, NULL, "ncclGetUniqueId");
    ws_status st = ws_world_bcast_bytes(s->w, &id, sizeof id, 0, err);
    if (st != WS_OK) return st;
    cudaError_t e = cudaSetDevice(device);
    if (e != cudaSuccess) return wsi_error(err, WS_ELIBRARY, "cudaSetDevice(%d): %s", device, cudaGetErrorString(e));
    wsi_world_enter(s->w, "ncclCommInitRank");
    rc = ncclCommInitRank(&s->comm, s->size, id, ws_world_rank(s->w));
    wsi_world_leave(s->w);
    if (rc != ncclSuccess) {
        s->comm = NULL;
        return nccl_error(err, rc, NULL, "ncclCommInitRank (one rank per GPU: are two ranks on one GPU?)");
    }
    s->compute = (cudaStream_t)compute_stream;
    if ((e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (e = cudaEventCreateWithFlags(&s->done, cudaEventDisableTiming)) != cudaSuccess)
        return wsi_error(err, WS_ELIBRARY, "NCCL stream and events: %s", cudaGetErrorString(e));
    s->ready = calloc(s->nb ? s->nb : 1, sizeof *s->ready);
    if (!s->ready) return wsi_error(err, WS_ENOMEM, "out of memory for %zu bucket events", s->nb);
    for (size_t i = 0; i < s->nb; i++)
        if ((e = cudaEventCreateWithFlags(&s->ready[i], cudaEventDisableTiming)) != cudaSuccess)
            return wsi_error(err, WS_ELIBRARY, "bucket events: %s", cudaGetErrorString(e));
    s->nccl = 1;
    wsi_tcp_reducer_close(s->tcp); /* its host staging is not needed for device gradients */
    s->tcp = NULL;
    ws_log(WS_LOG_DEBUG, "grad sync: NCCL %d ranks, %zu buckets on GPU %d", s->size, s->nb, device);
    return WS_OK;
#else
    (void)device, (void)compute_stream;
    return wsi_error(err, WS_ENOTSUP, "data parallelism on GPUs needs NCCL, which this build did not find "
                     "(install NCCL and reconfigure)");
#endif
}

void ws_grad_sync_close(ws_grad_sync *s) {
    if (!s) return;
#if WS_HAVE_NCCL
    if (s->stream) cudaStreamSynchronize(s->stream);
    for (size_t i = 0; s->ready && i < s->nb; i++)
        if (s->ready[i]) cudaEventDestroy(s->ready[i]);
    free(s->ready);
    if (s->done) cudaEventDestroy(s->done);
    if (s->stream) cudaStreamDestroy(s->stream);
    if (s->comm) ncclCommDestroy(s->comm);
#endif
    wsi_tcp_reducer_close(s->tcp);
    free(s->b);
    free(s->by_offset);
    free(s->seen);
#if WS_HAVE_MPI
    free(s->req);
#endif
    free(s);
}
