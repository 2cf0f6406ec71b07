/* The distillation run, data-parallel over the world's ranks (bcos/world.h), its data flowing one
 * way: each rank fetches its share of every batch from a source (distill_source_internal.h), trains
 * a step on it (distill_step.c) and commits (the store and checkpoints, distill_store.c): each layer
 * is called from here, none calls back up. What the source counts (skips, retries, lost samples) is
 * summed over the ranks and recorded at every epoch's end, with each checkpoint and at the end; a run
 * that lost more samples than it may fails. A run that would not fit in memory is refused before it
 * starts. Rank 0 prints progress, measures the held-out cosine before and after and saves the student. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/progress.h"
#include "bcos/memory.h"
#include "bcos/paths.h"
#include "bcos/urls.h"
#include "bcos/rn_student.h"
#include "bcos/world.h"
#include "distill_internal.h"

/* How often a wait for a batch looks for a request to stop: a stop within a fraction of a second. */
#define STOP_POLL_MS 100

#define TRACE_SAMPLES_ENV "BCOS_TRACE_SAMPLES"

/* What the source counted, summed over the ranks and recorded; nothing while it has nothing to count
 * (between epochs, on every rank alike: the ranks make the same batches). */
static void record_counters(distill_run *run) {
    distill_counters counters;
    if (run->source->counters && run->source->counters(run->source, &counters))
        distill_store_counters(run, &counters);
}

/* An epoch ended: its counts recorded, and a warning when it skipped or lost samples. */
static void end_epoch(distill_run *run, int64_t epoch) {
    int64_t lost_before = run->data_lost;
    record_counters(run);
    int64_t skipped = run->data_skipped - run->data_skipped_before;
    run->data_skipped_before = run->data_skipped;
    if (skipped || run->data_lost > lost_before)
        bcos_warn("shards: epoch %" PRId64 " skipped %" PRId64 " samples that did not decode and lost %" PRId64
                  " with broken or missing shards (see the run's events)",
                  epoch, skipped, run->data_lost - lost_before);
}

/* With $BCOS_TRACE_SAMPLES naming a folder, each rank appends the origins of the batch it trains
 * step `step` on to FOLDER/rank-R.txt as "epoch E step S: shard:index ...": the samples a chain of
 * runs resumed on other world sizes read, for the tests that check that none is lost. */
static void trace_batch(const distill_run *run, int64_t step, const distill_batch *b) {
    const char *folder = getenv(TRACE_SAMPLES_ENV);
    if (!folder || !*folder || !b->has_origins) return;
    char *path = bcos_strfmt("%s/rank-%d.txt", folder, run->rank);
    FILE *f = xfopen(path, "a");
    fprintf(f, "epoch %" PRId64 " step %" PRId64 ":", b->epoch, step);
    for (int i = 0; i < run->B; i++) fprintf(f, " %d:%ld", b->origins[i].shard, b->origins[i].index);
    fputc('\n', f);
    xfclose(f);
    free(path);
}

/* This rank's share of the next batch into run->batch, the epochs that end on the way recorded.
 * Returns 0; 1 when a request to stop (distill_stop_pending) came on some rank while a rank waited
 * for data, agreed by every rank, the position unmoved; or -1 with err. */
static int fetch_batch(distill_run *run, char *err, size_t errlen) {
    distill_source *source = run->source;
    int got;
    for (;;) {
        got = source->next_batch(source, run->samples_seen, &run->batch, STOP_POLL_MS, err, errlen);
        if (got < 0) return -1;
        if (got == DISTILL_EPOCH_END) end_epoch(run, run->batch.epoch);
        else if (got == DISTILL_GOT_BATCH || distill_stop_pending(run)) break;
    }
    /* one rank that gave up its wait stops them all, before any batch moves a cursor; a rank that
     * got its batch leaves it taken, since the source is stopped, not asked again */
    if (distill_agree_stop(got == DISTILL_WAITING)) return 1;
    trace_batch(run, run->step + 1, &run->batch);
    run->samples_seen += run->B_global;
    return 0;
}

/* After a step, or after a wait for a batch given up on a request to stop (no step trained): a
 * checkpoint when one is due and run->step has none yet, with what the source counted since the
 * last one (so that a resume counts again at most what it reads again); then the requests answered.
 * Sets *stop when a request to stop was honoured. Returns 0, or -1 with err. */
