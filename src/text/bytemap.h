/* An open-addressing hash map from byte strings to 64-bit values (the tokenizer's vocabulary,
 * merge ranks and BPE cache). Keys are copied. */
#ifndef BCOS_TEXT_BYTEMAP_H
#define BCOS_TEXT_BYTEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bcos_bytemap bcos_bytemap;

bcos_bytemap *bcos_bytemap_new(size_t expected_count);
void bcos_bytemap_free(bcos_bytemap *map);
/* Removes every entry, keeping the allocations. */
void bcos_bytemap_clear(bcos_bytemap *map);
size_t bcos_bytemap_count(const bcos_bytemap *map);
/* Inserts key, or overwrites its value when it is present. */
void bcos_bytemap_put(bcos_bytemap *map, const void *key, size_t len, int64_t value);
bool bcos_bytemap_get(const bcos_bytemap *map, const void *key, size_t len, int64_t *value);

#endif
