/* train/upload.c - training batches copied to the GPU while the previous step computes;
 * contract in train/upload.h.
 *
 * A slot moves FREE -> STAGED (a loader batch assigned, its copy enqueued on the copy
 * stream) -> IN_USE (handed out by next; the caller enqueues its readers) -> FREE (done:
 * `read` recorded after the readers). A FREE slot may still hold a device batch of the
 * loader (nvJPEG), read in place: it goes back to the loader when the slot is taken again,
 * after `read` has completed. At most one batch is copied ahead (one slot STAGED, the other
 * the one the step in flight read), so the loader's ring keeps the rest of its buffers for
 * decoding. */
#include "train/upload.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "ops/mem.h"

#include <stdlib.h>
#include <string.h>

typedef enum { SLOT_FREE, SLOT_STAGED, SLOT_IN_USE } slot_state;

typedef struct {
    slot_state state;
    ws_batch *b;           /* the loader batch it holds (host: until the copy is seen done;
                              device: until `read` is seen done) */
    void *d_x;             /* max_batch samples, the exec's memory */
    int32_t *d_labels;     /* [max_batch] */
    ws_cuda_event *copied; /* copy stream: its copy is done */
    ws_cuda_event *read;   /* compute stream: its readers are done */
    unsigned long ticket;  /* when it was last staged: the oldest staged goes out first */
} slot;

struct wsi_upload {
    ws_exec ex;
    ws_cuda_ctx *cuda; /* NULL on the CPU: no streams, no events */
    ws_loader *loader;
    size_t max_batch, sample_bytes;
    int ahead;
    slot slots[WSI_UPLOAD_SLOTS];
    unsigned long tickets;
    wsi_upload_stats stats;
};

/* The slot's earlier device batch back to the loader, once its readers are done. */
static void reclaim(wsi_upload *u, slot *s) {
    if (!s->b) return;
    if (u->cuda) ws_cuda_event_sync(s->read);
    ws_loader_release(u->loader, s->b);
    s->b = NULL;
}

/* The slot in `state` staged longest ago, or NULL: of the staged ones the next to hand
 * out; of the free ones the one whose readers are the likeliest to be done. */
static slot *oldest(wsi_upload *u, slot_state state) {
    slot *best = NULL;
    for (int i = 0; i < WSI_UPLOAD_SLOTS; i++) {
        slot *s = &u->slots[i];
        if (s->state == state && (!best || s->ticket < best->ticket)) best = s;
    }
    return best;
}

/* Batch b into free slot s (reclaimed): the copy stream waits for the slot's last readers
 * (rule b), copies samples (unless the loader made them on the device) and labels, and
 * marks the end (`copied`). */
static void stage(wsi_upload *u, slot *s, ws_batch *b) {
    if (u->cuda) ws_cuda_copy_wait_event(u->cuda, s->read);
    if (!b->x_on_device) ws_mem_upload_async_copy_stream(&u->ex, s->d_x, b->x, b->n * u->sample_bytes);
    ws_mem_upload_async_copy_stream(&u->ex, s->d_labels, b->labels, b->n * sizeof(int32_t));
    if (u->cuda) ws_cuda_event_record_copy(u->cuda, s->copied);
    s->b = b;
    s->state = SLOT_STAGED;
    s->ticket = ++u->tickets;
}

ws_status wsi_upload_open(wsi_upload **out, const ws_exec *ex, ws_loader *loader, size_t max_batch, size_t sample_bytes,
                          int ahead, ws_error *err) {
    *out = NULL;
    wsi_upload *u = calloc(1, sizeof *u);
    if (!u) return wsi_error(err, WS_ENOMEM, "upload slots: out of memory");
    u->ex = *ex;
    u->cuda = ex->device == WS_DEVICE_CUDA ? ex->cuda : NULL;
    u->loader = loader;
    u->max_batch = max_batch;
    u->sample_bytes = sample_bytes;
    u->ahead = ahead;
    ws_status st = WS_OK;
    for (int i = 0; i < WSI_UPLOAD_SLOTS && st == WS_OK; i++) {
        slot *s = &u->slots[i];
        st = ws_mem_alloc(ex, max_batch * sample_bytes, "upload slot (a batch on its way in)", &s->d_x, err);
        if (st == WS_OK)
            st = ws_mem_alloc(ex, max_batch * sizeof(int32_t), "upload slot labels", (void **)&s->d_labels, err);
        if (st == WS_OK && u->cuda) st = ws_cuda_event_create(&s->copied, err);
        if (st == WS_OK && u->cuda) st = ws_cuda_event_create(&s->read, err);
    }
    if (st != WS_OK) {
        wsi_upload_close(u);
        return st;
    }
    *out = u;
    return WS_OK;
}

