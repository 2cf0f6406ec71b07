/* The B-cos ResNet student's training passes: the forward over the tape (B-cos convolutions, uncentered
 * BatchNorm from the batch or the running variances, ReLUs, average pools, residual sums) and the B-cos
 * attention pool, and the exact backward. Under ranks, the batch statistics and the variance's gradient
 * are summed over them (the global batch), unless the options ask for per-rank statistics. */
#include "bcos/check.h"
#include "rn_internal.h"

/* The number of values per channel that a BatchNorm node's statistics cover. */
static float bn_count(const bcos_rn_acts *a, const rn_node *n) { return (float)a->B * n->H * n->W * (float)a->ranks; }

static void reduce(const bcos_rn_acts *a, float *x, size_t n) {
    if (a->sum) a->sum(x, n);
}

/* The variance node n normalises with: the batch's in training, else the running one. */
static const float *bn_var(const bcos_student *s, const bcos_rn_acts *a, const rn_node *n) {
    return a->training ? n->var : bcos_params_ptr(&s->buffers, n->conv->running_var);
}

static void conv_forward(const bcos_student *s, const bcos_rn_acts *a, rn_node *n) {
    const bcos_backend *be = s->backend;
    const bcos_rn_conv *c = n->conv;
    const float *in = rn_input(a, n->in);
    int H, W;
    rn_input_size(s, a, n->in, &H, &W);
    be->conv2d_forward(n->z, in, RN_PARAM(s, c->weight), NULL, a->B, c->cin, H, W, c->oc, c->k, c->stride, c->pad);
    be->bcos_window_norm_forward(n->norm, in, a->B, c->cin, H, W, c->k, c->stride, c->pad);
    be->bcos_scale_forward(n->out, n->z, n->norm, a->B, c->oc, n->H * n->W, a->b);
}

static void bn_forward(const bcos_student *s, const bcos_rn_acts *a, rn_node *n) {
    const bcos_backend *be = s->backend;
    const bcos_rn_conv *c = n->conv;
    const float *in = a->nodes[n->in].out;
    int HW = n->H * n->W;
    if (a->training) {
        float count = bn_count(a, n);
        be->bn_batch_mean(n->mean, in, a->B, n->C, HW, count);
        reduce(a, n->mean, (size_t)n->C);
        be->bn_batch_var(n->var, in, n->mean, a->B, n->C, HW, count);
        reduce(a, n->var, (size_t)n->C);
        be->bn_running_update(bcos_params_ptr(&s->buffers, c->running_var), n->var, n->C, RN_MOMENTUM);
    }
    const float *bias = c->bn_bias >= 0 ? RN_PARAM(s, c->bn_bias) : NULL;
    be->bn_uncentered_forward(n->out, in, RN_PARAM(s, c->bn_weight), bias, bn_var(s, a, n), a->B, n->C, HW, RN_BN_EPS,
                              a->bias_scale);
}

static void node_forward(const bcos_student *s, const bcos_rn_acts *a, rn_node *n) {
    const bcos_backend *be = s->backend;
    size_t size = rn_node_size(a, n);
    switch (n->kind) {
    case RN_CONV:
        conv_forward(s, a, n);
        break;
    case RN_BN:
        bn_forward(s, a, n);
        break;
    case RN_RELU:
        be->relu_forward(n->out, n->out, size);
        break;
    case RN_AVGPOOL: {
        const rn_node *in = &a->nodes[n->in];
        be->avgpool2d_forward(n->out, in->out, a->B, n->C, in->H, in->W, n->k);
        break;
    }
    case RN_ADD:
        be->residual_forward(n->out, a->nodes[n->in].out, a->nodes[n->in2].out, size);
        break;
    }
}

/* out[B,rows,C] = inp @ weight^T (+ bias_scale * bias when kept). */
static void linear(const bcos_student *s, const bcos_rn_acts *a, float *out, const float *inp, int weight, int bias,
                   int rows, int C) {
    s->backend->matmul_forward(out, inp, RN_PARAM(s, weight), NULL, rows, C, C);
    if (bias >= 0) s->backend->bias_add_forward(out, RN_PARAM(s, bias), a->bias_scale, rows, C);
}