static int commit(distill_run *run, int *stop, char *err, size_t errlen) {
    distill_requests requests;
    if (!distill_store_due(run, &requests)) return 0;
    /* a stop while the first batch after a checkpoint was awaited: that checkpoint is the one */
    if (run->checkpoint_step != run->step) {
        int64_t epoch;
        char *position = run->source->position(run->source, run->samples_seen, &epoch);
        int rc = distill_store_checkpoint(run, position, epoch, err, errlen);
        free(position);
        if (rc != 0) return -1;
        record_counters(run);
    }
    *stop = distill_store_answer(run, &requests);
    return 0;
}

/* Train from run->step to the last step, or until a request to stop. Returns 0, or -1 with err. */
static int train(distill_run *run, bcos_distill_report *report, char *err, size_t errlen) {
    const bcos_distill_config *c = run->cfg;
    double window_start = bcos_now_seconds();
    int64_t window_steps = 0;
    int stop = 0;
    bcos_progress progress;
    bcos_progress_start_at(&progress, "step", (long)run->step, (long)c->steps);
    char line[160] = ""; /* the newest step's numbers, after its count on the progress line */
    while (run->step < c->steps && !stop) {
        double started = bcos_now_seconds();
        int got = fetch_batch(run, err, errlen);
        if (got < 0) return -1;
        if (got == 1) {
            /* the stop at once: the checkpoint of the last step trained, the stalled data abandoned */
            if (commit(run, &stop, err, errlen) != 0) return -1;
            BCOS_CHECK(stop, "a wait for data given up on a request to stop ends the run");
            break;
        }
        bcos_metric m;
        int skipped = 0;
        distill_step(run, &m, &skipped);
        double now = bcos_now_seconds();
        m.images_per_s = run->B_global / (now - started);
        report->final_loss = m.loss;
        distill_store_step_done(run, &m, skipped);
        window_steps++;
        int log_line = run->step % c->log_every == 0 || run->step == c->steps;
        snprintf(line, sizeof line, "loss %.5f cos %.4f lr %.3g grad %.3g B %.2f img/s %.1f", m.loss, m.cos, m.lr,
                 isnan(m.grad_norm) ? 0.0 : m.grad_norm, bcos_student_b_at(&run->student, run->step - 1),
                 (double)window_steps * run->B_global / (now - window_start));
        bcos_progress_update(&progress, (long)run->step, line, log_line);
        if (log_line) {
            distill_store_flush(run);
            window_start = now;
            window_steps = 0;
        }
        if (commit(run, &stop, err, errlen) != 0) return -1;
    }
    bcos_progress_finish(&progress, line);
    report->preempted = stop;
    return 0;
}

#define GIB (1024.0 * 1024.0 * 1024.0)

/* What the run will hold in memory, estimated before its buffers are allocated: the teacher, the
 * student with its gradients and Adam's two moments, the student's activations and the teacher's
 * working memory for one batch, the batch buffers, and the loader's (or the in-memory images).
 * Logged; a run that cannot fit in the memory the process may use is refused (-1 with err naming
 * batch_size, the estimate and the limit). */
static int check_memory(const distill_run *run, char *err, size_t errlen) {
    const bcos_distill_config *c = run->cfg;
    double f = sizeof(float), B = run->B, plane = (double)run->S * run->S, E = run->E;
    double models = (double)run->teacher.params.total * f + 4.0 * (double)run->student.params.total * f;
    double acts = (double)bcos_student_acts_floats(&run->student, run->B) * f;
    double teacher_work = (double)bcos_clip_encode_image_floats(&run->teacher.cfg, run->B) * f;
    /* x6 (6 planes) and the normalised input (3) as floats, the 8-bit crops, 4 embeddings a slot */
    double batch = B * (9 * plane * f + 3 * plane + 4 * E * f) + (double)run->B_global * E * f;
    double data;
    if (c->shards[0]) {
        distill_sample_config sample = {.image = {.size = run->S}, .context_length = run->teacher.cfg.context_length};
        double per_worker = ((double)c->ready_batches + 1) * B + (double)c->shuffle;
        data = (double)c->workers * per_worker * (double)distill_sample_bytes(&sample);
    } else {
        data = (double)run->set->count * (3 * plane + E * f); /* loaded already: crops and caption embeddings */
    }
    double total = models + acts + teacher_work + batch + data;
    const char *what;
    double limit = bcos_memory_limit(&what);
    char parts[256];
    snprintf(parts, sizeof parts,
             "student activations %.2f, teacher working memory %.2f, weights and Adam %.2f, batch %.2f, %s %.2f",
             acts / GIB, teacher_work / GIB, models / GIB, batch / GIB, c->shards[0] ? "loader" : "images",
             data / GIB);
    if (limit > 0 && total > limit)
        return bcos_error(err, errlen, "batch_size",
                          "%d images per step need about %.1f GiB (%s), more than the %.1f GiB of %s: use a smaller "
                          "batch_size%s",
                          c->batch_size, total / GIB, parts, limit / GIB, what,
                          c->shards[0] ? ", shuffle, ready_batches or workers" : "");
    bcos_info("distill: memory estimate %.2f GiB of %.1f GiB (%s; GiB: %s)", total / GIB, limit / GIB, what, parts);
    return 0;
}

