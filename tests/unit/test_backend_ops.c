/* Every op of a backend against the double CPU kernels (the oracle), on random inputs. The ops are taken
 * from the one list (include/bcos/backend_ops.h), so an op without a case here fails. Outputs start as
 * NaN, so that an op that leaves an element unwritten fails; gradients start at random values, since
 * backwards accumulate into them. Saved tensors that a backward reads (mean, rstd, att, z, norm, cols)
 * come from the oracle's forward, rounded to float. Runs on every backend built in, or on the one named
 * as the argument. Each tensor is built in host memory and copied into the backend's memory (D(), I())
 * as the backend's op is called; compare() copies the results back. A backend that cannot run here (the
 * CUDA backends without a GPU) is reported as not run: with its name as the argument the exit status is
 * then 77, which ctest reports as skipped.
 *
 * Adding a new op: write its case below (a case_<op> function and a CASE(<op>) line), then see the
 * steps in include/bcos/backend_ops.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/cpu/cpu_f64.h"
#include "bcos/backend.h"
#include "bcos/check.h"
#include "bcos/rng.h"
#include "test.h"

/* max|f - d| / max|d| over each compared tensor (docs/METHOD.md), by the backend's arithmetic. */
#define TOLERANCE_FP32 1e-5
#define TOLERANCE_BF16 1e-2
#define MAX_TENSORS 8
#define MAX_INDEX_ARRAYS 2
#define TEST_SKIPPED 77

/* One tensor in both precisions, the same values; slot: its copy in the backend's memory. */
typedef struct {
    float *f;
    double *d;
    size_t n;
    int slot;
} pair;

typedef struct {
    const bcos_backend *be;
    const bcos_cpu_f64_ops *ref;
    bcos_rng rng;
    pair all[3 * MAX_TENSORS]; /* freed after the case */
    float *dev[3 * MAX_TENSORS]; /* all[k] in the backend's memory, once passed to it, */
    int shift;                   /* that many floats past the start of its allocation */
    void *dev_ints[MAX_INDEX_ARRAYS];
    pair compared[MAX_TENSORS];
    int n_all, n_compared, n_ints;
} op_test;

static pair new_pair(op_test *t, size_t n) {
    BCOS_CHECK(t->n_all < 3 * MAX_TENSORS, "a case uses more tensors than MAX_TENSORS allows");
    pair p = {xmalloc(n * sizeof(float)), xmalloc(n * sizeof(double)), n, t->n_all};
    t->all[t->n_all++] = p;
    return p;
}

/* The float side in the backend's memory, as it is now: for the backend's call. */
static float *device_copy(op_test *t, pair p) {
    if (!t->dev[p.slot]) t->dev[p.slot] = (float *)t->be->alloc((p.n + t->shift) * sizeof(float)) + t->shift;
    t->be->upload(t->dev[p.slot], p.f, p.n * sizeof(float));
    return t->dev[p.slot];
}
#define D(p) device_copy(t, (p))

static int *device_ints(op_test *t, const int *ids, size_t n) {
    BCOS_CHECK(t->n_ints < MAX_INDEX_ARRAYS, "a case passes more index arrays than MAX_INDEX_ARRAYS");
    void *d = t->dev_ints[t->n_ints++] = t->be->alloc(n * sizeof(int));
    t->be->upload(d, ids, n * sizeof(int));
    return d;
}
#define I(ids, n) device_ints(t, (ids), (size_t)(n))

/* The float side takes the double side's values. */
static void to_float(pair p) {
    for (size_t i = 0; i < p.n; i++) p.f[i] = (float)p.d[i];
}

/* Two saved tensors the oracle's forward wrote, for a backward. */
static void to_float_both(pair a, pair b) {
    to_float(a);
    to_float(b);
}

/* Uniform in [-1, 1), rounded to float first so that both sides see the same numbers. */
static pair input(op_test *t, size_t n) {
    pair p = new_pair(t, n);
    for (size_t i = 0; i < n; i++) p.d[i] = 2 * (double)bcos_rng_uniform(&t->rng) - 1;
    to_float(p);
    return p;
}

/* A result the op must write in full: NaN until it does. */
static pair output(op_test *t, size_t n) {
    BCOS_CHECK(t->n_compared < MAX_TENSORS, "a case compares more tensors than MAX_TENSORS");
    pair p = new_pair(t, n);
    for (size_t i = 0; i < n; i++) {
        p.f[i] = NAN;
        p.d[i] = NAN;
    }
    t->compared[t->n_compared++] = p;
    return p;
}

/* A gradient the op accumulates into: random to start with, compared afterwards. */
static pair grad(op_test *t, size_t n) {
    pair p = input(t, n);
    BCOS_CHECK(t->n_compared < MAX_TENSORS, "a case compares more tensors than MAX_TENSORS");
    t->compared[t->n_compared++] = p;
    return p;
}

static int *indices(op_test *t, size_t n, int below) {
    int *ids = xmalloc(n * sizeof(int));
    for (size_t i = 0; i < n; i++) ids[i] = (int)bcos_rng_below(&t->rng, (uint64_t)below);
    return ids;
}

/* ---- the cases: one per op, calling the backend and the oracle with the same arguments */

/* The sizes the cases run at, in two sets: a small one (rows narrower than a warp, a ragged image edge),
 * and one that takes device kernels past one iteration and one block (more than 64 rows, rows wider than
 * a block of threads, a head dimension of 64, a patch window of 1536). */
