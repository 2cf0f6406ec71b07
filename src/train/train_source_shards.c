/* The shard batch source: WebDataset shards streamed through the epoch loader. Each epoch has its
 * plan from (seed, epoch), this rank of the world, the configured workers, and the rank's share of
 * the batch; when the loader says the epoch is complete the next one starts (on every rank at the
 * same batch: the plans agree on the epoch's length). The position is the rank's loader cursor (its
 * text form inside the checkpoint's data cursor JSON); a resume on as many ranks starts each loader
 * from its own. Each sample becomes a batch slot in the loader's worker threads: its image decoded
 * and cropped, its caption's token ids beside it (the run's step embeds them). What the loader
 * skipped, retried and lost is counted over the epochs, for the run to record. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/shard_sizes.h"
#include "bcos/urls.h"
#include "train_source_internal.h"

/* ---- a sample as a batch slot: the loader's sample function, run in its worker threads ---- */

static size_t crop_bytes(const distill_sample_config *c) { return (size_t)c->image.size * c->image.size * 3; }

size_t distill_sample_bytes(const distill_sample_config *c) {
    return crop_bytes(c) + (size_t)c->context_length * sizeof(int32_t);
}

/* The crop the student and the teacher both see: CLIP's evaluation crop. A training crop (random
 * resized crop and flip) replaces it here. */
static bcos_sample_verdict crop(const distill_sample_config *c, const bcos_sample *s, uint8_t *out, char *msg,
                                size_t msg_len) {
    int label;
    return bcos_image_sample((void *)&c->image, s, out, &label, msg, msg_len);
}

/* The caption's ids (all zero without a caption): the first line of .txt, when not empty. */
static void caption_ids(const distill_sample_config *c, const bcos_sample *s, int32_t *ids) {
    memset(ids, 0, (size_t)c->context_length * sizeof(int32_t));
    const bcos_sample_member *txt = c->tok ? bcos_sample_member_find(s, "txt") : NULL;
    if (!txt) return;
    size_t n = 0;
    while (n < txt->size && txt->data[n] != '\n' && txt->data[n] != '\r') n++;
    if (n > 0) bcos_tokenize_bytes(c->tok, (const char *)txt->data, n, c->context_length, ids);
}

/* A bcos_sample_fn; ctx is a const distill_sample_config *. The image member is decoded and
 * cropped; the first line of the .txt member, when there is one and it is not empty, is the
 * caption. */
static bcos_sample_verdict sample_slot(void *ctx, const bcos_sample *s, void *out, int *label, char *msg,
                                       size_t msg_len) {
    const distill_sample_config *c = ctx;
    *label = -1;
    bcos_sample_verdict v = crop(c, s, out, msg, msg_len);
    if (v != BCOS_SAMPLE_OK) return v;
    int32_t ids[BCOS_CONTEXT_LENGTH];
    caption_ids(c, s, ids);
    /* the slot's ids may be unaligned after the crop */
    memcpy((uint8_t *)out + crop_bytes(c), ids, (size_t)c->context_length * sizeof(int32_t));
    return BCOS_SAMPLE_OK;
}

/* A slot's caption ids into ids (context_length of them); 1 when it has a caption, else 0. */
static int slot_caption(const distill_sample_config *c, const void *slot, int32_t *ids) {
    memcpy(ids, (const uint8_t *)slot + crop_bytes(c), (size_t)c->context_length * sizeof(int32_t));
    return ids[0] != 0;
}

/* ---- the source, in the main thread ---- */

typedef struct {
    train_source base;
    const bcos_distill_config *cfg;
    distill_shape shape;
    bcos_url_list urls;
    long *counts;                   /* known samples per shard */
    bcos_fetch_options fetch;
    distill_sample_config sample;
    bcos_train_augment augment;     /* the training crops' settings; its epoch follows the loader's */
    bcos_tokenizer *tok;            /* NULL without a text term */
    int64_t epoch;                  /* of the running loader, or of the next one to start */
    bcos_epoch_plan plan;           /* the running loader's */
    bcos_loader *loader;            /* NULL between epochs */
    int ended;                      /* the loader has delivered its epoch; stopped at the next batch */
    bcos_data_cursor resume;        /* where the next loader starts, when has_resume */
    int has_resume;
    bcos_epoch_rest rest;           /* when has_rest: what is left of epoch rest.epoch, re-partitioned
                                     * after a resume on another number of ranks; planned from */
    int has_rest;
    int64_t *done;                  /* the counters of the epochs' loaders stopped or ended */
    int64_t *now;                   /* the counters handed out: done plus the running loader's */
    bcos_fetch_stats sizes_fetched; /* sizes.json and counting passes, before the first epoch */
} shards_source;

