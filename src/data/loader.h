/* data/loader.h - the prefetching data loader: a pool of decode threads fills a bounded
 * ring of batch buffers, in step order, while the consumer (the training loop) computes.
 * defines: ws_loader_allocator, ws_loader_indices_fn, ws_decoder, ws_loader_opts,
 *          ws_loader_opts_default, ws_batch, ws_loader_totals, ws_loader (opaque),
 *          ws_loader_open, ws_loader_start, ws_loader_queue, ws_loader_next,
 *          ws_loader_next_within, ws_loader_remaining, ws_loader_release, ws_loader_totals_get,
 *          ws_loader_close,
 *          ws_loader_sampler_indices.
 * Implementation: data/loader.c; the nvJPEG path: data/jpeg_nvjpeg.cu.
 *
 * Model: a run is a numbered sequence of batches (seq = first .. first+count-1) of one
 * epoch. For each seq, the loader asks the caller's `indices` callback which dataset
 * indices batch seq holds (for one sampler: ws_loader_sampler_indices; a trainer with
 * micro-batches maps seq = step * accum + micro onto its samplers), loads them with
 * ws_dataset_load_ex (epoch, format) into one of `prefetch` batch buffers, and hands the
 * batches out strictly in seq order. Samples of a batch are decoded by all threads at once
 * (one sample per claim), so one batch is ready as early as the threads allow and up to
 * `prefetch` batches are in the making while the consumer holds none. Results are the same
 * whatever `threads` and `prefetch` are: a sample depends on (seed, epoch, index) only.
 * A second run can be queued behind the first (ws_loader_queue: the next epoch), so that the
 * threads go on into it while the consumer takes the first run's last batches, instead of
 * starting the next epoch with an empty ring.
 *
 *   ws_loader *l; ws_loader_open(&l, train, &o, &err);
 *   ws_loader_start(l, epoch, first_step, steps, &err);
 *   ws_loader_queue(l, epoch + 1, 0, steps_per_epoch, &err);   (optional)
 *   for (;;) {
 *       ws_batch *b; if (ws_loader_next(l, &b, &err) != WS_OK) fail; if (!b) break;
 *       ... b->x, b->labels, b->n; b->wait_s is the data-loading time of this step ...
 *       ws_loader_release(l, b);      (after the upload to the GPU has completed)
 *   }
 *   ws_loader_close(l);               (also mid-epoch: threads stop, nothing leaks)
 *
 * Buffers: allocated once at open (prefetch x max_batch samples and their labels, with the
 * caller's allocator: cudaMallocHost/cudaFreeHost make them pinned for fast asynchronous copies);
 * nothing allocates per batch but the decoder's scratch. With decoder NVJPEG, x is device
 * memory (uint8 NHWC) that the loader allocated with cudaMalloc on cuda_device.
 *
 * Errors: a failing sample (an I/O error of the process, out of memory; not an unreadable
 * image, which the dataset substitutes) fails its batch: ws_loader_next returns that error
 * when the batch's turn comes, and every later call until the next ws_loader_start.
 * Threads: one consumer thread calls next/release/start/totals; close from that thread
 * too. The callback runs on a loader thread, under the loader's lock, one call at a time,
 * in increasing seq order within a run, a queued run's after the first's (so a ws_sampler,
 * not thread-safe, is fine). */
#ifndef WS_DATA_LOADER_H
#define WS_DATA_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "data/sampler.h"
#include "wattscale/status.h"

typedef struct {
    void *(*alloc)(void *ctx, size_t size_bytes); /* NULL: malloc */
    void (*free)(void *ctx, void *p);             /* NULL: free */
    void *ctx;
} ws_loader_allocator;

/* Writes the dataset indices of batch seq of epoch (at most max_batch) and returns how
 * many (0 is a valid, empty batch). */
typedef size_t (*ws_loader_indices_fn)(void *ctx, uint64_t epoch, size_t seq, int64_t *indices);

typedef enum {
    WS_DECODER_CPU = 0,   /* libjpeg-turbo on the loader threads (any dataset) */
    WS_DECODER_NVJPEG = 1 /* ImageNet only: threads read and parse, nvJPEG decodes on the GPU,
                             a kernel crops and resizes into device memory; images nvJPEG cannot
                             take (CMYK, unreadable, ...) go through the CPU path */
} ws_decoder;