typedef struct {
    int N, IC, OC, LN_C, B, T, C, NH, VOCAB, CIN, H, W, P;
} shape_set;
static const shape_set SHAPES[] = {
    {5, 7, 6, 9, 2, 5, 8, 2, 11, 6, 9, 8, 4},
    {150, 72, 96, 300, 3, 70, 128, 2, 50, 6, 34, 33, 16},
};
#define N_SHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))
static int N, IC, OC, LN_C, B, T, C, NH, VOCAB, CIN, H, W, P, NP, PATCH, HO, WO, WINDOW;

/* A padded, strided 3x3 convolution, with bias. On an odd side the last window reaches into the padding; on
 * an even side the last pixel would also start a window past the output's end, which a backward's gather
 * must skip. Each set has one side of each kind (9x8, 34x33), so both edges meet both cases. */
enum { CONV_K = 3, CONV_STRIDE = 2, CONV_PAD = 1 };

static void use_shapes(const shape_set *s) {
    N = s->N, IC = s->IC, OC = s->OC, LN_C = s->LN_C, B = s->B, T = s->T, C = s->C, NH = s->NH;
    VOCAB = s->VOCAB, CIN = s->CIN, H = s->H, W = s->W, P = s->P;
    NP = (H / P) * (W / P), PATCH = CIN * P * P;
    HO = (H + 2 * CONV_PAD - CONV_K) / CONV_STRIDE + 1, WO = (W + 2 * CONV_PAD - CONV_K) / CONV_STRIDE + 1;
    WINDOW = CIN * CONV_K * CONV_K;
}
#define LN_EPS 1e-5
#define SCALE 0.75
#define EXPONENT 2.5 /* not 2, whose power the kernels take without pow() */
#define ELEMENTS ((size_t)N * LN_C)

static void case_matmul_forward(op_test *t) {
    pair out = output(t, N * OC), inp = input(t, N * IC), w = input(t, OC * IC), bias = input(t, OC);
    t->be->matmul_forward(D(out), D(inp), D(w), D(bias), N, IC, OC);
    t->ref->matmul_forward(out.d, inp.d, w.d, bias.d, N, IC, OC);
}

static void case_matmul_backward(op_test *t) {
    pair dinp = grad(t, N * IC), dw = grad(t, OC * IC), dbias = grad(t, OC);
    pair dout = input(t, N * OC), inp = input(t, N * IC), w = input(t, OC * IC);
    t->be->matmul_backward(D(dinp), D(dw), D(dbias), D(dout), D(inp), D(w), N, IC, OC);
    t->ref->matmul_backward(dinp.d, dw.d, dbias.d, dout.d, inp.d, w.d, N, IC, OC);
}

static void case_layernorm_forward(op_test *t) {
    pair out = output(t, N * LN_C), mean = output(t, N), rstd = output(t, N);
    pair inp = input(t, N * LN_C), w = input(t, LN_C), bias = input(t, LN_C);
    t->be->layernorm_forward(D(out), D(mean), D(rstd), D(inp), D(w), D(bias), N, LN_C, (float)LN_EPS);
    t->ref->layernorm_forward(out.d, mean.d, rstd.d, inp.d, w.d, bias.d, N, LN_C, LN_EPS);
}

/* mean and rstd of inp as the oracle's forward saves them. */
static void layernorm_saved(op_test *t, pair mean, pair rstd, pair inp, pair w) {
    pair scratch = input(t, N * LN_C);
    t->ref->layernorm_forward(scratch.d, mean.d, rstd.d, inp.d, w.d, NULL, N, LN_C, LN_EPS);
    to_float_both(mean, rstd);
}

static void case_layernorm_backward(op_test *t) {
    pair dinp = grad(t, N * LN_C), dw = grad(t, LN_C), dbias = grad(t, LN_C);
    pair dout = input(t, N * LN_C), inp = input(t, N * LN_C), w = input(t, LN_C);
    pair mean = input(t, N), rstd = input(t, N);
    layernorm_saved(t, mean, rstd, inp, w);
    t->be->layernorm_backward(D(dinp), D(dw), D(dbias), D(dout), D(inp), D(w), D(mean), D(rstd), N, LN_C);
    t->ref->layernorm_backward(dinp.d, dw.d, dbias.d, dout.d, inp.d, w.d, mean.d, rstd.d, N, LN_C);
}

static void case_layernorm_explain_backward(op_test *t) {
    pair dinp = grad(t, N * LN_C), dout = input(t, N * LN_C), inp = input(t, N * LN_C), w = input(t, LN_C);
    pair mean = input(t, N), rstd = input(t, N);
    layernorm_saved(t, mean, rstd, inp, w);
    t->be->layernorm_explain_backward(D(dinp), D(dout), D(w), D(rstd), N, LN_C);
    t->ref->layernorm_explain_backward(dinp.d, dout.d, w.d, rstd.d, N, LN_C);
}

/* Both masks: the causal one into its own outputs. */
static void case_attention_forward(op_test *t) {
    pair qkv = input(t, (size_t)B * T * 3 * C);
    for (int causal = 0; causal <= 1; causal++) {
        pair out = output(t, (size_t)B * T * C), att = output(t, (size_t)B * NH * T * T);
        t->be->attention_forward(D(out), D(att), D(qkv), B, T, C, NH, causal);
        t->ref->attention_forward(out.d, att.d, qkv.d, B, T, C, NH, causal);
    }
}

/* The probabilities of qkv as the oracle's causal forward saves them. */
static pair attention_saved(op_test *t, pair qkv) {
    pair out = input(t, (size_t)B * T * C), att = input(t, (size_t)B * NH * T * T);
    t->ref->attention_forward(out.d, att.d, qkv.d, B, T, C, NH, 1);
    to_float(att);
    return att;
}