static size_t n_counters(const shards_source *s) { return DISTILL_FIXED_COUNTERS + 2 * (size_t)s->urls.count; }

/* Plans s->epoch: from its rest when it has one (or the next epoch when nothing known is left of
 * it), else whole. Returns 0, or -1 with err. */
static int plan_epoch(shards_source *s, char *err, size_t errlen) {
    const bcos_distill_config *cfg = s->cfg;
    const distill_shape *sh = &s->shape;
    int n_shards = (int)s->urls.count, rc = 0;
    char why[BCOS_ERRLEN];
    if (s->has_rest) {
        rc = bcos_epoch_plan_make_rest(&s->plan, &s->rest, s->counts, n_shards, (uint64_t)cfg->seed, sh->rank, sh->world,
                                       cfg->workers, sh->B, why, sizeof why);
        if (rc == 1) { /* nothing known is left of it */
            bcos_info("shards: %s: epoch %" PRId64 " starts", why, s->epoch + 1);
            bcos_epoch_rest_free(&s->rest);
            s->has_rest = 0;
            s->epoch++;
        }
    }
    if (!s->has_rest)
        rc = bcos_epoch_plan_make(&s->plan, s->counts, n_shards, (uint64_t)cfg->seed, (uint64_t)s->epoch, sh->rank,
                                  sh->world, cfg->workers, sh->B, why, sizeof why);
    if (rc != 0) return bcos_error(err, errlen, "shards", "'%s': %s", cfg->shards, why);
    return 0;
}

static int start_epoch(shards_source *s, char *err, size_t errlen) {
    const bcos_distill_config *cfg = s->cfg;
    char why[BCOS_ERRLEN];
    if (plan_epoch(s, err, errlen) != 0) return -1;
    s->augment.epoch = (uint64_t)s->epoch; /* the workers only read it while this epoch's loader runs */
    bcos_loader_config lc = {.urls = (const char *const *)s->urls.urls, .plan = &s->plan,
                             .resume = s->has_resume ? &s->resume : NULL, .fetch = s->fetch,
                             .sample_bytes = distill_sample_bytes(&s->sample), .fn = sample_slot,
                             .ctx = &s->sample, .ready_batches = cfg->ready_batches, .shuffle = (long)cfg->shuffle,
                             .counts = s->counts};
    s->loader = bcos_loader_start(&lc, why, sizeof why);
    if (!s->loader) {
        snprintf(err, errlen, "shards '%s': %s", cfg->shards, why);
        bcos_epoch_plan_free(&s->plan);
        return -1;
    }
    bcos_info("shards: epoch %" PRId64 "%s of %ld batches (%d workers)%s", s->epoch, s->has_rest ? "'s rest" : "",
              s->plan.n_batches, s->plan.n_workers, s->has_resume ? ", resumed at its cursor" : "");
    if (s->has_resume) bcos_data_cursor_free(&s->resume); /* the loader keeps its own copy */
    s->has_resume = 0;
    return 0;
}

/* The running loader's counters added to out (the fixed ones of the order in train_source_internal.h,
 * then the shards' losses). */
static void add_loader_counters(const shards_source *s, int64_t *out) {
    bcos_loader_counters c;
    bcos_loader_counters_get(s->loader, &c);
    for (int v = 0; v < BCOS_SKIP_REASONS; v++) out[v] += c.skipped[v];
    out[DISTILL_RETRIES] += c.data.http.retries;
    out[DISTILL_RESTARTS] += c.restarts;
    long n = s->urls.count;
    int64_t *samples = xcalloc(2 * (size_t)n, sizeof *samples);
    bcos_loader_losses(s->loader, samples, samples + n);
    for (long k = 0; k < 2 * n; k++) out[DISTILL_FIXED_COUNTERS + k] += samples[k];
    free(samples);
}

