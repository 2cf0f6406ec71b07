/* CLIP's byte-level BPE tokenizer, giving the ids open_clip's SimpleTokenizer gives (its default
 * "lower" cleaning). docs/TOKENIZER.md says which part of ftfy's text fixing is reproduced. */
#ifndef BCOS_TOKENIZER_H
#define BCOS_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* The context length of every CLIP text tower. */
#define BCOS_CONTEXT_LENGTH 77

typedef struct bcos_tokenizer bcos_tokenizer;

/* The tokenizer with CLIP's vocabulary (bpe_simple_vocab_16e6), embedded in the binary. */
bcos_tokenizer *bcos_tokenizer_load_default(void);

/* A tokenizer from a merges file in CLIP's format (gzip-compressed text; the first line is a
 * header, then one "left right" merge per line, of which the first 48,894 are used). Returns
 * NULL and a one-line message naming the file in err when it cannot be read or parsed. */
bcos_tokenizer *bcos_tokenizer_load(const char *path, char *err, size_t errlen);

void bcos_tokenizer_free(bcos_tokenizer *tok);

/* Number of token ids (49,408 for CLIP), and the ids of <start_of_text> and <end_of_text>. */
int bcos_tokenizer_vocab_size(const bcos_tokenizer *tok);
int32_t bcos_tokenizer_sot(const bcos_tokenizer *tok);
int32_t bcos_tokenizer_eot(const bcos_tokenizer *tok);

/* Tokenizes NUL-terminated UTF-8 text into ids_out[0 .. context_length): <start_of_text>, the
 * BPE tokens of the cleaned text, <end_of_text>, then zeros. Text too long is cut so that
 * <end_of_text> stays the last id. Bytes that are not valid UTF-8 are read as U+FFFD, as Python's
 * bytes.decode("utf-8", errors="replace") reads them. Returns the number of ids before the zero
 * padding. context_length must be at least 1. Safe to call from several threads at once. */
int bcos_tokenize(const bcos_tokenizer *tok, const char *utf8_text, int context_length, int32_t *ids_out);

/* The same for n bytes that may hold NUL characters (ftfy's cleaning removes them). */
int bcos_tokenize_bytes(const bcos_tokenizer *tok, const char *bytes, size_t n, int context_length,
                        int32_t *ids_out);

#endif