static void case_attention_backward(op_test *t) {
    pair dqkv = grad(t, (size_t)B * T * 3 * C), dout = input(t, (size_t)B * T * C);
    pair qkv = input(t, (size_t)B * T * 3 * C), att = attention_saved(t, qkv);
    t->be->attention_backward(D(dqkv), D(dout), D(qkv), D(att), B, T, C, NH);
    t->ref->attention_backward(dqkv.d, dout.d, qkv.d, att.d, B, T, C, NH);
}

static void case_attention_explain_backward(op_test *t) {
    pair dqkv = grad(t, (size_t)B * T * 3 * C), dout = input(t, (size_t)B * T * C);
    pair att = attention_saved(t, input(t, (size_t)B * T * 3 * C));
    t->be->attention_explain_backward(D(dqkv), D(dout), D(att), B, T, C, NH);
    t->ref->attention_explain_backward(dqkv.d, dout.d, att.d, B, T, C, NH);
}

/* Activations: inputs spread to [-4, 4) so that both tails of the gates are met. */
static pair activation_input(op_test *t) {
    pair inp = input(t, ELEMENTS);
    for (size_t i = 0; i < ELEMENTS; i++) inp.d[i] *= 4;
    to_float(inp);
    return inp;
}

/* The activations' ops: forward(out, inp, n), and backward(dinp, inp, dout, n) for the exact and the
 * explanation-mode gradients. */
typedef void (*activation_f32)(float *, const float *, size_t);
typedef void (*activation_f64)(double *, const double *, size_t);
typedef void (*activation_grad_f32)(float *, const float *, const float *, size_t);
typedef void (*activation_grad_f64)(double *, const double *, const double *, size_t);

static void activation_forward(op_test *t, activation_f32 op, activation_f64 ref) {
    pair out = output(t, ELEMENTS), inp = activation_input(t);
    op(D(out), D(inp), ELEMENTS);
    ref(out.d, inp.d, ELEMENTS);
}

static void activation_backward(op_test *t, activation_grad_f32 op, activation_grad_f64 ref) {
    pair dinp = grad(t, ELEMENTS), inp = activation_input(t), dout = input(t, ELEMENTS);
    op(D(dinp), D(inp), D(dout), ELEMENTS);
    ref(dinp.d, inp.d, dout.d, ELEMENTS);
}

static void case_quickgelu_forward(op_test *t) {
    activation_forward(t, t->be->quickgelu_forward, t->ref->quickgelu_forward);
}
static void case_quickgelu_backward(op_test *t) {
    activation_backward(t, t->be->quickgelu_backward, t->ref->quickgelu_backward);
}
static void case_quickgelu_explain_backward(op_test *t) {
    activation_backward(t, t->be->quickgelu_explain_backward, t->ref->quickgelu_explain_backward);
}
static void case_gelu_forward(op_test *t) { activation_forward(t, t->be->gelu_forward, t->ref->gelu_forward); }
static void case_gelu_backward(op_test *t) { activation_backward(t, t->be->gelu_backward, t->ref->gelu_backward); }
static void case_gelu_explain_backward(op_test *t) {
    activation_backward(t, t->be->gelu_explain_backward, t->ref->gelu_explain_backward);
}

static void case_embedding_forward(op_test *t) {
    pair out = output(t, (size_t)B * T * C), table = input(t, VOCAB * C), pos = input(t, T * C);
    int *ids = indices(t, B * T, VOCAB);
    t->be->embedding_forward(D(out), I(ids, B * T), D(table), D(pos), B, T, C);
    t->ref->embedding_forward(out.d, ids, table.d, pos.d, B, T, C);
    free(ids);
}

/* More tokens than the vocabulary has ids: some rows of the table get several gradients. */
static void case_embedding_backward(op_test *t) {
    pair dtable = grad(t, VOCAB * C), dpos = grad(t, T * C), dout = input(t, (size_t)B * T * C);
    int *ids = indices(t, B * T, VOCAB);
    t->be->embedding_backward(D(dtable), D(dpos), D(dout), I(ids, B * T), B, T, C);
    t->ref->embedding_backward(dtable.d, dpos.d, dout.d, ids, B, T, C);
    free(ids);
}

static void case_residual_forward(op_test *t) {
    pair out = output(t, ELEMENTS), a = input(t, ELEMENTS), b = input(t, ELEMENTS);
    t->be->residual_forward(D(out), D(a), D(b), ELEMENTS);
    t->ref->residual_forward(out.d, a.d, b.d, ELEMENTS);
}

static void case_residual_backward(op_test *t) {
    pair da = grad(t, ELEMENTS), db = grad(t, ELEMENTS), dout = input(t, ELEMENTS);
    t->be->residual_backward(D(da), D(db), D(dout), ELEMENTS);
    t->ref->residual_backward(da.d, db.d, dout.d, ELEMENTS);
}

/* bias_add adds onto its output, so the output starts random, like a gradient. */
static void case_bias_add_forward(op_test *t) {
    pair out = grad(t, N * C), bias = input(t, C);
    t->be->bias_add_forward(D(out), D(bias), (float)SCALE, N, C);
    t->ref->bias_add_forward(out.d, bias.d, SCALE, N, C);
}

static void case_bias_add_backward(op_test *t) {
    pair dbias = grad(t, C), dout = input(t, N * C);
    t->be->bias_add_backward(D(dbias), D(dout), (float)SCALE, N, C);
    t->ref->bias_add_backward(dbias.d, dout.d, SCALE, N, C);
}

static void case_patchify_forward(op_test *t) {
    pair out = output(t, (size_t)B * NP * PATCH), img = input(t, (size_t)B * CIN * H * W);
    t->be->patchify_forward(D(out), D(img), B, CIN, H, W, P);
    t->ref->patchify_forward(out.d, img.d, B, CIN, H, W, P);
}

