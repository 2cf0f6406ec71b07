/* The B-cos student's kept activations and backward scratch, shared by the training passes
 * (bcos_forward.c) and explanation mode (bcos_explain.c). Private to src/model. */
#ifndef BCOS_MODEL_BCOS_ACTS_H
#define BCOS_MODEL_BCOS_ACTS_H

#include <string.h>

#include "bcos/student.h"

#define LN_EPS 1e-5f

typedef struct {
    float *x_in, *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *atty, *o_z, *o_norm;
    float *x_mid, *ln2, *ln2_mean, *ln2_rstd, *fc_z, *fc_norm, *fc_out, *act, *p_z, *p_norm;
} layer_acts;

struct bcos_student_acts {
    struct bcos_rn_acts *rn; /* a ResNet student's (rn_internal.h); the fields below are a ViT's */
    int B, T, NP;
    float b, bias_scale; /* those of the last forward */
    float *cols, *patch_z, *patch_norm, *patch_out, *x0, *ln_pre_mean, *ln_pre_rstd;
    layer_acts *layers;
    float *x_final, *pooled, *lnpost, *lnpost_mean, *lnpost_rstd, *proj_z, *proj_norm, *out;
    /* backward scratch */
    float *dx, *dln, *dqkv, *datty, *dfc, *dact, *dx0, *dpatch, *dlnpost, *dpooled;
    int *rows; /* the class token row (0) of each image */
    float *base;
};

#define PARAM(s, i) bcos_params_ptr(&(s)->params, (i))
#define GRAD(s, grads, i) ((grads) + (s)->params.items[(i)].offset)

static inline void zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

#endif