ws_status wsi_upload_next(wsi_upload *u, wsi_device_batch *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < WSI_UPLOAD_SLOTS; i++)
        if (u->slots[i].state == SLOT_IN_USE)
            return wsi_error(err, WS_ESTATE, "wsi_upload_next: the last batch was not marked done (wsi_upload_done)");
    slot *s = oldest(u, SLOT_STAGED);
    if (s) {
        u->stats.ahead++;
    } else {
        s = oldest(u, SLOT_FREE);
        reclaim(u, s);
        ws_batch *b = NULL;
        ws_status st = ws_loader_next(u->loader, &b, err);
        if (st != WS_OK) return st;
        if (!b) return WS_OK; /* the runs are over */
        out->loader_wait_s = b->wait_s;
        u->stats.loader_wait_s += b->wait_s;
        stage(u, s, b);
    }
    ws_batch *b = s->b;
    if (u->cuda) {
        /* exposed CPU->GPU time: nothing to wait for when the copy ran during the last step */
        double t0 = ws_now_s();
        ws_cuda_event_sync(s->copied);
        u->stats.copy_wait_s += ws_now_s() - t0;
        ws_cuda_wait_event(u->cuda, s->copied); /* rule a */
    }
    out->x = b->x_on_device ? b->x : s->d_x;
    out->labels = s->d_labels;
    out->n = b->n;
    out->epoch = b->epoch;
    out->seq = b->seq;
    if (!b->x_on_device) { /* rule c: copied, so the loader may refill it */
        ws_loader_release(u->loader, b);
        s->b = NULL;
    }
    s->state = SLOT_IN_USE;
    u->stats.batches++;
    return WS_OK;
}

void wsi_upload_done(wsi_upload *u) {
    for (int i = 0; i < WSI_UPLOAD_SLOTS; i++) {
        slot *s = &u->slots[i];
        if (s->state != SLOT_IN_USE) continue;
        if (u->cuda) ws_cuda_event_record(u->cuda, s->read);
        s->state = SLOT_FREE;
    }
}

ws_status wsi_upload_ahead(wsi_upload *u, ws_cuda_event *busy, ws_error *err) {
    if (!u->ahead || oldest(u, SLOT_STAGED)) return WS_OK;
    slot *s = oldest(u, SLOT_FREE);
    if (!s) return WS_OK;
    reclaim(u, s); /* its readers were enqueued before busy: waiting for them is no loss */
    double t0 = ws_now_s();
    ws_status st = WS_OK;
    for (;;) {
        if (ws_loader_remaining(u->loader) == 0) break;
        ws_batch *b = NULL;
        int watch = busy && u->cuda;
        if ((st = ws_loader_next_within(u->loader, &b, watch ? WSI_UPLOAD_POLL_S : -1, err)) != WS_OK) break;
        if (b) {
            stage(u, s, b);
            break;
        }
        if (!watch || ws_cuda_event_done(busy)) break; /* the GPU waits for nothing: stop here */
    }
    u->stats.loader_wait_overlapped_s += ws_now_s() - t0;
    return st;
}

void wsi_upload_drop(wsi_upload *u) {
    if (!u) return;
    for (int i = 0; i < WSI_UPLOAD_SLOTS; i++) {
        slot *s = &u->slots[i];
        if (s->state == SLOT_STAGED) {
            if (u->cuda) ws_cuda_event_sync(s->copied);
            ws_loader_release(u->loader, s->b);
            s->b = NULL;
            s->state = SLOT_FREE;
        }
        reclaim(u, s);
    }
}

wsi_upload_stats wsi_upload_stats_get(const wsi_upload *u) { return u ? u->stats : (wsi_upload_stats){0}; }

void wsi_upload_close(wsi_upload *u) {
    if (!u) return;
    /* a batch handed out and not marked done (a step that failed) may still be read */
    ws_exec_sync(&u->ex, NULL);
    for (int i = 0; i < WSI_UPLOAD_SLOTS; i++)
        if (u->slots[i].state == SLOT_IN_USE) u->slots[i].state = SLOT_FREE;
    wsi_upload_drop(u);
    for (int i = 0; i < WSI_UPLOAD_SLOTS; i++) {
        slot *s = &u->slots[i];
        ws_mem_free(&u->ex, s->d_x, u->max_batch * u->sample_bytes);
        ws_mem_free(&u->ex, s->d_labels, u->max_batch * sizeof(int32_t));
        ws_cuda_event_free(s->copied);
        ws_cuda_event_free(s->read);
    }
    free(u);
}
