/* A plain CLIP's training passes on a backend: both towers' forward (the same kernels, in the same
 * order, as clip_forward.c) keeping every activation the backward needs, and the exact backward of
 * both: the pooling and projection, the pre-norm blocks (causal attention in the text tower), and
 * the inputs' embeddings (patch conv, class and positional embeddings, ln_pre; token and positional
 * embeddings). Gradients accumulate into one allocation laid out as the parameters. */
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/clip_train.h"
#include "clip_internal.h"
#include "carve.h"

#define LN_EPS 1e-5f

typedef struct {
    float *x_in, *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *atty, *x_mid, *ln2, *ln2_mean, *ln2_rstd, *fch, *fch_act;
} block_acts;

/* One tower: its stack's activations and the pooled end, with backward scratch of the same sizes. */
typedef struct {
    int B, T, C, M, H;
    block_acts *blocks;
    float *x_out, *pooled, *normed, *pool_mean, *pool_rstd;
    float *dx, *dln, *dqkv, *datty, *dfch, *dfch_act, *dpooled, *dnormed;
    int *rows; /* the pooled token of each sample: the class token (0) or the end-of-text token */
} tower_acts;

struct bcos_clip_acts {
    int B, NP;
    tower_acts vision, text;
    float *patches, *patch_emb, *tokens_in, *pre_mean, *pre_rstd, *dtokens_in, *dpatch_emb;
    int *ids; /* the text's token ids as the kernels take them */
    float *base;
};

static void tower_layout(tower_acts *t, carver *c) {
    size_t B = (size_t)t->B, BT = B * t->T, C = (size_t)t->C, M = (size_t)t->M;
    t->x_out = carve(c, BT * C);
    t->pooled = carve(c, B * C);
    t->normed = carve(c, B * C);
    t->pool_mean = carve(c, B);
    t->pool_rstd = carve(c, B);
    t->dx = carve(c, BT * C);
    t->dln = carve(c, BT * C);
    t->dqkv = carve(c, BT * 3 * C);
    t->datty = carve(c, BT * C);
    t->dfch = carve(c, BT * M);
    t->dfch_act = carve(c, BT * M);
    t->dpooled = carve(c, B * C);
    t->dnormed = carve(c, B * C);
}

static void blocks_layout(tower_acts *t, int layers, carver *c) {
    size_t B = (size_t)t->B, T = (size_t)t->T, BT = B * T, C = (size_t)t->C, M = (size_t)t->M;
    for (int l = 0; l < layers; l++) {
        block_acts *k = &t->blocks[l];
        float **bt_c[] = {&k->x_in, &k->ln1, &k->atty, &k->x_mid, &k->ln2};
        for (size_t i = 0; i < sizeof bt_c / sizeof *bt_c; i++) *bt_c[i] = carve(c, BT * C);
        float **bt[] = {&k->ln1_mean, &k->ln1_rstd, &k->ln2_mean, &k->ln2_rstd};
        for (size_t i = 0; i < sizeof bt / sizeof *bt; i++) *bt[i] = carve(c, BT);
        k->qkv = carve(c, BT * 3 * C);
        k->att = carve(c, B * (size_t)t->H * T * T);
        k->fch = carve(c, BT * M);
        k->fch_act = carve(c, BT * M);
    }
}

/* The towers' shapes from the config (no allocation). */
static void shapes(bcos_clip_acts *a, const bcos_clip_config *cfg, int B) {
    int grid = cfg->image_size / cfg->patch_size;
    a->B = B;
    a->NP = grid * grid;
    a->vision = (tower_acts){.B = B, .T = a->NP + 1, .C = cfg->vision_width, .M = cfg->vision_mlp, .H = cfg->vision_heads};
    a->text = (tower_acts){.B = B, .T = cfg->context_length, .C = cfg->text_width, .M = cfg->text_mlp, .H = cfg->text_heads};
}