static int counters(train_source *base, distill_counters *out) {
    shards_source *s = (shards_source *)base;
    if (!s->loader) return 0;
    memcpy(s->now, s->done, n_counters(s) * sizeof *s->now);
    if (!s->ended) add_loader_counters(s, s->now);
    s->now[DISTILL_SIZES_RETRIES] = s->sizes_fetched.retries;
    *out = (distill_counters){.values = s->now, .n = n_counters(s), .shards = s->urls.count,
                              .urls = (const char *const *)s->urls.urls, .counts = s->counts};
    return 1;
}

/* The loader of an ended epoch stopped, the next epoch to plan. */
static void stop_epoch(shards_source *s) {
    bcos_loader_stop(s->loader);
    bcos_epoch_plan_free(&s->plan);
    s->loader = NULL;
    s->ended = 0;
    if (s->has_rest) bcos_epoch_rest_free(&s->rest);
    s->has_rest = 0;
    s->epoch++;
}

static int next_batch(train_source *base, int64_t samples_seen, distill_batch *b, long wait_ms, char *err,
                      size_t errlen) {
    (void)samples_seen;
    shards_source *s = (shards_source *)base;
    const distill_shape *sh = &s->shape;
    if (s->ended) stop_epoch(s);
    if (!s->loader && start_epoch(s, err, errlen) != 0) return -1;
    bcos_batch *loaded;
    int got = bcos_loader_next_within(s->loader, &loaded, wait_ms);
    if (got == BCOS_LOADER_WAITING) return DISTILL_WAITING;
    if (got < 0) {
        snprintf(err, errlen, "shards '%s': %s", s->cfg->shards, bcos_loader_error(s->loader));
        return -1;
    }
    b->epoch = s->epoch;
    if (got == 0) { /* the epoch is complete: its loader's counts are final */
        add_loader_counters(s, s->done);
        s->ended = 1;
        return DISTILL_EPOCH_END;
    }
    BCOS_CHECK(loaded->size == sh->B, "the plan's batch size is the run's");
    size_t plane = (size_t)sh->S * sh->S * 3, slot_bytes = distill_sample_bytes(&s->sample);
    int L = s->sample.context_length;
    for (int i = 0; i < sh->B; i++) {
        const uint8_t *slot = (const uint8_t *)loaded->data + (size_t)i * slot_bytes;
        memcpy(b->crops + (size_t)i * plane, slot, plane);
        b->has_caption[i] = slot_caption(&s->sample, slot, b->ids + (size_t)i * L);
        b->origins[i] = loaded->origins[i];
    }
    b->embedded = 0;
    b->has_origins = 1;
    bcos_loader_release(s->loader, loaded);
    return DISTILL_GOT_BATCH;
}

/* The text a format function writes (heap), in a buffer grown until it fits. */
static char *format_text(int (*format)(const void *value, char *buf, size_t size), const void *value) {
    for (size_t size = 1024;; size *= 2) {
        char *text = xmalloc(size);
        if (format(value, text, size) >= 0) return text;
        free(text);
    }
}

static int format_cursor(const void *cursor, char *buf, size_t size) { return bcos_data_cursor_format(cursor, buf, size); }
static int format_rest(const void *rest, char *buf, size_t size) { return bcos_epoch_rest_format(rest, buf, size); }

