/* One contrastive step's arithmetic, on every rank alike: both towers' forward on this rank's share
 * of the batch, every rank's features gathered so that the loss runs over the whole global batch
 * (its negatives), the exact backward of this rank's rows, the gradients summed over the ranks;
 * then AdamW and logit_scale clamped to [0, ln 100] (exp(logit_scale) at most 100, as open_clip's
 * training loop clamps it after each step). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/world.h"
#include "pretrain_internal.h"

void pretrain_pass_init(pretrain_pass *p, bcos_clip *model, float *grads, int B, int B_global, int rank) {
    size_t E = (size_t)model->cfg.embed_dim;
    *p = (pretrain_pass){.model = model, .grads = grads, .B = B, .B_global = B_global, .rank = rank};
    p->acts = bcos_clip_acts_new(model, B);
    p->img = xmalloc((4 * (size_t)B + 2 * (size_t)B_global) * E * sizeof(float));
    p->txt = p->img + B * E;
    p->dimg = p->txt + B * E;
    p->dtxt = p->dimg + B * E;
    p->all_img = p->dtxt + B * E;
    p->all_txt = p->all_img + (size_t)B_global * E;
}

void pretrain_pass_free(pretrain_pass *p) {
    bcos_clip_acts_free(p->acts);
    free(p->img);
    memset(p, 0, sizeof *p);
}

double pretrain_gradients(pretrain_pass *p, const float *images, const int32_t *ids) {
    bcos_clip *m = p->model;
    size_t E = (size_t)m->cfg.embed_dim, n = m->params.total;
    bcos_clip_train_forward(m, p->acts, p->img, p->txt, images, ids);
    bcos_world_allgather_f32(p->all_img, p->img, p->B * E);
    bcos_world_allgather_f32(p->all_txt, p->txt, p->B * E);
    memset(p->dimg, 0, 2 * p->B * E * sizeof(float));
    double dscale = 0;
    double loss = bcos_clip_loss(p->dimg, p->dtxt, &dscale, p->all_img, p->all_txt, p->B_global, (int)E,
                                 *bcos_params_ptr(&m->params, m->logit_scale), p->rank * p->B, p->B);
    memset(p->grads, 0, n * sizeof(float));
    bcos_clip_train_backward(m, p->acts, p->grads, p->dimg, p->dtxt);
    /* every rank computed the whole dL/dlogit_scale: one of them adds it to the sum */
    if (p->rank == 0) p->grads[m->params.items[m->logit_scale].offset] = (float)dscale;
    bcos_world_sum_f32(p->grads, n);
    return loss;
}

void pretrain_update(bcos_clip *m, bcos_adam *opt, const float *grads, double lr) {
    bcos_adam_step(opt, m->params.data, grads, lr);
    float *scale = bcos_params_ptr(&m->params, m->logit_scale);
    *scale = fminf(fmaxf(*scale, 0.0f), (float)log(100.0));
}
