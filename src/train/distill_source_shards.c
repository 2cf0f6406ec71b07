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

/* How often a wait for a batch looks for a request to stop: a stop within a fraction of a second. */
#define STOP_POLL_MS 100

/* The counters summed over the ranks: the skip reasons, the shard transfers retried, the loader's
 * restarts, the transfers of sizes.json and of counting passes retried; then per shard the known
 * samples lost with it, and its losses whose count was not known (2 x shards). */
enum { RETRIES = BCOS_SKIP_REASONS, RESTARTS, SIZES_RETRIES, N_FIXED };

#define TRACE_SAMPLES_ENV "BCOS_TRACE_SAMPLES"

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
    bcos_epoch_rest rest;           /* when has_rest: what is left of epoch rest.epoch, re-partitioned
                                     * after a resume on another number of ranks; planned from */
    int has_rest;
    int64_t *recorded;              /* the world's counters already recorded as events (the loader's
                                     * start from 0 with each epoch, the SIZES_RETRIES do not) */
    int64_t *now;                   /* room for the counters */
    bcos_fetch_stats sizes_fetched; /* sizes.json and counting passes, before the first epoch */
    int64_t lost;                   /* known samples lost in this process (world), plus the shards
                                     * lost whose count was not known */
    int32_t *ids;                   /* the batch's captions, packed: B x context_length */
    float *emb;                     /* their embeddings: B x E */
    int *captioned;                 /* their slots */
} shards_source;

static size_t n_counters(const shards_source *s) { return N_FIXED + 2 * (size_t)s->urls.count; }

/* Plans s->epoch: from its rest when it has one (or the next epoch when nothing known is left of
 * it), else whole. Returns 0, or -1 with err. */
static int plan_epoch(shards_source *s, const distill_run *run, char *err, size_t errlen) {
    const bcos_distill_config *cfg = run->cfg;
    int n_shards = (int)s->urls.count, rc = 0;
    char why[BCOS_ERRLEN];
    if (s->has_rest) {
        rc = bcos_epoch_plan_make_rest(&s->plan, &s->rest, s->counts, n_shards, (uint64_t)cfg->seed, run->rank, run->world,
                                       cfg->workers, run->B, why, sizeof why);
        if (rc == 1) { /* nothing known is left of it */
            bcos_info("shards: %s: epoch %" PRId64 " starts", why, s->epoch + 1);
            bcos_epoch_rest_free(&s->rest);
            s->has_rest = 0;
            s->epoch++;
        }
    }
    if (!s->has_rest)
        rc = bcos_epoch_plan_make(&s->plan, s->counts, n_shards, (uint64_t)cfg->seed, (uint64_t)s->epoch, run->rank,
                                  run->world, cfg->workers, run->B, why, sizeof why);
    if (rc != 0) return bcos_error(err, errlen, "shards", "'%s': %s", cfg->shards, why);
    return 0;
}

