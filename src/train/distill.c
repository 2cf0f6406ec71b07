/* The distillation loop, data-parallel over the world's ranks (bcos/world.h): each rank takes its
 * share of every batch from a source (distill_source.h), computes teacher and student embeddings of
 * the same crops, its part of the whole batch's loss and the exact backward; the gradients are
 * summed over the ranks, so every rank applies the same clipping and Adam(W) step on the schedule
 * and the replicas stay equal. Non-finite steps are skipped (the same decision everywhere), rank 0
 * prints progress, measures the held-out cosine before and after and saves the student; with a run
 * name, the metrics, checkpoints and resume go through the store (distill_store.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/eval.h"
#include "bcos/image.h"
#include "bcos/log.h"
#include "bcos/paths.h"
#include "bcos/urls.h"
#include "bcos/world.h"
#include "distill_internal.h"

/* The 8-bit crop as the student's x6 and the teacher's normalised input, in batch slot `slot`. */
static void prepare_image(distill_run *run, int slot, const uint8_t *crop) {
    int S = run->S;
    bcos_bcos6_input(run->x6 + (size_t)slot * 6 * S * S, crop, S);
    bcos_clip_normalize(run->normalized + (size_t)slot * 3 * S * S, crop, S, bcos_clip_mean, bcos_clip_std);
}

/* Mean student-teacher cosine over images [first, first + count), B at a time. */
static double mean_cosine(distill_run *run, int first, int count, float b, float bias_scale) {
    double sum = 0;
    for (int done = 0; done < count; done += run->B) {
        int n = count - done < run->B ? count - done : run->B;
        for (int i = 0; i < run->B; i++)
            prepare_image(run, i, run->set->crops + (size_t)(first + done + (i < n ? i : 0)) * run->S * run->S * 3);
        bcos_clip_encode_image(&run->teacher, run->t_img, run->normalized, run->B);
        bcos_student_forward(&run->student, run->acts, run->s_emb, run->x6, b, bias_scale);
        double mean;
        bcos_cosine_loss(NULL, &mean, run->s_emb, run->t_img, n, run->E, 1.0);
        sum += mean * n;
    }
    return sum / count;
}

/* This rank's part of the whole batch's loss, and its dL/ds: every term is normalised by the
 * world's counts, so that the parts and their gradients add up over the ranks. *mean_cos_part:
 * its part of the batch's mean student-teacher cosine. */
static double batch_loss(distill_run *run, double *mean_cos_part) {
    const bcos_distill_config *c = run->cfg;
    double share = (double)run->B / run->B_global, mean_cos;
    memset(run->ds, 0, (size_t)run->B * run->E * sizeof(float));
    if (strcmp(c->loss, "siglip") == 0) {
        /* negatives from the whole world's batch */
        bcos_world_allgather_f32(run->t_all, run->t_img, (size_t)run->B * run->E);
        bcos_cosine_loss(NULL, &mean_cos, run->s_emb, run->t_img, run->B, run->E, 1.0);
        *mean_cos_part = mean_cos * share;
        return bcos_siglip_loss(run->ds, run->s_emb, run->t_all, run->B, run->B_global, run->E, run->rank * run->B, 10.0, 10.0);
    }
    double loss = bcos_cosine_loss(run->ds, &mean_cos, run->s_emb, run->t_img, run->B, run->E, c->w_img * share);
    *mean_cos_part = mean_cos * share;
    if (c->w_txt <= 0) return loss;
    /* the text term averages over the world's captioned images */
    int64_t n = 0;
    for (int i = 0; i < run->B; i++) n += run->has_txt[i];
    bcos_world_sum_i64(&n, 1);
    for (int i = 0; i < run->B; i++) {
        if (!run->has_txt[i]) continue;
        loss += bcos_cosine_loss(run->ds + (size_t)i * run->E, NULL, run->s_emb + (size_t)i * run->E,
                                 run->txt_emb + (size_t)i * run->E, 1, run->E, c->w_txt / (double)n);
    }
    return loss;
}

static void clip_gradients(distill_run *run, double *grad_norm) {
    const bcos_distill_config *c = run->cfg;
    size_t n = run->student.params.total;
    if (c->agc_clip > 0) bcos_adaptive_clip_grad(run->grads, &run->student.params, c->agc_clip, 1e-3);
    *grad_norm = bcos_clip_grad_norm(run->grads, n, c->grad_clip); /* grad_clip 0: the norm, unclipped */
}

/* One step on the next batch from the source; its metrics in *m and whether it was skipped in
 * *skipped. Returns 0; 1 when a request to stop came while the batch was awaited (no step); or -1
 * with err when the source fails. */
