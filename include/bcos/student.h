/* The B-cos student: a B-cosified copy of CLIP's image tower (docs/METHOD.md). Its input is
 * x6 = [u, 1-u] for pixels u in [0,1]. Of a ViT: conv1 becomes a B-cos patch unit with CLIP's
 * normalisation folded into its weights; out_proj, c_fc, c_proj (and proj, optionally) become B-cos
 * units; q/k/v stay plain; biases and LayerNorm betas are removed (or kept and decayed); activations,
 * class and positional embeddings are kept. Of a ResNet (include/bcos/rn_student.h): every convolution
 * a B-cos convolution, uncentered BatchNorm, the B-cos attention pool. Training forward/backward is
 * exact; explanation mode holds the dynamic factors constant so that the embedding is a linear map
 * W(x)·x6 plus constants. */
#ifndef BCOS_STUDENT_H
#define BCOS_STUDENT_H

#include <stdint.h>

#include "bcos/backend.h"
#include "bcos/clip.h"
#include "bcos/params.h"

typedef struct {
    float b;               /* the exponent B of every B-cos unit (2 by default) */
    int64_t b_ramp_steps;  /* > 0: B rises linearly from 1 to b over these steps */
    int keep_biases;       /* 1: biases and LayerNorm betas kept (then decayed, see below) */
    int64_t bias_decay_steps; /* with keep_biases: biases scaled by 1 - step/decay_steps to 0 (0: never decayed) */
    int plain_proj;        /* 1: the final proj stays a plain linear map */
    int bcos_c_proj;       /* ResNet: 1 makes the attention pool's c_proj a B-cos unit (0: plain, the reference's) */
    int keep_pos;          /* ResNet: 1 keeps the attention pool's positional embedding (trained) */
    int per_rank_bn;       /* ResNet: 1 takes BatchNorm's batch statistics per rank, not over the global batch */
} bcos_student_options;

/* B = 2, biases removed, proj a B-cos unit. */
bcos_student_options bcos_student_default_options(void);

/* One B-cos convolution of a ResNet student and the uncentered BatchNorm after it. */
typedef struct {
    int weight;             /* parameter [oc, cin, k, k] (-1: no such convolution) */
    int bn_weight, bn_bias; /* parameters [oc]; bn_bias -1 when removed */
    int running_var;        /* buffer [oc] */
    int cin, oc, k, stride, pad;
} bcos_rn_conv;

/* open_clip's Bottleneck: 1x1, 3x3, the stride's average pool, 1x1 (x4); the downsample path. */
typedef struct {
    bcos_rn_conv conv1, conv2, conv3, down; /* down.weight -1: no downsample path */
    int stride;                             /* the block's average pool (1: none) */
} bcos_rn_block;

/* A ResNet student's tensors: the stem, the blocks of layer1..layer4 in order, the attention pool (pos
 * and biases -1 when removed). */
typedef struct {
    bcos_rn_conv stem[3];
    bcos_rn_block *blocks;
    int n_blocks;
    int pos, q_w, q_b, k_w, k_b, v_w, v_b, c_w, c_b;
} bcos_rn_tower;

typedef struct {
    bcos_clip_config cfg; /* the vision part is used */
    bcos_student_options opt;
    bcos_params params;   /* open_clip's visual.* names; absent biases are not declared */
    bcos_params buffers;  /* a ResNet's BatchNorm running variances (visual.*.running_var); none for a ViT */
    const bcos_backend *backend;
    bcos_clip_stack stack; /* a ViT's block indices; bias indices are -1 when removed */
    int conv1, class_embedding, pos, ln_pre_w, ln_pre_b, ln_post_w, ln_post_b, proj; /* a ViT's (else -1) */
    bcos_rn_tower rn;     /* a ResNet's */
    int training;         /* ResNet: 1 normalises with the batch's statistics (and moves the running
                           * variances), 0 with the running variances (evaluation and explanation) */
    /* The B and the bias scale the weights are used with outside training: those of the step a
     * file was saved at (bcos_student_load_file), else the schedule's end. */
    float saved_b, saved_bias_scale;
    int64_t saved_step; /* that step (-1: not recorded, a version 1 file or a fresh student) */
} bcos_student;

/* Declare and allocate the student's parameters (zeroed). */
void bcos_student_init(bcos_student *s, const bcos_clip_config *cfg, const bcos_student_options *opt,
                       const bcos_backend *backend);
/* B-cosify: copy the teacher's image tower into s (initialised with the teacher's config), folding
 * CLIP's mean/std into the six-channel patch weights. */
void bcos_student_from_clip(bcos_student *s, const bcos_clip *teacher);
void bcos_student_free(bcos_student *s);
/* The six-channel weights v[width,6,P,P] of a first layer w[width,3,P,P] that takes x6 = [u, 1-u]:
 * V = W_c (1 - mean_c) / std_c on u_c and -W_c mean_c / std_c on (1 - u_c), so that V·x6 = W·((u - mean) /
 * std) with CLIP's mean and std. */
void bcos_fold_normalisation(float *v, const float *w, int width, int P);

/* The B and the bias scale in force at a training step (ramp and decay), for a student or its options. */
float bcos_student_b_at(const bcos_student *s, int64_t step);
float bcos_student_bias_scale_at(const bcos_student *s, int64_t step);
float bcos_student_options_b_at(const bcos_student_options *o, int64_t step);
float bcos_student_options_bias_scale_at(const bcos_student_options *o, int64_t step);