static void case_patchify_backward(op_test *t) {
    pair dimg = grad(t, (size_t)B * CIN * H * W), dout = input(t, (size_t)B * NP * PATCH);
    t->be->patchify_backward(D(dimg), D(dout), B, CIN, H, W, P);
    t->ref->patchify_backward(dimg.d, dout.d, B, CIN, H, W, P);
}

static void case_vit_embed_forward(op_test *t) {
    pair out = output(t, (size_t)B * (NP + 1) * C), patches = input(t, (size_t)B * NP * C);
    pair cls = input(t, C), pos = input(t, (NP + 1) * C);
    t->be->vit_embed_forward(D(out), D(patches), D(cls), D(pos), B, NP, C);
    t->ref->vit_embed_forward(out.d, patches.d, cls.d, pos.d, B, NP, C);
}

static void case_vit_embed_backward(op_test *t) {
    pair dpatches = grad(t, (size_t)B * NP * C), dcls = grad(t, C), dpos = grad(t, (NP + 1) * C);
    pair dout = input(t, (size_t)B * (NP + 1) * C);
    t->be->vit_embed_backward(D(dpatches), D(dcls), D(dpos), D(dout), B, NP, C);
    t->ref->vit_embed_backward(dpatches.d, dcls.d, dpos.d, dout.d, B, NP, C);
}

static void case_gather_rows_forward(op_test *t) {
    pair out = output(t, B * C), inp = input(t, (size_t)B * T * C);
    int *rows = indices(t, B, T);
    t->be->gather_rows_forward(D(out), D(inp), I(rows, B), B, T, C);
    t->ref->gather_rows_forward(out.d, inp.d, rows, B, T, C);
    free(rows);
}

static void case_gather_rows_backward(op_test *t) {
    pair dinp = grad(t, (size_t)B * T * C), dout = input(t, B * C);
    int *rows = indices(t, B, T);
    t->be->gather_rows_backward(D(dinp), D(dout), I(rows, B), B, T, C);
    t->ref->gather_rows_backward(dinp.d, dout.d, rows, B, T, C);
    free(rows);
}

static void case_bcos_linear_forward(op_test *t) {
    pair out = output(t, N * OC), z = output(t, N * OC), norm = output(t, N);
    pair inp = input(t, N * IC), w = input(t, OC * IC);
    t->be->bcos_linear_forward(D(out), D(z), D(norm), D(inp), D(w), N, IC, OC, (float)EXPONENT);
    t->ref->bcos_linear_forward(out.d, z.d, norm.d, inp.d, w.d, N, IC, OC, EXPONENT);
}

/* z and norm of inp as the oracle's forward saves them. */
static void bcos_linear_saved(op_test *t, pair z, pair norm, pair inp, pair w) {
    pair out = input(t, N * OC);
    t->ref->bcos_linear_forward(out.d, z.d, norm.d, inp.d, w.d, N, IC, OC, EXPONENT);
    to_float_both(z, norm);
}

static void case_bcos_linear_backward(op_test *t) {
    pair dinp = grad(t, N * IC), dw = grad(t, OC * IC), dout = input(t, N * OC);
    pair inp = input(t, N * IC), w = input(t, OC * IC), z = input(t, N * OC), norm = input(t, N);
    bcos_linear_saved(t, z, norm, inp, w);
    t->be->bcos_linear_backward(D(dinp), D(dw), D(dout), D(inp), D(w), D(z), D(norm), N, IC, OC, (float)EXPONENT);
    t->ref->bcos_linear_backward(dinp.d, dw.d, dout.d, inp.d, w.d, z.d, norm.d, N, IC, OC, EXPONENT);
}

static void case_bcos_linear_explain_backward(op_test *t) {
    pair dinp = grad(t, N * IC), dout = input(t, N * OC);
    pair inp = input(t, N * IC), w = input(t, OC * IC), z = input(t, N * OC), norm = input(t, N);
    bcos_linear_saved(t, z, norm, inp, w);
    t->be->bcos_linear_explain_backward(D(dinp), D(dout), D(w), D(z), D(norm), N, IC, OC, (float)EXPONENT);
    t->ref->bcos_linear_explain_backward(dinp.d, dout.d, w.d, z.d, norm.d, N, IC, OC, EXPONENT);
}

static void case_bcos_patch_forward(op_test *t) {
    pair out = output(t, (size_t)B * NP * OC), cols = output(t, (size_t)B * NP * PATCH);
    pair z = output(t, (size_t)B * NP * OC), norm = output(t, B * NP);
    pair img = input(t, (size_t)B * CIN * H * W), w = input(t, OC * PATCH);
    t->be->bcos_patch_forward(D(out), D(cols), D(z), D(norm), D(img), D(w), B, CIN, H, W, P, OC, (float)EXPONENT);
    t->ref->bcos_patch_forward(out.d, cols.d, z.d, norm.d, img.d, w.d, B, CIN, H, W, P, OC, EXPONENT);
}

/* What the oracle's patch forward saves for img: the patches, z and the window norms. */
typedef struct {
    pair cols, z, norm;
} patch_saved;

static patch_saved bcos_patch_saved(op_test *t, pair img, pair w) {
    patch_saved s = {input(t, (size_t)B * NP * PATCH), input(t, (size_t)B * NP * OC), input(t, B * NP)};
    pair out = input(t, (size_t)B * NP * OC);
    t->ref->bcos_patch_forward(out.d, s.cols.d, s.z.d, s.norm.d, img.d, w.d, B, CIN, H, W, P, OC, EXPONENT);
    to_float(s.cols);
    to_float_both(s.z, s.norm);
    return s;
}

