/* The training step, on every rank alike: this rank's share of the batch made into the student's
 * x6 and the teacher's normalised input, its captions embedded by the frozen text tower, teacher
 * and student embeddings of the same crops, its part of the whole batch's loss and the exact
 * backward; the gradients are summed over the ranks, so every rank applies the same clipping and
 * Adam(W) step on the schedule and the replicas stay equal. A step whose loss or gradient is not
 * finite is skipped (the same decision everywhere). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/image.h"
#include "bcos/log.h"
#include "bcos/tokenizer.h"
#include "bcos/world.h"
#include "distill_internal.h"

/* The 8-bit crop as the student's x6 and the teacher's normalised input, in batch slot `slot`. */
static void prepare_image(distill_run *run, int slot, const uint8_t *crop) {
    int S = run->S;
    bcos_x6_from_crop(run->x6 + (size_t)slot * 6 * S * S, crop, S);
    bcos_clip_normalize(run->normalized + (size_t)slot * 3 * S * S, crop, S, bcos_clip_mean, bcos_clip_std);
}

double distill_mean_cosine(distill_run *run, int first, int count, float b, float bias_scale) {
    double sum = 0;
    for (int done = 0; done < count; done += run->B) {
        int n = count - done < run->B ? count - done : run->B;
        for (int i = 0; i < run->B; i++)
            prepare_image(run, i, run->set->crops + (size_t)(first + done + (i < n ? i : 0)) * run->S * run->S * 3);
        bcos_clip_encode_image(&run->teacher, run->t_img, run->normalized, run->B);
        run->student.training = 0; /* a ResNet's running variances: rank 0 alone measures, no collective */
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
    for (int i = 0; i < run->B; i++) n += run->batch.has_caption[i];
    bcos_world_sum_i64(&n, 1);
    for (int i = 0; i < run->B; i++) {
        if (!run->batch.has_caption[i]) continue;
        loss += bcos_cosine_loss(run->ds + (size_t)i * run->E, NULL, run->s_emb + (size_t)i * run->E,
                                 run->batch.caption_emb + (size_t)i * run->E, 1, run->E, c->w_txt / (double)n);
    }
    return loss;
}

static void clip_gradients(distill_run *run, double *grad_norm) {
    const bcos_distill_config *c = run->cfg;
    size_t n = run->student.params.total;
    if (c->agc_clip > 0) bcos_adaptive_clip_grad(run->grads, &run->student.params, c->agc_clip, 1e-3);
    *grad_norm = bcos_clip_grad_norm(run->grads, n, c->grad_clip); /* grad_clip 0: the norm, unclipped */
}

/* The batch's captions, when the source left them to the step: the captioned slots' ids embedded
 * by the frozen text tower in one call, each embedding into its slot. */
static void embed_captions(distill_run *run) {
    distill_batch *b = &run->batch;
    if (b->embedded) return;
    int L = run->teacher.cfg.context_length, n = 0;
    for (int i = 0; i < run->B; i++) {
        if (!b->has_caption[i]) continue;
        memcpy(run->caption_ids + (size_t)n * L, b->ids + (size_t)i * L, (size_t)L * sizeof(int32_t));
        run->captioned[n++] = i;
    }
    if (n > 0) bcos_clip_encode_text(&run->teacher, run->caption_packed, run->caption_ids, n);
    for (int j = 0; j < n; j++)
        memcpy(b->caption_emb + (size_t)run->captioned[j] * run->E, run->caption_packed + (size_t)j * run->E,
               (size_t)run->E * sizeof(float));
}

void distill_embed_set_captions(distill_run *run) {
    int n = run->set->count, L = run->teacher.cfg.context_length;
    run->set_caption_emb = xcalloc((size_t)n * run->E, sizeof(float));
    run->set_has_caption = xcalloc((size_t)n, sizeof(int));
    if (run->cfg->w_txt <= 0) return;
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    int32_t *ids = xmalloc((size_t)L * sizeof(int32_t));
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (!run->set->captions[i]) continue;
        bcos_tokenize(tok, run->set->captions[i], L, ids);
        bcos_clip_encode_text(&run->teacher, run->set_caption_emb + (size_t)i * run->E, ids, 1);
        run->set_has_caption[i] = 1;
        found++;
    }
    free(ids);
    bcos_tokenizer_free(tok);
    bcos_info("text term: %d of %d images have a caption", found, n);
}

void distill_step(distill_run *run, bcos_metric *m, int *skipped) {
    const bcos_distill_config *c = run->cfg;
    int64_t step = run->step;
    embed_captions(run);
    for (int i = 0; i < run->B; i++) prepare_image(run, i, run->batch.crops + (size_t)i * run->S * run->S * 3);
    float b = bcos_student_b_at(&run->student, step), bias_scale = bcos_student_bias_scale_at(&run->student, step);
    bcos_clip_encode_image(&run->teacher, run->t_img, run->normalized, run->B);
    run->student.training = 1;
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
}

