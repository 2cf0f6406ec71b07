/* Explanation-mode backwards (docs/METHOD.md, Explanation mode and completeness): each holds a dynamic factor constant (the B-cos
 * units' (|z|/n + 1e-6)^(B-1) at B = 1, 1.25, 2, 2.5, 3, the LayerNorm 1/sigma, the attention matrix,
 * the QuickGELU and GELU gates). Each is checked against finite differences of the LINEARISED forward,
 * the real kernel forward with its factor computed once at the base point and then frozen (so the
 * expected gradient comes from the forward kernels alone), with accumulation and float against double
 * (tests/gradcheck.h); then for completeness, sum(x * dx) == sum(R * out) (tests/completeness.h).
 * The linearised forwards freeze at their first call, which gradcheck makes at the base point; the
 * backwards use what the latest forward saved, and gradcheck runs a forward at the base before each. */
#include "../../src/cpu/cpu_f64.h"
#include "bcos/backend.h"
#include "completeness.h"
#include "gradcheck.h"

#define COMPLETE_TOLERANCE_F64 1e-13
#define COMPLETE_TOLERANCE_F32 1e-6

static const double exponents[] = {1, 1.25, 2, 2.5, 3};
#define N_EXPONENTS (sizeof exponents / sizeof exponents[0])

/* Linearises a forward out = factor(v) * v: the factor out / v is taken at the first call (the base point)
 * and then frozen (*frozen set), so that out becomes factor * v. */
static void linearise_f64(int *frozen, double *factor, double *out, const double *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!*frozen) factor[i] = out[i] / v[i];
        out[i] = factor[i] * v[i];
    }
    *frozen = 1;
}
static void linearise_f32(int *frozen, float *factor, float *out, const float *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!*frozen) factor[i] = out[i] / v[i];
        out[i] = factor[i] * v[i];
    }
    *frozen = 1;
}

static void run_explain_case(gc_case *c, bcos_rng *rng) {
    gc_check(c, rng);
    gc_check_completeness(c, COMPLETE_TOLERANCE_F64, COMPLETE_TOLERANCE_F32);
    gc_free(c);
}

/* --- B-cos linear unit: tensor t[0] inp[N,IC]; weight fixed. Frozen: the factor out / z. --- */
enum { LIN_N = 3, LIN_IC = 5, LIN_OC = 4 };

typedef struct {
    double b;
    int frozen64, frozen32;
    double weight64[LIN_OC * LIN_IC], z64[LIN_N * LIN_OC], norm64[LIN_N], factor64[LIN_N * LIN_OC];
    float weight32[LIN_OC * LIN_IC], z32[LIN_N * LIN_OC], norm32[LIN_N], factor32[LIN_N * LIN_OC];
} linear_ctx;

static void linear_fwd64(gc_case *c) {
    linear_ctx *k = c->ctx;
    bcos_cpu_f64()->bcos_linear_forward(c->out64, k->z64, k->norm64, c->t[0].x64, k->weight64, LIN_N, LIN_IC, LIN_OC,
                                        k->b);
    linearise_f64(&k->frozen64, k->factor64, c->out64, k->z64, c->nout);
}
static void linear_bwd64(gc_case *c) {
    linear_ctx *k = c->ctx;
    bcos_cpu_f64()->bcos_linear_explain_backward(c->t[0].g64, c->dout64, k->weight64, k->z64, k->norm64, LIN_N, LIN_IC,
                                                 LIN_OC, k->b);
}
static void linear_fwd32(gc_case *c) {
    linear_ctx *k = c->ctx;
    bcos_backend_cpu()->bcos_linear_forward(c->out32, k->z32, k->norm32, c->t[0].x32, k->weight32, LIN_N, LIN_IC,
                                            LIN_OC, (float)k->b);
    linearise_f32(&k->frozen32, k->factor32, c->out32, k->z32, c->nout);
}
static void linear_bwd32(gc_case *c) {
    linear_ctx *k = c->ctx;
    bcos_backend_cpu()->bcos_linear_explain_backward(c->t[0].g32, c->dout32, k->weight32, k->z32, k->norm32, LIN_N,
                                                     LIN_IC, LIN_OC, (float)k->b);
}