static void case_bcos_patch_backward(op_test *t) {
    pair dimg = grad(t, (size_t)B * CIN * H * W), dw = grad(t, OC * PATCH), dout = input(t, (size_t)B * NP * OC);
    pair img = input(t, (size_t)B * CIN * H * W), w = input(t, OC * PATCH);
    patch_saved s = bcos_patch_saved(t, img, w);
    t->be->bcos_patch_backward(D(dimg), D(dw), D(dout), D(s.cols), D(w), D(s.z), D(s.norm), B, CIN, H, W, P, OC,
                               (float)EXPONENT);
    t->ref->bcos_patch_backward(dimg.d, dw.d, dout.d, s.cols.d, w.d, s.z.d, s.norm.d, B, CIN, H, W, P, OC, EXPONENT);
}

static void case_bcos_patch_explain_backward(op_test *t) {
    pair dimg = grad(t, (size_t)B * CIN * H * W), dout = input(t, (size_t)B * NP * OC);
    pair img = input(t, (size_t)B * CIN * H * W), w = input(t, OC * PATCH);
    patch_saved s = bcos_patch_saved(t, img, w);
    t->be->bcos_patch_explain_backward(D(dimg), D(dout), D(w), D(s.z), D(s.norm), B, CIN, H, W, P, OC, (float)EXPONENT);
    t->ref->bcos_patch_explain_backward(dimg.d, dout.d, w.d, s.z.d, s.norm.d, B, CIN, H, W, P, OC, EXPONENT);
}

static void case_conv2d_forward(op_test *t) {
    pair out = output(t, (size_t)B * OC * HO * WO);
    pair img = input(t, (size_t)B * CIN * H * W), w = input(t, OC * WINDOW), bias = input(t, OC);
    t->be->conv2d_forward(D(out), D(img), D(w), D(bias), B, CIN, H, W, OC, CONV_K, CONV_STRIDE, CONV_PAD);
    t->ref->conv2d_forward(out.d, img.d, w.d, bias.d, B, CIN, H, W, OC, CONV_K, CONV_STRIDE, CONV_PAD);
}

static void case_conv2d_backward(op_test *t) {
    pair dimg = grad(t, (size_t)B * CIN * H * W), dw = grad(t, OC * WINDOW), dbias = grad(t, OC);
    pair dout = input(t, (size_t)B * OC * HO * WO), img = input(t, (size_t)B * CIN * H * W), w = input(t, OC * WINDOW);
    t->be->conv2d_backward(D(dimg), D(dw), D(dbias), D(dout), D(img), D(w), B, CIN, H, W, OC, CONV_K, CONV_STRIDE,
                           CONV_PAD);
    t->ref->conv2d_backward(dimg.d, dw.d, dbias.d, dout.d, img.d, w.d, B, CIN, H, W, OC, CONV_K, CONV_STRIDE, CONV_PAD);
}

static void case_avgpool2d_forward(op_test *t) {
    pair out = output(t, (size_t)B * CIN * (H / 2) * (W / 2)), img = input(t, (size_t)B * CIN * H * W);
    t->be->avgpool2d_forward(D(out), D(img), B, CIN, H, W, 2);
    t->ref->avgpool2d_forward(out.d, img.d, B, CIN, H, W, 2);
}

static void case_avgpool2d_backward(op_test *t) {
    pair dimg = grad(t, (size_t)B * CIN * H * W), dout = input(t, (size_t)B * CIN * (H / 2) * (W / 2));
    t->be->avgpool2d_backward(D(dimg), D(dout), B, CIN, H, W, 2);
    t->ref->avgpool2d_backward(dimg.d, dout.d, B, CIN, H, W, 2);
}

static void case_relu_forward(op_test *t) { activation_forward(t, t->be->relu_forward, t->ref->relu_forward); }

/* The backward reads the output: the oracle's forward of a random input. */
static void case_relu_backward(op_test *t) {
    pair dinp = grad(t, ELEMENTS), out = activation_input(t), dout = input(t, ELEMENTS);
    t->ref->relu_forward(out.d, out.d, ELEMENTS);
    to_float(out);
    t->be->relu_backward(D(dinp), D(out), D(dout), ELEMENTS);
    t->ref->relu_backward(dinp.d, out.d, dout.d, ELEMENTS);
}

static void case_channel_affine_forward(op_test *t) {
    pair out = output(t, (size_t)B * C * T), inp = input(t, (size_t)B * C * T), scale = input(t, C);
    pair shift = input(t, C);
    t->be->channel_affine_forward(D(out), D(inp), D(scale), D(shift), B, C, T);
    t->ref->channel_affine_forward(out.d, inp.d, scale.d, shift.d, B, C, T);
}

static void case_channel_affine_backward(op_test *t) {
    pair dinp = grad(t, (size_t)B * C * T), dscale = grad(t, C), dshift = grad(t, C);
    pair dout = input(t, (size_t)B * C * T), inp = input(t, (size_t)B * C * T), scale = input(t, C);
    t->be->channel_affine_backward(D(dinp), D(dscale), D(dshift), D(dout), D(inp), D(scale), B, C, T);
    t->ref->channel_affine_backward(dinp.d, dscale.d, dshift.d, dout.d, inp.d, scale.d, B, C, T);
}

/* The map has T - 1 pixels, so that the tokens are T. */
static void case_map_tokens_forward(op_test *t) {
    pair out = output(t, (size_t)B * T * C), inp = input(t, (size_t)B * C * (T - 1)), pos = input(t, T * C);
    t->be->map_tokens_forward(D(out), D(inp), D(pos), B, C, T - 1);
    t->ref->map_tokens_forward(out.d, inp.d, pos.d, B, C, T - 1);
}

