/* The distillation run: the teacher loaded and B-cosified into the student, the data source (the
 * in-memory images or the shards), then the loop that every kind of run shares (train_loop.c) with
 * distill's step (distill_step.c), checkpoint files and progress line (train_kind). A run that would
 * not fit in memory is refused before it starts. Rank 0 measures the held-out cosine before and
 * after and saves the student. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/paths.h"
#include "bcos/rn_student.h"
#include "bcos/urls.h"
#include "bcos/world.h"
#include "train_internal.h"

/* What the run will hold in memory, estimated before its buffers are allocated: the teacher, the
 * student with its gradients and Adam's two moments, the student's activations and the teacher's
 * working memory for one batch, the batch buffers, and the loader's (or the in-memory images).
 * Logged; a run that cannot fit in the memory the process may use is refused (-1 with err naming
 * batch_size, the estimate and the limit). */
static int check_memory(const train_run *run, char *err, size_t errlen) {
    const bcos_distill_config *c = run->cfg;
    double f = sizeof(float), B = run->B, plane = (double)run->S * run->S, E = run->E;
    double models = (double)run->teacher.params.total * f + 4.0 * (double)run->student.params.total * f;
    double acts = (double)bcos_student_acts_floats(&run->student, run->B) * f;
    double teacher_work = (double)bcos_clip_encode_image_floats(&run->teacher.cfg, run->B) * f;
    /* x6 (6 planes) and the normalised input (3) as floats, the 8-bit crops, 4 embeddings a slot */
    double batch = B * (9 * plane * f + 3 * plane + 4 * E * f) + (double)run->B_global * E * f;
    double data = c->shards[0] ? train_loader_bytes(run, run->S, run->teacher.cfg.context_length)
                               : (double)run->set->count * (3 * plane + E * f); /* crops and caption embeddings */
    char parts[256];
    snprintf(parts, sizeof parts,
             "student activations %.2f, teacher working memory %.2f, weights and Adam %.2f, batch %.2f, %s %.2f",
             acts / TRAIN_GIB, teacher_work / TRAIN_GIB, models / TRAIN_GIB, batch / TRAIN_GIB,
             c->shards[0] ? "loader" : "images", data / TRAIN_GIB);
    return train_fits_memory(run, "images", models + acts + teacher_work + batch + data, parts, err, errlen);
}

static void alloc_buffers(train_run *run) {
    size_t B = (size_t)run->B, S = (size_t)run->S, E = (size_t)run->E;
    size_t L = (size_t)run->teacher.cfg.context_length;
    train_alloc(run, run->S, run->E, (int)L);
    run->x6 = xmalloc(B * 6 * S * S * sizeof(float));
    run->normalized = xmalloc(B * 3 * S * S * sizeof(float));
    run->t_img = xmalloc(B * E * sizeof(float));
    run->s_emb = xmalloc(B * E * sizeof(float));
    run->ds = xmalloc(B * E * sizeof(float));
    run->t_all = xmalloc((size_t)run->B_global * E * sizeof(float));
    run->acts = bcos_student_acts_new(&run->student, run->B);
    bcos_student_acts_set_reduce(run->acts, bcos_world_sum_f32, run->world); /* a ResNet's BatchNorm statistics */
    run->caption_ids = xmalloc(B * L * sizeof(int32_t));
    run->caption_packed = xmalloc(B * E * sizeof(float));
    run->captioned = xmalloc(B * sizeof(int));
}

static void free_run(train_run *run) {
    train_free(run);
    bcos_student_acts_free(run->acts);
    free(run->set_caption_emb);
    free(run->set_has_caption);
    free(run->captioned);
    free(run->caption_packed);
    free(run->caption_ids);
    free(run->ds);
    free(run->t_all);
    free(run->s_emb);
    free(run->t_img);
    free(run->normalized);
    free(run->x6);
    bcos_student_free(&run->student);
    bcos_clip_free(&run->teacher);
}

/* The teacher, and the images when the caller gave none and the run is not on shards. Returns 0, or
 * -1 with err and nothing held. */
