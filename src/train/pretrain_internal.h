/* Inside the pretrain run: one contrastive step's arithmetic (pretrain_pass.c), shared by the run
 * and the golden test against open_clip. */
#ifndef BCOS_PRETRAIN_INTERNAL_H
#define BCOS_PRETRAIN_INTERNAL_H

#include <stdint.h>

#include "bcos/clip_train.h"
#include "bcos/train.h"

/* The model being trained and one step's buffers, for this rank's share B of a batch of B_global. */
typedef struct {
    bcos_clip *model;
    bcos_clip_acts *acts;
    int B, B_global, rank;
    float *grads;             /* the caller's, laid out as the model's parameters */
    float *img, *txt;         /* B x embed: this rank's features */
    float *dimg, *dtxt;       /* B x embed: their gradients */
    float *all_img, *all_txt; /* B_global x embed: every rank's features, in rank order */
} pretrain_pass;

/* grads: the caller's gradient allocation (params.total floats), kept by the caller. */
void pretrain_pass_init(pretrain_pass *p, bcos_clip *model, float *grads, int B, int B_global, int rank);
void pretrain_pass_free(pretrain_pass *p);
/* The contrastive loss of the whole batch (images[B,3,S,S] normalised, ids[B,context_length]: this
 * rank's share), and in p->grads its gradient summed over the ranks. */
double pretrain_gradients(pretrain_pass *p, const float *images, const int32_t *ids);
/* The optimiser's step at lr, then logit_scale clamped to [0, ln 100]. */
void pretrain_update(bcos_clip *m, bcos_adam *opt, const float *grads, double lr);

#endif