static void case_map_tokens_backward(op_test *t) {
    pair dinp = grad(t, (size_t)B * C * (T - 1)), dpos = grad(t, T * C), dout = input(t, (size_t)B * T * C);
    t->be->map_tokens_backward(D(dinp), D(dpos), D(dout), B, C, T - 1);
    t->ref->map_tokens_backward(dinp.d, dpos.d, dout.d, B, C, T - 1);
}

static void case_query_attention_forward(op_test *t) {
    pair out = output(t, B * C), att = output(t, B * NH * T);
    pair q = input(t, B * C), k = input(t, (size_t)B * T * C), v = input(t, (size_t)B * T * C);
    t->be->query_attention_forward(D(out), D(att), D(q), D(k), D(v), B, T, C, NH);
    t->ref->query_attention_forward(out.d, att.d, q.d, k.d, v.d, B, T, C, NH);
}

/* The probabilities of q over k as the oracle's forward saves them. */
static pair query_attention_saved(op_test *t, pair q, pair k, pair v) {
    pair out = input(t, B * C), att = input(t, B * NH * T);
    t->ref->query_attention_forward(out.d, att.d, q.d, k.d, v.d, B, T, C, NH);
    to_float(att);
    return att;
}

static void case_query_attention_backward(op_test *t) {
    pair dq = grad(t, B * C), dk = grad(t, (size_t)B * T * C), dv = grad(t, (size_t)B * T * C);
    pair dout = input(t, B * C), q = input(t, B * C), k = input(t, (size_t)B * T * C), v = input(t, (size_t)B * T * C);
    pair att = query_attention_saved(t, q, k, v);
    t->be->query_attention_backward(D(dq), D(dk), D(dv), D(dout), D(q), D(k), D(v), D(att), B, T, C, NH);
    t->ref->query_attention_backward(dq.d, dk.d, dv.d, dout.d, q.d, k.d, v.d, att.d, B, T, C, NH);
}

static void case_query_attention_explain_backward(op_test *t) {
    pair dv = grad(t, (size_t)B * T * C), dout = input(t, B * C);
    pair q = input(t, B * C), k = input(t, (size_t)B * T * C), v = input(t, (size_t)B * T * C);
    pair att = query_attention_saved(t, q, k, v);
    t->be->query_attention_explain_backward(D(dv), D(dout), D(att), B, T, C, NH);
    t->ref->query_attention_explain_backward(dv.d, dout.d, att.d, B, T, C, NH);
}

/* ---- the B-cos convolution's norm and scaling, over conv2d's window, stride and padding */
#define CV_HW (HO * WO)
#define CV_IMG ((size_t)B * CIN * H * W)

static void case_bcos_window_norm_forward(op_test *t) {
    pair norm = output(t, B * CV_HW), inp = input(t, CV_IMG);
    t->be->bcos_window_norm_forward(D(norm), D(inp), B, CIN, H, W, CONV_K, CONV_STRIDE, CONV_PAD);
    t->ref->bcos_window_norm_forward(norm.d, inp.d, B, CIN, H, W, CONV_K, CONV_STRIDE, CONV_PAD);
}

/* The window norms of inp as the oracle's forward writes them. */
static pair window_norms(op_test *t, pair inp) {
    pair norm = input(t, B * CV_HW);
    t->ref->bcos_window_norm_forward(norm.d, inp.d, B, CIN, H, W, CONV_K, CONV_STRIDE, CONV_PAD);
    to_float(norm);
    return norm;
}

static void case_bcos_window_norm_backward(op_test *t) {
    pair dinp = grad(t, CV_IMG), dnorm = input(t, B * CV_HW), inp = input(t, CV_IMG);
    pair norm = window_norms(t, inp);
    t->be->bcos_window_norm_backward(D(dinp), D(dnorm), D(inp), D(norm), B, CIN, H, W, CONV_K, CONV_STRIDE, CONV_PAD);
    t->ref->bcos_window_norm_backward(dinp.d, dnorm.d, inp.d, norm.d, B, CIN, H, W, CONV_K, CONV_STRIDE, CONV_PAD);
}

static void case_bcos_scale_forward(op_test *t) {
    pair out = output(t, (size_t)B * OC * CV_HW), z = input(t, (size_t)B * OC * CV_HW);
    pair norm = window_norms(t, input(t, CV_IMG));
    t->be->bcos_scale_forward(D(out), D(z), D(norm), B, OC, CV_HW, (float)EXPONENT);
    t->ref->bcos_scale_forward(out.d, z.d, norm.d, B, OC, CV_HW, EXPONENT);
}

static void case_bcos_scale_backward(op_test *t) {
    pair dz = grad(t, (size_t)B * OC * CV_HW), dnorm = grad(t, B * CV_HW), dout = input(t, (size_t)B * OC * CV_HW);
    pair z = input(t, (size_t)B * OC * CV_HW), norm = window_norms(t, input(t, CV_IMG));
    t->be->bcos_scale_backward(D(dz), D(dnorm), D(dout), D(z), D(norm), B, OC, CV_HW, (float)EXPONENT);
    t->ref->bcos_scale_backward(dz.d, dnorm.d, dout.d, z.d, norm.d, B, OC, CV_HW, EXPONENT);
}

