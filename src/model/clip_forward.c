/* CLIP forward passes on a backend: the pre-norm transformer stack shared by both towers, the
 * image tower (patches -> tokens -> stack -> ln_post(class token) -> proj) and the text tower
 * (token + position embedding -> causal stack -> ln_final(end-of-text token) -> projection). */
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "clip_internal.h"

#define LN_EPS 1e-5f

/* Scratch for one block, reused by every layer: inference keeps no activations. */
typedef struct {
    float *ln, *mean, *rstd, *qkv, *att, *atty, *proj, *fch, *fch_act;
    float *base;
} block_scratch;

/* The floats of each scratch slot; returns their sum. */
static size_t scratch_sizes(size_t sizes[9], int width, int heads, int mlp, int B, int T) {
    size_t BT = (size_t)B * T, C = (size_t)width;
    size_t each[9] = {BT * C, BT, BT, BT * 3 * C, (size_t)B * heads * T * T, BT * C, BT * C, BT * mlp, BT * mlp};
    size_t total = 0;
    for (int i = 0; i < 9; i++) total += sizes[i] = each[i];
    return total;
}

static block_scratch scratch_alloc(const bcos_clip_stack *s, int B, int T) {
    size_t sizes[9];
    size_t total = scratch_sizes(sizes, s->width, s->heads, s->mlp, B, T);
    block_scratch k;
    k.base = xmalloc(total * sizeof(float));
    float **slots[9] = {&k.ln, &k.mean, &k.rstd, &k.qkv, &k.att, &k.atty, &k.proj, &k.fch, &k.fch_act};
    float *at = k.base;
    for (int i = 0; i < 9; i++) {
        *slots[i] = at;
        at += sizes[i];
    }
    return k;
}

/* x[B,T,C] <- x + attn(ln_1 x); x <- x + mlp(ln_2 x), for every layer of the stack. */
static void stack_forward(const bcos_clip *m, const bcos_clip_stack *s, float *x, int B, int T, int causal) {
    const bcos_backend *be = m->backend;
    const bcos_params *p = &m->params;
    int C = s->width, N = B * T;
    size_t n = (size_t)N * C;
    block_scratch k = scratch_alloc(s, B, T);
#define P(i) bcos_params_ptr(p, (i))
    for (int l = 0; l < s->layers; l++) {
        const bcos_clip_block *b = &s->blocks[l];
        be->layernorm_forward(k.ln, k.mean, k.rstd, x, P(b->ln_1_w), P(b->ln_1_b), N, C, LN_EPS);
        be->matmul_forward(k.qkv, k.ln, P(b->in_proj_w), P(b->in_proj_b), N, C, 3 * C);
        be->attention_forward(k.atty, k.att, k.qkv, B, T, C, s->heads, causal);
        be->matmul_forward(k.proj, k.atty, P(b->out_proj_w), P(b->out_proj_b), N, C, C);
        be->residual_forward(x, x, k.proj, n);
        be->layernorm_forward(k.ln, k.mean, k.rstd, x, P(b->ln_2_w), P(b->ln_2_b), N, C, LN_EPS);
        be->matmul_forward(k.fch, k.ln, P(b->c_fc_w), P(b->c_fc_b), N, C, s->mlp);
        if (m->cfg.quick_gelu)
            be->quickgelu_forward(k.fch_act, k.fch, (size_t)N * s->mlp);
        else
            be->gelu_forward(k.fch_act, k.fch, (size_t)N * s->mlp);
        be->matmul_forward(k.proj, k.fch_act, P(b->c_proj_w), P(b->c_proj_b), N, s->mlp, C);
        be->residual_forward(x, x, k.proj, n);
    }
#undef P
    free(k.base);
}

/* out[B,E] = proj(layernorm(rows of x[B,T,C] picked by rows[B])). */
static void pool_and_project(const bcos_clip *m, float *out, const float *x, const int *rows, int B, int T, int C,
                             int ln_w, int ln_b, int proj) {
    const bcos_backend *be = m->backend;
    const bcos_params *p = &m->params;
    float *pooled = xmalloc((size_t)B * C * 2 * sizeof(float) + (size_t)B * 2 * sizeof(float));
    float *normed = pooled + (size_t)B * C, *mean = normed + (size_t)B * C, *rstd = mean + B;
    be->gather_rows_forward(pooled, x, rows, B, T, C);
    be->layernorm_forward(normed, mean, rstd, pooled, bcos_params_ptr(p, ln_w), bcos_params_ptr(p, ln_b), B, C,
                          LN_EPS);
    be->matmul_forward(out, normed, bcos_params_ptr(p, proj), NULL, B, C, m->cfg.embed_dim);
    free(pooled);
}

