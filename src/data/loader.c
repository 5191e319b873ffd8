/* data/loader.c - the prefetching loader; contract in data/loader.h.
 *
 * One mutex guards everything but the decoding itself. Slots (batch buffers) move
 *   FREE -> FILLING (a seq and its indices assigned; workers claim its samples one by one)
 *        -> [GPU (NVJPEG: every sample read and parsed; the GPU stage decodes it)]
 *        -> READY -> HELD (handed out) -> FREE (released).
 * Workers take the lowest-position FILLING slot with samples left, else open the next
 * position in a FREE slot, else wait; so samples are decoded in order and the batch the
 * consumer waits for is always the one most threads work on. `busy` counts samples in
 * progress outside the lock; ws_loader_start and close wait for it to reach 0 before they
 * touch the slots, which is what makes discarding a run and stopping mid-epoch safe.
 *
 * Positions: the batches of the started run and of the run queued after it
 * (ws_loader_queue) are numbered 0, 1, ... across both (`pos`), so workers go on from the
 * last batch of one epoch into the next epoch's first without a gap; each position maps
 * back to its run's epoch and seq. */
#include "data/loader.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "data/dataset_imagenet.h"
#include "ws_config.h"
#if WS_HAVE_CUDA
#include "data/jpeg_nvjpeg.h"
#endif

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef enum { SLOT_FREE, SLOT_FILLING, SLOT_GPU, SLOT_READY, SLOT_HELD } slot_state;

/* A run: batches first .. first+count-1 of epoch, at positions pos0 .. pos0+count-1. */
typedef struct {
    uint64_t epoch;
    size_t first, count, pos0;
} run_span;

typedef struct {
    ws_batch b;           /* what the consumer sees; b.x is x or d_x */
    slot_state state;
    unsigned gen;         /* the start it belongs to */
    size_t pos;           /* its position among the runs of that start */
    size_t next_claim, done;
    int64_t *indices;     /* [max_batch] */
    int32_t *labels;      /* [max_batch], the caller's allocator (pinned on CUDA) */
    void *x;              /* host samples, the caller's allocator (CPU decoder) */
    double decode_s;
    size_t gpu_decoded;   /* NVJPEG: samples nvJPEG decoded (the others took the CPU path) */
    ws_status st;         /* the first failure of one of its samples */
    ws_error err;
    /* NVJPEG: per sample, the bytes and crop for the GPU, or a tile made on the CPU */
    void *d_x;            /* [max_batch] tiles, device */
    uint8_t **bytes;      /* [max_batch] file bytes (malloc'd by the reader), NULL: CPU tile */
    void *jobs;           /* [max_batch] wsi_nvjpeg_job */
    uint8_t *cpu_tiles;   /* [max_batch] tiles made on the CPU, host */
    unsigned char *on_cpu;/* [max_batch] 1: the tile is in cpu_tiles */
} slot;

struct ws_loader {
    const ws_dataset *d;
    ws_loader_opts o;
    size_t sample_bytes;
    pthread_mutex_t mu;
    pthread_cond_t work, ready, idle;
    pthread_t *threads;
    int n_threads, started_threads;
    int gpu_thread_started;
    pthread_t gpu_thread;
    slot *slots;
    int n_slots;
    unsigned gen;
    int running, draining, stop;
    run_span runs[2];     /* the run being handed out, and the one queued after it */
    int n_runs;
    size_t next_pos, end_pos, deliver_pos;
    int busy;             /* samples (and GPU batches) in progress outside the lock */
    ws_status failed;     /* sticky until the next start */
    ws_error fail_err;
    ws_loader_totals totals;
#if WS_HAVE_CUDA
    wsi_nvjpeg *gpu;
#endif
};

ws_loader_opts ws_loader_opts_default(void) {
    return (ws_loader_opts){.threads = 0, .prefetch = 4, .max_batch = 0, .format = WS_SAMPLES_NCHW_F32,
                            .decoder = WS_DECODER_CPU, .cuda_device = -1};
}

size_t ws_loader_sampler_indices(void *sampler, uint64_t epoch, size_t seq, int64_t *indices) {
    return ws_sampler_batch(sampler, epoch, seq, indices);
}