static void layout(bcos_clip_acts *a, const bcos_clip_config *cfg, carver *c) {
    size_t B = (size_t)a->B, NP = (size_t)a->NP, C = (size_t)cfg->vision_width, T = NP + 1;
    size_t K = 3 * (size_t)cfg->patch_size * cfg->patch_size;
    a->patches = carve(c, B * NP * K);
    a->patch_emb = carve(c, B * NP * C);
    a->tokens_in = carve(c, B * T * C);
    a->pre_mean = carve(c, B * T);
    a->pre_rstd = carve(c, B * T);
    a->dtokens_in = carve(c, B * T * C);
    a->dpatch_emb = carve(c, B * NP * C);
    blocks_layout(&a->vision, cfg->vision_layers, c);
    tower_layout(&a->vision, c);
    blocks_layout(&a->text, cfg->text_layers, c);
    tower_layout(&a->text, c);
}

size_t bcos_clip_acts_floats(const bcos_clip_config *cfg, int B) {
    bcos_clip_acts a;
    shapes(&a, cfg, B);
    a.vision.blocks = xcalloc((size_t)cfg->vision_layers, sizeof(block_acts));
    a.text.blocks = xcalloc((size_t)cfg->text_layers, sizeof(block_acts));
    carver c = {NULL, 0};
    layout(&a, cfg, &c);
    free(a.vision.blocks);
    free(a.text.blocks);
    return c.used;
}

bcos_clip_acts *bcos_clip_acts_new(const bcos_clip *m, int B) {
    bcos_clip_acts *a = xcalloc(1, sizeof *a);
    shapes(a, &m->cfg, B);
    a->vision.blocks = xcalloc((size_t)m->cfg.vision_layers, sizeof(block_acts));
    a->text.blocks = xcalloc((size_t)m->cfg.text_layers, sizeof(block_acts));
    carver c = {NULL, 0};
    layout(a, &m->cfg, &c);
    a->base = xmalloc(c.used * sizeof(float));
    c = (carver){a->base, 0};
    layout(a, &m->cfg, &c);
    a->vision.rows = xcalloc((size_t)B, sizeof(int)); /* the class token is row 0 */
    a->text.rows = xcalloc((size_t)B, sizeof(int));
    a->ids = xcalloc((size_t)B * a->text.T, sizeof(int));
    return a;
}

void bcos_clip_acts_free(bcos_clip_acts *a) {
    if (!a) return;
    free(a->vision.blocks);
    free(a->text.blocks);
    free(a->vision.rows);
    free(a->text.rows);
    free(a->ids);
    free(a->base);
    free(a);
}

#define P(i) bcos_params_ptr(&m->params, (i))
#define G(i) (grads + m->params.items[(i)].offset)

/* The stack over x[B,T,C] (copied into the first block's x_in; x may be t->x_out), its output into
 * t->x_out; each block's input is kept in its x_in. */
static void stack_forward(const bcos_clip *m, const bcos_clip_stack *s, tower_acts *t, const float *x, int causal) {
    const bcos_backend *be = m->backend;
    int B = t->B, T = t->T, C = t->C, M = t->M, N = B * T;
    size_t n = (size_t)N * C;
    for (int l = 0; l < s->layers; l++) {
        const bcos_clip_block *b = &s->blocks[l];
        block_acts *k = &t->blocks[l];
        memcpy(k->x_in, l == 0 ? x : t->x_out, n * sizeof(float));
        be->layernorm_forward(k->ln1, k->ln1_mean, k->ln1_rstd, k->x_in, P(b->ln_1_w), P(b->ln_1_b), N, C, LN_EPS);
        be->matmul_forward(k->qkv, k->ln1, P(b->in_proj_w), P(b->in_proj_b), N, C, 3 * C);
        be->attention_forward(k->atty, k->att, k->qkv, B, T, C, s->heads, causal);
        be->matmul_forward(t->x_out, k->atty, P(b->out_proj_w), P(b->out_proj_b), N, C, C);
        be->residual_forward(k->x_mid, k->x_in, t->x_out, n);
        be->layernorm_forward(k->ln2, k->ln2_mean, k->ln2_rstd, k->x_mid, P(b->ln_2_w), P(b->ln_2_b), N, C, LN_EPS);
        be->matmul_forward(k->fch, k->ln2, P(b->c_fc_w), P(b->c_fc_b), N, C, M);
        if (m->cfg.quick_gelu)
            be->quickgelu_forward(k->fch_act, k->fch, (size_t)N * M);
        else
            be->gelu_forward(k->fch_act, k->fch, (size_t)N * M);
        be->matmul_forward(t->x_out, k->fch_act, P(b->c_proj_w), P(b->c_proj_b), N, M, C);
        be->residual_forward(t->x_out, k->x_mid, t->x_out, n);
    }
}

