/* The in-memory batch source: the training images of an image set (all but the held-out tail),
 * epoch k visiting them in the permutation of (seed, k), each mirrored or not by a draw from
 * (seed, sample index). The order is a function of the seed and the sample's index alone, so that
 * samples seen is the whole data position and a resumed run, whatever its batch size or number of
 * ranks, draws what the uninterrupted one would have: rank k of a world takes the k-th share of
 * each batch. The captions' embeddings (distill) or token ids (pretrain) come from the run, which
 * makes each image's once. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/rng.h"
#include "train_source_internal.h"

typedef struct {
    train_source base;
    const bcos_image_set *set;
    int train_count;
    int64_t seed;
    distill_shape shape;
    int *order;                /* the training images' order for order_epoch (-1: none yet) */
    int64_t order_epoch;
    const float *caption_emb;  /* per image, E floats where has_caption is set (the run's), or NULL */
    const int32_t *caption_ids; /* per image, context_length token ids, or NULL */
    const int *has_caption;
} images_source;

/* A permutation of the training images for epoch, the same for the same seed. */
static void epoch_order(int *order, int n, int64_t seed, int64_t epoch) {
    bcos_rng rng;
    bcos_rng_seed_stream(&rng, (uint64_t)seed, (uint64_t)epoch);
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)bcos_rng_below(&rng, (uint64_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* The training image of sample k (counted from the start of the run) and whether it is mirrored. */
static int sample_image(images_source *s, int64_t k, int *flip) {
    int64_t epoch = k / s->train_count;
    if (epoch != s->order_epoch) {
        epoch_order(s->order, s->train_count, s->seed, epoch);
        s->order_epoch = epoch;
    }
    bcos_rng rng;
    bcos_rng_seed_stream(&rng, (uint64_t)s->seed ^ 0x5eedf11bULL, (uint64_t)k);
    *flip = bcos_rng_uniform(&rng) < 0.5f;
    return s->order[k % s->train_count];
}

/* The S x S crop, mirrored left to right. */
static void mirror(uint8_t *out, const uint8_t *crop, int S) {
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) memcpy(out + ((size_t)y * S + x) * 3, crop + ((size_t)y * S + S - 1 - x) * 3, 3);
}

static int next_batch(train_source *base, int64_t samples_seen, distill_batch *b, long wait_ms, char *err,
                      size_t errlen) {
    (void)wait_ms, (void)err, (void)errlen;
    images_source *s = (images_source *)base;
    const distill_shape *sh = &s->shape;
    size_t plane = (size_t)sh->S * sh->S * 3;
    /* the world's batch is samples [samples_seen, samples_seen + B_global): this rank's share of it */
    int64_t first = samples_seen + (int64_t)sh->rank * sh->B;
    for (int i = 0; i < sh->B; i++) {
        int flip, index = sample_image(s, first + i, &flip);
        const uint8_t *crop = s->set->crops + (size_t)index * plane;
        if (flip) mirror(b->crops + (size_t)i * plane, crop, sh->S);
        else memcpy(b->crops + (size_t)i * plane, crop, plane);
        b->has_caption[i] = s->has_caption[index];
        if (s->caption_emb)
            memcpy(b->caption_emb + (size_t)i * sh->E, s->caption_emb + (size_t)index * sh->E,
                   (size_t)sh->E * sizeof(float));
        if (s->caption_ids)
            memcpy(b->ids + (size_t)i * sh->context_length, s->caption_ids + (size_t)index * sh->context_length,
                   (size_t)sh->context_length * sizeof(int32_t));
    }
    b->embedded = s->caption_emb != NULL;
    b->has_origins = 0;
    b->epoch = samples_seen / s->train_count;
    return DISTILL_GOT_BATCH;
}

/* samples_seen is the whole position, the same on every rank and for any number of ranks; epoch
 * and offset are recorded beside it for reading. */
static char *position(train_source *base, int64_t samples_seen, int64_t *epoch) {
    images_source *s = (images_source *)base;
    *epoch = samples_seen / s->train_count;
    char json[256];
    snprintf(json, sizeof json,
             "{\"rank\": %d, \"epoch\": %" PRId64 ", \"offset\": %" PRId64 ", \"samples_seen\": %" PRId64
             ", \"images\": %d, \"batch_size\": %d}",
             s->shape.rank, *epoch, samples_seen % s->train_count, samples_seen, s->train_count, s->shape.B_global);
    return xstrdup(json);
}

static void free_source(train_source *base) {
    images_source *s = (images_source *)base;
    free(s->order);
    free(s);
}

train_source *train_source_images_new(const bcos_image_set *set, int train_count, int64_t seed,
                                          const distill_shape *shape, const float *caption_emb,
                                          const int32_t *caption_ids, const int *has_caption) {
    images_source *s = xmalloc(sizeof *s);
    *s = (images_source){.base = {next_batch, position, NULL, NULL, free_source}, .set = set,
                         .train_count = train_count, .seed = seed, .shape = *shape,
                         .order = xmalloc((size_t)train_count * sizeof(int)), .order_epoch = -1,
                         .caption_emb = caption_emb, .caption_ids = caption_ids, .has_caption = has_caption};
    return &s->base;
}
