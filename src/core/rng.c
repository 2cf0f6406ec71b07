/* xoshiro256** (Blackman & Vigna) with splitmix64 seeding; derived distributions. */
#include "bcos/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void bcos_rng_seed(bcos_rng *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

void bcos_rng_seed_stream(bcos_rng *rng, uint64_t seed, uint64_t stream) {
    uint64_t x = stream;
    bcos_rng_seed(rng, seed ^ splitmix64(&x));
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t bcos_rng_u64(bcos_rng *rng) {
    uint64_t *s = rng->s;
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

float bcos_rng_uniform(bcos_rng *rng) { return (float)(bcos_rng_u64(rng) >> 40) * (1.0f / 16777216.0f); }

uint64_t bcos_rng_below(bcos_rng *rng, uint64_t n) {
    if (n == 0) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* reject the biased tail */
    uint64_t r;
    do r = bcos_rng_u64(rng);
    while (r >= limit);
    return r % n;
}

float bcos_rng_normal(bcos_rng *rng) {
    /* u1 in (0, 1] so the log is finite. */
    double u1 = ((double)(bcos_rng_u64(rng) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(bcos_rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void bcos_rng_fill_normal(bcos_rng *rng, float *out, size_t n, float mean, float std) {
    for (size_t i = 0; i < n; i++) out[i] = mean + std * bcos_rng_normal(rng);
}

void bcos_rng_fill_uniform(bcos_rng *rng, float *out, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) out[i] = lo + (hi - lo) * bcos_rng_uniform(rng);
}
