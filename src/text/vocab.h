/* CLIP's BPE vocabulary, built from the merges file (bpe_simple_vocab_16e6.txt.gz). */
#ifndef BCOS_TEXT_VOCAB_H
#define BCOS_TEXT_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "bytemap.h"

/* Symbols are token ids. Ids are assigned as open_clip does: the 256 byte symbols, the same with
 * "</w>", one per merge in file order, then <start_of_text> and <end_of_text>. Where two entries
 * spell the same string the later id is the string's id, as in open_clip's dict. */
typedef struct {
    bcos_bytemap *ranks;             /* (left id, right id) as two int32 -> merge rank */
    int32_t *merged;                 /* merge rank -> id of the merged symbol */
    int32_t byte_symbol[256];        /* byte -> id of its symbol */
    int32_t byte_symbol_end[256];    /* byte -> id of its symbol with "</w>" */
    int32_t size;                    /* number of ids */
    int32_t sot, eot;
} bcos_vocab;

/* Merge lines open_clip reads: lines 1 .. 49152-256-2 of the file (line 0 is a header). */
#define BCOS_VOCAB_MAX_MERGES (49152 - 256 - 2)

/* Builds the vocabulary from a gzip- (or zlib-) compressed merges file in memory. Returns NULL
 * and a one-line message in err when the data is not such a file. */
bcos_vocab *bcos_vocab_from_gzip(const unsigned char *gz, size_t n, char *err, size_t errlen);
void bcos_vocab_free(bcos_vocab *vocab);

/* The key of the pair (left, right) in vocab->ranks. */
static inline void bcos_vocab_pair_key(int32_t left, int32_t right, int32_t key[2]) {
    key[0] = left;
    key[1] = right;
}

#endif