static int train_step(distill_run *run, bcos_metric *m, int *skipped, char *err, size_t errlen) {
    const bcos_distill_config *c = run->cfg;
    int64_t step = run->step;
    int got = run->source->next_batch(run->source, run, err, errlen);
    if (got != 0) return got;
    for (int i = 0; i < run->B; i++) prepare_image(run, i, run->crops + (size_t)i * run->S * run->S * 3);
    float b = bcos_student_b_at(&run->student, step), bias_scale = bcos_student_bias_scale_at(&run->student, step);
    bcos_clip_encode_image(&run->teacher, run->t_img, run->normalized, run->B);
    bcos_student_forward(&run->student, run->acts, run->s_emb, run->x6, b, bias_scale);
    double parts[2] = {0, 0}; /* the loss and the mean cosine, summed over the world */
    parts[0] = batch_loss(run, &parts[1]);
    memset(run->grads, 0, run->student.params.total * sizeof(float));
    bcos_student_backward(&run->student, run->acts, run->grads, NULL, run->ds);
    bcos_world_sum_f32(run->grads, run->student.params.total);
    bcos_world_sum_f64(parts, 2);
    double loss = parts[0], mean_cos = parts[1], grad_norm = NAN;
    double lr = bcos_lr_at(step, c->warmup_steps, c->steps, c->lr, c->min_lr);
    *skipped = !isfinite(loss) || !bcos_all_finite(run->grads, run->student.params.total);
    if (*skipped) {
        run->skipped_steps++;
        bcos_warn("step %lld: non-finite loss or gradient, step skipped (%lld so far)", (long long)step + 1,
                  (long long)run->skipped_steps);
    } else {
        clip_gradients(run, &grad_norm);
        bcos_adam_step(&run->opt, run->student.params.data, run->grads, lr);
    }
    run->step = step + 1;
    *m = (bcos_metric){.step = run->step, .loss = loss, .cos = mean_cos, .lr = lr, .grad_norm = grad_norm,
                       .skipped_samples = *skipped ? run->B_global : 0};
    return 0;
}

/* Train from run->step to the last step, or until a request to stop. Returns 0, or -1 with err. */
static int train(distill_run *run, bcos_distill_report *report, char *err, size_t errlen) {
    const bcos_distill_config *c = run->cfg;
    double window_start = bcos_now_seconds();
    int64_t window_steps = 0;
    int stop = 0;
    while (run->step < c->steps && !stop) {
        double started = bcos_now_seconds();
        bcos_metric m;
        int skipped = 0;
        int got = train_step(run, &m, &skipped, err, errlen);
        if (got < 0) return -1;
        if (got == 1) {
            /* the stop at once: the checkpoint of the last step trained, the stalled data abandoned */
            if (distill_store_after_step(run, &stop, err, errlen) != 0) return -1;
            BCOS_CHECK(stop, "a wait for data given up on a request to stop ends the run");
            break;
        }
        double now = bcos_now_seconds();
        m.images_per_s = run->B_global / (now - started);
        report->final_loss = m.loss;
        distill_store_step_done(run, &m, skipped);
        window_steps++;
        if (run->step % c->log_every == 0 || run->step == c->steps) {
            bcos_info("step %lld/%lld loss %.5f cos %.4f lr %.3g grad %.3g B %.2f img/s %.1f", (long long)run->step,
                      (long long)c->steps, m.loss, m.cos, m.lr, isnan(m.grad_norm) ? 0.0 : m.grad_norm,
                      bcos_student_b_at(&run->student, run->step - 1), (double)window_steps * run->B_global / (now - window_start));
            distill_store_flush(run);
            window_start = now;
            window_steps = 0;
        }
        if (distill_store_after_step(run, &stop, err, errlen) != 0) return -1;
    }
    report->preempted = stop;
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
    run->crops = xmalloc(B * S * S * 3);
    run->txt_emb = xcalloc(B * E, sizeof(float));
    run->has_txt = xcalloc(B, sizeof(int));
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
    free(run->has_txt);
    free(run->txt_emb);
    free(run->crops);
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
    if (bcos_clip_load_file(&run->teacher, cfg->teacher, cfg->teacher_model[0] ? cfg->teacher_model : NULL,
                            bcos_backend_get("auto"), err, errlen) != 0)
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
        report->holdout_cos_after = mean_cosine(run, run->train_count, cfg->holdout, bcos_student_b_at(&run->student, cfg->steps),
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
    if (distill_memory_check(&run, err, errlen) != 0) {
        free_run(&run);
        bcos_image_set_free(&loaded);
        return -1;
    }
    alloc_buffers(&run);
    run.source = cfg->shards[0] ? distill_source_shards_new(&run, err, errlen) : distill_source_images_new(&run);
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
        report->holdout_cos_before = mean_cosine(&run, run.train_count, cfg->holdout, bcos_student_b_at(&run.student, cfg->steps),
                                                 bcos_student_bias_scale_at(&run.student, cfg->steps));
    int rc = distill_store_begin(&run, err, errlen);
    report->resumed_step = run.step;
    if (rc == 0) rc = train(&run, report, err, errlen);
    /* a run that lost more samples than it may is failed, whatever it trained */
    if (rc == 0 && !report->preempted && run.source->check_lost) rc = run.source->check_lost(run.source, &run, err, errlen);
    if (rc == 0 && run.step > 0 && run.skipped_steps == run.step)
        rc = bcos_error(err, errlen, "distill", "all %lld steps were skipped (non-finite loss or gradient; the "
                        "teacher %s or the settings): nothing was trained", (long long)run.step, cfg->teacher);
    if (rc == 0 && !report->preempted) rc = finish(&run, report, err, errlen);
    report->steps_done = run.step;
    report->skipped_steps = run.skipped_steps;
    distill_store_end(&run, rc != 0 ? BCOS_RUN_FAILED : report->preempted ? BCOS_RUN_PREEMPTED : BCOS_RUN_DONE, err);
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