static void test_linear(bcos_rng *rng, double b) {
    linear_ctx k = {.b = b};
    gc_fill_random(rng, k.weight32, k.weight64, LIN_OC * LIN_IC);
    char name[64];
    snprintf(name, sizeof name, "bcos_linear explain B=%g", b);
    gc_case c;
    gc_init(&c, name, LIN_N * LIN_OC);
    gc_add(&c, "inp", LIN_N * LIN_IC);
    gc_set_adapters(&c, linear_fwd64, linear_bwd64, linear_fwd32, linear_bwd32, &k);
    run_explain_case(&c, rng);
}

/* --- B-cos patch unit: tensor t[0] img[B,Cin,H,W]; weight fixed; W is not a multiple of P --- */
enum { PAT_B = 2, PAT_CIN = 6, PAT_H = 4, PAT_W = 5, PAT_P = 2, PAT_OC = 3 };
enum { PAT_ROWS = PAT_B * (PAT_H / PAT_P) * (PAT_W / PAT_P), PAT_K = PAT_CIN * PAT_P * PAT_P };

typedef struct {
    double b;
    int frozen64, frozen32;
    double weight64[PAT_OC * PAT_K], cols64[PAT_ROWS * PAT_K], z64[PAT_ROWS * PAT_OC], norm64[PAT_ROWS];
    double factor64[PAT_ROWS * PAT_OC];
    float weight32[PAT_OC * PAT_K], cols32[PAT_ROWS * PAT_K], z32[PAT_ROWS * PAT_OC], norm32[PAT_ROWS];
    float factor32[PAT_ROWS * PAT_OC];
} patch_ctx;

static void patch_fwd64(gc_case *c) {
    patch_ctx *k = c->ctx;
    bcos_cpu_f64()->bcos_patch_forward(c->out64, k->cols64, k->z64, k->norm64, c->t[0].x64, k->weight64, PAT_B, PAT_CIN,
                                       PAT_H, PAT_W, PAT_P, PAT_OC, k->b);
    linearise_f64(&k->frozen64, k->factor64, c->out64, k->z64, c->nout);
}
static void patch_bwd64(gc_case *c) {
    patch_ctx *k = c->ctx;
    bcos_cpu_f64()->bcos_patch_explain_backward(c->t[0].g64, c->dout64, k->weight64, k->z64, k->norm64, PAT_B, PAT_CIN,
                                                PAT_H, PAT_W, PAT_P, PAT_OC, k->b);
}
static void patch_fwd32(gc_case *c) {
    patch_ctx *k = c->ctx;
    bcos_backend_cpu()->bcos_patch_forward(c->out32, k->cols32, k->z32, k->norm32, c->t[0].x32, k->weight32, PAT_B,
                                           PAT_CIN, PAT_H, PAT_W, PAT_P, PAT_OC, (float)k->b);
    linearise_f32(&k->frozen32, k->factor32, c->out32, k->z32, c->nout);
}
static void patch_bwd32(gc_case *c) {
    patch_ctx *k = c->ctx;
    bcos_backend_cpu()->bcos_patch_explain_backward(c->t[0].g32, c->dout32, k->weight32, k->z32, k->norm32, PAT_B,
                                                    PAT_CIN, PAT_H, PAT_W, PAT_P, PAT_OC, (float)k->b);
}

static void test_patch(bcos_rng *rng, double b) {
    patch_ctx k = {.b = b};
    gc_fill_random(rng, k.weight32, k.weight64, PAT_OC * PAT_K);
    char name[64];
    snprintf(name, sizeof name, "bcos_patch explain B=%g", b);
    gc_case c;
    gc_init(&c, name, PAT_ROWS * PAT_OC);
    gc_add(&c, "img", PAT_B * PAT_CIN * PAT_H * PAT_W);
    gc_set_adapters(&c, patch_fwd64, patch_bwd64, patch_fwd32, patch_bwd32, &k);
    run_explain_case(&c, rng);
}

/* --- LayerNorm without bias: tensor t[0] inp[N,C]; weight fixed. Frozen: the base rstd; the linearised
 * out = real out * base rstd / rstd. --- */
enum { LN_N = 4, LN_C = 6 };
#define LN_EPS 0x1p-17 /* a power of two: float and double add exactly the same constant */

typedef struct {
    int frozen64, frozen32;
    double weight64[LN_C], mean64[LN_N], rstd64[LN_N], base_rstd64[LN_N];
    float weight32[LN_C], mean32[LN_N], rstd32[LN_N], base_rstd32[LN_N];
} layernorm_ctx;