static char *position(train_source *base, int64_t samples_seen, int64_t *epoch) {
    shards_source *s = (shards_source *)base;
    bcos_data_cursor c;
    BCOS_CHECK(s->loader || s->has_resume, "a position is asked for after a batch or a restore");
    if (s->loader)
        bcos_loader_cursor(s->loader, &c);
    else
        bcos_data_cursor_copy(&c, &s->resume);
    *epoch = (int64_t)c.epoch;
    char *text = format_text(format_cursor, &c);
    cJSON *json = cJSON_CreateObject();
    BCOS_CHECK(json != NULL, "cJSON could allocate");
    cJSON_AddNumberToObject(json, "rank", s->shape.rank);
    cJSON_AddNumberToObject(json, "epoch", (double)c.epoch);
    cJSON_AddNumberToObject(json, "samples_seen", (double)samples_seen);
    cJSON_AddNumberToObject(json, "batch_size", s->shape.B_global);
    cJSON_AddNumberToObject(json, "shards", (double)s->urls.count);
    cJSON_AddStringToObject(json, "cursor", text);
    if (s->has_rest) {
        /* the cursor is into this rest's plan: a resume plans from it again */
        char *rest = format_text(format_rest, &s->rest);
        cJSON_AddStringToObject(json, "rest", rest);
        free(rest);
    }
    char *out = cJSON_PrintUnformatted(json);
    BCOS_CHECK(out != NULL, "cJSON could print");
    cJSON_Delete(json);
    free(text);
    bcos_data_cursor_free(&c);
    return out;
}

/* Element k's text member `name` of the checkpoint's data cursor array (NULL: none). */
static const char *member_text(const cJSON *array, int k, const char *name) {
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(array, k), name);
    return cJSON_IsString(text) ? text->valuestring : NULL;
}

/* The old ranks' cursors, and the rest they ran on (has_was), from the checkpoint's array. */
static int parse_positions(const cJSON *array, int n, bcos_data_cursor *cursors, bcos_epoch_rest *was, int *has_was,
                           char *why, size_t whylen) {
    *has_was = 0;
    int parsed = 0, rc = cJSON_GetArraySize(array) == n ? 0 : -1;
    if (rc != 0) snprintf(why, whylen, "%d data positions for %d ranks", cJSON_GetArraySize(array), n);
    for (; rc == 0 && parsed < n; parsed++) {
        const char *text = member_text(array, parsed, "cursor");
        rc = text ? bcos_data_cursor_parse(&cursors[parsed], text, why, whylen) : -1;
        if (!text) snprintf(why, whylen, "rank %d has no loader cursor", parsed);
    }
    const char *rest = member_text(array, 0, "rest");
    if (rc == 0 && rest) {
        rc = bcos_epoch_rest_parse(was, rest, why, whylen);
        *has_was = rc == 0;
    }
    if (rc != 0)
        for (int k = 0; k < parsed; k++) bcos_data_cursor_free(&cursors[k]);
    return rc;
}

/* A run of another world size stopped at these cursors: what is left of its epoch becomes this
 * run's rest, re-partitioned over this world (the log says so, and note does for the run's events). */
static int repartition(shards_source *s, const bcos_checkpoint *c, const bcos_data_cursor *cursors,
                       const bcos_epoch_rest *was, char *note, size_t notelen, char *why, size_t whylen) {
    const distill_shape *sh = &s->shape;
    if (sh->B_global % c->world_size != 0) {
        snprintf(why, whylen, "its batch of %d does not split over its %d ranks", sh->B_global, c->world_size);
        return -1;
    }
    if (bcos_epoch_rest_from_cursors(&s->rest, was, cursors, c->world_size, s->counts, (int)s->urls.count,
                                     (uint64_t)s->cfg->seed, sh->B_global / c->world_size, why, whylen) != 0)
        return -1;
    s->has_rest = 1;
    s->epoch = (int64_t)s->rest.epoch;
    snprintf(note, notelen,
             "resumed on %d rank%s after %d: re-partitioned the rest of epoch %" PRId64 " (%d shards, %ld samples)",
             sh->world, sh->world == 1 ? "" : "s", c->world_size, s->epoch, s->rest.n,
             bcos_epoch_rest_samples(&s->rest, s->counts));
    bcos_info("shards: %s", note);
    return 0;
}

