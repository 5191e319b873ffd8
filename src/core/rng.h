/* core/rng.h - a seeded, reproducible random number generator (xoshiro256**, seeded by
 * splitmix64), the only source of randomness in wattscale: the same seed gives the same
 * weights, data order and augmentation on every machine.
 * defines: ws_rng (a value type: copy it to fork a stream, store it in checkpoints),
 * ws_rng_seeded, ws_rng_u64, ws_rng_uniform, ws_rng_normal, ws_rng_below, ws_rng_split. */
#ifndef WS_CORE_RNG_H
#define WS_CORE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} ws_rng;

ws_rng ws_rng_seeded(uint64_t seed);
/* An independent stream derived from r and a stream id (r is not advanced): e.g. one per
 * epoch or per rank, so that streams do not depend on how much another consumed. */
ws_rng ws_rng_split(const ws_rng *r, uint64_t stream);
uint64_t ws_rng_u64(ws_rng *r);
double ws_rng_uniform(ws_rng *r);            /* [0, 1), 53 bits */
uint64_t ws_rng_below(ws_rng *r, uint64_t n); /* uniform in [0, n), unbiased; n > 0 */
double ws_rng_normal(ws_rng *r);             /* standard normal (Box-Muller, no caching) */

#endif
