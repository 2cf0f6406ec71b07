/* What the distill shard source (distill_source_shards.c) is built of: the loader's sample function
 * that turns a WebDataset sample into a batch slot (distill_shard_sample.c); the shards' known
 * sample counts (bcos/shard_sizes.h) feed the epoch plans. */
#ifndef BCOS_DISTILL_SHARDS_H
#define BCOS_DISTILL_SHARDS_H

#include <stddef.h>
#include <stdint.h>

#include "bcos/loader.h"
#include "bcos/tokenizer.h"

/* A slot: the S x S x 3 crop, then the caption's context_length token ids (all zero: none). */
typedef struct {
    bcos_image_sample_config image; /* the 8-bit crop at the teacher's size */
    int context_length;
    const bcos_tokenizer *tok;      /* NULL: captions are not read (no text term) */
} distill_sample_config;

size_t distill_sample_bytes(const distill_sample_config *c);
/* A bcos_sample_fn; ctx is a const distill_sample_config *. The image member is decoded and
 * cropped; the first line of the .txt member, when there is one and it is not empty, is the
 * caption. */
bcos_sample_verdict distill_sample(void *ctx, const bcos_sample *s, void *out, int *label, char *msg,
                                   size_t msg_len);
/* A slot's caption ids into ids (context_length of them); 1 when it has a caption, else 0. */
int distill_sample_caption(const distill_sample_config *c, const void *slot, int32_t *ids);

#endif
