/* Byte-string keyed hash map: linear probing over a power-of-two slot array, at most half full;
 * keys live in one growing arena. */

#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "text_internal.h"

typedef struct {
    uint64_t hash;
    size_t key_offset;
    size_t key_len;
    int64_t value;
    bool used;
} slot;

struct bcos_bytemap {
    slot *slots;
    size_t capacity; /* a power of two */
    size_t count;
    unsigned char *keys;
    size_t keys_len, keys_cap;
};

/* FNV-1a, 64 bit. */
static uint64_t hash_bytes(const void *key, size_t len) {
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

bcos_bytemap *bcos_bytemap_new(size_t expected_count) {
    bcos_bytemap *map = xcalloc(1, sizeof *map);
    map->capacity = 16;
    while (map->capacity < 2 * expected_count) map->capacity *= 2;
    map->slots = xcalloc(map->capacity, sizeof *map->slots);
    return map;
}

void bcos_bytemap_free(bcos_bytemap *map) {
    if (!map) return;
    free(map->slots);
    free(map->keys);
    free(map);
}

void bcos_bytemap_clear(bcos_bytemap *map) {
    memset(map->slots, 0, map->capacity * sizeof *map->slots);
    map->count = 0;
    map->keys_len = 0;
}

size_t bcos_bytemap_count(const bcos_bytemap *map) {
    return map->count;
}

/* The slot holding key, or the empty slot where it would go. */
static slot *find_slot(const bcos_bytemap *map, const void *key, size_t len, uint64_t hash) {
    size_t mask = map->capacity - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        slot *s = &map->slots[i];
        if (!s->used) return s;
        if (s->hash == hash && s->key_len == len && memcmp(map->keys + s->key_offset, key, len) == 0) return s;
    }
}

static void grow(bcos_bytemap *map) {
    slot *old = map->slots;
    size_t old_capacity = map->capacity;
    map->capacity *= 2;
    map->slots = xcalloc(map->capacity, sizeof *map->slots);
    for (size_t i = 0; i < old_capacity; i++) {
        if (!old[i].used) continue;
        size_t mask = map->capacity - 1, j = (size_t)old[i].hash & mask;
        while (map->slots[j].used) j = (j + 1) & mask;
        map->slots[j] = old[i];
    }
    free(old);
}

static size_t store_key(bcos_bytemap *map, const void *key, size_t len) {
    if (map->keys_len + len > map->keys_cap) {
        size_t cap = map->keys_cap ? map->keys_cap : 256;
        while (cap < map->keys_len + len) cap *= 2;
        map->keys = xrealloc(map->keys, cap);
        map->keys_cap = cap;
    }
    size_t offset = map->keys_len;
    if (len) memcpy(map->keys + offset, key, len);
    map->keys_len += len;
    return offset;
}

void bcos_bytemap_put(bcos_bytemap *map, const void *key, size_t len, int64_t value) {
    if (2 * (map->count + 1) > map->capacity) grow(map);
    uint64_t hash = hash_bytes(key, len);
    slot *s = find_slot(map, key, len, hash);
    if (!s->used) {
        *s = (slot){.hash = hash, .key_offset = store_key(map, key, len), .key_len = len, .used = true};
        map->count++;
    }
    s->value = value;
}

bool bcos_bytemap_get(const bcos_bytemap *map, const void *key, size_t len, int64_t *value) {
    slot *s = find_slot(map, key, len, hash_bytes(key, len));
    if (!s->used) return false;
    *value = s->value;
    return true;
}