static void alloc_buffers(distill_run *run) {
    size_t B = (size_t)run->B, S = (size_t)run->S, E = (size_t)run->E;
    run->grads = xcalloc(run->student.params.total, sizeof(float));
    run->x6 = xmalloc(B * 6 * S * S * sizeof(float));
    run->normalized = xmalloc(B * 3 * S * S * sizeof(float));
    run->t_img = xmalloc(B * E * sizeof(float));
    run->s_emb = xmalloc(B * E * sizeof(float));
    run->ds = xmalloc(B * E * sizeof(float));
    run->t_all = xmalloc((size_t)run->B_global * E * sizeof(float));
    run->acts = bcos_student_acts_new(&run->student, run->B);
    bcos_student_acts_set_reduce(run->acts, bcos_world_sum_f32, run->world); /* a ResNet's BatchNorm statistics */
    size_t L = (size_t)run->teacher.cfg.context_length;
    run->batch = (distill_batch){.crops = xmalloc(B * S * S * 3), .has_caption = xcalloc(B, sizeof(int)),
                                 .ids = xcalloc(B * L, sizeof(int32_t)), .caption_emb = xcalloc(B * E, sizeof(float)),
                                 .origins = xmalloc(B * sizeof(bcos_sample_origin))};
    run->caption_ids = xmalloc(B * L * sizeof(int32_t));
    run->caption_packed = xmalloc(B * E * sizeof(float));
    run->captioned = xmalloc(B * sizeof(int));
    run->pending = xmalloc(DISTILL_PENDING_ROWS * sizeof *run->pending);
    bcos_adam_config ac = {.lr = run->cfg->lr, .beta1 = run->cfg->beta1, .beta2 = run->cfg->beta2, .eps = run->cfg->eps,
                           .weight_decay = run->cfg->weight_decay, .decoupled = strcmp(run->cfg->optimizer, "adamw") == 0};
    bcos_adam_init(&run->opt, &ac, run->student.params.total);
}

static void free_run(distill_run *run) {
    bcos_adam_free(&run->opt);
    bcos_student_acts_free(run->acts);
    if (run->source) run->source->free(run->source);
    free(run->pending);
    free(run->counters);
    free(run->set_caption_emb);
    free(run->set_has_caption);
    free(run->captioned);
    free(run->caption_packed);
    free(run->caption_ids);
    free(run->batch.origins);
    free(run->batch.caption_emb);
    free(run->batch.ids);
    free(run->batch.has_caption);
    free(run->batch.crops);
    free(run->ds);
    free(run->t_all);
    free(run->s_emb);
    free(run->t_img);
    free(run->normalized);
    free(run->x6);
    free(run->grads);
    bcos_student_free(&run->student);
    bcos_clip_free(&run->teacher);
}

/* The teacher, and the images when the caller gave none and the run is not on shards. Returns 0, or
 * -1 with err and nothing held. */
