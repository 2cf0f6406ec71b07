/* The rest of an epoch as a value: which samples a shard piece reads, the (seed, epoch) shard
 * permutation and the whole epoch as a rest (every shard whole, in that order), the known samples
 * left in a rest, and freeing. */
#include "bcos/shard_plan.h"

#include "loader_impl.h"

#include "bcos/check.h"
#include "bcos/rng.h"

#include <stdlib.h>
#include <string.h>

bool bcos_shard_piece_has(const bcos_shard_piece *piece, long index) {
    if (index >= piece->from) return true;
    long lo = 0, hi = piece->n_extra;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (piece->extra[mid] < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < piece->n_extra && piece->extra[lo] == index;
}

long bcos_shard_piece_samples(const bcos_shard_piece *piece, long shard_samples) {
    long after = piece->from < shard_samples ? shard_samples - piece->from : 0;
    return after + piece->n_extra;
}

void bcos_shard_permutation(int *perm, int n, uint64_t seed, uint64_t epoch) {
    bcos_rng rng;
    bcos_rng_seed_stream(&rng, seed, epoch);
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)bcos_rng_below(&rng, (uint64_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

void bcos_epoch_rest_whole(bcos_epoch_rest *rest, int n_shards, uint64_t seed, uint64_t epoch) {
    int *perm = xmalloc((size_t)(n_shards > 0 ? n_shards : 1) * sizeof *perm);
    bcos_shard_permutation(perm, n_shards, seed, epoch);
    rest->epoch = epoch;
    rest->n = n_shards;
    rest->pieces = xcalloc((size_t)(n_shards > 0 ? n_shards : 1), sizeof *rest->pieces);
    for (int i = 0; i < n_shards; i++) rest->pieces[i].shard = perm[i];
    free(perm);
}

void bcos_epoch_rest_free(bcos_epoch_rest *rest) {
    for (int i = 0; i < rest->n; i++) free(rest->pieces[i].extra);
    free(rest->pieces);
    memset(rest, 0, sizeof *rest);
}

long bcos_epoch_rest_samples(const bcos_epoch_rest *rest, const long *shard_samples) {
    long total = 0;
    for (int i = 0; i < rest->n; i++) total += bcos_shard_piece_samples(&rest->pieces[i], shard_samples[rest->pieces[i].shard]);
    return total;
}
