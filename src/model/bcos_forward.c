/* The B-cos student's passes on a backend: the training forward (keeping activations), its exact
 * backward, and the explanation-mode backward with the constants' contributions. */
#include <stdlib.h>
#include <string.h>

#include "bcos/student.h"
#include "bcos/check.h"
#include "bcos_acts.h"
#include "carve.h"
#include "rn_internal.h"

static void layout(bcos_student_acts *a, const bcos_student *s, carver *c) {
    size_t B = (size_t)a->B, T = (size_t)a->T, NP = (size_t)a->NP, BT = B * T;
    size_t C = (size_t)s->cfg.vision_width, M = (size_t)s->cfg.vision_mlp, E = (size_t)s->cfg.embed_dim;
    size_t K = 6 * (size_t)s->cfg.patch_size * s->cfg.patch_size, H = (size_t)s->cfg.vision_heads;
    a->cols = carve(c, B * NP * K);
    a->patch_z = carve(c, B * NP * C);
    a->patch_norm = carve(c, B * NP);
    a->patch_out = carve(c, B * NP * C);
    a->x0 = carve(c, BT * C);
    a->ln_pre_mean = carve(c, BT);
    a->ln_pre_rstd = carve(c, BT);
    for (int l = 0; l < s->stack.layers; l++) {
        layer_acts *L = &a->layers[l];
        float **bt_c[] = {&L->x_in, &L->ln1, &L->atty, &L->o_z, &L->x_mid, &L->ln2, &L->p_z};
        for (size_t i = 0; i < sizeof bt_c / sizeof *bt_c; i++) *bt_c[i] = carve(c, BT * C);
        float **bt[] = {&L->ln1_mean, &L->ln1_rstd, &L->o_norm, &L->ln2_mean, &L->ln2_rstd, &L->fc_norm, &L->p_norm};
        for (size_t i = 0; i < sizeof bt / sizeof *bt; i++) *bt[i] = carve(c, BT);
        L->qkv = carve(c, BT * 3 * C);
        L->att = carve(c, B * H * T * T);
        L->fc_z = carve(c, BT * M);
        L->fc_out = carve(c, BT * M);
        L->act = carve(c, BT * M);
    }
    a->x_final = carve(c, BT * C);
    a->pooled = carve(c, B * C);
    a->lnpost = carve(c, B * C);
    a->lnpost_mean = carve(c, B);
    a->lnpost_rstd = carve(c, B);
    a->proj_z = carve(c, B * E);
    a->proj_norm = carve(c, B);
    a->out = carve(c, B * E);
    a->dx = carve(c, BT * C);
    a->dln = carve(c, BT * C);
    a->dqkv = carve(c, BT * 3 * C);
    a->datty = carve(c, BT * C);
    a->dfc = carve(c, BT * M);
    a->dact = carve(c, BT * M);
    a->dx0 = carve(c, BT * C);
    a->dpatch = carve(c, B * NP * C);
    a->dlnpost = carve(c, B * C);
    a->dpooled = carve(c, B * C);
}

bcos_student_acts *bcos_student_acts_new(const bcos_student *s, int B) {
    bcos_student_acts *a = xcalloc(1, sizeof *a);
    if (s->cfg.vision_tower == BCOS_TOWER_RESNET) {
        a->B = B;
        a->rn = rn_acts_new(s, B);
        return a;
    }
    int grid = s->cfg.image_size / s->cfg.patch_size;
    a->B = B;
    a->NP = grid * grid;
    a->T = a->NP + 1;
    a->layers = xcalloc((size_t)s->stack.layers, sizeof *a->layers);
    carver c = {NULL, 0};
    layout(a, s, &c);
    a->base = xmalloc(c.used * sizeof(float));
    c = (carver){a->base, 0};
    layout(a, s, &c);
    a->rows = xcalloc((size_t)B, sizeof(int));
    return a;
}

