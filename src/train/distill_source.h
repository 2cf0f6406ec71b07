/* Where the distill loop's batches come from: one small interface, two sources. The loop asks for
 * the next batch as 8-bit S x S crops and, per slot, the teacher's text embedding of its caption
 * (or none); it builds the student's x6 and the teacher's normalised input from the crops itself,
 * whatever the source. A source also says where it stands, for a checkpoint, and takes that up
 * again on a resume.
 *   images: an in-memory set, its order a function of (seed, sample index) (distill_source_images.c);
 *   shards: WebDataset shards streamed through the epoch loader (distill_source_shards.c). */
#ifndef BCOS_DISTILL_SOURCE_H
#define BCOS_DISTILL_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "bcos/store.h"

struct distill_run;

typedef struct distill_source distill_source;
struct distill_source {
    /* The next batch into run->crops, run->txt_emb and run->has_txt; run->samples_seen moves past it.
     * Returns 0; 1 when a request to stop (distill_stop_pending) came on some rank while a rank
     * waited for data, agreed by every rank, nothing taken and the position unmoved; or -1 with
     * err (shards that cannot feed the run). */
    int (*next_batch)(distill_source *s, struct distill_run *run, char *err, size_t errlen);
    /* The epoch of the next batch, and this rank's data position as a JSON object (heap). */
    char *(*position)(distill_source *s, const struct distill_run *run, int64_t *epoch);
    /* Take up the position a checkpoint of this run recorded, on any number of ranks (c->world_size
     * says how many wrote it; run->samples_seen is restored already). Returns 0, or -1 with err. NULL:
     * samples seen is the whole position. */
    int (*restore)(distill_source *s, struct distill_run *run, const bcos_checkpoint *c, char *err, size_t errlen);
    /* Record what the data path skipped or retried since the last call as store events (run->store
     * is open). NULL: a source that skips nothing. */
    void (*record_events)(distill_source *s, struct distill_run *run);
    /* After the last step, on every rank: 0 while the data path lost no more samples than the run's
     * max_lost, else -1 with err. NULL: a source that loses none. */
    int (*check_lost)(distill_source *s, struct distill_run *run, char *err, size_t errlen);
    void (*free)(distill_source *s);
};

/* The in-memory set run->set (its first run->train_count images), captions embedded once. */
distill_source *distill_source_images_new(struct distill_run *run);
/* The shards of run->cfg->shards, their sample counts taken first. Returns NULL with err when the URL
 * list does not expand or a shard cannot be counted. */
distill_source *distill_source_shards_new(struct distill_run *run, char *err, size_t errlen);

#endif