/* Activations of one forward pass for a batch of B images, kept for the backward (one allocation). */
typedef struct bcos_student_acts bcos_student_acts;
bcos_student_acts *bcos_student_acts_new(const bcos_student *s, int B);
/* The floats bcos_student_acts_new(s, B) allocates, without allocating them. */
size_t bcos_student_acts_floats(const bcos_student *s, int B);
void bcos_student_acts_free(bcos_student_acts *a);

/* out[B,E] = student embeddings of x6[B,6,S,S] at exponent b and bias scale bias_scale. */
void bcos_student_forward(const bcos_student *s, bcos_student_acts *a, float *out, const float *x6, float b,
                          float bias_scale);
/* Exact backward of the last forward: grads[params.total] += dL/dparams (and dx6[B,6,S,S] += dL/dx6
 * when dx6 is not NULL), from dout[B,E]. */
void bcos_student_backward(const bcos_student *s, bcos_student_acts *a, float *grads, float *dx6,
                           const float *dout);

/* Explanation mode for the last forward: with every dynamic factor held constant the embedding is
 * linear in x6 and the constants (class/positional embeddings, kept biases). From dout[B,E] (e.g.
 * the normalised text embedding t̂ for the score e·t̂) it writes dx6[B,6,S,S] = W(x)ᵀ·dout and
 * const_contrib[B] = the constants' share of the score. Then for each image
 * Σ x6·dx6 + const_contrib = dout·e exactly (up to rounding). */
void bcos_student_explain(const bcos_student *s, bcos_student_acts *a, float *dx6, double *const_contrib,
                          const float *dout);

/* A buffer laid out as the student's parameters (its weights, or an optimizer's per-parameter
 * state such as Adam's m and v) as safetensors entries in the saved layout: open_clip's names
 * after prefix, visual.proj as open_clip's [width, embed]. Valid while s and the buffer live. */
typedef struct {
    bcos_st_entry *entries;
    int count;
    char **names;
    int64_t (*shapes)[BCOS_MAX_DIMS];
    float *proj_t; /* visual.proj transposed */
} bcos_student_tensors;
void bcos_student_tensors_make(bcos_student_tensors *t, const bcos_student *s, const float *flat, const char *prefix);
void bcos_student_tensors_free(bcos_student_tensors *t);
/* The reverse: every "<prefix><parameter name>" of st into flat (laid out as s's parameters).
 * Returns 0, or -1 with err naming the tensor (missing, wrong shape or dtype). */
int bcos_student_tensors_read(const bcos_student *s, const bcos_safetensors *st, const char *prefix, float *flat,
                              char *err, size_t errlen);
/* A ResNet student's buffers (the BatchNorm running variances, by their names) from st; nothing for a
 * ViT. Returns 0, or -1 with err naming the tensor. */
int bcos_student_buffers_read(bcos_student *s, const bcos_safetensors *st, char *err, size_t errlen);

/* The student file's format ("bcos_student_version" in its metadata). 3 adds ResNet students, their
 * BatchNorm running variances among the tensors and the options keep_pos and per_rank_bn; 2 records the
 * step the weights were saved at with its B and bias scale ("bcos_student_step"); version 1 (no such
 * key) did not, and loads with the schedule's end values. */
#define BCOS_STUDENT_VERSION "3"

/* What bcos_student_save writes, as entries and metadata (a checkpoint writes it through the
 * store), for the weights as they are after `step` training steps. text_tower may be NULL. Valid
 * while s and text_tower live. */
typedef struct {
    bcos_student_tensors visual;
    bcos_clip_export text;
    bcos_st_entry *entries;
    int count;
    bcos_st_meta meta[5];
    int n_meta;
    char *clip_json, *options_json, *step_json;
} bcos_student_file;
void bcos_student_file_make(bcos_student_file *f, const bcos_student *s, const bcos_clip *text_tower, int64_t step);
void bcos_student_file_free(bcos_student_file *f);

/* Save in open_clip's visual.* naming (visual.proj as [width, embed], conv1 with six input
 * channels), F32, with the CLIP config and the B-cos options in the metadata ("bcos_model",
 * "bcos_clip_config", "bcos_student"), the format version and the step the weights are at with
 * its B and bias scale ("bcos_student_version", "bcos_student_step"), and the config and options
 * as a small JSON file at json_path (may be NULL). text_tower (may be NULL) adds the teacher's text
 * tower and logit_scale, so that the file is a whole CLIP model in open_clip naming with a B-cos
 * image tower. Refuses (writing nothing) a student holding a NaN or an infinity. Returns 0 or -1
 * with err. */
int bcos_student_save(const bcos_student *s, const bcos_clip *text_tower, int64_t step, const char *path,
                      const char *json_path, char *err, size_t errlen);
/* Load a file written by bcos_student_save, with the B and bias scale of its step in saved_b and
 * saved_bias_scale. Returns 0, or -1 with err naming the file and tensor (missing, misshapen,
 * non-finite) or the metadata at fault. */
int bcos_student_load_file(bcos_student *s, const char *path, const bcos_backend *backend, char *err, size_t errlen);
/* The text tower saved in a student file, into text (initialised with the student's config, its
 * image-tower parameters left zero). Returns 0, or -1 with err naming the file. */
int bcos_student_load_text(bcos_clip *text, const char *path, const bcos_backend *backend, char *err, size_t errlen);

#endif
