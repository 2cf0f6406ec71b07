/* The in-memory batch source: the training images of an image set (all but the held-out tail),
 * epoch k visiting them in the permutation of (seed, k), each mirrored or not by a draw from
 * (seed, sample index). The order is a function of the seed and the sample's index alone, so that
 * samples seen is the whole data position and a resumed run, whatever its batch size or number of
 * ranks, draws what the uninterrupted one would have: rank k of a world takes the k-th share of
 * each batch. Captions are embedded once by the frozen text tower. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/rng.h"
#include "bcos/tokenizer.h"
#include "distill_internal.h"

typedef struct {
    distill_source base;
    int *order;          /* the training images' order for order_epoch (-1: none yet) */
    int64_t order_epoch;
    float *caption_emb;  /* per image, E floats where has_caption is set */
    int *has_caption;
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
static int sample_image(images_source *s, const distill_run *run, int64_t k, int *flip) {
    int64_t epoch = k / run->train_count;
    if (epoch != s->order_epoch) {
        epoch_order(s->order, run->train_count, run->cfg->seed, epoch);
        s->order_epoch = epoch;
    }
    bcos_rng rng;
    bcos_rng_seed_stream(&rng, (uint64_t)run->cfg->seed ^ 0x5eedf11bULL, (uint64_t)k);
    *flip = bcos_rng_uniform(&rng) < 0.5f;
    return s->order[k % run->train_count];
}

/* The S x S crop, mirrored left to right. */
static void mirror(uint8_t *out, const uint8_t *crop, int S) {
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) memcpy(out + ((size_t)y * S + x) * 3, crop + ((size_t)y * S + S - 1 - x) * 3, 3);
}

static int next_batch(distill_source *base, distill_run *run, char *err, size_t errlen) {
    (void)err, (void)errlen;
    images_source *s = (images_source *)base;
    size_t plane = (size_t)run->S * run->S * 3;
    /* the world's batch is samples [samples_seen, samples_seen + B_global): this rank's share of it */
    int64_t first = run->samples_seen + (int64_t)run->rank * run->B;
    for (int i = 0; i < run->B; i++) {
        int flip, index = sample_image(s, run, first + i, &flip);
        const uint8_t *crop = run->set->crops + (size_t)index * plane;
        if (flip) mirror(run->crops + (size_t)i * plane, crop, run->S);
        else memcpy(run->crops + (size_t)i * plane, crop, plane);
        run->has_txt[i] = s->has_caption[index];
        memcpy(run->txt_emb + (size_t)i * run->E, s->caption_emb + (size_t)index * run->E, (size_t)run->E * sizeof(float));
    }
    run->samples_seen += run->B_global;
    return 0;
}

/* samples_seen is the whole position, the same on every rank and for any number of ranks; epoch
 * and offset are recorded beside it for reading. */
static char *position(distill_source *base, const distill_run *run, int64_t *epoch) {
    (void)base;
    *epoch = run->samples_seen / run->train_count;
    char json[256];
    snprintf(json, sizeof json,
             "{\"rank\": %d, \"epoch\": %" PRId64 ", \"offset\": %" PRId64 ", \"samples_seen\": %" PRId64
             ", \"images\": %d, \"batch_size\": %d}",
             run->rank, *epoch, run->samples_seen % run->train_count, run->samples_seen, run->train_count, run->B_global);
    return xstrdup(json);
}

static void free_source(distill_source *base) {
    images_source *s = (images_source *)base;
    free(s->order);
    free(s->caption_emb);
    free(s->has_caption);
    free(s);
}

/* The teacher's text embedding of every caption, once (the text tower is frozen). */
static void embed_captions(images_source *s, const distill_run *run) {
    int n = run->set->count, L = run->teacher.cfg.context_length;
    s->caption_emb = xcalloc((size_t)n * run->E, sizeof(float));
    s->has_caption = xcalloc((size_t)n, sizeof(int));
    if (run->cfg->w_txt <= 0) return;
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    int32_t *ids = xmalloc((size_t)L * sizeof(int32_t));
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (!run->set->captions[i]) continue;
        bcos_tokenize(tok, run->set->captions[i], L, ids);
        bcos_clip_encode_text(&run->teacher, s->caption_emb + (size_t)i * run->E, ids, 1);
        s->has_caption[i] = 1;
        found++;
    }
    free(ids);
    bcos_tokenizer_free(tok);
    bcos_info("text term: %d of %d images have a caption", found, n);
}

distill_source *distill_source_images_new(distill_run *run) {
    images_source *s = xcalloc(1, sizeof *s);
    s->base = (distill_source){next_batch, position, NULL, NULL, NULL, free_source};
    s->order = xmalloc((size_t)run->train_count * sizeof(int));
    s->order_epoch = -1;
    embed_captions(s, run);
    return &s->base;
}