static int load_inputs(distill_run *run, bcos_image_set *loaded, char *err, size_t errlen) {
    const bcos_distill_config *cfg = run->cfg;
    char note[256];
    const bcos_backend *be = bcos_backend_for_host_model(cfg->device, note, sizeof note, err, errlen);
    if (!be) return -1;
    if (note[0]) bcos_info("%s", note);
    if (bcos_clip_load_file(&run->teacher, cfg->teacher, cfg->teacher_model[0] ? cfg->teacher_model : NULL, be,
                            err, errlen) != 0)
        return -1;
    run->S = run->teacher.cfg.image_size;
    run->E = run->teacher.cfg.embed_dim;
    if (cfg->shards[0]) return 0;
    if (!run->set) {
        if (bcos_image_set_load_dir(loaded, cfg->images, run->S, err, errlen) != 0) {
            bcos_clip_free(&run->teacher);
            return -1;
        }
        run->set = loaded;
    }
    run->train_count = run->set->count - cfg->holdout;
    int status = 0;
    if (run->set->size != run->S)
        status = -1, snprintf(err, errlen, "images are %dpx, the teacher wants %dpx", run->set->size, run->S);
    else if (run->train_count < 1)
        status = -1, snprintf(err, errlen, "%d images leave none for training after holdout %d", run->set->count,
                              cfg->holdout);
    if (status != 0) {
        bcos_image_set_free(loaded);
        bcos_clip_free(&run->teacher);
    }
    return status;
}

/* "student.safetensors" -> "student.json" */
static void json_path_for(char *out, size_t len, const char *weights) {
    snprintf(out, len, "%s", weights);
    char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (dot && (!slash || dot > slash)) *dot = '\0';
    size_t used = strlen(out);
    snprintf(out + used, len - used, ".json");
}

/* After the last step, on rank 0 (the replicas are equal): the held-out cosine, and the student
 * saved to cfg->out. Returns 0 or -1. */
static int finish(distill_run *run, bcos_distill_report *report, char *err, size_t errlen) {
    const bcos_distill_config *cfg = run->cfg;
    if (run->rank != 0) return 0;
    if (cfg->holdout > 0) {
        report->holdout_cos_after = distill_mean_cosine(run, run->train_count, cfg->holdout,
                                                        bcos_student_b_at(&run->student, cfg->steps),
                                                        bcos_student_bias_scale_at(&run->student, cfg->steps));
        bcos_info("held-out cosine to the teacher: %.4f before, %.4f after", report->holdout_cos_before,
                  report->holdout_cos_after);
    }
    if (!cfg->out[0]) return 0;
    char json[600];
    json_path_for(json, sizeof json, cfg->out);
    if (bcos_student_save(&run->student, &run->teacher, run->step, cfg->out, json, err, errlen) != 0) return -1;
    bcos_info("saved the student to %s (config %s)", cfg->out, json);
    return 0;
}

/* This rank's source: the shards of cfg->shards, or the in-memory set (its captions embedded once
 * here). Returns NULL with err. */
static distill_source *new_source(distill_run *run, char *err, size_t errlen) {
    distill_shape shape = {.rank = run->rank, .world = run->world, .B = run->B, .B_global = run->B_global,
                           .S = run->S, .E = run->E, .context_length = run->teacher.cfg.context_length};
    if (run->cfg->shards[0]) return distill_source_shards_new(run->cfg, &shape, err, errlen);
    distill_embed_set_captions(run);
    return distill_source_images_new(run->set, run->train_count, run->cfg->seed, &shape, run->set_caption_emb,
                                     run->set_has_caption);
}

/* Begin the run in the store and, when it has a usable checkpoint, go on from it: the student,
 * Adam's state and the step (distill_checkpoint.c), then the source's data position. Returns 0, or
 * -1 with err. */
static int begin(distill_run *run, char *err, size_t errlen) {
    bcos_checkpoint c = {0};
    int found;
    if (distill_store_begin(run, &c, &found, err, errlen) != 0) return -1;
    if (!found) return 0;
    char note[256] = "";
    int rc = distill_checkpoint_restore(run, &c, err, errlen);
    if (rc == 0 && run->source->restore) rc = run->source->restore(run->source, &c, note, sizeof note, err, errlen);
    if (rc == 0) distill_store_resumed(run, &c, note);
    bcos_checkpoint_free(&c);
    return rc;
}

/* After the last step, on every rank: 0 while the data path lost no more samples than max_lost
 * (summed over the world), else -1 with err. A run that lost more is failed, whatever it trained. */
static int check_lost(distill_run *run, char *err, size_t errlen) {
    record_counters(run);
    if (run->data_lost <= run->cfg->max_lost) return 0;
    return bcos_error(err, errlen, "shards", "%" PRId64 " samples were lost with broken or missing shards, more than "
                      "max_lost %" PRId64 " (the run's fault events name the shards)", run->data_lost, run->cfg->max_lost);
}

