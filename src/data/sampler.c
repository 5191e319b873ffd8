/* data/sampler.c - the data-parallel sampler; contract and sharding rule in data/sampler.h.
 *
 * Random streams, all from ws_rng_seeded(seed) = root:
 *   subset, class k:  ws_rng_split(ws_rng_split(root, SUBSET_STREAM), k)
 *   epoch e:          ws_rng_split(ws_rng_split(root, EPOCH_STREAM), e)
 * Per-class and per-epoch streams make each draw independent of how much another consumed:
 * class 3's choice does not move when class 2 has more samples, and epoch 7's order needs
 * no replay of epochs 0..6 (resuming from a checkpoint gives the same order). */
#include "data/sampler.h"
#include "core/error.h"
#include "core/rng.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SUBSET_STREAM 0x737562736574ull /* "subset" */
#define EPOCH_STREAM 0x65706f6368ull    /* "epoch" */

/* The permutation of one epoch. Lives behind a pointer so that ws_sampler_batch, logically
 * const, can refill it through a const sampler (the reason it is not thread-safe). */
typedef struct {
    int valid;
    uint64_t epoch;
    int64_t *perm; /* [subset_n] */
} perm_cache;

struct ws_sampler {
    ws_sampler_opts o;
    size_t subset_n;
    int64_t *subset; /* [subset_n] dataset indices, ascending */
    size_t global_batch, steps;
    ws_rng epoch_rng; /* parent of the per-epoch streams */
    perm_cache *cache;
};

ws_sampler_opts ws_sampler_opts_default(void) {
    return (ws_sampler_opts){.seed = 0, .shuffle = 1, .drop_last = 0, .fraction = 1.0, .rank = 0, .world = 1,
                             .local_batch = 32};
}

static ws_status check_opts(const ws_sampler_opts *o, const int32_t *labels, size_t count, int classes,
                            ws_error *err) {
    if (!(o->fraction > 0.0 && o->fraction <= 1.0)) /* written so that NaN fails too */
        return wsi_error(err, WS_EINVAL, "ws_sampler_open: fraction %g is outside (0, 1]; 1 uses the whole dataset",
                         o->fraction);
    if (o->world < 1)
        return wsi_error(err, WS_EINVAL, "ws_sampler_open: world %d < 1; world is the number of data-parallel "
                         "ranks (1 for a single process)", o->world);
    if (o->rank < 0 || o->rank >= o->world)
        return wsi_error(err, WS_EINVAL, "ws_sampler_open: rank %d is outside [0, world=%d); pass this "
                         "process's rank among the data-parallel ranks", o->rank, o->world);
    if (o->local_batch < 1)
        return wsi_error(err, WS_EINVAL, "ws_sampler_open: local_batch %d < 1; it is the samples per rank per step",
                         o->local_batch);
    if (count == 0) return wsi_error(err, WS_EINVAL, "ws_sampler_open: the dataset is empty (count 0)");
    if (o->fraction < 1.0) {
        if (!labels)
            return wsi_error(err, WS_EINVAL, "ws_sampler_open: fraction %g needs the labels to stratify by class; "
                             "pass ws_dataset_labels(dataset)", o->fraction);
        if (classes < 1)
            return wsi_error(err, WS_EINVAL, "ws_sampler_open: classes %d < 1; pass the dataset's class count",
                             classes);
        for (size_t i = 0; i < count; i++)
            if (labels[i] < 0 || labels[i] >= classes)
                return wsi_error(err, WS_EINVAL, "ws_sampler_open: labels[%zu] = %" PRId32 " is outside [0, "
                                 "classes=%d); pass the dataset's class count", i, labels[i], classes);
    }
    return WS_OK;
}