/* The B-cos attention pool: q from the mean token, k and v from every token, c_proj plain or B-cos. */
static void pool_forward(const bcos_student *s, bcos_rn_acts *a) {
    const bcos_backend *be = s->backend;
    int B = a->B, T = a->T, C = a->C, E = s->cfg.embed_dim;
    const float *map = a->nodes[a->n_nodes - 1].out;
    be->map_tokens_forward(a->tokens, map, s->rn.pos >= 0 ? RN_PARAM(s, s->rn.pos) : NULL, B, C, a->HW);
    be->gather_rows_forward(a->q_in, a->tokens, a->rows, B, T, C);
    linear(s, a, a->q, a->q_in, s->rn.q_w, s->rn.q_b, B, C);
    linear(s, a, a->k, a->tokens, s->rn.k_w, s->rn.k_b, B * T, C);
    linear(s, a, a->v, a->tokens, s->rn.v_w, s->rn.v_b, B * T, C);
    be->query_attention_forward(a->pooled, a->att, a->q, a->k, a->v, B, T, C, s->cfg.vision_heads);
    if (!s->opt.bcos_c_proj)
        be->matmul_forward(a->out, a->pooled, RN_PARAM(s, s->rn.c_w), NULL, B, C, E);
    else
        be->bcos_linear_forward(a->out, a->c_z, a->c_norm, a->pooled, RN_PARAM(s, s->rn.c_w), B, C, E, a->b);
    if (s->rn.c_b >= 0) be->bias_add_forward(a->out, RN_PARAM(s, s->rn.c_b), a->bias_scale, B, E);
}

void rn_student_forward(const bcos_student *s, bcos_rn_acts *a, float *out, const float *x6, float b,
                        float bias_scale) {
    int S = s->cfg.image_size;
    a->b = b;
    a->bias_scale = bias_scale;
    a->training = s->training;
    if (s->opt.per_rank_bn) rn_acts_set_reduce(a, NULL, 1);
    memcpy(a->x6, x6, (size_t)a->B * 6 * S * S * sizeof(float));
    for (int i = 0; i < a->n_nodes; i++) node_forward(s, a, &a->nodes[i]);
    pool_forward(s, a);
    memcpy(out, a->out, (size_t)a->B * s->cfg.embed_dim * sizeof(float));
}

/* ---- the exact backward */

static void conv_backward(const bcos_student *s, bcos_rn_acts *a, const rn_node *n, float *grads, float *dx6) {
    const bcos_backend *be = s->backend;
    const bcos_rn_conv *c = n->conv;
    int HW = n->H * n->W;
    int H, W;
    rn_input_size(s, a, n->in, &H, &W);
    float *dinp = rn_dinput(a, n->in, dx6);
    rn_zero(a->dz, rn_node_size(a, n));
    rn_zero(a->dnorm, (size_t)a->B * HW);
    be->bcos_scale_backward(a->dz, a->dnorm, n->dout, n->z, n->norm, a->B, c->oc, HW, a->b);
    be->conv2d_backward(dinp, RN_GRAD(s, grads, c->weight), NULL, a->dz, rn_input(a, n->in), RN_PARAM(s, c->weight),
                        a->B, c->cin, H, W, c->oc, c->k, c->stride, c->pad);
    be->bcos_window_norm_backward(dinp, a->dnorm, rn_input(a, n->in), n->norm, a->B, c->cin, H, W, c->k, c->stride,
                                  c->pad);
}

static void bn_backward(const bcos_student *s, const bcos_rn_acts *a, rn_node *n, float *grads) {
    const bcos_backend *be = s->backend;
    const bcos_rn_conv *c = n->conv;
    const float *in = a->nodes[n->in].out, *gamma = RN_PARAM(s, c->bn_weight), *var = bn_var(s, a, n);
    int HW = n->H * n->W;
    if (a->training) {
        be->bn_uncentered_dvar(n->dvar, n->dout, in, gamma, var, a->B, n->C, HW, RN_BN_EPS);
        reduce(a, n->dvar, (size_t)n->C);
    }
    float *dbias = c->bn_bias >= 0 ? RN_GRAD(s, grads, c->bn_bias) : NULL;
    be->bn_uncentered_backward(a->nodes[n->in].dout, RN_GRAD(s, grads, c->bn_weight), dbias, n->dout, in, gamma,
                               n->mean, var, a->training ? n->dvar : NULL, a->B, n->C, HW, RN_BN_EPS, bn_count(a, n),
                               a->bias_scale);
}

