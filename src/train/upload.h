/* train/upload.h - training batches on their way from the data loader to the GPU, copied
 * while the previous step computes (internal to train/).
 * defines: wsi_upload (opaque), wsi_device_batch, wsi_upload_stats, WSI_UPLOAD_SLOTS,
 *          WSI_UPLOAD_POLL_S, wsi_upload_open, wsi_upload_next, wsi_upload_done,
 *          wsi_upload_ahead, wsi_upload_drop, wsi_upload_stats_get, wsi_upload_close.
 * Implementation: train/upload.c; its user: train/step.c (the classification task's CUDA
 * step).
 *
 * Two device slots (each room for a batch in the loader's format, uint8 NHWC or fp32 NCHW,
 * and its labels) are used alternately. While the GPU runs step k, wsi_upload_ahead takes
 * the loader's next batch as soon as it is ready and copies it into the free slot on the
 * context's copy stream (pinned source, so the DMA runs beside the compute kernels). At step
 * k+1, wsi_upload_next hands that slot out: the host waits for the copy (done long before,
 * unless the batch came late), the compute stream is made to wait for it too, and the caller
 * enqueues what reads the slot (the conversion into the model's input buffer, a copy of the
 * labels) and then calls wsi_upload_done. Three rules keep it right:
 *   (a) the compute stream reads a slot only after its copy (it waits for `copied`);
 *   (b) a copy into a slot starts only after the compute work that last read the slot (the
 *       copy stream waits for `read`);
 *   (c) the loader's host buffer goes back to the loader (ws_loader_release) only once the
 *       host has seen its copy complete; a batch the loader made on the device (nvJPEG) is
 *       not copied (the conversion reads it where it is), so it goes back once `read` has
 *       completed.
 * Why slots in the loader's format and not the model's input: a step replayed as a CUDA
 * graph reads one fixed input buffer, and the conversion (uint8 NHWC -> the run's layout and
 * storage type, normalised) has to run anyway; reading an alternating slot and writing the
 * fixed buffer, it is the copy into the graph's input, at no extra cost: no second graph per
 * buffer, no extra device-to-device copy.
 * Batches come out in the loader's order, whether they were copied ahead or on demand, so
 * training sees the same samples with and without copying ahead.
 * On the CPU (an exec without a CUDA context: tests) the copies are memcpy and there are
 * no events.
 * Threads: the training thread only (the loader's consumer). */
#ifndef WS_TRAIN_UPLOAD_H
#define WS_TRAIN_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "data/loader.h"
#include "ops/cuda_ctx.h"
#include "ops/ops.h"

#define WSI_UPLOAD_SLOTS 2
/* While the GPU is busy, the loader is asked in slices this long, with a look at the GPU
 * between them: the GPU's end is noticed this late at most. */
#define WSI_UPLOAD_POLL_S 2.5e-4

typedef struct wsi_upload wsi_upload;

typedef struct {
    const void *x;         /* n samples in the loader's format, in the exec's memory */
    const int32_t *labels; /* [n], in the exec's memory */
    size_t n;              /* 0 (x NULL): the loader's runs are over */
    uint64_t epoch;        /* the loader's batch: its epoch and seq */
    size_t seq;
    double loader_wait_s; /* the host blocked this long in the loader for it here (0 when
                             it had been copied ahead) */
} wsi_device_batch;

typedef struct {
    size_t batches;                  /* handed out by wsi_upload_next */
    size_t ahead;                    /* of them, copied ahead (while an earlier step computed) */
    double loader_wait_s;            /* the host blocked in the loader in wsi_upload_next: exposed */
    double loader_wait_overlapped_s; /* ... in wsi_upload_ahead, while the GPU computed */
    double copy_wait_s;              /* the host waited for copies in wsi_upload_next: exposed */
} wsi_upload_stats;

/* sample_bytes: one sample in the loader's format; max_batch: its max_batch. ahead 0: never
 * copy ahead (each batch is fetched and copied in wsi_upload_next: the synchronous order,
 * for comparison). Errors: WS_ENOMEM (device memory, with the sizes), WS_ELIBRARY (events).
 * On failure *out is NULL. The loader must outlive it. */
ws_status wsi_upload_open(wsi_upload **out, const ws_exec *ex, ws_loader *loader, size_t max_batch, size_t sample_bytes,
                          int ahead, ws_error *err);

/* The next batch in the loader's order: the one copied ahead, else fetched now (waiting for
 * the loader) and copied; the host waits for its copy, and work enqueued on the compute
 * stream from now on sees it. A loader error is returned as it is. Call wsi_upload_done
 * once what reads out->x and out->labels is enqueued, before the next wsi_upload_next. */
ws_status wsi_upload_next(wsi_upload *u, wsi_device_batch *out, ws_error *err);

/* The batch of the last wsi_upload_next has been read by the work enqueued so far on the
 * compute stream: its slot may take the next copy once that work has run. */
void wsi_upload_done(wsi_upload *u);

/* While the GPU works (until `busy`, an event recorded on the compute stream after the
 * work just enqueued, completes), takes the loader's next batch as soon as it is ready and
 * starts its copy into the free slot. Returns when a batch is on its way, when busy has
 * completed, when the loader has no more, or at once when a batch is on its way already or
 * copying ahead is off. busy NULL (or no CUDA context): waits for the loader as long as it
 * takes. A loader error is returned as it is. */
ws_status wsi_upload_ahead(wsi_upload *u, ws_cuda_event *busy, ws_error *err);

/* Drops what was copied ahead (its loader batch goes back once the copy is done), before
 * the loader restarts somewhere else. */
void wsi_upload_drop(wsi_upload *u);

wsi_upload_stats wsi_upload_stats_get(const wsi_upload *u);

/* Waits for its copies, gives its batches back to the loader, frees it. NULL is a no-op. */
void wsi_upload_close(wsi_upload *u);

#endif
