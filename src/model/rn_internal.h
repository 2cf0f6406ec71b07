/* The B-cos ResNet student's kept activations, shared by its training passes (rn_student_forward.c) and
 * explanation mode (rn_student_explain.c). The tower below the attention pool is a tape of nodes, each
 * one op with its output kept, built once per batch size; the backward walks it in reverse. Private to
 * src/model. */
#ifndef BCOS_MODEL_RN_INTERNAL_H
#define BCOS_MODEL_RN_INTERNAL_H

#include <string.h>

#include "bcos/rn_student.h"

#define RN_BN_EPS 1e-5f
#define RN_MOMENTUM 0.1f

typedef struct bcos_rn_acts bcos_rn_acts;

/* The ResNet's feature width at the attention pool. */
static inline int rn_features(const bcos_clip_config *c) { return c->vision_width * 32; }

/* bcos_student_init's part for a ResNet: declare the tower's parameters and buffers (the parameters
 * are allocated by the caller, the buffers here). */
void rn_student_declare(bcos_student *s);
/* bcos_student_from_clip's part for a ResNet: the teacher's tensors copied by name. */
void rn_student_from_clip(bcos_student *s, const bcos_clip *teacher);
/* The bcos_student_acts_* and bcos_student_forward/backward/explain of a ResNet (rn_student_acts.c,
 * rn_student_forward.c, rn_student_explain.c). */
bcos_rn_acts *rn_acts_new(const bcos_student *s, int B);
size_t rn_acts_floats(const bcos_student *s, int B);
void rn_acts_free(bcos_rn_acts *a);
void rn_acts_set_reduce(bcos_rn_acts *a, void (*sum)(float *x, size_t n), int ranks);
void rn_student_forward(const bcos_student *s, bcos_rn_acts *a, float *out, const float *x6, float b, float bias_scale);
void rn_student_backward(const bcos_student *s, bcos_rn_acts *a, float *grads, float *dx6, const float *dout);
void rn_student_explain(const bcos_student *s, bcos_rn_acts *a, float *dx6, double *const_contrib, const float *dout);

typedef enum { RN_CONV, RN_BN, RN_RELU, RN_AVGPOOL, RN_ADD } rn_kind;

typedef struct {
    rn_kind kind;
    int in, in2;              /* input nodes (in2: RN_ADD's second); -1 is the image x6 */
    int C, H, W;              /* the output's shape per image */
    const bcos_rn_conv *conv; /* RN_CONV and RN_BN */
    int k;                    /* RN_AVGPOOL's window */
    float *out, *dout;        /* RN_RELU's out is its input's (in place) */
    float *z, *norm;          /* RN_CONV; its backward reads its input's out again */
    float *mean, *var, *dvar; /* RN_BN's batch statistics */
} rn_node;

struct bcos_rn_acts {
    int B, training;
    float b, bias_scale; /* those of the last forward */
    void (*sum)(float *x, size_t n);
    int ranks;
    int n_nodes;
    rn_node *nodes;
    float *x6, *dz, *dnorm; /* the input kept; backward scratch as large as the largest conv's */
    int T, C, HW;           /* the pool's tokens: 1 + HW of C features */
    float *tokens, *q_in, *q, *k, *v, *att, *pooled, *c_z, *c_norm, *out;
    float *dtokens, *dq_in, *dq, *dk, *dv, *dpooled;
    int *rows; /* the mean token's row (0) of each image */
    float *base;
};

#define RN_PARAM(s, i) bcos_params_ptr(&(s)->params, (i))
#define RN_GRAD(s, grads, i) ((grads) + (s)->params.items[(i)].offset)

static inline size_t rn_node_size(const bcos_rn_acts *a, const rn_node *n) { return (size_t)a->B * n->C * n->H * n->W; }

/* The output of node `node` (-1: the image x6), its height and width, and where its gradient goes (dx6,
 * which may be NULL, for the image). */
static inline const float *rn_input(const bcos_rn_acts *a, int node) { return node < 0 ? a->x6 : a->nodes[node].out; }
static inline void rn_input_size(const bcos_student *s, const bcos_rn_acts *a, int node, int *H, int *W) {
    *H = node < 0 ? s->cfg.image_size : a->nodes[node].H;
    *W = node < 0 ? s->cfg.image_size : a->nodes[node].W;
}
static inline float *rn_dinput(const bcos_rn_acts *a, int node, float *dx6) {
    return node < 0 ? dx6 : a->nodes[node].dout;
}

/* The backward of a ReLU, average pool or residual sum node (the same in training and explanation). */
void rn_linear_node_backward(const bcos_student *s, const bcos_rn_acts *a, const rn_node *n);

static inline void rn_zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

#endif
