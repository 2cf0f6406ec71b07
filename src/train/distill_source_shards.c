/* The shard batch source: WebDataset shards streamed through the epoch loader. Each epoch has its
 * plan from (seed, epoch), this rank of the world, the configured workers, and the rank's share of
 * the batch; when the loader says the epoch is complete the next one starts (on every rank at the
 * same batch: the plans agree on the epoch's length). The position is the rank's loader cursor (its
 * text form inside the checkpoint's data cursor JSON); a resume on as many ranks starts each loader
 * from its own. Captions' token ids come with
 * the crops; the frozen text tower embeds the captioned ones of each batch here, in the main thread.
 * What the loader skipped or retried is recorded in the store as events, by reason. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "bcos/shard_sizes.h"
#include "bcos/log.h"
#include "bcos/urls.h"
#include "bcos/world.h"
#include "distill_internal.h"
#include "distill_shards.h"

/* The loader counters summed over the ranks: the skip reasons, then samples lost, shards failed,
 * retries and restarts. */
enum { N_COUNTERS = BCOS_SKIP_REASONS + 4 };

typedef struct {
    distill_source base;
    bcos_url_list urls;
    long *counts;                   /* known samples per shard */
    bcos_fetch_options fetch;
    distill_sample_config sample;
    bcos_train_augment augment;     /* the training crops' settings; its epoch follows the loader's */
    bcos_tokenizer *tok;            /* NULL without a text term */
    int64_t epoch;                  /* of the running loader, or of the next one to start */
    bcos_epoch_plan plan;           /* the running loader's */
    bcos_loader *loader;            /* NULL between epochs */
    bcos_data_cursor resume;        /* where the next loader starts, when has_resume */
    int has_resume;
    int64_t recorded[N_COUNTERS];   /* the world's counters already recorded as events */
    int32_t *ids;                   /* the batch's captions, packed: B x context_length */
    float *emb;                     /* their embeddings: B x E */
    int *captioned;                 /* their slots */
} shards_source;

static int start_epoch(shards_source *s, const distill_run *r, char *err, size_t errlen) {
    const bcos_distill_config *cfg = r->cfg;
    char why[BCOS_ERRLEN];
    s->augment.epoch = (uint64_t)s->epoch; /* the workers only read it while this epoch's loader runs */
    if (bcos_epoch_plan_make(&s->plan, s->counts, (int)s->urls.count, (uint64_t)cfg->seed, (uint64_t)s->epoch,
                             r->rank, r->world, cfg->workers, r->B, why, sizeof why) != 0) {
        snprintf(err, errlen, "shards '%s': %s", cfg->shards, why);
        return -1;
    }
    bcos_loader_config lc = {.urls = (const char *const *)s->urls.urls, .plan = &s->plan,
                             .resume = s->has_resume ? &s->resume : NULL, .fetch = s->fetch,
                             .sample_bytes = distill_sample_bytes(&s->sample), .fn = distill_sample,
                             .ctx = &s->sample, .ready_batches = cfg->ready_batches, .shuffle = (long)cfg->shuffle};
    s->loader = bcos_loader_start(&lc, why, sizeof why);
    if (!s->loader) {
        snprintf(err, errlen, "shards '%s': %s", cfg->shards, why);
        bcos_epoch_plan_free(&s->plan);
        return -1;
    }
    bcos_info("shards: epoch %" PRId64 " of %ld batches (%d workers)%s", s->epoch, s->plan.n_batches,
              s->plan.n_workers, s->has_resume ? ", resumed at its cursor" : "");
    if (s->has_resume) bcos_data_cursor_free(&s->resume); /* the loader keeps its own copy */
    s->has_resume = 0;
    memset(s->recorded, 0, sizeof s->recorded);
    return 0;
}

static void event(distill_run *r, bcos_event_kind kind, const char *reason, int64_t now, int64_t before) {
    if (now > before) bcos_store_event_add(r->store, r->run_id, r->step, kind, reason, now - before, NULL);
}

/* The loader's counters as one flat array, for summing over the ranks. */
static void counters_flat(int64_t out[N_COUNTERS], const bcos_loader_counters *c) {
    for (int v = 0; v < BCOS_SKIP_REASONS; v++) out[v] = c->skipped[v];
    out[BCOS_SKIP_REASONS] = c->data.samples_lost;
    out[BCOS_SKIP_REASONS + 1] = c->data.shards_failed;
    out[BCOS_SKIP_REASONS + 2] = c->data.http.retries;
    out[BCOS_SKIP_REASONS + 3] = c->restarts;
}

