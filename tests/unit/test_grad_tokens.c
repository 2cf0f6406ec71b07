/* Gradient checks of the kernels that move rows: text embedding, patchify, ViT token assembly and
 * row gathering: finite differences in double, accumulation, float against double (tests/gradcheck.h).
 * Indices repeat on purpose, so that one backward must add several rows into the same gradient row. */
#include "../../src/cpu/cpu_f64.h"
#include "bcos/backend.h"
#include "gradcheck.h"

/* --- embedding: tensors t[0] table[V,C], t[1] pos[T,C] --- */
enum { EMB_V = 5, EMB_B = 2, EMB_T = 4, EMB_C = 3 };
static const int emb_ids[EMB_B * EMB_T] = {1, 4, 1, 0, 4, 4, 2, 1};

static void embedding_fwd64(gc_case *c) {
    bcos_cpu_f64()->embedding_forward(c->out64, emb_ids, c->t[0].x64, c->t[1].x64, EMB_B, EMB_T, EMB_C);
}
static void embedding_bwd64(gc_case *c) {
    bcos_cpu_f64()->embedding_backward(c->t[0].g64, c->t[1].g64, c->dout64, emb_ids, EMB_B, EMB_T, EMB_C);
}
static void embedding_fwd32(gc_case *c) {
    bcos_backend_cpu()->embedding_forward(c->out32, emb_ids, c->t[0].x32, c->t[1].x32, EMB_B, EMB_T, EMB_C);
}
static void embedding_bwd32(gc_case *c) {
    bcos_backend_cpu()->embedding_backward(c->t[0].g32, c->t[1].g32, c->dout32, emb_ids, EMB_B, EMB_T, EMB_C);
}

static void test_embedding(bcos_rng *rng) {
    gc_case c;
    gc_init(&c, "embedding", EMB_B * EMB_T * EMB_C);
    gc_add(&c, "table", EMB_V * EMB_C);
    gc_add(&c, "pos", EMB_T * EMB_C);
    gc_set_adapters(&c, embedding_fwd64, embedding_bwd64, embedding_fwd32, embedding_bwd32, NULL);
    gc_run(&c, rng);
}

/* --- patchify: tensor t[0] img[B,Cin,H,W]; H and W are not multiples of P, as a conv allows --- */
enum { PAT_B = 2, PAT_CIN = 2, PAT_H = 5, PAT_W = 7, PAT_P = 2 };
#define PAT_OUT (PAT_B * (PAT_H / PAT_P) * (PAT_W / PAT_P) * PAT_CIN * PAT_P * PAT_P)

static void patchify_fwd64(gc_case *c) {
    bcos_cpu_f64()->patchify_forward(c->out64, c->t[0].x64, PAT_B, PAT_CIN, PAT_H, PAT_W, PAT_P);
}
static void patchify_bwd64(gc_case *c) {
    bcos_cpu_f64()->patchify_backward(c->t[0].g64, c->dout64, PAT_B, PAT_CIN, PAT_H, PAT_W, PAT_P);
}
static void patchify_fwd32(gc_case *c) {
    bcos_backend_cpu()->patchify_forward(c->out32, c->t[0].x32, PAT_B, PAT_CIN, PAT_H, PAT_W, PAT_P);
}
static void patchify_bwd32(gc_case *c) {
    bcos_backend_cpu()->patchify_backward(c->t[0].g32, c->dout32, PAT_B, PAT_CIN, PAT_H, PAT_W, PAT_P);
}

static void test_patchify(bcos_rng *rng) {
    gc_case c;
    gc_init(&c, "patchify", PAT_OUT);
    gc_add(&c, "img", PAT_B * PAT_CIN * PAT_H * PAT_W);
    gc_set_adapters(&c, patchify_fwd64, patchify_bwd64, patchify_fwd32, patchify_bwd32, NULL);
    gc_run(&c, rng);
}

/* --- vit_embed: tensors t[0] patch_emb[B,NP,C], t[1] cls[C], t[2] pos[1+NP,C] --- */
enum { VIT_B = 2, VIT_NP = 3, VIT_C = 4 };

static void vit_embed_fwd64(gc_case *c) {
    bcos_cpu_f64()->vit_embed_forward(c->out64, c->t[0].x64, c->t[1].x64, c->t[2].x64, VIT_B, VIT_NP, VIT_C);
}
static void vit_embed_bwd64(gc_case *c) {
    bcos_cpu_f64()->vit_embed_backward(c->t[0].g64, c->t[1].g64, c->t[2].g64, c->dout64, VIT_B, VIT_NP, VIT_C);
}
static void vit_embed_fwd32(gc_case *c) {
    bcos_backend_cpu()->vit_embed_forward(c->out32, c->t[0].x32, c->t[1].x32, c->t[2].x32, VIT_B, VIT_NP, VIT_C);
}
static void vit_embed_bwd32(gc_case *c) {
    bcos_backend_cpu()->vit_embed_backward(c->t[0].g32, c->t[1].g32, c->t[2].g32, c->dout32, VIT_B, VIT_NP, VIT_C);
}

static void test_vit_embed(bcos_rng *rng) {
    gc_case c;
    gc_init(&c, "vit_embed", VIT_B * (1 + VIT_NP) * VIT_C);
    gc_add(&c, "patch_emb", VIT_B * VIT_NP * VIT_C);
    gc_add(&c, "cls", VIT_C);
    gc_add(&c, "pos", (1 + VIT_NP) * VIT_C);
    gc_set_adapters(&c, vit_embed_fwd64, vit_embed_bwd64, vit_embed_fwd32, vit_embed_bwd32, NULL);
    gc_run(&c, rng);
}

/* --- gather_rows: tensor t[0] inp[B,T,C] --- */
enum { GAT_B = 3, GAT_T = 4, GAT_C = 2 };
static const int gat_rows[GAT_B] = {3, 0, 3};

static void gather_rows_fwd64(gc_case *c) {
    bcos_cpu_f64()->gather_rows_forward(c->out64, c->t[0].x64, gat_rows, GAT_B, GAT_T, GAT_C);
}
static void gather_rows_bwd64(gc_case *c) {
    bcos_cpu_f64()->gather_rows_backward(c->t[0].g64, c->dout64, gat_rows, GAT_B, GAT_T, GAT_C);
}
static void gather_rows_fwd32(gc_case *c) {
    bcos_backend_cpu()->gather_rows_forward(c->out32, c->t[0].x32, gat_rows, GAT_B, GAT_T, GAT_C);
}
static void gather_rows_bwd32(gc_case *c) {
    bcos_backend_cpu()->gather_rows_backward(c->t[0].g32, c->dout32, gat_rows, GAT_B, GAT_T, GAT_C);
}

static void test_gather_rows(bcos_rng *rng) {
    gc_case c;
    gc_init(&c, "gather_rows", GAT_B * GAT_C);
    gc_add(&c, "inp", GAT_B * GAT_T * GAT_C);
    gc_set_adapters(&c, gather_rows_fwd64, gather_rows_bwd64, gather_rows_fwd32, gather_rows_bwd32, NULL);
    gc_run(&c, rng);
}

int main(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 4);
    test_embedding(&rng);
    test_patchify(&rng);
    test_vit_embed(&rng);
    test_gather_rows(&rng);
    return test_summary("test_grad_tokens");
}