static void *host_alloc(const ws_loader_opts *o, size_t bytes) {
    return o->alloc.alloc ? o->alloc.alloc(o->alloc.ctx, bytes) : malloc(bytes);
}
static void host_free(const ws_loader_opts *o, void *p) {
    if (!p) return;
    if (o->alloc.free) o->alloc.free(o->alloc.ctx, p);
    else free(p);
}

/* ---- the worker side (lock held unless said otherwise) ---- */

static slot *find_claimable(ws_loader *l) {
    slot *best = NULL;
    for (int i = 0; i < l->n_slots; i++) {
        slot *s = &l->slots[i];
        if (s->state == SLOT_FILLING && s->gen == l->gen && s->next_claim < s->b.n && (!best || s->pos < best->pos))
            best = s;
    }
    return best;
}

/* The run that position pos belongs to (pos < end_pos). */
static const run_span *run_of(const ws_loader *l, size_t pos) {
    return l->n_runs > 1 && pos >= l->runs[1].pos0 ? &l->runs[1] : &l->runs[0];
}

static void finish_slot_if_done(ws_loader *l, slot *s) {
    if (s->state != SLOT_FILLING || s->done < s->b.n || s->next_claim < s->b.n) return;
    s->state = l->o.decoder == WS_DECODER_NVJPEG && s->st == WS_OK ? SLOT_GPU : SLOT_READY;
    pthread_cond_broadcast(s->state == SLOT_GPU ? &l->work : &l->ready);
}

/* Opens the next position in a free slot: asks the callback for its indices. */
static int open_next_seq(ws_loader *l) {
    if (!l->running || l->draining || l->failed != WS_OK || l->next_pos >= l->end_pos) return 0;
    slot *s = NULL;
    for (int i = 0; i < l->n_slots && !s; i++)
        if (l->slots[i].state == SLOT_FREE) s = &l->slots[i];
    if (!s) return 0;
    size_t pos = l->next_pos++;
    const run_span *run = run_of(l, pos);
    size_t seq = run->first + (pos - run->pos0);
    size_t n = l->o.indices(l->o.indices_ctx, run->epoch, seq, s->indices);
    s->gen = l->gen;
    s->pos = pos;
    s->b = (ws_batch){.epoch = run->epoch, .seq = seq, .n = n, .x = s->b.x, .x_on_device = s->b.x_on_device,
                      .labels = s->labels, .indices = s->indices};
    s->next_claim = s->done = 0;
    s->decode_s = 0;
    s->gpu_decoded = 0;
    s->st = WS_OK;
    s->err = (ws_error){0};
    s->state = SLOT_FILLING;
    const ws_dataset_info *info = ws_dataset_info_get(l->d);
    if (n > l->o.max_batch) {
        s->st = wsi_error(&s->err, WS_EINVAL, "loader: the indices callback returned %zu samples for batch %zu, over "
                          "max_batch %zu", n, seq, l->o.max_batch);
        s->b.n = 0;
    } else {
        for (size_t j = 0; j < n && s->st == WS_OK; j++) {
            if (s->indices[j] < 0 || (uint64_t)s->indices[j] >= info->count) {
                s->st = wsi_error(&s->err, WS_EINVAL, "loader: batch %zu: index %lld is outside the dataset's [0, "
                                  "%zu)", seq, (long long)s->indices[j], info->count);
                s->b.n = 0;
            } else {
                s->labels[j] = ws_dataset_labels(l->d)[s->indices[j]];
            }
        }
    }
    finish_slot_if_done(l, s); /* an empty or invalid batch is done at once */
    return 1;
}

#if WS_HAVE_CUDA
/* NVJPEG, one sample on a worker: read and parse the file for the GPU, or make its tile on
 * the CPU when the GPU would not take it (unreadable ones included: the CPU path
 * substitutes them and counts them). Lock not held. */