static int restore(train_source *base, const bcos_checkpoint *c, char *note, size_t notelen, char *err,
                   size_t errlen) {
    shards_source *s = (shards_source *)base;
    cJSON *array = cJSON_Parse(c->data_cursors ? c->data_cursors : "");
    char why[BCOS_ERRLEN] = "";
    int n = c->world_size, has_was, rc;
    bcos_data_cursor *cursors = xcalloc((size_t)n, sizeof *cursors);
    bcos_epoch_rest was = {0};
    rc = parse_positions(array, n, cursors, &was, &has_was, why, sizeof why);
    int parsed = rc == 0;
    cJSON_Delete(array);
    if (rc == 0 && n == s->shape.world) {
        /* the same shape: this rank's loader resumes at its cursor, on the same plan */
        bcos_data_cursor_copy(&s->resume, &cursors[s->shape.rank]);
        s->has_resume = 1;
        s->epoch = (int64_t)s->resume.epoch;
        s->rest = was;
        s->has_rest = has_was;
        has_was = 0;
    } else if (rc == 0) {
        rc = repartition(s, c, cursors, has_was ? &was : NULL, note, notelen, why, sizeof why);
    }
    for (int k = 0; k < n && parsed; k++) bcos_data_cursor_free(&cursors[k]);
    free(cursors);
    if (has_was) bcos_epoch_rest_free(&was);
    if (rc != 0)
        return bcos_error(err, errlen, s->cfg->run, "the checkpoint at step %lld: %s", (long long)c->step, why);
    return 0;
}

static void free_source(train_source *base) {
    shards_source *s = (shards_source *)base;
    if (s->loader) {
        bcos_loader_stop(s->loader);
        bcos_epoch_plan_free(&s->plan);
    }
    if (s->has_resume) bcos_data_cursor_free(&s->resume);
    if (s->has_rest) bcos_epoch_rest_free(&s->rest);
    bcos_tokenizer_free(s->tok);
    bcos_urls_free(&s->urls);
    free(s->done);
    free(s->now);
    free(s->counts);
    free(s);
}

static void fetch_options(bcos_fetch_options *f, const bcos_distill_config *cfg) {
    bcos_fetch_options_default(f);
    f->connect_timeout_ms = cfg->connect_timeout_ms;
    f->low_speed_ms = cfg->stall_timeout_ms;
    f->max_retries = cfg->retries;
    f->backoff_ms = cfg->backoff_ms;
    f->max_wait_ms = cfg->max_wait_ms;
    f->seed = (uint64_t)cfg->seed;
    f->ca_file = cfg->ca_file[0] ? cfg->ca_file : NULL;
}

train_source *train_source_shards_new(const bcos_distill_config *cfg, const distill_shape *shape, char *err,
                                          size_t errlen) {
    shards_source *s = xcalloc(1, sizeof *s);
    s->base = (train_source){next_batch, position, restore, counters, free_source};
    s->cfg = cfg;
    s->shape = *shape;
    fetch_options(&s->fetch, cfg);
    if (bcos_urls_expand(&s->urls, cfg->shards, err, errlen) != 0) {
        free_source(&s->base);
        return NULL;
    }
    if (s->urls.count > INT_MAX) {
        snprintf(err, errlen, "shards '%s': %ld shards, more than one run takes", cfg->shards, s->urls.count);
        free_source(&s->base);
        return NULL;
    }
    s->counts = xmalloc((size_t)s->urls.count * sizeof(long));
    s->done = xcalloc(n_counters(s), sizeof *s->done);
    s->now = xcalloc(n_counters(s), sizeof *s->now);
    /* sizes.json beside the shards, else the count cache, else read once and cached (bcos/shard_sizes.h) */
    if (bcos_shard_sizes(s->counts, NULL, (const char *const *)s->urls.urls, (int)s->urls.count, &s->fetch, NULL,
                         &s->sizes_fetched, err, errlen) != 0) {
        free_source(&s->base);
        return NULL;
    }
    int L = shape->context_length;
    BCOS_CHECK(L <= BCOS_CONTEXT_LENGTH, "CLIP's context length");
    if (cfg->w_txt > 0) s->tok = bcos_tokenizer_load_default();
    bcos_decode_mode decode;
    if (bcos_decode_mode_parse(&decode, cfg->decode, err, errlen) != 0) {
        free_source(&s->base);
        return NULL;
    }
    s->augment = (bcos_train_augment){.scale = {cfg->crop_scale, 1.0}, .seed = (uint64_t)cfg->seed};
    s->sample = (distill_sample_config){.image = {.size = shape->S, .kind = BCOS_INPUT_CROP_U8, .decode = decode,
                                                  .train = cfg->train_crops ? &s->augment : NULL},
                                        .context_length = L, .tok = s->tok};
    return &s->base;
}