size_t bcos_student_acts_floats(const bcos_student *s, int B) {
    if (s->cfg.vision_tower == BCOS_TOWER_RESNET) return rn_acts_floats(s, B);
    int grid = s->cfg.image_size / s->cfg.patch_size;
    bcos_student_acts a = {.B = B, .NP = grid * grid, .T = grid * grid + 1};
    a.layers = xcalloc((size_t)s->stack.layers, sizeof *a.layers);
    carver c = {NULL, 0};
    layout(&a, s, &c);
    free(a.layers);
    return c.used;
}

void bcos_student_acts_free(bcos_student_acts *a) {
    if (!a) return;
    rn_acts_free(a->rn);
    free(a->rows);
    free(a->layers);
    free(a->base);
    free(a);
}

/* out[N,C] += scale * bias when the student keeps this bias. */
static void add_bias(const bcos_student *s, float *out, int bias, float scale, int N, int C) {
    if (bias >= 0 && scale != 0.0f) s->backend->bias_add_forward(out, PARAM(s, bias), scale, N, C);
}

static void add_bias_grad(const bcos_student *s, float *grads, int bias, const float *dout, float scale, int N, int C) {
    if (bias >= 0) s->backend->bias_add_backward(GRAD(s, grads, bias), dout, scale, N, C);
}

static void act_forward(const bcos_student *s, float *out, const float *inp, size_t n) {
    if (s->cfg.quick_gelu)
        s->backend->quickgelu_forward(out, inp, n);
    else
        s->backend->gelu_forward(out, inp, n);
}

/* One pre-norm block: x_out[BT,C] from L->x_in, keeping every activation in L. */
static void block_forward(const bcos_student *s, const bcos_clip_block *bk, layer_acts *L, float *x_out,
                          bcos_student_acts *a) {
    const bcos_backend *be = s->backend;
    int B = a->B, T = a->T, N = B * T, C = s->stack.width, M = s->stack.mlp;
    float b = a->b, bs = a->bias_scale;
    be->layernorm_forward(L->ln1, L->ln1_mean, L->ln1_rstd, L->x_in, PARAM(s, bk->ln_1_w), NULL, N, C, LN_EPS);
    add_bias(s, L->ln1, bk->ln_1_b, bs, N, C);
    be->matmul_forward(L->qkv, L->ln1, PARAM(s, bk->in_proj_w), NULL, N, C, 3 * C);
    add_bias(s, L->qkv, bk->in_proj_b, bs, N, 3 * C);
    be->attention_forward(L->atty, L->att, L->qkv, B, T, C, s->stack.heads, 0);
    be->bcos_linear_forward(L->x_mid, L->o_z, L->o_norm, L->atty, PARAM(s, bk->out_proj_w), N, C, C, b);
    add_bias(s, L->x_mid, bk->out_proj_b, bs, N, C);
    be->residual_forward(L->x_mid, L->x_mid, L->x_in, (size_t)N * C);
    be->layernorm_forward(L->ln2, L->ln2_mean, L->ln2_rstd, L->x_mid, PARAM(s, bk->ln_2_w), NULL, N, C, LN_EPS);
    add_bias(s, L->ln2, bk->ln_2_b, bs, N, C);
    be->bcos_linear_forward(L->fc_out, L->fc_z, L->fc_norm, L->ln2, PARAM(s, bk->c_fc_w), N, C, M, b);
    add_bias(s, L->fc_out, bk->c_fc_b, bs, N, M);
    act_forward(s, L->act, L->fc_out, (size_t)N * M);
    be->bcos_linear_forward(x_out, L->p_z, L->p_norm, L->act, PARAM(s, bk->c_proj_w), N, M, C, b);
    add_bias(s, x_out, bk->c_proj_b, bs, N, C);
    be->residual_forward(x_out, x_out, L->x_mid, (size_t)N * C);
}