static ws_status prepare_for_gpu(ws_loader *l, slot *s, size_t j, uint64_t epoch, ws_error *err) {
    int64_t index = s->indices[j];
    char why[256] = "";
    uint8_t *data = NULL;
    size_t len = 0;
    wsi_jpeg_info info;
    ws_status st = wsi_imagenet_read_file(l->d, index, &data, &len, why, sizeof why);
    if (st != WS_OK && st != WS_EFORMAT) {
        char path[512];
        wsi_imagenet_path(l->d, index, path, sizeof path);
        return wsi_error(err, st, "loader: %s: %s", path, why);
    }
    if (st == WS_OK) st = wsi_jpeg_peek(data, len, &info, why, sizeof why);
    if (st == WS_ENOMEM) {
        free(data);
        return wsi_error(err, st, "loader: %s", why);
    }
    if (st == WS_OK && wsi_nvjpeg_accepts(l->gpu, &info)) {
        wsi_nvjpeg_job *job = (wsi_nvjpeg_job *)s->jobs + j;
        const wsi_transform *t = wsi_imagenet_transform(l->d);
        ws_rng r = wsi_imagenet_rng(l->d, epoch, index);
        *job = (wsi_nvjpeg_job){.data = data, .len = len, .width = info.width, .height = info.height,
                                .clamp_to_box = t->random_crop, .slot = (int)j};
        wsi_transform_crop(t, info.width, info.height, &r, &job->crop);
        s->bytes[j] = data;
        s->on_cpu[j] = 0;
        return WS_OK;
    }
    free(data);
    s->bytes[j] = NULL;
    s->on_cpu[j] = 1;
    ws_load_opts lo = {.epoch = epoch, .format = WS_SAMPLES_NHWC_U8};
    return ws_dataset_load_ex(l->d, &s->indices[j], 1, &lo, s->cpu_tiles + j * l->sample_bytes, NULL, err);
}
#endif