typedef struct {
    int threads;              /* decode threads; 0: one per online core */
    int prefetch;             /* batch buffers (K >= 1): ready or in the making (4) */
    size_t max_batch;         /* samples per batch at most (>= 1) */
    ws_sample_format format;  /* WS_SAMPLES_NCHW_F32 (CPU training) or WS_SAMPLES_NHWC_U8 */
    ws_decoder decoder;       /* WS_DECODER_CPU */
    int cuda_device;          /* NVJPEG: the device (-1: the caller's current device at open) */
    ws_loader_allocator alloc;
    ws_loader_indices_fn indices;
    void *indices_ctx;
} ws_loader_opts;

/* threads 0, prefetch 4, max_batch 0 (must be set), NCHW fp32, CPU decoder, device -1,
 * malloc/free, no callback (must be set). */
ws_loader_opts ws_loader_opts_default(void);

typedef struct {
    uint64_t epoch;
    size_t seq;             /* the batch's number in the run */
    size_t n;               /* samples */
    void *x;                /* n samples in the format: host memory, or device memory with
                               x_on_device (decoder NVJPEG) */
    int x_on_device;
    const int32_t *labels;  /* [n], host (the caller's allocator) */
    const int64_t *indices; /* [n] dataset indices */
    double wait_s;          /* how long ws_loader_next blocked for it: the step's data-loading
                               time as the study measured it (0 when it was ready) */
    double decode_s;        /* thread-seconds spent making it (reading, decoding, resampling;
                               with NVJPEG also the GPU stage's wall time) */
} ws_batch;

typedef struct {
    size_t batches, samples; /* handed out since open */
    double wait_s;           /* summed over them */
    double decode_s;
    size_t gpu_decoded;      /* NVJPEG: samples nvJPEG decoded (the rest took the CPU path:
                                CMYK, progressive on the hardware decoder, unreadable, ...) */
} ws_loader_totals;

typedef struct ws_loader ws_loader; /* opaque: fields live in data/loader.c */

/* Starts the threads and allocates the buffers. The dataset must outlive the loader.
 * Errors: WS_EINVAL (max_batch 0, no callback, threads or prefetch < 0, NVJPEG with a
 * non-ImageNet dataset or a format other than uint8 NHWC), WS_ENOTSUP (uint8 output the
 * dataset cannot make; NVJPEG in a build without CUDA, or without libnvjpeg at run time),
 * WS_ENOMEM, WS_ELIBRARY (a thread or a CUDA call failed). On error *out is NULL. */
ws_status ws_loader_open(ws_loader **out, const ws_dataset *d, const ws_loader_opts *o, ws_error *err);

/* Begins a run: batches first .. first+count-1 of epoch, prefetched from now on. Discards
 * what an unfinished earlier run (and a queued one) had made or was making (waiting for
 * samples in progress); batches the consumer holds stay valid until released. Clears an
 * earlier failure. */
ws_status ws_loader_start(ws_loader *l, uint64_t epoch, size_t first, size_t count, ws_error *err);

/* Queues a run to follow the current one: batches first .. first+count-1 of epoch are made
 * as soon as the current run's are all in the making, and ws_loader_next hands them out
 * after the current run's last (no NULL in between). One run can wait at a time: WS_ESTATE
 * when one is queued already and the current run is not yet handed out completely, or
 * when no run was started. */
ws_status ws_loader_queue(ws_loader *l, uint64_t epoch, size_t first, size_t count, ws_error *err);

/* The run's next batch, in seq order, waiting for it if need be; *out NULL (and WS_OK)
 * after the run's last batch. WS_ESTATE: no run started, or the consumer holds every
 * buffer (release one); a worker's error (see top). The batch stays valid until released. */
ws_status ws_loader_next(ws_loader *l, ws_batch **out, ws_error *err);

/* The same, waiting at most timeout_s seconds (0: only a batch that is ready; < 0: as long
 * as it takes, ws_loader_next). *out NULL and WS_OK when none came in time, as after the
 * last batch. For a consumer with other work to watch meanwhile (a GPU step). */
ws_status ws_loader_next_within(ws_loader *l, ws_batch **out, double timeout_s, ws_error *err);

/* Batches of the started and the queued run not handed out yet (0: ws_loader_next would
 * say the runs are over, or no run was started). */
size_t ws_loader_remaining(const ws_loader *l);

/* Gives a batch's buffer back for the next batches. */
void ws_loader_release(ws_loader *l, ws_batch *b);

ws_loader_totals ws_loader_totals_get(const ws_loader *l);

/* Stops the threads (samples in progress finish first) and frees everything, also in the
 * middle of a run and with batches still held (they become invalid). NULL is a no-op. */
void ws_loader_close(ws_loader *l);

/* ws_loader_indices_fn for one sampler: ctx is a ws_sampler, seq the step. */
size_t ws_loader_sampler_indices(void *sampler, uint64_t epoch, size_t seq, int64_t *indices);

#endif
