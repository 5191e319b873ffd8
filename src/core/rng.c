/* core/rng.c - xoshiro256** (Blackman and Vigna) seeded through splitmix64; contract in
 * core/rng.h. No cached second normal: the state alone is the whole generator, so a
 * checkpoint that stores it resumes bit-identically. */
#include "core/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

ws_rng ws_rng_seeded(uint64_t seed) {
    ws_rng r;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r.s[i] = splitmix64(&x);
    return r;
}

ws_rng ws_rng_split(const ws_rng *r, uint64_t stream) {
    uint64_t x = r->s[0] ^ (r->s[1] << 1) ^ (r->s[2] << 2) ^ (r->s[3] << 3) ^ (stream * 0xD1B54A32D192ED03ull);
    ws_rng out;
    for (int i = 0; i < 4; i++) out.s[i] = splitmix64(&x);
    return out;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ws_rng_u64(ws_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ws_rng_uniform(ws_rng *r) { return (double)(ws_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t ws_rng_below(ws_rng *r, uint64_t n) {
    /* rejection of the short last bucket keeps it unbiased */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = ws_rng_u64(r); while (x >= limit);
    return x % n;
}

double ws_rng_normal(ws_rng *r) {
    double u1 = 1.0 - ws_rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = ws_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
