/* The pretraining run: a CLIP (fresh weights from the seed, or a weights file to go on from) trained
 * on image-caption shards with the contrastive loss (pretrain_pass.c), in the loop every kind of run
 * shares (train_loop.c), with pretrain's step, checkpoint files (the CLIP in open_clip naming, Adam's
 * state in the same layout) and progress line (train_kind). Rank 0 saves the model at the end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/clip_train.h"
#include "bcos/image.h"
#include "bcos/log.h"
#include "bcos/paths.h"
#include "bcos/pretrain.h"
#include "bcos/tokenizer.h"
#include "bcos/urls.h"
#include "bcos/world.h"
#include "pretrain_internal.h"
#include "train_internal.h"

/* What a pretrain run holds besides the shared state (train_run.trainee). */
typedef struct {
    const bcos_pretrain_config *cfg;
    bcos_clip model;
    pretrain_pass pass;
    float *images;  /* B x 3 x S x S: the step's crops, normalised */
    int32_t *ids;   /* B x context_length: the step's captions */
    int32_t *empty; /* context_length: the empty caption, for a sample without a .txt */
    int64_t uncaptioned; /* samples trained with the empty caption, on this rank */
    double first_loss;
    /* with 'images': the folder's images, and their captions tokenized once */
    bcos_image_set set;
    int32_t *set_ids;
    int *set_has_caption;
} pretrain_state;

static pretrain_state *state(const train_run *run) { return run->trainee; }

static char *job_text(const train_run *run) { return bcos_pretrain_job_text(state(run)->cfg); }

/* This rank's share of the batch as the model's input: each crop normalised, each caption's ids. */
static void prepare_batch(train_run *run, pretrain_state *p) {
    int S = p->model.cfg.image_size, L = p->model.cfg.context_length;
    for (int i = 0; i < run->B; i++) {
        bcos_clip_normalize(p->images + (size_t)i * 3 * S * S, run->batch.crops + (size_t)i * S * S * 3, S,
                            bcos_clip_mean, bcos_clip_std);
        int captioned = run->batch.has_caption[i];
        memcpy(p->ids + (size_t)i * L, captioned ? run->batch.ids + (size_t)i * L : p->empty, (size_t)L * sizeof(int32_t));
        p->uncaptioned += !captioned;
    }
}

static void step(train_run *run, bcos_metric *m, int *skipped) {
    pretrain_state *p = state(run);
    const bcos_distill_config *c = run->cfg;
    size_t n = p->model.params.total;
    prepare_batch(run, p);
    double loss = pretrain_gradients(&p->pass, p->images, p->ids), grad_norm = NAN, mean_cos;
    double lr = bcos_lr_at(run->step, c->warmup_steps, c->steps, c->lr, c->min_lr);
    if (isnan(p->first_loss)) p->first_loss = loss;
    *skipped = !isfinite(loss) || !bcos_all_finite(p->pass.grads, n);
    if (*skipped) {
        run->skipped_steps++;
        bcos_warn("step %lld: non-finite loss or gradient, step skipped (%lld so far)", (long long)run->step + 1,
                  (long long)run->skipped_steps);
    } else {
        grad_norm = bcos_clip_grad_norm(p->pass.grads, n, c->grad_clip); /* grad_clip 0: the norm, unclipped */
        pretrain_update(&p->model, &run->opt, p->pass.grads, lr);
    }
    run->step++;
    /* the matching pairs' mean cosine over the whole batch (every rank holds the same features) */
    bcos_cosine_loss(NULL, &mean_cos, p->pass.all_img, p->pass.all_txt, run->B_global, p->model.cfg.embed_dim, 1.0);
    *m = (bcos_metric){.step = run->step, .loss = loss, .cos = mean_cos, .lr = lr, .grad_norm = grad_norm,
                       .skipped_samples = *skipped ? run->B_global : 0};
}

static void describe(const train_run *run, const bcos_metric *m, double images_per_s, char *line, size_t len) {
    const bcos_clip *model = &state(run)->model;
    snprintf(line, len, "loss %.5f cos %.4f lr %.3g grad %.3g scale %.2f img/s %.1f", m->loss, m->cos, m->lr,
             isnan(m->grad_norm) ? 0.0 : m->grad_norm, exp(*bcos_params_ptr(&model->params, model->logit_scale)),
             images_per_s);
}

/* A CLIP file's entries (bcos_clip_save's) and the metadata naming its config. */
typedef struct {
    bcos_clip_export x;
    bcos_st_meta meta[1];
} clip_file;

static void weights_make(const train_run *run, train_file *f) {
    const bcos_clip *m = &state(run)->model;
    clip_file *cf = xmalloc(sizeof *cf);
    bcos_clip_export_openclip(&cf->x, m, 0);
    cf->meta[0] = (bcos_st_meta){"bcos_model", m->cfg.name};
    *f = (train_file){cf->x.entries, cf->x.count, cf->meta, 1, cf};
}

static void tensors_make(const train_run *run, train_file *f, const float *flat, const char *prefix) {
    clip_file *cf = xmalloc(sizeof *cf);
    bcos_clip_export_buffer(&cf->x, &state(run)->model, flat, prefix);
    *f = (train_file){.entries = cf->x.entries, .count = cf->x.count, .impl = cf};
}

