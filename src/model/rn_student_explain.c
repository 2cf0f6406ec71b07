/* Explanation mode of the B-cos ResNet student: the backward of a score with every dynamic factor held
 * constant (the B-cos factors of the convolutions and of a B-cos c_proj, the attention weights; BatchNorm
 * uses its running variance, a constant already; ReLU gates and average pools are linear maps of fixed
 * masks), which yields W(x) at x6 and each image's share of the score carried by the kept biases and the
 * positional embedding, summed in double on the host. */
#include "bcos/check.h"
#include "rn_internal.h"

/* contrib[b] += scale * sum over image b's rows of vec . d[row], d[B*rows, C]. */
static void add_row_contrib(double *contrib, const float *d, const float *vec, float scale, int B, int rows, int C) {
    for (int b = 0; b < B; b++) {
        double sum = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < C; c++) sum += (double)vec[c] * d[((size_t)b * rows + r) * C + c];
        contrib[b] += scale * sum;
    }
}

/* contrib[b] += scale * sum over channels c of bias[c] * sum over positions of d[b,c,:], d[B,C,HW]. */
static void add_channel_contrib(double *contrib, const float *d, const float *bias, float scale, int B, int C, int HW) {
    for (int b = 0; b < B; b++) {
        double sum = 0;
        for (int c = 0; c < C; c++) {
            const float *plane = d + ((size_t)b * C + c) * HW;
            double s = 0;
            for (int p = 0; p < HW; p++) s += plane[p];
            sum += bias[c] * s;
        }
        contrib[b] += scale * sum;
    }
}

static void conv_explain(const bcos_student *s, bcos_rn_acts *a, const rn_node *n, float *dx6) {
    const bcos_rn_conv *c = n->conv;
    int H, W;
    rn_input_size(s, a, n->in, &H, &W);
    rn_zero(a->dz, rn_node_size(a, n));
    s->backend->bcos_scale_explain_backward(a->dz, n->dout, n->z, n->norm, a->B, c->oc, n->H * n->W, a->b);
    s->backend->conv2d_backward(rn_dinput(a, n->in, dx6), NULL, NULL, a->dz, rn_input(a, n->in),
                                RN_PARAM(s, c->weight), a->B, c->cin, H, W, c->oc, c->k, c->stride, c->pad);
}

static void bn_explain(const bcos_student *s, const bcos_rn_acts *a, const rn_node *n, double *contrib) {
    const bcos_rn_conv *c = n->conv;
    int HW = n->H * n->W;
    if (c->bn_bias >= 0) add_channel_contrib(contrib, n->dout, RN_PARAM(s, c->bn_bias), a->bias_scale, a->B, n->C, HW);
    s->backend->bn_uncentered_backward(a->nodes[n->in].dout, NULL, NULL, n->dout, a->nodes[n->in].out,
                                       RN_PARAM(s, c->bn_weight), NULL, bcos_params_ptr(&s->buffers, c->running_var),
                                       NULL, a->B, n->C, HW, RN_BN_EPS, 1, a->bias_scale);
}

/* The pool with the attention weights constant: only v carries the score back to the tokens. */
static void pool_explain(const bcos_student *s, bcos_rn_acts *a, double *contrib, const float *dout) {
    const bcos_backend *be = s->backend;
    int B = a->B, T = a->T, C = a->C, E = s->cfg.embed_dim;
    size_t bc = (size_t)B * C, btc = bc * T;
    if (s->rn.c_b >= 0) add_row_contrib(contrib, dout, RN_PARAM(s, s->rn.c_b), a->bias_scale, B, 1, E);
    rn_zero(a->dpooled, bc);
    if (!s->opt.bcos_c_proj)
        be->matmul_backward(a->dpooled, NULL, NULL, dout, a->pooled, RN_PARAM(s, s->rn.c_w), B, C, E);
    else
        be->bcos_linear_explain_backward(a->dpooled, dout, RN_PARAM(s, s->rn.c_w), a->c_z, a->c_norm, B, C, E, a->b);
    rn_zero(a->dv, btc);
    be->query_attention_explain_backward(a->dv, a->dpooled, a->att, B, T, C, s->cfg.vision_heads);
    if (s->rn.v_b >= 0) add_row_contrib(contrib, a->dv, RN_PARAM(s, s->rn.v_b), a->bias_scale, B, T, C);
    rn_zero(a->dtokens, btc);
    be->matmul_backward(a->dtokens, NULL, NULL, a->dv, a->tokens, RN_PARAM(s, s->rn.v_w), B * T, C, C);
    if (s->rn.pos >= 0) {
        const float *pos = RN_PARAM(s, s->rn.pos);
        for (int b = 0; b < B; b++) {
            double sum = 0;
            for (size_t i = 0; i < (size_t)T * C; i++) sum += (double)pos[i] * a->dtokens[(size_t)b * T * C + i];
            contrib[b] += sum;
        }
    }
    be->map_tokens_backward(a->nodes[a->n_nodes - 1].dout, NULL, a->dtokens, B, C, a->HW);
}

void rn_student_explain(const bcos_student *s, bcos_rn_acts *a, float *dx6, double *const_contrib, const float *dout) {
    BCOS_CHECK(!a->training, "explanation mode follows an evaluation-mode forward (running variances)");
    int S = s->cfg.image_size;
    for (int b = 0; b < a->B; b++) const_contrib[b] = 0;
    for (int i = 0; i < a->n_nodes; i++) rn_zero(a->nodes[i].dout, rn_node_size(a, &a->nodes[i]));
    rn_zero(dx6, (size_t)a->B * 6 * S * S);
    pool_explain(s, a, const_contrib, dout);
    for (int i = a->n_nodes - 1; i >= 0; i--) {
        const rn_node *n = &a->nodes[i];
        if (n->kind == RN_CONV)
            conv_explain(s, a, n, dx6);
        else if (n->kind == RN_BN)
            bn_explain(s, a, n, const_contrib);
        else
            rn_linear_node_backward(s, a, n);
    }
}