void bcos_student_forward(const bcos_student *s, bcos_student_acts *a, float *out, const float *x6, float b,
                          float bias_scale) {
    if (a->rn) {
        rn_student_forward(s, a->rn, out, x6, b, bias_scale);
        return;
    }
    const bcos_backend *be = s->backend;
    const bcos_clip_config *c = &s->cfg;
    int B = a->B, T = a->T, NP = a->NP, C = c->vision_width, E = c->embed_dim, S = c->image_size;
    a->b = b;
    a->bias_scale = bias_scale;
    be->bcos_patch_forward(a->patch_out, a->cols, a->patch_z, a->patch_norm, x6, PARAM(s, s->conv1), B, 6, S, S,
                           c->patch_size, C, b);
    be->vit_embed_forward(a->x0, a->patch_out, PARAM(s, s->class_embedding), PARAM(s, s->pos), B, NP, C);
    float *x = s->stack.layers ? a->layers[0].x_in : a->x_final;
    be->layernorm_forward(x, a->ln_pre_mean, a->ln_pre_rstd, a->x0, PARAM(s, s->ln_pre_w), NULL, B * T, C, LN_EPS);
    add_bias(s, x, s->ln_pre_b, bias_scale, B * T, C);
    for (int l = 0; l < s->stack.layers; l++) {
        float *next = l + 1 < s->stack.layers ? a->layers[l + 1].x_in : a->x_final;
        block_forward(s, &s->stack.blocks[l], &a->layers[l], next, a);
    }
    be->gather_rows_forward(a->pooled, a->x_final, a->rows, B, T, C);
    be->layernorm_forward(a->lnpost, a->lnpost_mean, a->lnpost_rstd, a->pooled, PARAM(s, s->ln_post_w), NULL, B, C,
                          LN_EPS);
    add_bias(s, a->lnpost, s->ln_post_b, bias_scale, B, C);
    if (s->opt.plain_proj)
        be->matmul_forward(a->out, a->lnpost, PARAM(s, s->proj), NULL, B, C, E);
    else
        be->bcos_linear_forward(a->out, a->proj_z, a->proj_norm, a->lnpost, PARAM(s, s->proj), B, C, E, b);
    memcpy(out, a->out, (size_t)B * E * sizeof(float));
}

static void act_backward(const bcos_student *s, float *dinp, const float *inp, const float *dout, size_t n) {
    if (s->cfg.quick_gelu)
        s->backend->quickgelu_backward(dinp, inp, dout, n);
    else
        s->backend->gelu_backward(dinp, inp, dout, n);
}

/* a->dx holds dL/d(block output); on return it holds dL/d(L->x_in). */
static void block_backward(const bcos_student *s, const bcos_clip_block *bk, layer_acts *L, float *grads,
                           bcos_student_acts *a) {
    const bcos_backend *be = s->backend;
    int B = a->B, T = a->T, N = B * T, C = s->stack.width, M = s->stack.mlp;
    size_t nc = (size_t)N * C, nm = (size_t)N * M;
    float b = a->b, bs = a->bias_scale;
    add_bias_grad(s, grads, bk->c_proj_b, a->dx, bs, N, C);
    zero(a->dact, nm);
    be->bcos_linear_backward(a->dact, GRAD(s, grads, bk->c_proj_w), a->dx, L->act, PARAM(s, bk->c_proj_w), L->p_z,
                             L->p_norm, N, M, C, b);
    zero(a->dfc, nm);
    act_backward(s, a->dfc, L->fc_out, a->dact, nm);
    add_bias_grad(s, grads, bk->c_fc_b, a->dfc, bs, N, M);
    zero(a->dln, nc);
    be->bcos_linear_backward(a->dln, GRAD(s, grads, bk->c_fc_w), a->dfc, L->ln2, PARAM(s, bk->c_fc_w), L->fc_z,
                             L->fc_norm, N, C, M, b);
    add_bias_grad(s, grads, bk->ln_2_b, a->dln, bs, N, C);
    be->layernorm_backward(a->dx, GRAD(s, grads, bk->ln_2_w), NULL, a->dln, L->x_mid, PARAM(s, bk->ln_2_w),
                           L->ln2_mean, L->ln2_rstd, N, C);
    add_bias_grad(s, grads, bk->out_proj_b, a->dx, bs, N, C);
    zero(a->datty, nc);
    be->bcos_linear_backward(a->datty, GRAD(s, grads, bk->out_proj_w), a->dx, L->atty, PARAM(s, bk->out_proj_w),
                             L->o_z, L->o_norm, N, C, C, b);
    zero(a->dqkv, 3 * nc);
    be->attention_backward(a->dqkv, a->datty, L->qkv, L->att, B, T, C, s->stack.heads);
    add_bias_grad(s, grads, bk->in_proj_b, a->dqkv, bs, N, 3 * C);
    zero(a->dln, nc);
    be->matmul_backward(a->dln, GRAD(s, grads, bk->in_proj_w), NULL, a->dqkv, L->ln1, PARAM(s, bk->in_proj_w), N, C,
                        3 * C);
    add_bias_grad(s, grads, bk->ln_1_b, a->dln, bs, N, C);
    be->layernorm_backward(a->dx, GRAD(s, grads, bk->ln_1_w), NULL, a->dln, L->x_in, PARAM(s, bk->ln_1_w),
                           L->ln1_mean, L->ln1_rstd, N, C);
}

