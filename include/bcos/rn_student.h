/* The B-cos ResNet student: a B-cosified copy of CLIP's ModifiedResNet image tower (docs/METHOD.md,
 * "The ResNet student"). Its input is x6 = [u, 1-u]; the stem's first convolution takes it with CLIP's
 * normalisation folded into its weights; every convolution is a B-cos convolution (the norm of its input
 * window); BatchNorm is uncentered (gamma x / sqrt(var + eps)), from the batch in training and from the
 * running variance otherwise; ReLUs and average pools stay; the attention pool is the B-cos pool (no
 * positional embedding, q from the mean token, k and v from every token, c_proj plain or a B-cos unit).
 * Biases (BatchNorm betas, with the running mean folded in, and the pool's q/k/v/c_proj biases) are
 * removed, or kept and decayed on the ViT student's schedule. The running variances are buffers beside
 * the parameters: saved with them, never given to the optimiser. */
#ifndef BCOS_RN_STUDENT_H
#define BCOS_RN_STUDENT_H

#include <stddef.h>
#include <stdint.h>

#include "bcos/backend.h"
#include "bcos/params.h"
#include "bcos/student.h"

/* The ModifiedResNet's shape, as open_clip builds it from a config's vision_cfg. */
typedef struct {
    int layers[4];  /* bottleneck blocks per stage */
    int width;      /* stem width (the stages' planes are width, 2, 4, 8 x width; features width * 32) */
    int image_size; /* a multiple of 32 */
    int heads;      /* attention pool heads (width * 32 / head_width) */
    int embed_dim;  /* c_proj's output */
} bcos_rn_config;

typedef struct {
    bcos_student_options base; /* B and its ramp, keep_biases and bias_decay_steps; plain_proj: c_proj plain */
    int keep_pos;              /* 1: the pool's positional embedding kept (and trained) */
    int per_rank_bn;           /* 1: batch statistics of each rank's own images (the reference); 0: the global batch */
} bcos_rn_student_options;

/* B = 2, biases and the positional embedding removed, c_proj plain (the reference's setting). */
bcos_rn_student_options bcos_rn_student_default_options(void);

/* One B-cos convolution and the uncentered BatchNorm after it. */
typedef struct {
    int weight;                     /* parameter [OC, Cin, K, K] */
    int bn_weight, bn_bias;         /* parameters [OC]; bn_bias -1 when removed */
    int running_var;                /* buffer [OC] */
    int cin, oc, k, stride, pad;
} bcos_rn_conv;

typedef struct {
    bcos_rn_conv conv1, conv2, conv3, down; /* down.weight -1: no downsample path */
    int stride;                             /* the block's average pool (1: none) */
} bcos_rn_block;

typedef struct {
    bcos_rn_config cfg;
    bcos_rn_student_options opt;
    bcos_params params;  /* open_clip's visual.* names; removed biases are not declared */
    bcos_params buffers; /* visual.*.running_var */
    const bcos_backend *backend;
    bcos_rn_conv stem[3];
    bcos_rn_block *blocks;
    int n_blocks;
    int pos, q_w, q_b, k_w, k_b, v_w, v_b, c_w, c_b; /* the pool; pos and biases -1 when removed */
} bcos_rn_student;

/* Declare and allocate the parameters and buffers (zeroed). */
void bcos_rn_student_init(bcos_rn_student *s, const bcos_rn_config *cfg, const bcos_rn_student_options *opt,
                          const bcos_backend *backend);
void bcos_rn_student_free(bcos_rn_student *s);

/* The teacher's tensor called name (open_clip's visual.* names, BatchNorm running_mean and running_var
 * included) with numel floats, or NULL when it has none. */
typedef const float *(*bcos_rn_teacher_lookup)(void *ctx, const char *name, size_t numel);
/* B-cosify: copy the teacher's weights into s (folding CLIP's mean/std into the stem's six-channel
 * conv1, and each BatchNorm's running mean into its kept bias: beta - gamma mean / sqrt(var + eps)).
 * Returns 0, or -1 with err naming the tensor the teacher lacks. */
int bcos_rn_student_from_teacher(bcos_rn_student *s, bcos_rn_teacher_lookup find, void *ctx, char *err,
                                 size_t errlen);

/* Kept activations of a batch of B images (training statistics, explanation and backward scratch). */
typedef struct bcos_rn_acts bcos_rn_acts;
bcos_rn_acts *bcos_rn_acts_new(const bcos_rn_student *s, int B);
void bcos_rn_acts_free(bcos_rn_acts *a);
/* The sum over the ranks of n floats in place (bcos_world_sum_f32) and the number of ranks, for the
 * global batch statistics of training; without it (or with per_rank_bn) each rank uses its own. */
void bcos_rn_acts_set_reduce(bcos_rn_acts *a, void (*sum)(float *x, size_t n), int ranks);

/* out[B,E] = student embeddings of x6[B,6,S,S] at exponent b and bias scale bias_scale. training: batch
 * statistics (and the running variances move by momentum 0.1), else the running variances. */
void bcos_rn_student_forward(bcos_rn_student *s, bcos_rn_acts *a, float *out, const float *x6, float b,
                             float bias_scale, int training);
/* Exact backward of the last forward: grads[params.total] += dL/dparams, dx6 (may be NULL) += dL/dx6. */
void bcos_rn_student_backward(const bcos_rn_student *s, bcos_rn_acts *a, float *grads, float *dx6,
                              const float *dout);
/* Explanation mode for the last forward, which must have run with training = 0: with every dynamic
 * factor constant (B-cos factors, the attention weights) the embedding is linear in x6 and the kept
 * biases; from dout[B,E] it writes dx6[B,6,S,S] and const_contrib[B], each image's share carried by the
 * kept biases and positional embedding, so that sum x6 . dx6 + const_contrib = dout . out per image. */
void bcos_rn_student_explain(const bcos_rn_student *s, bcos_rn_acts *a, float *dx6, double *const_contrib,
                             const float *dout);

#endif