static void file_free(train_file *f) {
    clip_file *cf = f->impl;
    bcos_clip_export_free(&cf->x);
    free(cf);
}

static int tensors_read(const train_run *run, const bcos_safetensors *st, const char *prefix, float *flat, char *err,
                        size_t errlen) {
    return bcos_clip_read_buffer(&state(run)->model, st, prefix, flat, err, errlen);
}

static const train_kind pretrain_kind = {.name = "pretrain", .run_kind = BCOS_RUN_PRETRAIN, .weights_file = "model",
                                         .job_text = job_text, .step = step, .describe = describe,
                                         .weights_make = weights_make, .weights_free = file_free,
                                         .tensors_make = tensors_make, .tensors_free = file_free,
                                         .tensors_read = tensors_read};

/* The model: the init weights, or fresh ones for the config drawn from the seed; its vocabulary
 * must hold the tokenizer's ids. Returns 0, or -1 with err and nothing held. */
static int load_model(pretrain_state *p, char *err, size_t errlen) {
    const bcos_pretrain_config *cfg = p->cfg;
    const bcos_backend *be = bcos_backend_get("auto");
    if (cfg->init[0]) {
        if (bcos_clip_load_file(&p->model, cfg->init, cfg->model[0] ? cfg->model : NULL, be, err, errlen) != 0)
            return -1;
    } else {
        bcos_clip_config fresh;
        if (bcos_clip_config_load(&fresh, cfg->model, err, errlen) != 0) return -1;
        bcos_clip_init(&p->model, &fresh, be);
        bcos_clip_init_weights(&p->model, (uint64_t)cfg->base.seed);
    }
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    int vocab = bcos_tokenizer_vocab_size(tok);
    bcos_tokenizer_free(tok);
    bcos_clip_config c = p->model.cfg;
    if (c.vocab_size >= vocab) return 0;
    bcos_clip_free(&p->model);
    return bcos_error(err, errlen, "model", "config %s has a vocabulary of %d tokens, fewer than the tokenizer's %d",
                      c.name, c.vocab_size, vocab);
}

/* What the run will hold, estimated before its buffers are allocated: the model with its gradients
 * and Adam's moments, both towers' activations for this rank's share of the batch, the step's
 * buffers, and the loader's (the folder's images are loaded after this check, as they are small
 * beside the rest at the sizes pretraining runs). Logged, or refused as distill's is. */
static int check_memory(const train_run *run, const pretrain_state *p, char *err, size_t errlen) {
    const bcos_clip_config *c = &p->model.cfg;
    double f = sizeof(float), B = run->B, plane = (double)c->image_size * c->image_size, L = c->context_length;
    double models = 4.0 * (double)p->model.params.total * f;
    double acts = (double)bcos_clip_acts_floats(c, run->B) * f;
    /* normalised images and 8-bit crops, ids twice; features, gradients and the gathered ones */
    double batch = B * (3 * plane * f + 3 * plane + 2 * L * 4) + (4 * B + 2.0 * run->B_global) * c->embed_dim * f;
    double data = run->cfg->shards[0] ? train_loader_bytes(run, c->image_size, c->context_length) : 0;
    char parts[256];
    snprintf(parts, sizeof parts, "activations %.2f, weights, gradients and Adam %.2f, batch %.2f, loader %.2f",
             acts / TRAIN_GIB, models / TRAIN_GIB, batch / TRAIN_GIB, data / TRAIN_GIB);
    return train_fits_memory(run, "pairs", models + acts + batch + data, parts, err, errlen);
}

static void alloc_state(train_run *run, pretrain_state *p) {
    const bcos_clip_config *c = &p->model.cfg;
    size_t B = (size_t)run->B, S = (size_t)c->image_size, L = (size_t)c->context_length;
    train_alloc(run, c->image_size, c->embed_dim, c->context_length);
    bcos_adam_exclude_1d_from_decay(&run->opt, &p->model.params);
    pretrain_pass_init(&p->pass, &p->model, run->grads, run->B, run->B_global, run->rank);
    p->images = xmalloc(B * 3 * S * S * sizeof(float));
    p->ids = xmalloc(B * L * sizeof(int32_t));
    p->empty = xmalloc(L * sizeof(int32_t));
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    bcos_tokenize(tok, "", (int)L, p->empty);
    bcos_tokenizer_free(tok);
}

static void free_state(train_run *run, pretrain_state *p) {
    train_free(run);
    bcos_image_set_free(&p->set);
    free(p->set_ids);
    free(p->set_has_caption);
    pretrain_pass_free(&p->pass);
    free(p->images);
    free(p->ids);
    free(p->empty);
    bcos_clip_free(&p->model);
}