/* out[B,E] = proj(layernorm(the rows of t->x_out picked by t->rows)). */
static void pool_forward(const bcos_clip *m, tower_acts *t, float *out, int ln_w, int ln_b, int proj) {
    const bcos_backend *be = m->backend;
    be->gather_rows_forward(t->pooled, t->x_out, t->rows, t->B, t->T, t->C);
    be->layernorm_forward(t->normed, t->pool_mean, t->pool_rstd, t->pooled, P(ln_w), P(ln_b), t->B, t->C, LN_EPS);
    be->matmul_forward(out, t->normed, P(proj), NULL, t->B, t->C, m->cfg.embed_dim);
}

static void image_forward(const bcos_clip *m, bcos_clip_acts *a, float *out, const float *images) {
    const bcos_backend *be = m->backend;
    const bcos_clip_config *c = &m->cfg;
    int B = a->B, S = c->image_size, P = c->patch_size, C = c->vision_width, NP = a->NP, T = NP + 1;
    be->patchify_forward(a->patches, images, B, 3, S, S, P);
    be->matmul_forward(a->patch_emb, a->patches, P(m->conv1), NULL, B * NP, 3 * P * P, C);
    be->vit_embed_forward(a->tokens_in, a->patch_emb, P(m->class_embedding), P(m->vision_pos), B, NP, C);
    /* ln_pre's output is the stack's input: it lands in x_out, copied into the first block's x_in */
    be->layernorm_forward(a->vision.x_out, a->pre_mean, a->pre_rstd, a->tokens_in, P(m->ln_pre_w), P(m->ln_pre_b),
                          B * T, C, LN_EPS);
    stack_forward(m, &m->vision, &a->vision, a->vision.x_out, 0);
    pool_forward(m, &a->vision, out, m->ln_post_w, m->ln_post_b, m->visual_proj);
}

static void text_forward(const bcos_clip *m, bcos_clip_acts *a, float *out, const int32_t *ids) {
    tower_acts *t = &a->text;
    int B = a->B, T = t->T;
    for (int b = 0; b < B; b++) {
        int *eot = &t->rows[b];
        *eot = 0; /* open_clip pools at argmax(ids): the end-of-text token has the largest id */
        for (int i = 0; i < T; i++) {
            int32_t id = ids[(size_t)b * T + i];
            BCOS_CHECK(id >= 0 && id < m->cfg.vocab_size, "token ids come from the tokenizer of this vocabulary");
            a->ids[(size_t)b * T + i] = id;
            if (id > ids[(size_t)b * T + *eot]) *eot = i;
        }
    }
    m->backend->embedding_forward(t->x_out, a->ids, P(m->token_embedding), P(m->text_pos), B, T, t->C);
    stack_forward(m, &m->text, t, t->x_out, 1);
    pool_forward(m, t, out, m->ln_final_w, m->ln_final_b, m->text_projection);
}

void bcos_clip_train_forward(const bcos_clip *m, bcos_clip_acts *a, float *img, float *txt, const float *images,
                             const int32_t *ids) {
    image_forward(m, a, img, images);
    text_forward(m, a, txt, ids);
}

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

/* From dout[B,E] into t->dx[B,T,C] (the stack output's gradient, written afresh). */
static void pool_backward(const bcos_clip *m, tower_acts *t, float *grads, const float *dout, int ln_w, int ln_b,
                          int proj) {
    const bcos_backend *be = m->backend;
    int B = t->B, C = t->C;
    zero(t->dnormed, (size_t)B * C);
    zero(t->dpooled, (size_t)B * C);
    zero(t->dx, (size_t)B * t->T * C);
    be->matmul_backward(t->dnormed, G(proj), NULL, dout, t->normed, P(proj), B, C, m->cfg.embed_dim);
    be->layernorm_backward(t->dpooled, G(ln_w), G(ln_b), t->dnormed, t->pooled, P(ln_w), t->pool_mean, t->pool_rstd,
                           B, C);
    be->gather_rows_backward(t->dx, t->dpooled, t->rows, B, t->T, C);
}

