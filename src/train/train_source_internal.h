/* Where a training run's batches come from (distill's and pretrain's): one small interface, two sources. A source yields
 * this rank's share of the next batch (8-bit S x S crops and, per slot, its caption) and counts what
 * its data path skipped, retried and lost; it calls no model, no store and no other rank. The run
 * (distill.c) embeds the captions, sums the counters over the ranks and has the store record them.
 * A source also says where it stands, for a checkpoint, and takes that up again on a resume.
 *   images: an in-memory set, its order a function of (seed, sample index) (train_source_images.c);
 *   shards: WebDataset shards streamed through the epoch loader (train_source_shards.c). */
#ifndef BCOS_TRAIN_SOURCE_INTERNAL_H
#define BCOS_TRAIN_SOURCE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "bcos/distill.h"
#include "bcos/image.h"
#include "bcos/loader.h"
#include "bcos/store.h"
#include "bcos/tokenizer.h"

/* What a source knows of the run: this rank's place in the world and the batch's shape. */
typedef struct {
    int rank, world;
    int B, B_global;    /* this rank's share of each batch, and the world's whole batch */
    int S;              /* the crops' side: the teacher's image size */
    int E;              /* the embeddings' width */
    int context_length; /* caption token ids per slot */
} distill_shape;

/* This rank's share of a batch, in buffers the run owns. */
typedef struct {
    uint8_t *crops;       /* B x S x S x 3 */
    int *has_caption;     /* per slot */
    int32_t *ids;         /* B x context_length: a captioned slot's token ids (when !embedded) */
    float *caption_emb;   /* B x E: a captioned slot's text embedding, filled by the source when
                           * embedded (an in-memory set's captions, embedded once by the run), else
                           * by the run's step from ids */
    int embedded;
    int64_t epoch;        /* the batch's epoch; at DISTILL_EPOCH_END, the epoch that ended */
    bcos_sample_origin *origins; /* B: where each sample came from, when has_origins */
    int has_origins;
} distill_batch;

/* What a source's data path counted, in this process since it started (the counts never go back):
 * the loader's skips by verdict, then the fixed counters below, then per shard the known samples
 * lost with it, then per shard its losses whose sample count was not known. */
enum { DISTILL_RETRIES = BCOS_SKIP_REASONS, /* shard transfers retried */
       DISTILL_RESTARTS,                    /* loader workers that started over on their shards */
       DISTILL_SIZES_RETRIES,               /* transfers of sizes.json and counting passes retried */
       DISTILL_FIXED_COUNTERS };
typedef struct {
    const int64_t *values;   /* n of them */
    size_t n;                /* DISTILL_FIXED_COUNTERS + 2 x shards */
    long shards;
    const char *const *urls; /* the shards', for the events that name them */
    const long *counts;      /* their known sample counts */
} distill_counters;

/* What next_batch returns besides -1 (an error). */
enum { DISTILL_GOT_BATCH = 0, DISTILL_WAITING = 1, DISTILL_EPOCH_END = 2 };

typedef struct train_source train_source;
struct train_source {
    /* This rank's share of the next batch into *b, the run having drawn samples_seen samples so far.
     * Returns DISTILL_GOT_BATCH; DISTILL_WAITING when none came within wait_ms (nothing taken: ask
     * again); DISTILL_EPOCH_END when an epoch just ended (nothing taken: the counters hold its whole
     * count now, b->epoch says which; ask again for the next one's); or -1 with err (shards that
     * cannot feed the run). */
    int (*next_batch)(train_source *s, int64_t samples_seen, distill_batch *b, long wait_ms, char *err,
                      size_t errlen);
    /* The epoch of the next batch, and this rank's data position as a JSON object (heap). */
    char *(*position)(train_source *s, int64_t samples_seen, int64_t *epoch);
    /* Take up the position a checkpoint of this run recorded, on any number of ranks (c->world_size
     * says how many wrote it). note gets a line for the run's events when the data was laid out
     * anew (else it is left empty). Returns 0, or -1 with err. NULL: samples seen is the whole
     * position. */
    int (*restore)(train_source *s, const bcos_checkpoint *c, char *note, size_t notelen, char *err,
                   size_t errlen);
    /* This rank's counters into *out (valid until the next call on s): 1, or 0 while there is
     * nothing to count (between epochs, on every rank alike). NULL: a source that counts nothing. */
    int (*counters)(train_source *s, distill_counters *out);
    void (*free)(train_source *s);
};

/* The first train_count images of set. caption_emb (E floats per image; may be NULL) or
 * caption_ids (context_length per image; may be NULL) and has_caption are the images' captions,
 * embedded or tokenized once by the run, kept by the caller. */
train_source *train_source_images_new(const bcos_image_set *set, int train_count, int64_t seed,
                                          const distill_shape *shape, const float *caption_emb,
                                          const int32_t *caption_ids, const int *has_caption);
/* The shards of cfg->shards (kept by the caller), their sample counts taken first. Returns NULL
 * with err when the URL list does not expand or a shard cannot be counted. */
train_source *train_source_shards_new(const bcos_distill_config *cfg, const distill_shape *shape, char *err,
                                          size_t errlen);

/* ---- a shard sample as a batch slot (train_source_shards.c) ---- */

/* A slot: the S x S x 3 crop, then the caption's context_length token ids (all zero: none). */
typedef struct {
    bcos_image_sample_config image; /* the 8-bit crop at the teacher's size */
    int context_length;
    const bcos_tokenizer *tok;      /* NULL: captions are not read (no text term) */
} distill_sample_config;

/* A slot's bytes (what the loader's workers hold ahead, for the memory estimate). */
size_t distill_sample_bytes(const distill_sample_config *c);

#endif