/* Fills s->subset (ascending) with the stratified fraction; see sampler.h for the rule. */
static ws_status choose_subset(ws_sampler *s, const int32_t *labels, size_t count, int classes, ws_error *err) {
    if (s->o.fraction >= 1.0) {
        s->subset = malloc(count * sizeof *s->subset);
        if (!s->subset) return wsi_error(err, WS_ENOMEM, "ws_sampler_open: out of memory for %zu indices", count);
        for (size_t i = 0; i < count; i++) s->subset[i] = (int64_t)i;
        s->subset_n = count;
        return WS_OK;
    }
    /* bucket the indices by class (counting sort, dataset order kept within a class) */
    size_t *start = calloc((size_t)classes + 1, sizeof *start);
    int64_t *by_class = malloc(count * sizeof *by_class);
    unsigned char *keep = calloc(count, 1);
    if (!start || !by_class || !keep) {
        free(start);
        free(by_class);
        free(keep);
        return wsi_error(err, WS_ENOMEM, "ws_sampler_open: out of memory stratifying %zu samples", count);
    }
    for (size_t i = 0; i < count; i++) start[labels[i] + 1]++;
    for (int k = 0; k < classes; k++) start[k + 1] += start[k];
    size_t *fill = malloc((size_t)classes * sizeof *fill);
    if (!fill) {
        free(start);
        free(by_class);
        free(keep);
        return wsi_error(err, WS_ENOMEM, "ws_sampler_open: out of memory stratifying %zu samples", count);
    }
    memcpy(fill, start, (size_t)classes * sizeof *fill);
    for (size_t i = 0; i < count; i++) by_class[fill[labels[i]]++] = (int64_t)i;
    free(fill);

    ws_rng root = ws_rng_seeded(s->o.seed);
    ws_rng subset_rng = ws_rng_split(&root, SUBSET_STREAM);
    size_t total = 0;
    for (int k = 0; k < classes; k++) {
        int64_t *idx = by_class + start[k];
        size_t n = start[k + 1] - start[k];
        if (n == 0) continue;
        size_t take = (size_t)floor(s->o.fraction * (double)n + 0.5);
        if (take < 1) take = 1;
        if (take > n) take = n;
        /* partial Fisher-Yates: the first t picks do not depend on take, which is what
         * makes a smaller fraction's subset part of a larger one's */
        ws_rng r = ws_rng_split(&subset_rng, (uint64_t)k);
        for (size_t i = 0; i < take; i++) {
            size_t j = i + (size_t)ws_rng_below(&r, n - i);
            int64_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            keep[idx[i]] = 1;
        }
        total += take;
    }
    free(start);
    free(by_class);
    s->subset = malloc(total * sizeof *s->subset);
    if (!s->subset) {
        free(keep);
        return wsi_error(err, WS_ENOMEM, "ws_sampler_open: out of memory for %zu indices", total);
    }
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (keep[i]) s->subset[n++] = (int64_t)i;
    free(keep);
    s->subset_n = n;
    return WS_OK;
}

/* Everything after the subset is chosen: steps, epoch streams, the permutation buffer. */
static ws_status finish_open(ws_sampler *s, ws_error *err) {
    const ws_sampler_opts *o = &s->o;
    s->global_batch = (size_t)o->local_batch * (size_t)o->world;
    if (o->drop_last && s->subset_n < s->global_batch)
        return wsi_error(err, WS_EINVAL, "ws_sampler_open: the subset has %zu samples, fewer than one global batch of "
                         "%zu (local_batch %d x world %d), so drop_last leaves no step; lower local_batch, raise "
                         "fraction, or turn drop_last off", s->subset_n, s->global_batch, o->local_batch, o->world);
    s->steps = o->drop_last ? s->subset_n / s->global_batch
                            : (s->subset_n + s->global_batch - 1) / s->global_batch;
    ws_rng root = ws_rng_seeded(o->seed);
    s->epoch_rng = ws_rng_split(&root, EPOCH_STREAM);
    if (o->shuffle) {
        /* allocated here, not on the first batch: nothing allocates inside the step */
        s->cache = calloc(1, sizeof *s->cache);
        if (s->cache) s->cache->perm = malloc(s->subset_n * sizeof *s->cache->perm);
        if (!s->cache || !s->cache->perm)
            return wsi_error(err, WS_ENOMEM, "ws_sampler_open: out of memory for a %zu-sample permutation",
                             s->subset_n);
    }
    return WS_OK;
}