static void *worker_main(void *arg) {
    ws_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        if (l->stop) break;
        slot *s = l->draining || l->failed != WS_OK ? NULL : find_claimable(l);
        if (!s && open_next_seq(l)) continue;
        if (!s) {
            pthread_cond_wait(&l->work, &l->mu);
            continue;
        }
        size_t j = s->next_claim++;
        uint64_t epoch = s->b.epoch;
        l->busy++;
        pthread_mutex_unlock(&l->mu);

        ws_error e = {0};
        double t0 = ws_now_s();
        ws_status st;
#if WS_HAVE_CUDA
        if (l->o.decoder == WS_DECODER_NVJPEG) st = prepare_for_gpu(l, s, j, epoch, &e);
        else
#endif
        {
            ws_load_opts lo = {.epoch = epoch, .format = l->o.format};
            st = ws_dataset_load_ex(l->d, &s->indices[j], 1, &lo, (unsigned char *)s->x + j * l->sample_bytes, NULL,
                                    &e);
        }
        double dt = ws_now_s() - t0;

        pthread_mutex_lock(&l->mu);
        l->busy--;
        s->decode_s += dt;
        s->done++;
        if (st != WS_OK && s->st == WS_OK) {
            s->st = st;
            s->err = e;
        }
        finish_slot_if_done(l, s);
        if (l->busy == 0) pthread_cond_broadcast(&l->idle);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

#if WS_HAVE_CUDA
/* Frees the file bytes a slot holds for the GPU. */
static void drop_bytes(ws_loader *l, slot *s) {
    if (!s->bytes) return;
    for (size_t j = 0; j < l->o.max_batch; j++) {
        free(s->bytes[j]);
        s->bytes[j] = NULL;
    }
}

/* The GPU stage of one slot, lock not held: nvJPEG for the GPU's samples, the CPU tiles
 * uploaded, then a stream sync so the batch is complete when it is READY. If nvJPEG refuses
 * the batch (one image it cannot take spoils the batched call), each image is tried alone
 * and those it refuses again are made on this thread by the CPU path (slow, and rare: the
 * first refusal is logged). *gpu_done counts the samples nvJPEG decoded. */
static ws_status run_gpu_stage(ws_loader *l, slot *s, size_t *gpu_done, ws_error *err) {
    size_t n = s->b.n, tile = l->sample_bytes;
    wsi_nvjpeg_job *jobs = s->jobs, *packed = malloc((n ? n : 1) * sizeof *packed);
    if (!packed) return wsi_error(err, WS_ENOMEM, "loader: out of memory");
    int m = 0;
    for (size_t j = 0; j < n; j++)
        if (!s->on_cpu[j]) packed[m++] = jobs[j];
    ws_status st = m ? wsi_nvjpeg_decode(l->gpu, packed, m, s->d_x, err) : WS_OK;
    *gpu_done = st == WS_OK ? (size_t)m : 0;
    if (st == WS_EFORMAT) {
        static atomic_int logged;
        if (!atomic_exchange(&logged, 1))
            ws_log(WS_LOG_WARN, "loader: nvJPEG refused a batch (%s); its images are retried one by one, and "
                   "those refused again are decoded on the CPU (reported once)", err->msg);
        ws_load_opts lo = {.epoch = s->b.epoch, .format = WS_SAMPLES_NHWC_U8};
        st = WS_OK;
        for (int k = 0; k < m && st == WS_OK; k++) {
            size_t j = (size_t)packed[k].slot;
            ws_error one = {0};
            st = m > 1 ? wsi_nvjpeg_decode(l->gpu, &packed[k], 1, s->d_x, &one) : WS_EFORMAT;
            if (st == WS_OK) {
                (*gpu_done)++;
                continue;
            }
            if (st != WS_EFORMAT) {
                *err = one;
                break;
            }
            st = ws_dataset_load_ex(l->d, &s->indices[j], 1, &lo, s->cpu_tiles + j * tile, NULL, err);
            s->on_cpu[j] = 1;
        }
    }
    free(packed);
    for (size_t j = 0; j < n && st == WS_OK; j++)
        if (s->on_cpu[j]) st = wsi_nvjpeg_upload(l->gpu, (uint8_t *)s->d_x + j * tile, s->cpu_tiles + j * tile, tile, err);
    if (st == WS_OK) st = wsi_nvjpeg_sync(l->gpu, err);
    return st;
}

static void *gpu_main(void *arg) {
    ws_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        if (l->stop) break;
        slot *s = NULL;
        for (int i = 0; i < l->n_slots; i++) {
            slot *c = &l->slots[i];
            if (c->state == SLOT_GPU && c->gen == l->gen && !l->draining && (!s || c->pos < s->pos)) s = c;
        }
        if (!s) {
            pthread_cond_wait(&l->work, &l->mu);
            continue;
        }
        s->state = SLOT_FILLING; /* taken: nobody else touches it (next_claim == n) */
        l->busy++;
        pthread_mutex_unlock(&l->mu);
        ws_error e = {0};
        double t0 = ws_now_s();
        size_t gpu_done = 0;
        ws_status st = run_gpu_stage(l, s, &gpu_done, &e);
        double dt = ws_now_s() - t0;
        drop_bytes(l, s);
        pthread_mutex_lock(&l->mu);
        l->busy--;
        s->decode_s += dt;
        s->gpu_decoded = gpu_done;
        if (st != WS_OK && s->st == WS_OK) {
            s->st = st;
            s->err = e;
        }
        s->state = SLOT_READY;
        pthread_cond_broadcast(&l->ready);
        if (l->busy == 0) pthread_cond_broadcast(&l->idle);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}
#endif

/* ---- open, close ---- */

static void free_slots(ws_loader *l) {
    if (!l->slots) return;
    for (int i = 0; i < l->n_slots; i++) {
        slot *s = &l->slots[i];
        free(s->indices);
        host_free(&l->o, s->labels);
        host_free(&l->o, s->x);
#if WS_HAVE_CUDA
        drop_bytes(l, s);
        if (s->d_x) wsi_nvjpeg_device_free(l->gpu, s->d_x);
#endif
        free(s->bytes);
        free(s->jobs);
        free(s->cpu_tiles);
        free(s->on_cpu);
    }
    free(l->slots);
    l->slots = NULL;
}

static void stop_threads(ws_loader *l) {
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->work);
    pthread_cond_broadcast(&l->ready);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->started_threads; i++) pthread_join(l->threads[i], NULL);
    l->started_threads = 0;
#if WS_HAVE_CUDA
    if (l->gpu_thread_started) pthread_join(l->gpu_thread, NULL);
    l->gpu_thread_started = 0;
#endif
}

void ws_loader_close(ws_loader *l) {
    if (!l) return;
    stop_threads(l);
    free_slots(l);
#if WS_HAVE_CUDA
    wsi_nvjpeg_close(l->gpu);
#endif
    free(l->threads);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->ready);
    pthread_cond_destroy(&l->idle);
    free(l);
}

