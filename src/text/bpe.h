/* Byte-pair encoding of one pre-token, and a memo of its results. */
#ifndef BCOS_TEXT_BPE_H
#define BCOS_TEXT_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vocab.h"

/* Encodes the n > 0 UTF-8 bytes of one pre-token: one symbol per byte, the last one marked
 * end-of-word, then repeatedly the pair of lowest merge rank is merged everywhere (left to right)
 * until no ranked pair is left. Writes the ids to ids (room for n) and returns their count. */
size_t bcos_bpe_encode(const bcos_vocab *vocab, const unsigned char *bytes, size_t n, int32_t *ids);

/* Results of bcos_bpe_encode by pre-token. Bounded: it empties itself when full. Not
 * thread-safe; the tokenizer guards it. */
typedef struct bcos_bpe_cache bcos_bpe_cache;

bcos_bpe_cache *bcos_bpe_cache_new(void);
void bcos_bpe_cache_free(bcos_bpe_cache *cache);
/* The cached ids of a pre-token: returns false when absent. *ids stays valid until the next put. */
bool bcos_bpe_cache_get(const bcos_bpe_cache *cache, const unsigned char *bytes, size_t n,
                        const int32_t **ids, size_t *count);
void bcos_bpe_cache_put(bcos_bpe_cache *cache, const unsigned char *bytes, size_t n,
                        const int32_t *ids, size_t count);

#endif