ws_status ws_sampler_open(ws_sampler **out, const int32_t *labels, size_t count, int classes,
                          const ws_sampler_opts *o, ws_error *err) {
    *out = NULL;
    ws_status st = check_opts(o, labels, count, classes, err);
    if (st != WS_OK) return st;
    ws_sampler *s = calloc(1, sizeof *s);
    if (!s) return wsi_error(err, WS_ENOMEM, "ws_sampler_open: out of memory");
    s->o = *o;
    st = choose_subset(s, labels, count, classes, err);
    if (st == WS_OK) st = finish_open(s, err);
    if (st != WS_OK) {
        ws_sampler_close(s);
        return st;
    }
    *out = s;
    return WS_OK;
}

ws_status ws_sampler_open_subset(ws_sampler **out, const int64_t *subset, size_t n, const ws_sampler_opts *o,
                                 ws_error *err) {
    *out = NULL;
    if (o->fraction != 1.0)
        return wsi_error(err, WS_EINVAL, "ws_sampler_open_subset: fraction %g: the subset is already the fraction, "
                         "pass 1", o->fraction);
    ws_status st = check_opts(o, NULL, n, 1, err);
    if (st != WS_OK) return st;
    for (size_t i = 1; i < n; i++)
        if (subset[i] <= subset[i - 1])
            return wsi_error(err, WS_EINVAL, "ws_sampler_open_subset: subset[%zu] = %" PRId64 " does not exceed "
                             "subset[%zu]; pass distinct indices in ascending order", i, subset[i], i - 1);
    if (n > 0 && subset[0] < 0)
        return wsi_error(err, WS_EINVAL, "ws_sampler_open_subset: negative index %" PRId64, subset[0]);
    ws_sampler *s = calloc(1, sizeof *s);
    if (!s) return wsi_error(err, WS_ENOMEM, "ws_sampler_open_subset: out of memory");
    s->o = *o;
    s->subset_n = n;
    s->subset = malloc(n * sizeof *s->subset);
    if (!s->subset) st = wsi_error(err, WS_ENOMEM, "ws_sampler_open_subset: out of memory for %zu indices", n);
    else memcpy(s->subset, subset, n * sizeof *s->subset);
    if (st == WS_OK) st = finish_open(s, err);
    if (st != WS_OK) {
        ws_sampler_close(s);
        return st;
    }
    *out = s;
    return WS_OK;
}

size_t ws_sampler_subset_size(const ws_sampler *s) { return s->subset_n; }
const int64_t *ws_sampler_subset(const ws_sampler *s) { return s->subset; }
size_t ws_sampler_steps_per_epoch(const ws_sampler *s) { return s->steps; }

/* The subset permuted for this epoch (Fisher-Yates from the epoch's own stream). */
static const int64_t *epoch_perm(const ws_sampler *s, uint64_t epoch) {
    if (!s->o.shuffle) return s->subset;
    perm_cache *c = s->cache;
    if (c->valid && c->epoch == epoch) return c->perm;
    memcpy(c->perm, s->subset, s->subset_n * sizeof *c->perm);
    ws_rng r = ws_rng_split(&s->epoch_rng, epoch);
    for (size_t i = s->subset_n - 1; i > 0; i--) {
        size_t j = (size_t)ws_rng_below(&r, (uint64_t)i + 1);
        int64_t t = c->perm[i];
        c->perm[i] = c->perm[j];
        c->perm[j] = t;
    }
    c->valid = 1;
    c->epoch = epoch;
    return c->perm;
}

size_t ws_sampler_batch(const ws_sampler *s, uint64_t epoch, size_t step, int64_t *indices) {
    if (step >= s->steps) return 0;
    const int64_t *perm = epoch_perm(s, epoch);
    size_t start = step * s->global_batch;
    size_t end = start + s->global_batch < s->subset_n ? start + s->global_batch : s->subset_n;
    size_t n = 0;
    for (size_t j = 0; j < (size_t)s->o.local_batch; j++) {
        size_t pos = start + j * (size_t)s->o.world + (size_t)s->o.rank;
        if (pos >= end) break;
        indices[n++] = perm[pos];
    }
    return n;
}

void ws_sampler_close(ws_sampler *s) {
    if (!s) return;
    if (s->cache) free(s->cache->perm);
    free(s->cache);
    free(s->subset);
    free(s);
}