static ws_status check_opts(const ws_dataset *d, const ws_loader_opts *o, ws_error *err) {
    if (o->max_batch < 1) return wsi_error(err, WS_EINVAL, "loader: max_batch is 0; set it to the local batch size");
    if (!o->indices)
        return wsi_error(err, WS_EINVAL, "loader: no indices callback (ws_loader_sampler_indices serves a sampler)");
    if (o->threads < 0 || o->prefetch < 0)
        return wsi_error(err, WS_EINVAL, "loader: threads %d and prefetch %d must be >= 0", o->threads, o->prefetch);
    if (o->format != WS_SAMPLES_NCHW_F32 && o->format != WS_SAMPLES_NHWC_U8)
        return wsi_error(err, WS_EINVAL, "loader: unknown sample format %d", (int)o->format);
    const ws_dataset_info *info = ws_dataset_info_get(d);
    if (o->format == WS_SAMPLES_NHWC_U8 && info->c > WS_DATASET_MAX_CHANNELS)
        return wsi_error(err, WS_ENOTSUP, "loader: %s has %d channels, no uint8 form; load fp32", info->name, info->c);
    if (o->decoder == WS_DECODER_NVJPEG) {
        if (!wsi_imagenet_is(d))
            return wsi_error(err, WS_EINVAL, "loader: the nvjpeg decoder reads JPEG files: only for imagenet, not %s",
                             info->name);
        if (o->format != WS_SAMPLES_NHWC_U8)
            return wsi_error(err, WS_EINVAL, "loader: the nvjpeg decoder makes uint8 NHWC batches on the GPU; ask "
                             "for WS_SAMPLES_NHWC_U8 and normalise on the device");
#if !WS_HAVE_CUDA
        return wsi_error(err, WS_ENOTSUP, "loader: the nvjpeg decoder needs a build with CUDA (this one has none); "
                         "use the cpu decoder");
#endif
    } else if (o->decoder != WS_DECODER_CPU) {
        return wsi_error(err, WS_EINVAL, "loader: unknown decoder %d", (int)o->decoder);
    }
    return WS_OK;
}

static ws_status alloc_slots(ws_loader *l, ws_error *err) {
    l->slots = calloc((size_t)l->n_slots, sizeof *l->slots);
    if (!l->slots) return wsi_error(err, WS_ENOMEM, "loader: out of memory");
    size_t mb = l->o.max_batch;
    for (int i = 0; i < l->n_slots; i++) {
        slot *s = &l->slots[i];
        s->indices = malloc(mb * sizeof *s->indices);
        s->labels = host_alloc(&l->o, mb * sizeof *s->labels); /* uploaded too: pinned like x */
        if (!s->indices || !s->labels) return wsi_error(err, WS_ENOMEM, "loader: out of memory");
        if (l->o.decoder == WS_DECODER_CPU) {
            s->x = host_alloc(&l->o, mb * l->sample_bytes);
            if (!s->x)
                return wsi_error(err, WS_ENOMEM, "loader: the allocator gave no %zu-byte batch buffer",
                                 mb * l->sample_bytes);
            s->b.x = s->x;
            continue;
        }
#if WS_HAVE_CUDA
        s->bytes = calloc(mb, sizeof *s->bytes);
        s->jobs = malloc(mb * sizeof(wsi_nvjpeg_job));
        s->cpu_tiles = malloc(mb * l->sample_bytes);
        s->on_cpu = calloc(mb, 1);
        if (!s->bytes || !s->jobs || !s->cpu_tiles || !s->on_cpu)
            return wsi_error(err, WS_ENOMEM, "loader: out of memory");
        ws_status st = wsi_nvjpeg_device_alloc(l->gpu, &s->d_x, mb * l->sample_bytes, err);
        if (st != WS_OK) return st;
        s->b.x = s->d_x;
        s->b.x_on_device = 1;
#endif
    }
    return WS_OK;
}

ws_status ws_loader_open(ws_loader **out, const ws_dataset *d, const ws_loader_opts *o, ws_error *err) {
    *out = NULL;
    ws_status st = check_opts(d, o, err);
    if (st != WS_OK) return st;
    ws_loader *l = calloc(1, sizeof *l);
    if (!l) return wsi_error(err, WS_ENOMEM, "loader: out of memory");
    l->d = d;
    l->o = *o;
    l->sample_bytes = ws_dataset_sample_bytes(d, o->format);
    l->n_slots = o->prefetch > 0 ? o->prefetch : 4;
    l->n_threads = o->threads;
    if (l->n_threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        l->n_threads = cores > 0 ? (int)cores : 1;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work, NULL);
    pthread_condattr_t monotonic; /* ws_loader_next_within's deadline is on the monotonic clock */
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&l->ready, &monotonic);
    pthread_condattr_destroy(&monotonic);
    pthread_cond_init(&l->idle, NULL);