static void case_bcos_scale_explain_backward(op_test *t) {
    pair dz = grad(t, (size_t)B * OC * CV_HW), dout = input(t, (size_t)B * OC * CV_HW);
    pair z = input(t, (size_t)B * OC * CV_HW), norm = window_norms(t, input(t, CV_IMG));
    t->be->bcos_scale_explain_backward(D(dz), D(dout), D(z), D(norm), B, OC, CV_HW, (float)EXPONENT);
    t->ref->bcos_scale_explain_backward(dz.d, dout.d, z.d, norm.d, B, OC, CV_HW, EXPONENT);
}

/* ---- uncentered BatchNorm over a [B, C, CV_HW] map; the count as if a second rank held as many values */
#define BN_EPS 1e-5
#define BN_COUNT (2.0 * B * CV_HW)
#define BN_MAP ((size_t)B * C * CV_HW)

static void case_bn_batch_mean(op_test *t) {
    pair mean = output(t, C), inp = input(t, BN_MAP);
    t->be->bn_batch_mean(D(mean), D(inp), B, C, CV_HW, (float)BN_COUNT);
    t->ref->bn_batch_mean(mean.d, inp.d, B, C, CV_HW, BN_COUNT);
}

static void case_bn_batch_var(op_test *t) {
    pair var = output(t, C), inp = input(t, BN_MAP), mean = input(t, C);
    t->be->bn_batch_var(D(var), D(inp), D(mean), B, C, CV_HW, (float)BN_COUNT);
    t->ref->bn_batch_var(var.d, inp.d, mean.d, B, C, CV_HW, BN_COUNT);
}

static void case_bn_running_update(op_test *t) {
    pair running = grad(t, C), var = input(t, C);
    t->be->bn_running_update(D(running), D(var), C, 0.1f);
    t->ref->bn_running_update(running.d, var.d, C, 0.1);
}

/* A positive variance per channel. */
static pair bn_variance(op_test *t) {
    pair var = input(t, C);
    for (int c = 0; c < C; c++) var.d[c] = 0.5 + fabs(var.d[c]);
    to_float(var);
    return var;
}

static void case_bn_uncentered_forward(op_test *t) {
    pair out = output(t, BN_MAP), inp = input(t, BN_MAP), w = input(t, C), bias = input(t, C), var = bn_variance(t);
    t->be->bn_uncentered_forward(D(out), D(inp), D(w), D(bias), D(var), B, C, CV_HW, (float)BN_EPS, (float)SCALE);
    t->ref->bn_uncentered_forward(out.d, inp.d, w.d, bias.d, var.d, B, C, CV_HW, BN_EPS, SCALE);
}

static void case_bn_uncentered_dvar(op_test *t) {
    pair dvar = output(t, C), dout = input(t, BN_MAP), inp = input(t, BN_MAP), w = input(t, C), var = bn_variance(t);
    t->be->bn_uncentered_dvar(D(dvar), D(dout), D(inp), D(w), D(var), B, C, CV_HW, (float)BN_EPS);
    t->ref->bn_uncentered_dvar(dvar.d, dout.d, inp.d, w.d, var.d, B, C, CV_HW, BN_EPS);
}

static void case_bn_uncentered_backward(op_test *t) {
    pair dinp = grad(t, BN_MAP), dw = grad(t, C), dbias = grad(t, C), dout = input(t, BN_MAP);
    pair inp = input(t, BN_MAP), w = input(t, C), mean = input(t, C), var = bn_variance(t), dvar = input(t, C);
    t->be->bn_uncentered_backward(D(dinp), D(dw), D(dbias), D(dout), D(inp), D(w), D(mean), D(var), D(dvar), B, C,
                                  CV_HW, (float)BN_EPS, (float)BN_COUNT, (float)SCALE);
    t->ref->bn_uncentered_backward(dinp.d, dw.d, dbias.d, dout.d, inp.d, w.d, mean.d, var.d, dvar.d, B, C, CV_HW,
                                   BN_EPS, BN_COUNT, SCALE);
}

typedef struct {
    const char *op;
    void (*run)(op_test *t);
} op_case;

