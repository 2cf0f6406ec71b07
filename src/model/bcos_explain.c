/* Explanation mode of the B-cos student: the backward of a score with every dynamic factor held
 * constant (B-cos scales, LayerNorm 1/sigma, activation gates, attention matrices), which yields
 * W(x) at x6 and the share of the score carried by the constants (class and positional embeddings,
 * kept biases). The constants' shares are summed per image in double, on the host. */
#include "bcos/check.h"
#include "bcos_acts.h"
#include "rn_internal.h"

/* contrib[b] += scale * sum over image b's rows of vec . d[row] for d[B*rows, C]. */
static void add_row_contrib(double *contrib, const float *d, const float *vec, float scale, int B, int rows, int C) {
    for (int b = 0; b < B; b++) {
        double sum = 0;
        for (int r = 0; r < rows; r++) {
            const float *row = d + ((size_t)b * rows + r) * C;
            for (int c = 0; c < C; c++) sum += (double)vec[c] * row[c];
        }
        contrib[b] += scale * sum;
    }
}

/* The share of a kept, scaled bias whose gradient rows are d[B*rows, C]. */
static void bias_contrib(const bcos_student *s, double *contrib, int bias, const float *d, float scale, int B,
                         int rows, int C) {
    if (bias >= 0 && scale != 0.0f) add_row_contrib(contrib, d, PARAM(s, bias), scale, B, rows, C);
}

static void act_explain(const bcos_student *s, float *dinp, const float *inp, const float *dout, size_t n) {
    if (s->cfg.quick_gelu)
        s->backend->quickgelu_explain_backward(dinp, inp, dout, n);
    else
        s->backend->gelu_explain_backward(dinp, inp, dout, n);
}

/* a->dx holds d(score)/d(block output); on return d(score)/d(L->x_in), constants' shares added. */
static void block_explain(const bcos_student *s, const bcos_clip_block *bk, layer_acts *L, double *contrib,
                          bcos_student_acts *a) {
    const bcos_backend *be = s->backend;
    int B = a->B, T = a->T, N = B * T, C = s->stack.width, M = s->stack.mlp;
    size_t nc = (size_t)N * C, nm = (size_t)N * M;
    float b = a->b, bs = a->bias_scale;
    bias_contrib(s, contrib, bk->c_proj_b, a->dx, bs, B, T, C);
    zero(a->dact, nm);
    be->bcos_linear_explain_backward(a->dact, a->dx, PARAM(s, bk->c_proj_w), L->p_z, L->p_norm, N, M, C, b);
    zero(a->dfc, nm);
    act_explain(s, a->dfc, L->fc_out, a->dact, nm);
    bias_contrib(s, contrib, bk->c_fc_b, a->dfc, bs, B, T, M);
    zero(a->dln, nc);
    be->bcos_linear_explain_backward(a->dln, a->dfc, PARAM(s, bk->c_fc_w), L->fc_z, L->fc_norm, N, C, M, b);
    bias_contrib(s, contrib, bk->ln_2_b, a->dln, bs, B, T, C);
    be->layernorm_explain_backward(a->dx, a->dln, PARAM(s, bk->ln_2_w), L->ln2_rstd, N, C);
    bias_contrib(s, contrib, bk->out_proj_b, a->dx, bs, B, T, C);
    zero(a->datty, nc);
    be->bcos_linear_explain_backward(a->datty, a->dx, PARAM(s, bk->out_proj_w), L->o_z, L->o_norm, N, C, C, b);
    zero(a->dqkv, 3 * nc);
    be->attention_explain_backward(a->dqkv, a->datty, L->att, B, T, C, s->stack.heads);
    bias_contrib(s, contrib, bk->in_proj_b, a->dqkv, bs, B, T, 3 * C);
    zero(a->dln, nc);
    be->matmul_backward(a->dln, NULL, NULL, a->dqkv, L->ln1, PARAM(s, bk->in_proj_w), N, C, 3 * C);
    bias_contrib(s, contrib, bk->ln_1_b, a->dln, bs, B, T, C);
    be->layernorm_explain_backward(a->dx, a->dln, PARAM(s, bk->ln_1_w), L->ln1_rstd, N, C);
}

/* The class and positional embeddings' shares, from d(score)/d(tokens) dx0[B,T,C]. */
static void embedding_contrib(const bcos_student *s, double *contrib, const float *dx0, int B, int T, int C) {
    const float *cls = PARAM(s, s->class_embedding), *pos = PARAM(s, s->pos);
    for (int b = 0; b < B; b++) {
        double sum = 0;
        for (int t = 0; t < T; t++) {
            const float *d = dx0 + ((size_t)b * T + t) * C;
            for (int c = 0; c < C; c++) sum += (double)pos[(size_t)t * C + c] * d[c];
        }
        for (int c = 0; c < C; c++) sum += (double)cls[c] * dx0[(size_t)b * T * C + c];
        contrib[b] += sum;
    }
}

void bcos_student_explain(const bcos_student *s, bcos_student_acts *a, float *dx6, double *const_contrib,
                          const float *dout) {
    if (a->rn) {
        rn_student_explain(s, a->rn, dx6, const_contrib, dout);
        return;
    }
    const bcos_backend *be = s->backend;
    const bcos_clip_config *c = &s->cfg;
    int B = a->B, T = a->T, NP = a->NP, C = c->vision_width, E = c->embed_dim, S = c->image_size;
    float b = a->b, bs = a->bias_scale;
    for (int i = 0; i < B; i++) const_contrib[i] = 0;
    zero(a->dlnpost, (size_t)B * C);
    if (s->opt.plain_proj)
        be->matmul_backward(a->dlnpost, NULL, NULL, dout, a->lnpost, PARAM(s, s->proj), B, C, E);
    else
        be->bcos_linear_explain_backward(a->dlnpost, dout, PARAM(s, s->proj), a->proj_z, a->proj_norm, B, C, E, b);
    bias_contrib(s, const_contrib, s->ln_post_b, a->dlnpost, bs, B, 1, C);
    zero(a->dpooled, (size_t)B * C);
    be->layernorm_explain_backward(a->dpooled, a->dlnpost, PARAM(s, s->ln_post_w), a->lnpost_rstd, B, C);
    zero(a->dx, (size_t)B * T * C);
    be->gather_rows_backward(a->dx, a->dpooled, a->rows, B, T, C);
    for (int l = s->stack.layers - 1; l >= 0; l--)
        block_explain(s, &s->stack.blocks[l], &a->layers[l], const_contrib, a);
    bias_contrib(s, const_contrib, s->ln_pre_b, a->dx, bs, B, T, C);
    zero(a->dx0, (size_t)B * T * C);
    be->layernorm_explain_backward(a->dx0, a->dx, PARAM(s, s->ln_pre_w), a->ln_pre_rstd, B * T, C);
    embedding_contrib(s, const_contrib, a->dx0, B, T, C);
    zero(a->dpatch, (size_t)B * NP * C);
    be->vit_embed_backward(a->dpatch, NULL, NULL, a->dx0, B, NP, C);
    zero(dx6, (size_t)B * 6 * S * S);
    be->bcos_patch_explain_backward(dx6, a->dpatch, PARAM(s, s->conv1), a->patch_z, a->patch_norm, B, 6, S, S,
                                    c->patch_size, C, b);
}