void bcos_student_backward(const bcos_student *s, bcos_student_acts *a, float *grads, float *dx6,
                           const float *dout) {
    if (a->rn) {
        rn_student_backward(s, a->rn, grads, dx6, dout);
        return;
    }
    const bcos_backend *be = s->backend;
    const bcos_clip_config *c = &s->cfg;
    int B = a->B, T = a->T, NP = a->NP, C = c->vision_width, E = c->embed_dim, S = c->image_size;
    float b = a->b, bs = a->bias_scale;
    zero(a->dlnpost, (size_t)B * C);
    if (s->opt.plain_proj)
        be->matmul_backward(a->dlnpost, GRAD(s, grads, s->proj), NULL, dout, a->lnpost, PARAM(s, s->proj), B, C, E);
    else
        be->bcos_linear_backward(a->dlnpost, GRAD(s, grads, s->proj), dout, a->lnpost, PARAM(s, s->proj), a->proj_z,
                                 a->proj_norm, B, C, E, b);
    add_bias_grad(s, grads, s->ln_post_b, a->dlnpost, bs, B, C);
    zero(a->dpooled, (size_t)B * C);
    be->layernorm_backward(a->dpooled, GRAD(s, grads, s->ln_post_w), NULL, a->dlnpost, a->pooled,
                           PARAM(s, s->ln_post_w), a->lnpost_mean, a->lnpost_rstd, B, C);
    zero(a->dx, (size_t)B * T * C);
    be->gather_rows_backward(a->dx, a->dpooled, a->rows, B, T, C);
    for (int l = s->stack.layers - 1; l >= 0; l--) block_backward(s, &s->stack.blocks[l], &a->layers[l], grads, a);
    add_bias_grad(s, grads, s->ln_pre_b, a->dx, bs, B * T, C);
    zero(a->dx0, (size_t)B * T * C);
    be->layernorm_backward(a->dx0, GRAD(s, grads, s->ln_pre_w), NULL, a->dx, a->x0, PARAM(s, s->ln_pre_w),
                           a->ln_pre_mean, a->ln_pre_rstd, B * T, C);
    zero(a->dpatch, (size_t)B * NP * C);
    be->vit_embed_backward(a->dpatch, GRAD(s, grads, s->class_embedding), GRAD(s, grads, s->pos), a->dx0, B, NP, C);
    be->bcos_patch_backward(dx6, GRAD(s, grads, s->conv1), a->dpatch, a->cols, PARAM(s, s->conv1), a->patch_z,
                            a->patch_norm, B, 6, S, S, c->patch_size, C, b);
}

void bcos_student_acts_set_reduce(bcos_student_acts *a, void (*sum)(float *x, size_t n), int ranks) {
    if (a->rn) rn_acts_set_reduce(a->rn, sum, ranks);
}