size_t bcos_clip_encode_image_floats(const bcos_clip_config *c, int B) {
    if (c->vision_tower == BCOS_TOWER_RESNET) {
        bcos_clip declared; /* the ResNet's sizes are read from its tensors' shapes */
        bcos_clip_declare(&declared, c);
        size_t floats = bcos_clip_resnet_image_floats(&declared, B);
        bcos_clip_free(&declared);
        return floats;
    }
    size_t sizes[9];
    int P = c->patch_size, C = c->vision_width, NP = (c->image_size / P) * (c->image_size / P), T = NP + 1;
    size_t b = (size_t)B;
    /* patches, emb, x, ln, stats (as allocated below), the block scratch, and pool_and_project's */
    return b * NP * 3 * P * P + b * NP * C + 2 * b * T * C + b * T * 2 +
           scratch_sizes(sizes, C, c->vision_heads, c->vision_mlp, B, T) + b * C * 2 + b * 2;
}

void bcos_clip_encode_image(const bcos_clip *m, float *out, const float *images, int B) {
    if (m->cfg.vision_tower == BCOS_TOWER_RESNET) {
        bcos_clip_resnet_encode_image(m, out, images, B);
        return;
    }
    const bcos_backend *be = m->backend;
    const bcos_params *p = &m->params;
    const bcos_clip_config *c = &m->cfg;
    int S = c->image_size, P = c->patch_size, C = c->vision_width;
    int NP = (S / P) * (S / P), T = NP + 1, K = 3 * P * P;
    float *patches = xmalloc((size_t)B * NP * K * sizeof(float));
    float *emb = xmalloc((size_t)B * NP * C * sizeof(float));
    float *x = xmalloc((size_t)B * T * C * sizeof(float));
    float *ln = xmalloc((size_t)B * T * C * sizeof(float));
    float *stats = xmalloc((size_t)B * T * 2 * sizeof(float));
    be->patchify_forward(patches, images, B, 3, S, S, P);
    /* conv1 has no bias and its weight [C,3,P,P] is a Linear weight [C, 3*P*P] */
    be->matmul_forward(emb, patches, bcos_params_ptr(p, m->conv1), NULL, B * NP, K, C);
    be->vit_embed_forward(ln, emb, bcos_params_ptr(p, m->class_embedding), bcos_params_ptr(p, m->vision_pos), B,
                          NP, C);
    be->layernorm_forward(x, stats, stats + (size_t)B * T, ln, bcos_params_ptr(p, m->ln_pre_w),
                          bcos_params_ptr(p, m->ln_pre_b), B * T, C, LN_EPS);
    stack_forward(m, &m->vision, x, B, T, 0);
    int *rows = xcalloc((size_t)B, sizeof(int)); /* the class token is row 0 */
    pool_and_project(m, out, x, rows, B, T, C, m->ln_post_w, m->ln_post_b, m->visual_proj);
    free(rows);
    free(stats);
    free(ln);
    free(x);
    free(emb);
    free(patches);
}

void bcos_clip_encode_text(const bcos_clip *m, float *out, const int32_t *ids, int B) {
    const bcos_backend *be = m->backend;
    const bcos_params *p = &m->params;
    int L = m->cfg.context_length, C = m->cfg.text_width;
    int *eot = xmalloc((size_t)B * sizeof(int));
    int T = 1; /* tokens kept: through the batch's last end-of-text token */
    for (int b = 0; b < B; b++) {
        eot[b] = 0; /* open_clip pools at argmax(ids): the end-of-text token has the largest id */
        for (int t = 0; t < L; t++) {
            int32_t id = ids[(size_t)b * L + t];
            BCOS_CHECK(id >= 0 && id < m->cfg.vocab_size, "token ids come from the tokenizer of this vocabulary");
            if (id > ids[(size_t)b * L + eot[b]]) eot[b] = t;
        }
        if (eot[b] + 1 > T) T = eot[b] + 1;
    }
    /* The attention is causal and everything else acts token by token, so a token sees only those
     * before it: the padding after the last end-of-text token cannot reach a pooled row, and the
     * stack runs on the first T tokens alone (the same numbers, a fraction of the work for short
     * prompts). */
    int *tokens = xmalloc((size_t)B * T * sizeof(int));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) tokens[(size_t)b * T + t] = ids[(size_t)b * L + t];
    float *x = xmalloc((size_t)B * T * C * sizeof(float));
    be->embedding_forward(x, tokens, bcos_params_ptr(p, m->token_embedding), bcos_params_ptr(p, m->text_pos), B,
                          T, C);
    stack_forward(m, &m->text, x, B, T, 1);
    pool_and_project(m, out, x, eot, B, T, C, m->ln_final_w, m->ln_final_b, m->text_projection);
    free(x);
    free(tokens);
    free(eot);
}
