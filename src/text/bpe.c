/* CLIP's BPE on token ids: merge the lowest-ranked adjacent pair until none is ranked; and a
 * bounded memo of its results: pre-token bytes -> offset of [count, ids...] in one arena. Only
 * short pre-tokens are kept (long ones rarely repeat), and the memo starts over when full. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "text_internal.h"

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

#define CACHE_MAX_TOKEN_BYTES 64
#define CACHE_MAX_ENTRIES 65536

struct bcos_bpe_cache {
    bcos_bytemap *offsets;
    int32_t *arena;
    size_t arena_len, arena_cap;
};

bcos_bpe_cache *bcos_bpe_cache_new(void) {
    bcos_bpe_cache *cache = xcalloc(1, sizeof *cache);
    cache->offsets = bcos_bytemap_new(1024);
    return cache;
}

void bcos_bpe_cache_free(bcos_bpe_cache *cache) {
    if (!cache) return;
    bcos_bytemap_free(cache->offsets);
    free(cache->arena);
    free(cache);
}

bool bcos_bpe_cache_get(const bcos_bpe_cache *cache, const unsigned char *bytes, size_t n,
                        const int32_t **ids, size_t *count) {
    int64_t offset;
    if (!bcos_bytemap_get(cache->offsets, bytes, n, &offset)) return false;
    *count = (size_t)cache->arena[offset];
    *ids = cache->arena + offset + 1;
    return true;
}

void bcos_bpe_cache_put(bcos_bpe_cache *cache, const unsigned char *bytes, size_t n,
                        const int32_t *ids, size_t count) {
    if (n > CACHE_MAX_TOKEN_BYTES) return;
    if (bcos_bytemap_count(cache->offsets) >= CACHE_MAX_ENTRIES) {
        bcos_bytemap_clear(cache->offsets);
        cache->arena_len = 0;
    }
    if (cache->arena_len + count + 1 > cache->arena_cap) {
        size_t cap = cache->arena_cap ? cache->arena_cap : 4096;
        while (cap < cache->arena_len + count + 1) cap *= 2;
        cache->arena = xrealloc(cache->arena, cap * sizeof *cache->arena);
        cache->arena_cap = cap;
    }
    size_t offset = cache->arena_len;
    cache->arena[offset] = (int32_t)count;
    memcpy(cache->arena + offset + 1, ids, count * sizeof *ids);
    cache->arena_len += count + 1;
    bcos_bytemap_put(cache->offsets, bytes, n, (int64_t)offset);
}