#if WS_HAVE_CUDA
    if (o->decoder == WS_DECODER_NVJPEG) {
        st = wsi_nvjpeg_open(&l->gpu, o->cuda_device, (int)o->max_batch, ws_dataset_info_get(d)->w, err);
        if (st != WS_OK) {
            ws_loader_close(l);
            return st;
        }
    }
#endif
    l->threads = calloc((size_t)l->n_threads, sizeof *l->threads);
    if (!l->threads) {
        ws_loader_close(l);
        return wsi_error(err, WS_ENOMEM, "loader: out of memory");
    }
    if ((st = alloc_slots(l, err)) != WS_OK) {
        ws_loader_close(l);
        return st;
    }
    for (int i = 0; i < l->n_threads; i++) {
        int e = pthread_create(&l->threads[i], NULL, worker_main, l);
        if (e) {
            ws_loader_close(l);
            return wsi_error(err, WS_ELIBRARY, "loader: pthread_create (thread %d of %d): %s", i + 1, l->n_threads,
                             strerror(e));
        }
        l->started_threads++;
    }
#if WS_HAVE_CUDA
    if (o->decoder == WS_DECODER_NVJPEG) {
        int e = pthread_create(&l->gpu_thread, NULL, gpu_main, l);
        if (e) {
            ws_loader_close(l);
            return wsi_error(err, WS_ELIBRARY, "loader: pthread_create (GPU stage): %s", strerror(e));
        }
        l->gpu_thread_started = 1;
    }
#endif
    *out = l;
    return WS_OK;
}

/* ---- the consumer side ---- */

ws_status ws_loader_start(ws_loader *l, uint64_t epoch, size_t first, size_t count, ws_error *err) {
    if (count > SIZE_MAX - first) return wsi_error(err, WS_EINVAL, "loader: first %zu + count %zu overflows", first, count);
    pthread_mutex_lock(&l->mu);
    l->draining = 1; /* no new claims; samples in progress finish */
    while (l->busy > 0) pthread_cond_wait(&l->idle, &l->mu);
    l->gen++;
    for (int i = 0; i < l->n_slots; i++) {
        slot *s = &l->slots[i];
        if (s->state != SLOT_HELD) s->state = SLOT_FREE;
#if WS_HAVE_CUDA
        if (s->state == SLOT_FREE) drop_bytes(l, s);
#endif
    }
    l->runs[0] = (run_span){.epoch = epoch, .first = first, .count = count, .pos0 = 0};
    l->n_runs = 1;
    l->next_pos = l->deliver_pos = 0;
    l->end_pos = count;
    l->failed = WS_OK;
    l->running = 1;
    l->draining = 0;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    return WS_OK;
}

ws_status ws_loader_queue(ws_loader *l, uint64_t epoch, size_t first, size_t count, ws_error *err) {
    if (count > SIZE_MAX - first)
        return wsi_error(err, WS_EINVAL, "loader: first %zu + count %zu overflows", first, count);
    ws_status st = WS_OK;
    pthread_mutex_lock(&l->mu);
    /* a run fully handed out makes room: its successor becomes the first */
    if (l->n_runs == 2 && l->deliver_pos >= l->runs[1].pos0) {
        l->runs[0] = l->runs[1];
        l->n_runs = 1;
    }
    if (!l->running) {
        st = wsi_error(err, WS_ESTATE, "ws_loader_queue: no run to follow; call ws_loader_start first");
    } else if (l->n_runs == 2) {
        st = wsi_error(err, WS_ESTATE, "ws_loader_queue: a run is queued already (epoch %llu); queue the next once "
                       "the current run's batches have all been handed out", (unsigned long long)l->runs[1].epoch);
    } else {
        l->runs[1] = (run_span){.epoch = epoch, .first = first, .count = count, .pos0 = l->end_pos};
        l->n_runs = 2;
        l->end_pos += count;
        pthread_cond_broadcast(&l->work);
    }
    pthread_mutex_unlock(&l->mu);
    return st;
}