/* Backward of the nodes other than convolution and BatchNorm, shared with explanation mode. */
void rn_linear_node_backward(const bcos_student *s, const bcos_rn_acts *a, const rn_node *n) {
    const bcos_backend *be = s->backend;
    size_t size = rn_node_size(a, n);
    switch (n->kind) {
    case RN_RELU:
        be->relu_backward(a->nodes[n->in].dout, n->out, n->dout, size);
        break;
    case RN_AVGPOOL: {
        const rn_node *in = &a->nodes[n->in];
        be->avgpool2d_backward(in->dout, n->dout, a->B, n->C, in->H, in->W, n->k);
        break;
    }
    case RN_ADD:
        be->residual_backward(a->nodes[n->in].dout, a->nodes[n->in2].dout, n->dout, size);
        break;
    default:
        BCOS_DIE("convolution and BatchNorm nodes have their own backward", "node kind %d", (int)n->kind);
    }
}

static void linear_backward(const bcos_student *s, const bcos_rn_acts *a, float *grads, float *dinp, const float *dout,
                            const float *inp, int weight, int bias, int rows, int C) {
    if (bias >= 0) s->backend->bias_add_backward(RN_GRAD(s, grads, bias), dout, a->bias_scale, rows, C);
    s->backend->matmul_backward(dinp, RN_GRAD(s, grads, weight), NULL, dout, inp, RN_PARAM(s, weight), rows, C, C);
}

static void pool_backward(const bcos_student *s, bcos_rn_acts *a, float *grads, const float *dout) {
    const bcos_backend *be = s->backend;
    int B = a->B, T = a->T, C = a->C, E = s->cfg.embed_dim;
    size_t bc = (size_t)B * C, btc = bc * T;
    if (s->rn.c_b >= 0) be->bias_add_backward(RN_GRAD(s, grads, s->rn.c_b), dout, a->bias_scale, B, E);
    rn_zero(a->dpooled, bc);
    if (!s->opt.bcos_c_proj)
        be->matmul_backward(a->dpooled, RN_GRAD(s, grads, s->rn.c_w), NULL, dout, a->pooled, RN_PARAM(s, s->rn.c_w), B,
                            C, E);
    else
        be->bcos_linear_backward(a->dpooled, RN_GRAD(s, grads, s->rn.c_w), dout, a->pooled, RN_PARAM(s, s->rn.c_w),
                                 a->c_z, a->c_norm, B, C, E, a->b);
    rn_zero(a->dq, bc);
    rn_zero(a->dk, btc);
    rn_zero(a->dv, btc);
    be->query_attention_backward(a->dq, a->dk, a->dv, a->dpooled, a->q, a->k, a->v, a->att, B, T, C,
                                 s->cfg.vision_heads);
    rn_zero(a->dq_in, bc);
    rn_zero(a->dtokens, btc);
    linear_backward(s, a, grads, a->dq_in, a->dq, a->q_in, s->rn.q_w, s->rn.q_b, B, C);
    be->gather_rows_backward(a->dtokens, a->dq_in, a->rows, B, T, C);
    linear_backward(s, a, grads, a->dtokens, a->dk, a->tokens, s->rn.k_w, s->rn.k_b, B * T, C);
    linear_backward(s, a, grads, a->dtokens, a->dv, a->tokens, s->rn.v_w, s->rn.v_b, B * T, C);
    be->map_tokens_backward(a->nodes[a->n_nodes - 1].dout, s->rn.pos >= 0 ? RN_GRAD(s, grads, s->rn.pos) : NULL,
                            a->dtokens, B, C, a->HW);
}

void rn_student_backward(const bcos_student *s, bcos_rn_acts *a, float *grads, float *dx6, const float *dout) {
    for (int i = 0; i < a->n_nodes; i++) rn_zero(a->nodes[i].dout, rn_node_size(a, &a->nodes[i]));
    pool_backward(s, a, grads, dout);
    for (int i = a->n_nodes - 1; i >= 0; i--) {
        rn_node *n = &a->nodes[i];
        if (n->kind == RN_CONV)
            conv_backward(s, a, n, grads, dx6);
        else if (n->kind == RN_BN)
            bn_backward(s, a, n, grads);
        else
            rn_linear_node_backward(s, a, n);
    }
}
