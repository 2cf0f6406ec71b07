/* CLIP's BPE on token ids: merge the lowest-ranked adjacent pair until none is ranked. */
#include "bpe.h"

#include <limits.h>

static int64_t pair_rank(const bcos_vocab *vocab, int32_t left, int32_t right) {
    int32_t key[2];
    bcos_vocab_pair_key(left, right, key);
    int64_t rank;
    return bcos_bytemap_get(vocab->ranks, key, sizeof key, &rank) ? rank : INT64_MAX;
}

/* Replaces every non-overlapping (left, right) pair, scanning left to right; returns the new count. */
static size_t merge_pair(int32_t *ids, size_t n, int32_t left, int32_t right, int32_t merged) {
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        if (i + 1 < n && ids[i] == left && ids[i + 1] == right) {
            ids[w++] = merged;
            i += 2;
        } else {
            ids[w++] = ids[i++];
        }
    }
    return w;
}

size_t bcos_bpe_encode(const bcos_vocab *vocab, const unsigned char *bytes, size_t n, int32_t *ids) {
    if (n == 0) return 0;
    for (size_t i = 0; i + 1 < n; i++) ids[i] = vocab->byte_symbol[bytes[i]];
    ids[n - 1] = vocab->byte_symbol_end[bytes[n - 1]];
    while (n > 1) {
        int64_t best = INT64_MAX;
        int32_t left = 0, right = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            int64_t rank = pair_rank(vocab, ids[i], ids[i + 1]);
            if (rank < best) {
                best = rank;
                left = ids[i];
                right = ids[i + 1];
            }
        }
        if (best == INT64_MAX) break;
        n = merge_pair(ids, n, left, right, vocab->merged[best]);
    }
    return n;
}