static void layernorm_fwd64(gc_case *c) {
    layernorm_ctx *k = c->ctx;
    bcos_cpu_f64()->layernorm_forward(c->out64, k->mean64, k->rstd64, c->t[0].x64, k->weight64, NULL, LN_N, LN_C,
                                      LN_EPS);
    if (!k->frozen64) {
        memcpy(k->base_rstd64, k->rstd64, sizeof k->rstd64);
        k->frozen64 = 1;
    }
    for (int n = 0; n < LN_N; n++)
        for (int i = 0; i < LN_C; i++) c->out64[n * LN_C + i] *= k->base_rstd64[n] / k->rstd64[n];
}
static void layernorm_bwd64(gc_case *c) {
    layernorm_ctx *k = c->ctx;
    bcos_cpu_f64()->layernorm_explain_backward(c->t[0].g64, c->dout64, k->weight64, k->base_rstd64, LN_N, LN_C);
}
static void layernorm_fwd32(gc_case *c) {
    layernorm_ctx *k = c->ctx;
    bcos_backend_cpu()->layernorm_forward(c->out32, k->mean32, k->rstd32, c->t[0].x32, k->weight32, NULL, LN_N, LN_C,
                                          (float)LN_EPS);
    if (!k->frozen32) {
        memcpy(k->base_rstd32, k->rstd32, sizeof k->rstd32);
        k->frozen32 = 1;
    }
    for (int n = 0; n < LN_N; n++)
        for (int i = 0; i < LN_C; i++) c->out32[n * LN_C + i] *= k->base_rstd32[n] / k->rstd32[n];
}
static void layernorm_bwd32(gc_case *c) {
    layernorm_ctx *k = c->ctx;
    bcos_backend_cpu()->layernorm_explain_backward(c->t[0].g32, c->dout32, k->weight32, k->base_rstd32, LN_N, LN_C);
}

static void test_layernorm(bcos_rng *rng) {
    layernorm_ctx k = {0};
    gc_fill_random(rng, k.weight32, k.weight64, LN_C);
    gc_case c;
    gc_init(&c, "layernorm explain", LN_N * LN_C);
    gc_add(&c, "inp", LN_N * LN_C);
    gc_set_adapters(&c, layernorm_fwd64, layernorm_bwd64, layernorm_fwd32, layernorm_bwd32, &k);
    run_explain_case(&c, rng);
}

/* --- attention: tensor t[0] qkv[B,T,3C]. Frozen: the base q and k, so the linearised forward is the real
 * one on (base q, base k, v) and its attention matrix is always the base one. --- */
enum { ATT_B = 2, ATT_T = 4, ATT_NH = 2, ATT_C = 6 };
enum { ATT_QKV = ATT_B * ATT_T * 3 * ATT_C, ATT_ATT = ATT_B * ATT_NH * ATT_T * ATT_T };

typedef struct {
    int causal, frozen64, frozen32;
    double base64[ATT_QKV], mixed64[ATT_QKV], att64[ATT_ATT];
    float base32[ATT_QKV], mixed32[ATT_QKV], att32[ATT_ATT];
} attention_ctx;

/* qkv rows with the q and k columns from base and the v columns from v */
static void attention_mix_f64(double *mixed, const double *base, const double *v) {
    for (int i = 0; i < ATT_QKV; i++) mixed[i] = (i % (3 * ATT_C) < 2 * ATT_C ? base : v)[i];
}
static void attention_mix_f32(float *mixed, const float *base, const float *v) {
    for (int i = 0; i < ATT_QKV; i++) mixed[i] = (i % (3 * ATT_C) < 2 * ATT_C ? base : v)[i];
}