static int load_inputs(train_run *run, bcos_image_set *loaded, char *err, size_t errlen) {
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
static int finish(train_run *run, bcos_distill_report *report, char *err, size_t errlen) {
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
static train_source *new_source(train_run *run, char *err, size_t errlen) {
    distill_shape shape = {.rank = run->rank, .world = run->world, .B = run->B, .B_global = run->B_global,
                           .S = run->S, .E = run->E, .context_length = run->teacher.cfg.context_length};
    if (run->cfg->shards[0]) return train_source_shards_new(run->cfg, &shape, err, errlen);
    distill_embed_set_captions(run);
    return train_source_images_new(run->set, run->train_count, run->cfg->seed, &shape, run->set_caption_emb, NULL,
                                     run->set_has_caption);
}

/* ---- what distill does its own way (train_kind) ---- */

static char *job_text(const train_run *run) { return bcos_distill_job_text(run->cfg); }

static void describe(const train_run *run, const bcos_metric *m, double images_per_s, char *line, size_t len) {
    snprintf(line, len, "loss %.5f cos %.4f lr %.3g grad %.3g B %.2f img/s %.1f", m->loss, m->cos, m->lr,
             isnan(m->grad_norm) ? 0.0 : m->grad_norm, bcos_student_b_at(&run->student, run->step - 1), images_per_s);
}

/* The student as bcos_student_save writes it, with the teacher's text tower. */
static void weights_make(const train_run *run, train_file *f) {
    bcos_student_file *student = xmalloc(sizeof *student);
    bcos_student_file_make(student, &run->student, &run->teacher, run->step);
    *f = (train_file){student->entries, student->count, student->meta, student->n_meta, student};
}

static void weights_free(train_file *f) {
    bcos_student_file_free(f->impl);
    free(f->impl);
}

/* Adam's state in the student file's layout. */
static void tensors_make(const train_run *run, train_file *f, const float *flat, const char *prefix) {
    bcos_student_tensors *t = xmalloc(sizeof *t);
    bcos_student_tensors_make(t, &run->student, flat, prefix);
    *f = (train_file){.entries = t->entries, .count = t->count, .impl = t};
}

static void tensors_free(train_file *f) {
    bcos_student_tensors_free(f->impl);
    free(f->impl);
}

static int tensors_read(const train_run *run, const bcos_safetensors *st, const char *prefix, float *flat, char *err,
                        size_t errlen) {
    return bcos_student_tensors_read(&run->student, st, prefix, flat, err, errlen);
}

/* A ResNet student's running variances, saved in its file beside the parameters. */
static int kept_read(train_run *run, const bcos_safetensors *st, char *err, size_t errlen) {
    return bcos_student_buffers_read(&run->student, st, err, errlen);
}

const train_kind distill_kind = {.name = "distill", .run_kind = BCOS_RUN_DISTILL, .weights_file = "student",
                                 .job_text = job_text, .step = distill_step, .describe = describe,
                                 .weights_make = weights_make, .weights_free = weights_free,
                                 .tensors_make = tensors_make, .tensors_free = tensors_free,
                                 .tensors_read = tensors_read, .kept_read = kept_read};

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
    train_run run = {.kind = &distill_kind, .cfg = cfg, .set = set, .rank = bcos_world_rank(), .world = bcos_world_size(),
                     .B_global = cfg->batch_size, .checkpoint_step = -1};
    if (cfg->batch_size % run.world != 0)
        return bcos_error(err, errlen, "batch_size", "%d images do not split evenly over %d ranks (use a multiple of %d)",
                          cfg->batch_size, run.world, run.world);
    run.B = cfg->batch_size / run.world;
    bcos_image_set loaded = {0};
    if (load_inputs(&run, &loaded, err, errlen) != 0) return -1;
    bcos_student_init(&run.student, &run.teacher.cfg, &cfg->student, run.teacher.backend);
    bcos_student_from_clip(&run.student, &run.teacher);
    run.trained = &run.student.params;
    run.kept = &run.student.buffers;
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
    train_outcome outcome;
    char *suspect = bcos_strfmt("the teacher %s or the settings", cfg->teacher);
    int rc = train_through(&run, &outcome, suspect, err, errlen);
    free(suspect);
    report->resumed_step = outcome.resumed_step;
    report->final_loss = outcome.final_loss;
    report->preempted = outcome.preempted;
    if (rc == 0 && !report->preempted) rc = finish(&run, report, err, errlen);
    report->steps_done = run.step;
    report->skipped_steps = run.skipped_steps;
    train_end(&run, rc != 0 ? BCOS_RUN_FAILED : report->preempted ? BCOS_RUN_PREEMPTED : BCOS_RUN_DONE, err);
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
