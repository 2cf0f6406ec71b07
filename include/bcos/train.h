/* Training pieces that know no model: the distillation losses, CLIP's contrastive loss, the
 * learning-rate schedule, gradient clipping and the Adam/AdamW optimiser over a parameter table's
 * single allocation. */
#ifndef BCOS_TRAIN_H
#define BCOS_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "bcos/params.h"

/* Cosine loss L = weight * mean_b (1 - cos(s_b, t_b)) for s[B,E] (student) and t[B,E] (frozen
 * target). Accumulates dL/ds into ds (may be NULL). Returns L; *mean_cos (may be NULL) gets the
 * mean cosine. Computed in double from fp32 inputs; a row whose norm is below 1e-8 counts as having
 * that norm (the zero-norm guard). */
double bcos_cosine_loss(float *ds, double *mean_cos, const float *s, const float *t, int B, int E, double weight);

/* SigLIP-style loss of the released B-cosification code over the cosine matrix S = ŝ t̂ᵀ between
 * the local students s[B,E] and all N targets t[N,E] of the global batch: labels +1 where the
 * target index is row_offset + b, -1 elsewhere, L = -(1/N) Σ_b Σ_n log σ(label · (scale·S − bias_shift))
 * with scale 10 and bias_shift 10 in the paper. Summed over ranks, the local losses give the global
 * one. Accumulates dL/ds into ds (may be NULL). Returns the local L. */
double bcos_siglip_loss(float *ds, const float *s, const float *t, int B, int N, int E, int row_offset,
                        double scale, double bias_shift);

/* CLIP's contrastive loss (symmetric InfoNCE) over the whole global batch, as open_clip's ClipLoss:
 * img[N,E] and txt[N,E] are every rank's unnormalised features (pair i matches on the diagonal),
 * logits = exp(logit_scale) · î t̂ᵀ, L = (CE(logits) + CE(logitsᵀ)) / 2 averaged over the N pairs.
 * Accumulates into dimg[B,E] and dtxt[B,E] (either may be NULL) the gradient of L for the rows
 * row0 .. row0 + B - 1 (this rank's), and into *dlogit_scale (may be NULL) dL/dlogit_scale. Every
 * rank computes the same L. Computed in double. */
double bcos_clip_loss(float *dimg, float *dtxt, double *dlogit_scale, const float *img, const float *txt, int N, int E,
                      double logit_scale, int row0, int B);

/* Linear warmup from 0 to base_lr over warmup steps, then cosine decay to min_lr at total steps. */
double bcos_lr_at(int64_t step, int64_t warmup, int64_t total, double base_lr, double min_lr);

/* Scale g so that its global L2 norm (in double) is at most max_norm (torch's clip_grad_norm_ rule;
 * max_norm <= 0: no clipping). Returns the norm before clipping. */
double bcos_clip_grad_norm(float *g, size_t n, double max_norm);
/* Adaptive gradient clipping (Brock et al. 2021, unit-wise): for each parameter tensor, each unit
 * (row along the first dimension; the whole tensor for 0/1-d ones) whose ||g|| exceeds
 * clip · max(||w||, eps) is scaled to that bound. grads share the parameters' layout. */
void bcos_adaptive_clip_grad(float *grads, const bcos_params *p, double clip, double eps);

typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    int decoupled; /* 1: AdamW (decay applied to the weights), 0: Adam (decay added to the gradient) */
} bcos_adam_config;

typedef struct {
    bcos_adam_config cfg;
    size_t n;
    int64_t step; /* completed steps, for bias correction */
    float *m, *v; /* one allocation: m then v */
    unsigned char *no_decay; /* per value, 1: no weight decay (NULL: every value decays) */
} bcos_adam;

void bcos_adam_init(bcos_adam *opt, const bcos_adam_config *cfg, size_t n);
/* open_clip's parameter groups: no weight decay for the tensors of p (laid out as the optimiser's
 * values) with fewer than two dimensions: gains, biases, class embedding and logit_scale. */
void bcos_adam_exclude_1d_from_decay(bcos_adam *opt, const bcos_params *p);
/* One step at learning rate lr over params[n] with grads[n] (torch.optim.Adam/AdamW semantics). */
void bcos_adam_step(bcos_adam *opt, float *params, const float *grads, double lr);
void bcos_adam_free(bcos_adam *opt);

/* 1 when every value of x[n] is finite. A step whose loss or gradient is not finite is skipped. */
int bcos_all_finite(const float *x, size_t n);

/* From a signal handler (async-signal-safe): ask the running training run (bcos_distill_run,
 * bcos_pretrain_run) to checkpoint at the end of its current step and go on (stop 0), or to
 * checkpoint there and stop as preempted (stop 1). signo names the signal in the run's events.
 * Without a store the request is ignored. */
void bcos_train_request(int signo, int stop);

#endif