static slot *find_pos(ws_loader *l, size_t pos) {
    for (int i = 0; i < l->n_slots; i++) {
        slot *s = &l->slots[i];
        if (s->gen == l->gen && s->state != SLOT_FREE && s->state != SLOT_HELD && s->pos == pos) return s;
    }
    return NULL;
}

/* Adds seconds to the monotonic clock's now. */
static struct timespec deadline_after(double seconds) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    double whole = (double)t.tv_sec + seconds;
    long sec = (long)whole;
    long ns = t.tv_nsec + (long)((whole - (double)sec) * 1e9);
    t.tv_sec = sec + ns / 1000000000L;
    t.tv_nsec = ns % 1000000000L;
    return t;
}

ws_status ws_loader_next(ws_loader *l, ws_batch **out, ws_error *err) {
    return ws_loader_next_within(l, out, -1, err);
}

ws_status ws_loader_next_within(ws_loader *l, ws_batch **out, double timeout_s, ws_error *err) {
    *out = NULL;
    pthread_mutex_lock(&l->mu);
    ws_status st = WS_OK;
    struct timespec until = deadline_after(timeout_s > 0 ? timeout_s : 0);
    if (!l->running) {
        st = wsi_error(err, WS_ESTATE, "ws_loader_next: no run; call ws_loader_start first");
        goto out;
    }
    if (l->failed != WS_OK) {
        if (err) *err = l->fail_err;
        st = l->failed;
        goto out;
    }
    if (l->deliver_pos >= l->end_pos) goto out; /* the runs are over */
    double t0 = ws_now_s();
    slot *s;
    while (!(s = find_pos(l, l->deliver_pos)) || s->state != SLOT_READY) {
        if (!s) {
            int held = 0;
            for (int i = 0; i < l->n_slots; i++) held += l->slots[i].state == SLOT_HELD;
            if (held == l->n_slots) {
                st = wsi_error(err, WS_ESTATE, "ws_loader_next: the consumer holds all %d batch buffers; release "
                               "one (ws_loader_release) before asking for the next", l->n_slots);
                goto out;
            }
        }
        if (timeout_s < 0) {
            pthread_cond_wait(&l->ready, &l->mu);
        } else if (timeout_s == 0 || pthread_cond_timedwait(&l->ready, &l->mu, &until) == ETIMEDOUT) {
            /* a last look: the batch may have become ready as the wait ended */
            if (!(s = find_pos(l, l->deliver_pos)) || s->state != SLOT_READY) goto out;
            break;
        }
    }
    double waited = ws_now_s() - t0;
    if (s->st != WS_OK) {
        l->failed = s->st;
        l->fail_err = s->err;
        s->state = SLOT_FREE;
        if (err) *err = s->err;
        st = s->st;
        pthread_cond_broadcast(&l->work);
        goto out;
    }
    s->state = SLOT_HELD;
    s->b.wait_s = waited;
    s->b.decode_s = s->decode_s;
    l->deliver_pos++;
    l->totals.batches++;
    l->totals.samples += s->b.n;
    l->totals.wait_s += waited;
    l->totals.decode_s += s->decode_s;
    l->totals.gpu_decoded += s->gpu_decoded;
    *out = &s->b;
out:
    pthread_mutex_unlock(&l->mu);
    return st;
}

size_t ws_loader_remaining(const ws_loader *l) {
    ws_loader *m = (ws_loader *)l; /* the lock, not the contents, changes */
    pthread_mutex_lock(&m->mu);
    size_t left = m->running && m->end_pos > m->deliver_pos ? m->end_pos - m->deliver_pos : 0;
    pthread_mutex_unlock(&m->mu);
    return left;
}

void ws_loader_release(ws_loader *l, ws_batch *b) {
    if (!b) return;
    slot *s = (slot *)((char *)b - offsetof(slot, b));
    pthread_mutex_lock(&l->mu);
    if (s->state == SLOT_HELD) s->state = SLOT_FREE;
    pthread_cond_broadcast(&l->work);
    pthread_cond_broadcast(&l->ready); /* a consumer waiting for a free buffer re-checks */
    pthread_mutex_unlock(&l->mu);
}

ws_loader_totals ws_loader_totals_get(const ws_loader *l) {
    ws_loader *m = (ws_loader *)l;
    pthread_mutex_lock(&m->mu);
    ws_loader_totals t = m->totals;
    pthread_mutex_unlock(&m->mu);
    return t;
}