#define CASE(name)                                                                                                     \
    { #name, case_##name }
static const op_case cases[] = {
    CASE(matmul_forward),
    CASE(matmul_backward),
    CASE(layernorm_forward),
    CASE(layernorm_backward),
    CASE(layernorm_explain_backward),
    CASE(attention_forward),
    CASE(attention_backward),
    CASE(attention_explain_backward),
    CASE(quickgelu_forward),
    CASE(quickgelu_backward),
    CASE(quickgelu_explain_backward),
    CASE(gelu_forward),
    CASE(gelu_backward),
    CASE(gelu_explain_backward),
    CASE(embedding_forward),
    CASE(embedding_backward),
    CASE(residual_forward),
    CASE(residual_backward),
    CASE(bias_add_forward),
    CASE(bias_add_backward),
    CASE(patchify_forward),
    CASE(patchify_backward),
    CASE(vit_embed_forward),
    CASE(vit_embed_backward),
    CASE(gather_rows_forward),
    CASE(gather_rows_backward),
    CASE(bcos_linear_forward),
    CASE(bcos_linear_backward),
    CASE(bcos_linear_explain_backward),
    CASE(bcos_patch_forward),
    CASE(bcos_patch_backward),
    CASE(bcos_patch_explain_backward),
    CASE(conv2d_forward),
    CASE(conv2d_backward),
    CASE(avgpool2d_forward),
    CASE(avgpool2d_backward),
    CASE(relu_forward),
    CASE(relu_backward),
    CASE(channel_affine_forward),
    CASE(channel_affine_backward),
    CASE(map_tokens_forward),
    CASE(map_tokens_backward),
    CASE(query_attention_forward),
    CASE(query_attention_backward),
    CASE(query_attention_explain_backward),
    CASE(bcos_window_norm_forward),
    CASE(bcos_window_norm_backward),
    CASE(bcos_scale_forward),
    CASE(bcos_scale_backward),
    CASE(bcos_scale_explain_backward),
    CASE(bn_batch_mean),
    CASE(bn_batch_var),
    CASE(bn_running_update),
    CASE(bn_uncentered_forward),
    CASE(bn_uncentered_dvar),
    CASE(bn_uncentered_backward),
};

/* ---- the run */

/* The ops, from the one list. */
#define OP_NAME(name, params) #name,
static const char *const ops[] = {BCOS_BACKEND_OPS(OP_NAME, float)};

/* Whether the backend's table has the op. */
#define OP_PRESENT(name, params)                                                                                       \
    if (strcmp(op, #name) == 0) return be->name != NULL;
static int op_present(const bcos_backend *be, const char *op) {
    BCOS_BACKEND_OPS(OP_PRESENT, float)
    return 0;
}

static const op_case *case_of(const char *op) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(cases[i].op, op) == 0) return &cases[i];
    return NULL;
}

/* The compared tensor k of a case: every element written (not NaN) on both sides, and float within the
 * tolerance of double. */
static void compare(const char *backend, const char *op, int k, pair p, double tolerance) {
    double worst = 0, scale = 0;
    for (size_t i = 0; i < p.n; i++)
        if (fabs(p.d[i]) > scale) scale = fabs(p.d[i]);
    for (size_t i = 0; i < p.n; i++) {
        if (isnan(p.f[i]) || isnan(p.d[i])) {
            CHECK_MSG(0, "%s %s: tensor %d, element %zu of %zu left unwritten (%s side)", backend, op, k, i, p.n,
                      isnan(p.f[i]) ? backend : "oracle");
            return;
        }
        double err = fabs((double)p.f[i] - p.d[i]);
        if (err > worst) worst = err;
    }
    double rel = scale > 0 ? worst / scale : worst;
    CHECK_MSG(rel <= tolerance, "%s %s: tensor %d is %.3g away from the oracle (relative; tolerance %g)", backend,
              op, k, rel, tolerance);
}

static double tolerance_of(const bcos_backend *be) {
    return strcmp(be->precision, "bf16") == 0 ? TOLERANCE_BF16 : TOLERANCE_FP32;
}

/* The results back from the backend's memory, compared, and every buffer of the case freed. */
static void finish_case(op_test *t, const char *op) {
    for (int k = 0; k < t->n_compared; k++) {
        pair p = t->compared[k];
        if (t->dev[p.slot]) t->be->download(p.f, t->dev[p.slot], p.n * sizeof(float));
        compare(t->be->name, op, k, p, tolerance_of(t->be));
    }
    CHECK_MSG(t->n_compared > 0, "%s: its case compares nothing", op);
    for (int k = 0; k < t->n_all; k++) {
        if (t->dev[k]) t->be->release(t->dev[k] - t->shift);
        free(t->all[k].f);
        free(t->all[k].d);
    }
    for (int k = 0; k < t->n_ints; k++) t->be->release(t->dev_ints[k]);
}

/* shift: each tensor that many floats into its allocation, as tensors of a parameter table start anywhere
 * (a device library's fast paths may assume more alignment). */
static void run_case(const bcos_backend *be, const op_case *c, uint64_t seed, int shift) {
    op_test t = {.be = be, .ref = bcos_cpu_f64(), .shift = shift};
    bcos_rng_seed(&t.rng, seed);
    c->run(&t);
    finish_case(&t, c->op);
}

/* Every op of the backend; 0 when it cannot run here (said so on stdout), else 1. */
static int test_backend(const bcos_backend *be) {
    CHECK_MSG(bcos_backend_get(be->name) == be, "the registry finds %s by its name", be->name);
    const char *unavailable = be->unavailable();
    if (unavailable) {
        printf("  %s: NOT RUN, cannot run here: %s\n", be->name, unavailable);
        return 0;
    }
    size_t n_ops = sizeof ops / sizeof ops[0];
    for (int run = 0; run < 2 * N_SHAPES; run++) {
        int set = run / 2, shift = run % 2;
        use_shapes(&SHAPES[set]);
        for (size_t i = 0; i < n_ops; i++) {
            const op_case *c = case_of(ops[i]);
            CHECK_MSG(c != NULL, "op %s has no case in tests/unit/test_backend_ops.c", ops[i]);
            CHECK_MSG(op_present(be, ops[i]), "backend %s has no %s", be->name, ops[i]);
            if (c && op_present(be, ops[i])) run_case(be, c, 1000 + 100 * (uint64_t)run + i, shift);
        }
    }
    printf("  %s (%s): %zu ops at %d sets of sizes, tensors aligned and one float off, against the float64 "
           "oracle, tolerance %g\n", be->name, be->precision, n_ops, N_SHAPES, tolerance_of(be));
    return 1;
}

int main(int argc, char **argv) {
    CHECK(bcos_backend_get("auto") == bcos_backend_cpu());
    CHECK(bcos_backend_get("tpu") == NULL);
    CHECK(bcos_backend_builtin(-1) == NULL);
    CHECK(bcos_backend_builtin(0) == bcos_backend_cpu());
    if (argc > 1) {
        const bcos_backend *be = bcos_backend_get(argv[1]);
        CHECK_MSG(be != NULL, "no backend named %s is built in", argv[1]);
        if (be && !test_backend(be) && test_failures == 0) return TEST_SKIPPED;
    } else {
        for (int i = 0; bcos_backend_builtin(i); i++) test_backend(bcos_backend_builtin(i));
    }
    return test_summary("test_backend_ops");
}