static int start_epoch(shards_source *s, const distill_run *run, char *err, size_t errlen) {
    const bcos_distill_config *cfg = run->cfg;
    char why[BCOS_ERRLEN];
    if (plan_epoch(s, run, err, errlen) != 0) return -1;
    s->augment.epoch = (uint64_t)s->epoch; /* the workers only read it while this epoch's loader runs */
    bcos_loader_config lc = {.urls = (const char *const *)s->urls.urls, .plan = &s->plan,
                             .resume = s->has_resume ? &s->resume : NULL, .fetch = s->fetch,
                             .sample_bytes = distill_sample_bytes(&s->sample), .fn = distill_sample,
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
    int64_t sizes_recorded = s->recorded[SIZES_RETRIES];
    memset(s->recorded, 0, n_counters(s) * sizeof *s->recorded);
    s->recorded[SIZES_RETRIES] = sizes_recorded;
    return 0;
}

static void event(distill_run *run, bcos_event_kind kind, const char *reason, int64_t now, int64_t before) {
    if (now > before) bcos_store_event_add(run->store, run->run_id, run->step, kind, reason, now - before, NULL);
}

/* Rank 0's event for shard k's new losses: the samples, named with the shard's URL. */
static void shard_lost_event(const shards_source *s, distill_run *run, long k, int64_t samples, int64_t unknown) {
    char detail[BCOS_ERRLEN + 128];
    char *url = bcos_url_redact(s->urls.urls[k]);
    if (samples > 0) {
        snprintf(detail, sizeof detail, "%s: %" PRId64 " of its %ld known samples not read (it failed or ended short)",
                 url, samples, s->counts[k]);
        bcos_store_event_add(run->store, run->run_id, run->step, BCOS_EVENT_FAULT, "shard lost: samples", samples, detail);
    }
    if (unknown > 0) {
        snprintf(detail, sizeof detail, "%s: failed; how many samples it lost is not known", url);
        bcos_store_event_add(run->store, run->run_id, run->step, BCOS_EVENT_FAULT, "shard lost: sample count unknown",
                             unknown, detail);
    }
    free(url);
}

/* The counters of this rank, in the order above. */
static void counters_flat(shards_source *s, int64_t *out) {
    bcos_loader_counters c;
    bcos_loader_counters_get(s->loader, &c);
    memset(out, 0, n_counters(s) * sizeof *out);
    for (int v = 0; v < BCOS_SKIP_REASONS; v++) out[v] = c.skipped[v];
    out[RETRIES] = c.data.http.retries;
    out[RESTARTS] = c.restarts;
    out[SIZES_RETRIES] = s->sizes_fetched.retries;
    bcos_loader_losses(s->loader, out + N_FIXED, out + N_FIXED + s->urls.count);
}

/* Every rank's counters summed; rank 0 records what grew since the last call as events. On every
 * rank: the run's losses (s->lost) follow. */
static void record_events(distill_source *base, distill_run *run) {
    shards_source *s = (shards_source *)base;
    if (!s->loader) return; /* between epochs on every rank alike: the ranks make the same batches */
    int64_t *now = s->now, *was = s->recorded;
    long n = s->urls.count;
    counters_flat(s, now);
    bcos_world_sum_i64(now, n_counters(s));
    for (long k = 0; k < n; k++)
        s->lost += (now[N_FIXED + k] - was[N_FIXED + k]) + (now[N_FIXED + n + k] - was[N_FIXED + n + k]);
    if (run->store) {
        for (int v = BCOS_SAMPLE_OK + 1; v < BCOS_SKIP_REASONS; v++) {
            char reason[64];
            snprintf(reason, sizeof reason, "sample skipped: %s", bcos_sample_verdict_name((bcos_sample_verdict)v));
            event(run, BCOS_EVENT_SKIP, reason, now[v], was[v]);
        }
        event(run, BCOS_EVENT_RETRY, "shard transfer retried", now[RETRIES], was[RETRIES]);
        event(run, BCOS_EVENT_RETRY, "loader worker started over on its shards", now[RESTARTS], was[RESTARTS]);
        event(run, BCOS_EVENT_RETRY, "sizes.json or shard count transfer retried", now[SIZES_RETRIES],
              was[SIZES_RETRIES]);
        for (long k = 0; k < n; k++)
            shard_lost_event(s, run, k, now[N_FIXED + k] - was[N_FIXED + k], now[N_FIXED + n + k] - was[N_FIXED + n + k]);
    }
    memcpy(was, now, n_counters(s) * sizeof *now);
}

/* 0 while the run has lost no more samples than max_lost, else -1 with err saying how many. On
 * every rank, after the last step: the counts are summed over the world first. */
static int check_lost(distill_source *base, distill_run *run, char *err, size_t errlen) {
    shards_source *s = (shards_source *)base;
    record_events(base, run);
    if (s->lost <= run->cfg->max_lost) return 0;
    return bcos_error(err, errlen, "shards", "%" PRId64 " samples were lost with broken or missing shards, more than "
                      "max_lost %" PRId64 " (the run's fault events name the shards)", s->lost, run->cfg->max_lost);
}

static void stop_epoch(shards_source *s, distill_run *run) {
    int64_t lost_before = s->lost;
    record_events(&s->base, run);
    int64_t skipped = 0, *now = s->recorded; /* the world's counts of this epoch, just recorded */
    for (int v = BCOS_SAMPLE_OK + 1; v < BCOS_SKIP_REASONS; v++) skipped += now[v];
    if (skipped || s->lost > lost_before)
        bcos_warn("shards: epoch %" PRId64 " skipped %" PRId64 " samples that did not decode and lost %" PRId64
                  " with broken or missing shards (see the run's events)",
                  s->epoch, skipped, s->lost - lost_before);
    bcos_loader_stop(s->loader);
    bcos_epoch_plan_free(&s->plan);
    s->loader = NULL;
}

/* The next batch of the current epoch, starting the next epoch when this one is complete. Returns
 * 0, 1 when a request to stop came while the batch was awaited (nothing taken), or -1 with err. */
static int next_loaded(shards_source *s, distill_run *run, bcos_batch **batch, char *err, size_t errlen) {
    for (;;) {
        if (!s->loader && start_epoch(s, run, err, errlen) != 0) return -1;
        int got = bcos_loader_next_within(s->loader, batch, STOP_POLL_MS);
        if (got == BCOS_LOADER_WAITING && distill_stop_pending(run)) return 1;
        if (got == BCOS_LOADER_WAITING) continue;
        if (got == 1) return 0;
        if (got < 0) {
            snprintf(err, errlen, "shards '%s': %s", run->cfg->shards, bcos_loader_error(s->loader));
            return -1;
        }
        stop_epoch(s, run);
        if (s->has_rest) bcos_epoch_rest_free(&s->rest);
        s->has_rest = 0;
        s->epoch++;
    }
}

/* With $BCOS_TRACE_SAMPLES naming a folder, each rank appends the origins of the batch it trains
 * step `step` on to FOLDER/rank-R.txt as "epoch E step S: shard:index ...": the samples a chain of
 * runs resumed on other world sizes read, for the tests that check that none is lost. */
static void trace_batch(const shards_source *s, const distill_run *run, int64_t step, const bcos_batch *b) {
    const char *folder = getenv(TRACE_SAMPLES_ENV);
    if (!folder || !*folder) return;
    char *path = bcos_strfmt("%s/rank-%d.txt", folder, run->rank);
    FILE *f = xfopen(path, "a");
    fprintf(f, "epoch %" PRId64 " step %" PRId64 ":", s->epoch, step);
    for (long i = 0; i < b->size; i++) fprintf(f, " %d:%ld", b->origins[i].shard, b->origins[i].index);
    fputc('\n', f);
    xfclose(f);
    free(path);
}

static int next_batch(distill_source *base, distill_run *run, char *err, size_t errlen) {
    shards_source *s = (shards_source *)base;
    bcos_batch *b;
    int got = next_loaded(s, run, &b, err, errlen);
    if (got < 0) return -1;
    /* one rank that gave up its wait stops them all, before any batch moves a cursor; a rank that
     * got its batch leaves it taken, since the loader is stopped, not asked again */
    int gave_up = got;
    bcos_world_max_int(&gave_up, 1);
    if (gave_up) return 1;
    trace_batch(s, run, run->step + 1, b);
    BCOS_CHECK(b->size == run->B, "the plan's batch size is the run's");
    size_t plane = (size_t)run->S * run->S * 3, slot_bytes = distill_sample_bytes(&s->sample);
    int L = s->sample.context_length, n = 0;
    for (int i = 0; i < run->B; i++) {
        const uint8_t *slot = (const uint8_t *)b->data + (size_t)i * slot_bytes;
        memcpy(run->crops + (size_t)i * plane, slot, plane);
        run->has_txt[i] = distill_sample_caption(&s->sample, slot, s->ids + (size_t)n * L);
        if (run->has_txt[i]) s->captioned[n++] = i;
    }
    bcos_loader_release(s->loader, b);
    run->samples_seen += run->B_global;
    if (n > 0) bcos_clip_encode_text(&run->teacher, s->emb, s->ids, n);
    for (int j = 0; j < n; j++)
        memcpy(run->txt_emb + (size_t)s->captioned[j] * run->E, s->emb + (size_t)j * run->E, (size_t)run->E * sizeof(float));
    return 0;
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

static char *position(distill_source *base, const distill_run *run, int64_t *epoch) {
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
    cJSON_AddNumberToObject(json, "rank", run->rank);
    cJSON_AddNumberToObject(json, "epoch", (double)c.epoch);
    cJSON_AddNumberToObject(json, "samples_seen", (double)run->samples_seen);
    cJSON_AddNumberToObject(json, "batch_size", run->B_global);
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
 * run's rest, re-partitioned over this world (the event and the log say so). */
static int repartition(shards_source *s, distill_run *run, const bcos_checkpoint *c, const bcos_data_cursor *cursors,
                       const bcos_epoch_rest *was, char *why, size_t whylen) {
    if (run->B_global % c->world_size != 0) {
        snprintf(why, whylen, "its batch of %d does not split over its %d ranks", run->B_global, c->world_size);
        return -1;
    }
    if (bcos_epoch_rest_from_cursors(&s->rest, was, cursors, c->world_size, s->counts, (int)s->urls.count,
                                     (uint64_t)run->cfg->seed, run->B_global / c->world_size, why, whylen) != 0)
        return -1;
    s->has_rest = 1;
    s->epoch = (int64_t)s->rest.epoch;
    char line[256];
    snprintf(line, sizeof line,
             "resumed on %d rank%s after %d: re-partitioned the rest of epoch %" PRId64 " (%d shards, %ld samples)",
             run->world, run->world == 1 ? "" : "s", c->world_size, s->epoch, s->rest.n,
             bcos_epoch_rest_samples(&s->rest, s->counts));
    bcos_info("shards: %s", line);
    if (run->store) bcos_store_event_add(run->store, run->run_id, c->step, BCOS_EVENT_PREEMPTION, line, 1, NULL);
    return 0;
}

static int restore(distill_source *base, distill_run *run, const bcos_checkpoint *c, char *err, size_t errlen) {
    shards_source *s = (shards_source *)base;
    cJSON *array = cJSON_Parse(c->data_cursors ? c->data_cursors : "");
    char why[BCOS_ERRLEN] = "";
    int n = c->world_size, has_was, rc;
    bcos_data_cursor *cursors = xcalloc((size_t)n, sizeof *cursors);
    bcos_epoch_rest was = {0};
    rc = parse_positions(array, n, cursors, &was, &has_was, why, sizeof why);
    int parsed = rc == 0;
    cJSON_Delete(array);
    if (rc == 0 && n == run->world) {
        /* the same shape: this rank's loader resumes at its cursor, on the same plan */
        bcos_data_cursor_copy(&s->resume, &cursors[run->rank]);
        s->has_resume = 1;
        s->epoch = (int64_t)s->resume.epoch;
        s->rest = was;
        s->has_rest = has_was;
        has_was = 0;
    } else if (rc == 0) {
        rc = repartition(s, run, c, cursors, has_was ? &was : NULL, why, sizeof why);
    }
    for (int k = 0; k < n && parsed; k++) bcos_data_cursor_free(&cursors[k]);
    free(cursors);
    if (has_was) bcos_epoch_rest_free(&was);
    if (rc != 0)
        return bcos_error(err, errlen, run->cfg->run, "the checkpoint at step %lld: %s", (long long)c->step, why);
    return 0;
}

static void free_source(distill_source *base) {
    shards_source *s = (shards_source *)base;
    if (s->loader) {
        bcos_loader_stop(s->loader);
        bcos_epoch_plan_free(&s->plan);
    }
    if (s->has_resume) bcos_data_cursor_free(&s->resume);
    if (s->has_rest) bcos_epoch_rest_free(&s->rest);
    bcos_tokenizer_free(s->tok);
    bcos_urls_free(&s->urls);
    free(s->recorded);
    free(s->now);
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
    f->max_wait_ms = cfg->max_wait_ms;
    f->seed = (uint64_t)cfg->seed;
    f->ca_file = cfg->ca_file[0] ? cfg->ca_file : NULL;
}

distill_source *distill_source_shards_new(distill_run *run, char *err, size_t errlen) {
    const bcos_distill_config *cfg = run->cfg;
    shards_source *s = xcalloc(1, sizeof *s);
    s->base = (distill_source){next_batch, position, restore, record_events, check_lost, free_source};
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
    s->recorded = xcalloc(n_counters(s), sizeof *s->recorded);
    s->now = xcalloc(n_counters(s), sizeof *s->now);
    /* sizes.json beside the shards, else the count cache, else read once and cached (bcos/shard_sizes.h) */
    if (bcos_shard_sizes(s->counts, NULL, (const char *const *)s->urls.urls, (int)s->urls.count, &s->fetch, NULL,
                         &s->sizes_fetched, err, errlen) != 0) {
        free_source(&s->base);
        return NULL;
    }
    int L = run->teacher.cfg.context_length;
    BCOS_CHECK(L <= BCOS_CONTEXT_LENGTH, "CLIP's context length");
    if (cfg->w_txt > 0) s->tok = bcos_tokenizer_load_default();
    bcos_decode_mode decode;
    if (bcos_decode_mode_parse(&decode, cfg->decode, err, errlen) != 0) {
        free_source(&s->base);
        return NULL;
    }
    s->augment = (bcos_train_augment){.scale = {cfg->crop_scale, 1.0}, .seed = (uint64_t)cfg->seed};
    s->sample = (distill_sample_config){.image = {.size = run->S, .kind = BCOS_INPUT_CROP_U8, .decode = decode,
                                                  .train = cfg->train_crops ? &s->augment : NULL},
                                        .context_length = L, .tok = s->tok};
    s->ids = xmalloc((size_t)run->B * L * sizeof(int32_t));
    s->emb = xmalloc((size_t)run->B * run->E * sizeof(float));
    s->captioned = xmalloc((size_t)run->B * sizeof(int));
    return &s->base;
}
