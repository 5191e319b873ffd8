/* data/sampler.h - which dataset indices each data-parallel rank trains on, step by step.
 * defines: ws_sampler_opts, ws_sampler_opts_default, ws_sampler (opaque), ws_sampler_open,
 *          ws_sampler_open_subset, ws_sampler_subset_size, ws_sampler_subset, ws_sampler_steps_per_epoch,
 *          ws_sampler_batch, ws_sampler_close. Implementation: data/sampler.c.
 *
 * Model: a fixed subset of the dataset (the `fraction`, chosen once per run), permuted
 * anew each epoch, cut into global batches of G = local_batch * world samples. Global
 * batch k of an epoch is perm[k*G, (k+1)*G); rank r takes the interleaved elements
 * perm[k*G + j*world + r], j = 0..local_batch-1 (PyTorch DistributedSampler's
 * indices[rank::world], applied per global batch rather than per epoch). The permutation
 * depends on (seed, epoch, subset) only, never on rank, world or local_batch, so:
 *   - every rank computes the same permutation without talking to the others;
 *   - the union of the ranks' batches at a step is exactly the batch that one process with
 *     local_batch*world samples gets at that step, which is what makes a data-parallel run
 *     comparable sample for sample with a single-process run of the same global batch.
 *
 * Last step with drop_last 0: the last global batch has m = subset % G samples (when
 * nonzero) and rank r gets those of its slots that exist: between floor(m/world) and
 * ceil(m/world) samples, possibly 0 when m < world. Nothing is padded or repeated (unlike
 * DistributedSampler), so every sample is seen exactly once per epoch; a trainer must
 * weigh each rank's gradient by its sample count (and cope with a rank that has none).
 *
 * Thread-safety: ws_sampler_batch caches the permutation of the last epoch asked for
 * inside the sampler (one O(subset) shuffle per epoch instead of per step). It is
 * therefore NOT thread-safe: use one sampler per thread, or serialise the calls. */
#ifndef WS_DATA_SAMPLER_H
#define WS_DATA_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "wattscale/status.h"

typedef struct {
    uint64_t seed;    /* for the subset and the epoch permutations */
    int shuffle;      /* 1: per-epoch permutation from (seed, epoch); 0: the subset in
                         dataset order every epoch */
    int drop_last;    /* 1: drop the incomplete last global batch */
    double fraction;  /* (0,1]: class-stratified subset, fixed for the run (see below) */
    int rank, world;  /* this rank among world data-parallel ranks: 0 <= rank < world */
    int local_batch;  /* samples per rank per step */
} ws_sampler_opts;

/* seed 0, shuffle 1, drop_last 0, fraction 1, rank 0, world 1, local_batch 32. */
ws_sampler_opts ws_sampler_opts_default(void);

typedef struct ws_sampler ws_sampler; /* opaque: fields live in data/sampler.c */

/* labels: count labels in [0, classes) (ws_dataset_labels); may be NULL when fraction is 1.
 *
 * Fraction, for the study's growing-dataset series: from each class k with n_k > 0
 * samples, keep round(fraction * n_k) of them, rounding halves up, i.e.
 * floor(fraction * n_k + 0.5) computed in double, and at least 1; which ones is a seeded
 * shuffle of the class, one random stream per class. Hence:
 *   - per-class proportions are kept to within half a sample (Fashion-MNIST's 6000 per
 *     class at fraction 0.1: exactly 600 each);
 *   - the subset is fixed for a seed: the same in every epoch and on every rank;
 *   - subsets are nested: with the same seed and labels, a larger fraction keeps a
 *     superset of a smaller one's samples, so the series grows the data rather than
 *     redrawing it.
 * fraction 1 keeps everything (no randomness involved).
 *
 * Errors (WS_EINVAL, naming the option and the fix): fraction outside (0,1]; world < 1;
 * rank outside [0, world); local_batch < 1; count 0; labels NULL with fraction < 1;
 * classes < 1 or a label outside [0, classes); drop_last with a subset smaller than one
 * global batch (no step at all). WS_ENOMEM. On error *out is NULL. */
ws_status ws_sampler_open(ws_sampler **out, const int32_t *labels, size_t count, int classes,
                          const ws_sampler_opts *o, ws_error *err);

/* The same sampler over a subset the caller chose (e.g. ws_fields_subset: times spread
 * evenly over each year): subset holds n distinct dataset indices, ascending; it is copied.
 * o->fraction must be 1 (the subset already is the fraction). Errors as above, plus
 * WS_EINVAL for a fraction other than 1 or a subset not strictly ascending. */
ws_status ws_sampler_open_subset(ws_sampler **out, const int64_t *subset, size_t n, const ws_sampler_opts *o,
                                 ws_error *err);

size_t ws_sampler_subset_size(const ws_sampler *s); /* samples after the fraction */
/* The subset's dataset indices, ascending, subset_size entries; owned by the sampler. */
const int64_t *ws_sampler_subset(const ws_sampler *s);
/* Global steps per epoch: subset / G, rounded down with drop_last, else up. */
size_t ws_sampler_steps_per_epoch(const ws_sampler *s);

/* This rank's dataset indices for step `step` of epoch `epoch` (any order of epochs and
 * steps is fine; revisiting an older epoch recomputes its permutation). Writes up to
 * local_batch indices and returns how many: local_batch, except at the short last step
 * (drop_last 0; see top), and 0 for step >= steps_per_epoch. Not thread-safe (see top). */
size_t ws_sampler_batch(const ws_sampler *s, uint64_t epoch, size_t step, int64_t *indices);

void ws_sampler_close(ws_sampler *s); /* NULL is a no-op */

#endif
