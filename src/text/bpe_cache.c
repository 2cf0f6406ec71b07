/* A bounded memo of BPE results: pre-token bytes -> offset of [count, ids...] in one arena.
 * Only short pre-tokens are kept (long ones rarely repeat), and it starts over when full. */
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bpe.h"

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