/* The run's end in the store, what the source counted last recorded first. */
static void end(distill_run *run, bcos_run_status status, const char *why) {
    /* a failed rank may have left the others mid-collective: no more collectives then */
    if (run->cfg->run[0] && status != BCOS_RUN_FAILED) record_counters(run);
    distill_store_end(run, status, why);
}

static int distill(const bcos_distill_config *cfg, const bcos_image_set *set, bcos_distill_report *report,
                   char *err, size_t errlen) {
    memset(report, 0, sizeof *report);
    report->final_loss = NAN;
    if (bcos_distill_validate(cfg, err, errlen) != 0) return -1;
    /* fail before training, not after, when the student could not be saved */
    if (cfg->out[0] &&
        (bcos_make_parent_dirs(cfg->out, err, errlen) != 0 || bcos_check_replaceable(cfg->out, err, errlen) != 0))
        return -1;
    BCOS_CHECK(!set || !cfg->shards[0], "a run on shards is given no image set");
    distill_run run = {.cfg = cfg, .set = set, .rank = bcos_world_rank(), .world = bcos_world_size(),
                     .B_global = cfg->batch_size, .checkpoint_step = -1};
    if (cfg->batch_size % run.world != 0)
        return bcos_error(err, errlen, "batch_size", "%d images do not split evenly over %d ranks (use a multiple of %d)",
                          cfg->batch_size, run.world, run.world);
    run.B = cfg->batch_size / run.world;
    bcos_image_set loaded = {0};
    if (load_inputs(&run, &loaded, err, errlen) != 0) return -1;
    bcos_student_init(&run.student, &run.teacher.cfg, &cfg->student, run.teacher.backend);
    bcos_student_from_clip(&run.student, &run.teacher);
    if (check_memory(&run, err, errlen) != 0) {
        free_run(&run);
        bcos_image_set_free(&loaded);
        return -1;
    }
    alloc_buffers(&run);
    run.source = new_source(&run, err, errlen);
    if (!run.source) {
        free_run(&run);
        return -1;
    }
    if (cfg->shards[0]) {
        char *shards = bcos_url_redact(cfg->shards);
        bcos_info("distill: teacher %s (%s), student B=%.2f, shards %s, %lld steps of %d", cfg->teacher,
                  run.teacher.cfg.name, cfg->student.b, shards, (long long)cfg->steps, run.B_global);
        free(shards);
    } else
        bcos_info("distill: teacher %s (%s), student B=%.2f, %d training images, %d held out, %lld steps of %d",
                  cfg->teacher, run.teacher.cfg.name, cfg->student.b, run.train_count, cfg->holdout,
                  (long long)cfg->steps, run.B_global);
    if (run.world > 1) bcos_info("distill: %d ranks, %d images of each batch per rank", run.world, run.B);
    /* before: the freshly B-cosified student, also when the run resumes; rank 0 reports it */
    if (cfg->holdout > 0 && run.rank == 0)
        report->holdout_cos_before = distill_mean_cosine(&run, run.train_count, cfg->holdout,
                                                         bcos_student_b_at(&run.student, cfg->steps),
                                                         bcos_student_bias_scale_at(&run.student, cfg->steps));
    int rc = begin(&run, err, errlen);
    report->resumed_step = run.step;
    if (rc == 0) rc = train(&run, report, err, errlen);
    if (rc == 0 && !report->preempted) rc = check_lost(&run, err, errlen);
    if (rc == 0 && run.step > 0 && run.skipped_steps == run.step)
        rc = bcos_error(err, errlen, "distill", "all %lld steps were skipped (non-finite loss or gradient; the "
                        "teacher %s or the settings): nothing was trained", (long long)run.step, cfg->teacher);
    if (rc == 0 && !report->preempted) rc = finish(&run, report, err, errlen);
    report->steps_done = run.step;
    report->skipped_steps = run.skipped_steps;
    end(&run, rc != 0 ? BCOS_RUN_FAILED : report->preempted ? BCOS_RUN_PREEMPTED : BCOS_RUN_DONE, err);
    free_run(&run);
    bcos_image_set_free(&loaded);
    return rc;
}

int bcos_distill_run(const bcos_distill_config *cfg, const bcos_image_set *set, bcos_distill_report *report,
                     char *err, size_t errlen) {
    int rc = distill(cfg, set, report, err, errlen);
    if (rc != 0) bcos_url_redact_buffer(err, errlen); /* messages quote the shard list and its URLs */
    return rc;
}