/* t->dx: the stack output's gradient in, the stack input's out. */
static void stack_backward(const bcos_clip *m, const bcos_clip_stack *s, tower_acts *t, float *grads) {
    const bcos_backend *be = m->backend;
    int B = t->B, T = t->T, C = t->C, M = t->M, N = B * T;
    size_t nc = (size_t)N * C, nm = (size_t)N * M;
    for (int l = s->layers - 1; l >= 0; l--) {
        const bcos_clip_block *b = &s->blocks[l];
        block_acts *k = &t->blocks[l];
        /* x_out = x_mid + c_proj(act(c_fc(ln_2 x_mid))): dx already is x_mid's share through the residual */
        zero(t->dfch_act, nm);
        be->matmul_backward(t->dfch_act, G(b->c_proj_w), G(b->c_proj_b), t->dx, k->fch_act, P(b->c_proj_w), N, M, C);
        zero(t->dfch, nm);
        if (m->cfg.quick_gelu)
            be->quickgelu_backward(t->dfch, k->fch, t->dfch_act, nm);
        else
            be->gelu_backward(t->dfch, k->fch, t->dfch_act, nm);
        zero(t->dln, nc);
        be->matmul_backward(t->dln, G(b->c_fc_w), G(b->c_fc_b), t->dfch, k->ln2, P(b->c_fc_w), N, C, M);
        be->layernorm_backward(t->dx, G(b->ln_2_w), G(b->ln_2_b), t->dln, k->x_mid, P(b->ln_2_w), k->ln2_mean,
                               k->ln2_rstd, N, C);
        /* x_mid = x_in + out_proj(attn(in_proj(ln_1 x_in))) */
        zero(t->datty, nc);
        be->matmul_backward(t->datty, G(b->out_proj_w), G(b->out_proj_b), t->dx, k->atty, P(b->out_proj_w), N, C, C);
        zero(t->dqkv, 3 * nc);
        be->attention_backward(t->dqkv, t->datty, k->qkv, k->att, B, T, C, s->heads);
        zero(t->dln, nc);
        be->matmul_backward(t->dln, G(b->in_proj_w), G(b->in_proj_b), t->dqkv, k->ln1, P(b->in_proj_w), N, C, 3 * C);
        be->layernorm_backward(t->dx, G(b->ln_1_w), G(b->ln_1_b), t->dln, k->x_in, P(b->ln_1_w), k->ln1_mean,
                               k->ln1_rstd, N, C);
    }
}

static void image_backward(const bcos_clip *m, bcos_clip_acts *a, float *grads, const float *dimg) {
    const bcos_backend *be = m->backend;
    const bcos_clip_config *c = &m->cfg;
    tower_acts *t = &a->vision;
    int B = a->B, P = c->patch_size, C = t->C, NP = a->NP, T = t->T;
    pool_backward(m, t, grads, dimg, m->ln_post_w, m->ln_post_b, m->visual_proj);
    stack_backward(m, &m->vision, t, grads);
    zero(a->dtokens_in, (size_t)B * T * C);
    be->layernorm_backward(a->dtokens_in, G(m->ln_pre_w), G(m->ln_pre_b), t->dx, a->tokens_in, P(m->ln_pre_w),
                           a->pre_mean, a->pre_rstd, B * T, C);
    zero(a->dpatch_emb, (size_t)B * NP * C);
    be->vit_embed_backward(a->dpatch_emb, G(m->class_embedding), G(m->vision_pos), a->dtokens_in, B, NP, C);
    /* the pixels are data: conv1's weight is the only gradient wanted */
    be->matmul_backward(NULL, G(m->conv1), NULL, a->dpatch_emb, a->patches, P(m->conv1), B * NP, 3 * P * P, C);
}

static void text_backward(const bcos_clip *m, bcos_clip_acts *a, float *grads, const float *dtxt) {
    tower_acts *t = &a->text;
    pool_backward(m, t, grads, dtxt, m->ln_final_w, m->ln_final_b, m->text_projection);
    stack_backward(m, &m->text, t, grads);
    m->backend->embedding_backward(G(m->token_embedding), G(m->text_pos), t->dx, a->ids, a->B, t->T, t->C);
}

void bcos_clip_train_backward(const bcos_clip *m, bcos_clip_acts *a, float *grads, const float *dimg,
                              const float *dtxt) {
    image_backward(m, a, grads, dimg);
    text_backward(m, a, grads, dtxt);
}