static void attention_fwd64(gc_case *c) {
    attention_ctx *k = c->ctx;
    if (!k->frozen64) memcpy(k->base64, c->t[0].x64, sizeof k->base64);
    attention_mix_f64(k->mixed64, k->base64, c->t[0].x64);
    bcos_cpu_f64()->attention_forward(c->out64, k->att64, k->mixed64, ATT_B, ATT_T, ATT_C, ATT_NH, k->causal);
    k->frozen64 = 1;
}
static void attention_bwd64(gc_case *c) {
    attention_ctx *k = c->ctx;
    bcos_cpu_f64()->attention_explain_backward(c->t[0].g64, c->dout64, k->att64, ATT_B, ATT_T, ATT_C, ATT_NH);
}
static void attention_fwd32(gc_case *c) {
    attention_ctx *k = c->ctx;
    if (!k->frozen32) memcpy(k->base32, c->t[0].x32, sizeof k->base32);
    attention_mix_f32(k->mixed32, k->base32, c->t[0].x32);
    bcos_backend_cpu()->attention_forward(c->out32, k->att32, k->mixed32, ATT_B, ATT_T, ATT_C, ATT_NH, k->causal);
    k->frozen32 = 1;
}
static void attention_bwd32(gc_case *c) {
    attention_ctx *k = c->ctx;
    bcos_backend_cpu()->attention_explain_backward(c->t[0].g32, c->dout32, k->att32, ATT_B, ATT_T, ATT_C, ATT_NH);
}

static void test_attention(bcos_rng *rng, int causal) {
    attention_ctx k = {.causal = causal};
    gc_case c;
    gc_init(&c, causal ? "attention explain (causal)" : "attention explain", ATT_B * ATT_T * ATT_C);
    gc_add(&c, "qkv", ATT_QKV);
    gc_set_adapters(&c, attention_fwd64, attention_bwd64, attention_fwd32, attention_bwd32, &k);
    run_explain_case(&c, rng);
}

/* --- activations: tensor t[0] inp[n]. Frozen: the gate out / inp at the base point. --- */
enum { ACT_N = 24 };

typedef struct {
    void (*forward64)(double *, const double *, size_t);
    void (*explain64)(double *, const double *, const double *, size_t);
    void (*forward32)(float *, const float *, size_t);
    void (*explain32)(float *, const float *, const float *, size_t);
    int frozen64, frozen32;
    double gate64[ACT_N];
    float gate32[ACT_N];
} activation_ctx;

static void activation_fwd64(gc_case *c) {
    activation_ctx *k = c->ctx;
    k->forward64(c->out64, c->t[0].x64, ACT_N);
    linearise_f64(&k->frozen64, k->gate64, c->out64, c->t[0].x64, ACT_N);
}
static void activation_bwd64(gc_case *c) {
    activation_ctx *k = c->ctx;
    k->explain64(c->t[0].g64, c->t[0].x64, c->dout64, ACT_N);
}
static void activation_fwd32(gc_case *c) {
    activation_ctx *k = c->ctx;
    k->forward32(c->out32, c->t[0].x32, ACT_N);
    linearise_f32(&k->frozen32, k->gate32, c->out32, c->t[0].x32, ACT_N);
}
static void activation_bwd32(gc_case *c) {
    activation_ctx *k = c->ctx;
    k->explain32(c->t[0].g32, c->t[0].x32, c->dout32, ACT_N);
}

static void test_activation(bcos_rng *rng, const char *name, activation_ctx k) {
    gc_case c;
    gc_init(&c, name, ACT_N);
    gc_add(&c, "inp", ACT_N);
    gc_set_adapters(&c, activation_fwd64, activation_bwd64, activation_fwd32, activation_bwd32, &k);
    run_explain_case(&c, rng);
}

int main(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 5);
    const bcos_backend *be = bcos_backend_cpu();
    for (size_t i = 0; i < N_EXPONENTS; i++) {
        test_linear(&rng, exponents[i]);
        test_patch(&rng, exponents[i]);
    }
    test_layernorm(&rng);
    test_attention(&rng, 0);
    test_attention(&rng, 1);
    test_activation(&rng, "quickgelu explain",
                    (activation_ctx){.forward64 = bcos_cpu_f64()->quickgelu_forward,
                                     .explain64 = bcos_cpu_f64()->quickgelu_explain_backward,
                                     .forward32 = be->quickgelu_forward,
                                     .explain32 = be->quickgelu_explain_backward});
    test_activation(&rng, "gelu explain",
                    (activation_ctx){.forward64 = bcos_cpu_f64()->gelu_forward,
                                     .explain64 = bcos_cpu_f64()->gelu_explain_backward,
                                     .forward32 = be->gelu_forward,
                                     .explain32 = be->gelu_explain_backward});
    return test_summary("test_explain");
}
