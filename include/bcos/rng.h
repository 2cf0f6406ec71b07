/* A seedable, reproducible random number generator (xoshiro256**, seeded through splitmix64).
 * Its whole state is four integers, so a checkpoint can store and restore it exactly. */
#ifndef BCOS_RNG_H
#define BCOS_RNG_H

#include <stdint.h>
#include <stddef.h>

typedef struct {
    uint64_t s[4];
} bcos_rng;

void bcos_rng_seed(bcos_rng *rng, uint64_t seed);
/* An independent stream derived from (seed, stream), e.g. one per sample or per rank. */
void bcos_rng_seed_stream(bcos_rng *rng, uint64_t seed, uint64_t stream);
uint64_t bcos_rng_u64(bcos_rng *rng);
/* Uniform in [0, 1) with 24 random bits (exact in float). */
float bcos_rng_uniform(bcos_rng *rng);
/* Uniform integer in [0, n), unbiased. */
uint64_t bcos_rng_below(bcos_rng *rng, uint64_t n);
/* Standard normal (Box-Muller, one value per call so the state alone describes the stream). */
float bcos_rng_normal(bcos_rng *rng);
void bcos_rng_fill_normal(bcos_rng *rng, float *out, size_t n, float mean, float std);
void bcos_rng_fill_uniform(bcos_rng *rng, float *out, size_t n, float lo, float hi);

#endif