/* The folder's images at the model's size, their captions tokenized. Returns 0, or -1 with err. */
static int load_images(pretrain_state *p, char *err, size_t errlen) {
    const bcos_clip_config *c = &p->model.cfg;
    if (bcos_image_set_load_dir(&p->set, p->cfg->base.images, c->image_size, err, errlen) != 0) return -1;
    int n = p->set.count, L = c->context_length;
    p->set_ids = xcalloc((size_t)n * L, sizeof(int32_t));
    p->set_has_caption = xcalloc((size_t)n, sizeof(int));
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    for (int i = 0; i < n; i++) {
        if (!p->set.captions[i]) continue;
        bcos_tokenize(tok, p->set.captions[i], L, p->set_ids + (size_t)i * L);
        p->set_has_caption[i] = 1;
    }
    bcos_tokenizer_free(tok);
    return 0;
}

/* This rank's source: the shards, or the folder's images in the order of (seed, sample index) that
 * gives every number of ranks the same global batches. Returns NULL with err. */
static train_source *new_source(train_run *run, pretrain_state *p, char *err, size_t errlen) {
    const bcos_clip_config *c = &p->model.cfg;
    distill_shape shape = {.rank = run->rank, .world = run->world, .B = run->B, .B_global = run->B_global,
                           .S = c->image_size, .E = c->embed_dim, .context_length = c->context_length};
    if (run->cfg->shards[0]) return train_source_shards_new(run->cfg, &shape, err, errlen);
    if (load_images(p, err, errlen) != 0) return NULL;
    return train_source_images_new(&p->set, p->set.count, run->cfg->seed, &shape, NULL, p->set_ids,
                                     p->set_has_caption);
}

/* After the last step, on rank 0: the model saved to out. Returns 0 or -1. */
static int finish(train_run *run, pretrain_state *p, char *err, size_t errlen) {
    const char *out = run->cfg->out;
    if (p->uncaptioned > 0)
        bcos_warn("pretrain: rank %d trained %lld samples without a caption (.txt) on the empty caption", run->rank,
                  (long long)p->uncaptioned);
    if (run->rank != 0 || !out[0]) return 0;
    if (bcos_params_check_finite(&p->model.params, err, errlen) != 0) return -1;
    if (bcos_clip_save(&p->model, out, err, errlen) != 0) return -1;
    bcos_info("saved the model to %s (config %s, open_clip naming)", out, p->model.cfg.name);
    return 0;
}

static int pretrain(const bcos_pretrain_config *cfg, bcos_pretrain_report *report, char *err, size_t errlen) {
    memset(report, 0, sizeof *report);
    report->first_loss = report->final_loss = NAN;
    if (bcos_pretrain_validate(cfg, err, errlen) != 0) return -1;
    const bcos_distill_config *base = &cfg->base;
    if (base->out[0] &&
        (bcos_make_parent_dirs(base->out, err, errlen) != 0 || bcos_check_replaceable(base->out, err, errlen) != 0))
        return -1;
    pretrain_state p = {.cfg = cfg, .first_loss = NAN};
    train_run run = {.kind = &pretrain_kind, .cfg = base, .trainee = &p, .rank = bcos_world_rank(),
                     .world = bcos_world_size(), .B_global = base->batch_size, .checkpoint_step = -1};
    if (base->batch_size % run.world != 0)
        return bcos_error(err, errlen, "batch_size", "%d pairs do not split evenly over %d ranks (use a multiple of %d)",
                          base->batch_size, run.world, run.world);
    run.B = base->batch_size / run.world;
    if (load_model(&p, err, errlen) != 0) return -1;
    run.trained = &p.model.params;
    if (check_memory(&run, &p, err, errlen) != 0) {
        bcos_clip_free(&p.model);
        return -1;
    }
    alloc_state(&run, &p);
    run.source = new_source(&run, &p, err, errlen);
    if (!run.source) {
        free_state(&run, &p);
        return -1;
    }
    char *data = base->shards[0] ? bcos_url_redact(base->shards) : bcos_strfmt("%d images of %s", p.set.count, base->images);
    bcos_info("pretrain: %s (%s), %s, %lld steps of %d pairs", cfg->init[0] ? cfg->init : "fresh weights",
              p.model.cfg.name, data, (long long)base->steps, run.B_global);
    free(data);
    if (run.world > 1) bcos_info("pretrain: %d ranks, %d pairs of each batch per rank", run.world, run.B);
    train_outcome outcome;
    int rc = train_through(&run, &outcome, cfg->init[0] ? "the initial weights or the settings" : "the settings",
                           err, errlen);
    report->resumed_step = outcome.resumed_step;
    report->final_loss = outcome.final_loss;
    report->first_loss = p.first_loss;
    report->preempted = outcome.preempted;
    if (rc == 0 && !report->preempted) rc = finish(&run, &p, err, errlen);
    report->steps_done = run.step;
    report->skipped_steps = run.skipped_steps;
    train_end(&run, rc != 0 ? BCOS_RUN_FAILED : report->preempted ? BCOS_RUN_PREEMPTED : BCOS_RUN_DONE, err);
    free_state(&run, &p);
    return rc;
}

int bcos_pretrain_run(const bcos_pretrain_config *cfg, bcos_pretrain_report *report, char *err, size_t errlen) {
    int rc = pretrain(cfg, report, err, errlen);
    if (rc != 0) bcos_url_redact_buffer(err, errlen); /* messages quote the shard list and its URLs */
    return rc;
}