/* Every rank's loader counters summed; rank 0 records what grew since the last call as events. */
static void record_events(distill_source *base, distill_run *r) {
    shards_source *s = (shards_source *)base;
    if (!s->loader) return; /* between epochs on every rank alike: the ranks make the same batches */
    bcos_loader_counters mine;
    bcos_loader_counters_get(s->loader, &mine);
    int64_t now[N_COUNTERS], *was = s->recorded;
    counters_flat(now, &mine);
    bcos_world_sum_i64(now, N_COUNTERS);
    if (r->store) {
        for (int v = BCOS_SAMPLE_OK + 1; v < BCOS_SKIP_REASONS; v++) {
            char reason[64];
            snprintf(reason, sizeof reason, "sample skipped: %s", bcos_sample_verdict_name((bcos_sample_verdict)v));
            event(r, BCOS_EVENT_SKIP, reason, now[v], was[v]);
        }
        event(r, BCOS_EVENT_SKIP, "samples lost with a broken shard", now[BCOS_SKIP_REASONS], was[BCOS_SKIP_REASONS]);
        event(r, BCOS_EVENT_FAULT, "shard ended early", now[BCOS_SKIP_REASONS + 1], was[BCOS_SKIP_REASONS + 1]);
        event(r, BCOS_EVENT_RETRY, "shard transfer retried", now[BCOS_SKIP_REASONS + 2], was[BCOS_SKIP_REASONS + 2]);
        event(r, BCOS_EVENT_RETRY, "loader worker started over on its shards", now[BCOS_SKIP_REASONS + 3],
              was[BCOS_SKIP_REASONS + 3]);
    }
    memcpy(was, now, sizeof now);
}

static void stop_epoch(shards_source *s, distill_run *r) {
    record_events(&s->base, r);
    bcos_loader_counters c;
    bcos_loader_counters_get(s->loader, &c);
    long skipped = c.data.samples_lost;
    for (int v = BCOS_SAMPLE_OK + 1; v < BCOS_SKIP_REASONS; v++) skipped += c.skipped[v];
    if (skipped) bcos_warn("shards: epoch %" PRId64 " skipped %ld samples (see the run's events)", s->epoch, skipped);
    bcos_loader_stop(s->loader);
    bcos_epoch_plan_free(&s->plan);
    s->loader = NULL;
}

/* The next batch of the current epoch, starting the next epoch when this one is complete. */
static int next_loaded(shards_source *s, distill_run *r, bcos_batch **batch, char *err, size_t errlen) {
    for (;;) {
        if (!s->loader && start_epoch(s, r, err, errlen) != 0) return -1;
        int got = bcos_loader_next(s->loader, batch);
        if (got == 1) return 0;
        if (got < 0) {
            snprintf(err, errlen, "shards '%s': %s", r->cfg->shards, bcos_loader_error(s->loader));
            return -1;
        }
        stop_epoch(s, r);
        s->epoch++;
    }
}

static int next_batch(distill_source *base, distill_run *r, char *err, size_t errlen) {
    shards_source *s = (shards_source *)base;
    bcos_batch *b;
    if (next_loaded(s, r, &b, err, errlen) != 0) return -1;
    BCOS_CHECK(b->size == r->B, "the plan's batch size is the run's");
    size_t plane = (size_t)r->S * r->S * 3, slot_bytes = distill_sample_bytes(&s->sample);
    int L = s->sample.context_length, n = 0;
    for (int i = 0; i < r->B; i++) {
        const uint8_t *slot = (const uint8_t *)b->data + (size_t)i * slot_bytes;
        memcpy(r->crops + (size_t)i * plane, slot, plane);
        r->has_txt[i] = distill_sample_caption(&s->sample, slot, s->ids + (size_t)n * L);
        if (r->has_txt[i]) s->captioned[n++] = i;
    }
    bcos_loader_release(s->loader, b);
    r->samples_seen += r->B_global;
    if (n > 0) bcos_clip_encode_text(&r->teacher, s->emb, s->ids, n);
    for (int j = 0; j < n; j++)
        memcpy(r->txt_emb + (size_t)s->captioned[j] * r->E, s->emb + (size_t)j * r->E, (size_t)r->E * sizeof(float));
    return 0;
}

/* The cursor's text (heap). */
static char *cursor_text(const bcos_data_cursor *c) {
    for (size_t size = 1024;; size *= 2) {
        char *text = xmalloc(size);
        if (bcos_data_cursor_format(c, text, size) >= 0) return text;
        free(text);
    }
}

static char *position(distill_source *base, const distill_run *r, int64_t *epoch) {
    shards_source *s = (shards_source *)base;
    bcos_data_cursor c;
    BCOS_CHECK(s->loader || s->has_resume, "a position is asked for after a batch or a restore");
    if (s->loader)
        bcos_loader_cursor(s->loader, &c);
    else
        bcos_data_cursor_copy(&c, &s->resume);
    *epoch = (int64_t)c.epoch;
    char *text = cursor_text(&c);
    cJSON *json = cJSON_CreateObject();
    BCOS_CHECK(json != NULL, "cJSON could allocate");
    cJSON_AddNumberToObject(json, "rank", r->rank);
    cJSON_AddNumberToObject(json, "epoch", (double)c.epoch);
    cJSON_AddNumberToObject(json, "samples_seen", (double)r->samples_seen);
    cJSON_AddNumberToObject(json, "batch_size", r->B_global);
    cJSON_AddNumberToObject(json, "shards", (double)s->urls.count);
    cJSON_AddStringToObject(json, "cursor", text);
    char *out = cJSON_PrintUnformatted(json);
    BCOS_CHECK(out != NULL, "cJSON could print");
    cJSON_Delete(json);
    free(text);
    bcos_data_cursor_free(&c);
    return out;
}

static int restore(distill_source *base, distill_run *r, const bcos_checkpoint *c, char *err, size_t errlen) {
    shards_source *s = (shards_source *)base;
    if (c->world_size != r->world)
        return bcos_error(err, errlen, r->cfg->run, "the checkpoint at step %lld was written by %d ranks, this run has %d",
                          (long long)c->step, c->world_size, r->world);
    cJSON *json = cJSON_Parse(c->data_cursors ? c->data_cursors : "");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(json, r->rank), "cursor");
    char why[BCOS_ERRLEN] = "no loader cursor";
    int rc = cJSON_IsString(text) ? bcos_data_cursor_parse(&s->resume, text->valuestring, why, sizeof why) : -1;
    cJSON_Delete(json);
    if (rc != 0)
        return bcos_error(err, errlen, r->cfg->run, "the checkpoint at step %lld: %s", (long long)c->step, why);
    s->has_resume = 1;
    s->epoch = (int64_t)s->resume.epoch;
    return 0;
}

static void free_source(distill_source *base) {
    shards_source *s = (shards_source *)base;
    if (s->loader) {
        bcos_loader_stop(s->loader);
        bcos_epoch_plan_free(&s->plan);
    }
    if (s->has_resume) bcos_data_cursor_free(&s->resume);
    bcos_tokenizer_free(s->tok);
    bcos_urls_free(&s->urls);
    free(s->counts);
    free(s->ids);
    free(s->emb);
    free(s->captioned);
    free(s);
}

static void fetch_options(bcos_fetch_options *f, const bcos_distill_config *cfg) {
    bcos_fetch_options_default(f);
    f->connect_timeout_ms = cfg->connect_timeout_ms;
    f->low_speed_ms = cfg->stall_timeout_ms;
    f->max_retries = cfg->retries;
    f->backoff_ms = cfg->backoff_ms;
    f->seed = (uint64_t)cfg->seed;
    f->ca_file = cfg->ca_file[0] ? cfg->ca_file : NULL;
}

distill_source *distill_source_shards_new(distill_run *r, char *err, size_t errlen) {
    const bcos_distill_config *cfg = r->cfg;
    shards_source *s = xcalloc(1, sizeof *s);
    s->base = (distill_source){next_batch, position, restore, record_events, free_source};
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
    /* sizes.json beside the shards, else the count cache, else read once and cached (bcos/shard_sizes.h) */
    if (bcos_shard_sizes(s->counts, NULL, (const char *const *)s->urls.urls, (int)s->urls.count, &s->fetch, NULL,
                         err, errlen) != 0) {
        free_source(&s->base);
        return NULL;
    }
    int L = r->teacher.cfg.context_length;
    BCOS_CHECK(L <= BCOS_CONTEXT_LENGTH, "CLIP's context length");
    if (cfg->w_txt > 0) s->tok = bcos_tokenizer_load_default();
    bcos_decode_mode decode;
    if (bcos_decode_mode_parse(&decode, cfg->decode, err, errlen) != 0) {
        free_source(&s->base);
        return NULL;
    }
    s->augment = (bcos_train_augment){.scale = {cfg->crop_scale, 1.0}, .seed = (uint64_t)cfg->seed};
    s->sample = (distill_sample_config){.image = {.size = r->S, .kind = BCOS_INPUT_CROP_U8, .decode = decode,
                                                  .train = cfg->train_crops ? &s->augment : NULL},
                                        .context_length = L, .tok = s->tok};
    s->ids = xmalloc((size_t)r->B * L * sizeof(int32_t));
    s->emb = xmalloc((size_t)r->B * r->E * sizeof(float));
    s->captioned = xmalloc((size_t)r->B * sizeof(int));
    return &s->base;
}
