/* The float B-cos kernels against float64 references (tools/ref/make_bcos_fixtures.py, whose docstring
 * says exactly what each reference is): the linear and patch units at B = 1, 1.25, 2, 2.5, 3 and on tiny
 * inputs (forward, saved z and norm, exact gradients, explanation-mode input gradient) against docs/METHOD.md's
 * formulas in torch autograd, and, on unit-norm weight rows, against the official bcos package's
 * BcosLinear and BcosConv2d (output, input gradient, input gradient in its explanation mode); the
 * explanation-mode backwards of LayerNorm (the package's DetachableLayerNorm), attention (the package's
 * ViT Attention) and the QuickGELU and GELU gates. Every tensor must agree to rel error < 1e-5. */
#include "bcos/backend.h"
#include "bcos/check.h"
#include "fixture_bin.h"
#include "test.h"

static const double exponents[] = {1, 1.25, 2, 2.5, 3};
#define N_EXPONENTS (sizeof exponents / sizeof exponents[0])

/* The results of one run of a B-cos unit, and their sizes. */
typedef struct {
    size_t n_in, n_out, rows, n_w;
    float *out, *z, *norm, *din, *dweight, *din_explain;
} unit_run;

static unit_run unit_run_alloc(size_t n_in, size_t n_out, size_t rows, size_t n_w) {
    unit_run r = {.n_in = n_in, .n_out = n_out, .rows = rows, .n_w = n_w};
    r.out = xcalloc(n_out, sizeof(float)), r.z = xcalloc(n_out, sizeof(float));
    r.norm = xcalloc(rows, sizeof(float)), r.dweight = xcalloc(n_w, sizeof(float));
    r.din = xcalloc(n_in, sizeof(float)), r.din_explain = xcalloc(n_in, sizeof(float));
    return r;
}

static void unit_run_free(unit_run *r) {
    free(r->out), free(r->z), free(r->norm), free(r->din), free(r->dweight), free(r->din_explain);
}

/* The run against the references <prefix>out, <prefix><din>, <prefix><din>_explain (din is "dx" or
 * "dimg"); reference 1 (prefix "") also has z, norm and dweight, the package's ("pkg_") does not. */
static void expect_unit(const fixture *fx, const char *kase, const char *prefix, const char *din, const unit_run *r) {
    char k[64];
    snprintf(k, sizeof k, "%sout", prefix);
    fixture_expect_close(fx, kase, k, r->out, r->n_out);
    snprintf(k, sizeof k, "%s%s", prefix, din);
    fixture_expect_close(fx, kase, k, r->din, r->n_in);
    snprintf(k, sizeof k, "%s%s_explain", prefix, din);
    fixture_expect_close(fx, kase, k, r->din_explain, r->n_in);
    if (*prefix) return;
    fixture_expect_close(fx, kase, "z", r->z, r->n_out);
    fixture_expect_close(fx, kase, "norm", r->norm, r->rows);
    fixture_expect_close(fx, kase, "dweight", r->dweight, r->n_w);
}

/* Our linear unit on the case's x and dout, with the weight <weight_key>, against <prefix> references. */
static void check_linear(const bcos_backend *be, const fixture *fx, const char *kase, const char *weight_key,
                         const char *prefix) {
    int N = fixture_int(fx, kase, "N"), IC = fixture_int(fx, kase, "IC"), OC = fixture_int(fx, kase, "OC");
    float b = (float)fixture_param(fx, kase, "b");
    unit_run r = unit_run_alloc((size_t)N * IC, (size_t)N * OC, N, (size_t)OC * IC);
    const float *x = fixture_tensor(fx, kase, "x", r.n_in), *dout = fixture_tensor(fx, kase, "dout", r.n_out);
    const float *w = fixture_tensor(fx, kase, weight_key, r.n_w);
    be->bcos_linear_forward(r.out, r.z, r.norm, x, w, N, IC, OC, b);
    be->bcos_linear_backward(r.din, r.dweight, dout, x, w, r.z, r.norm, N, IC, OC, b);
    be->bcos_linear_explain_backward(r.din_explain, dout, w, r.z, r.norm, N, IC, OC, b);
    expect_unit(fx, kase, prefix, "dx", &r);
    unit_run_free(&r);
}

/* Our patch unit on the case's img and dout, with the weight <weight_key>, against <prefix> references. */
static void check_patch(const bcos_backend *be, const fixture *fx, const char *kase, const char *weight_key,
                        const char *prefix) {
    int B = fixture_int(fx, kase, "B"), Cin = fixture_int(fx, kase, "Cin"), H = fixture_int(fx, kase, "H");
    int W = fixture_int(fx, kase, "W"), P = fixture_int(fx, kase, "P"), OC = fixture_int(fx, kase, "OC");
    float b = (float)fixture_param(fx, kase, "b");
    size_t rows = (size_t)B * (H / P) * (W / P), K = (size_t)Cin * P * P;
    unit_run r = unit_run_alloc((size_t)B * Cin * H * W, rows * OC, rows, OC * K);
    const float *img = fixture_tensor(fx, kase, "img", r.n_in), *dout = fixture_tensor(fx, kase, "dout", r.n_out);
    const float *w = fixture_tensor(fx, kase, weight_key, r.n_w);
    float *cols = xcalloc(rows * K, sizeof(float));
    be->bcos_patch_forward(r.out, cols, r.z, r.norm, img, w, B, Cin, H, W, P, OC, b);
    be->bcos_patch_backward(r.din, r.dweight, dout, cols, w, r.z, r.norm, B, Cin, H, W, P, OC, b);
    be->bcos_patch_explain_backward(r.din_explain, dout, w, r.z, r.norm, B, Cin, H, W, P, OC, b);
    expect_unit(fx, kase, prefix, "dimg", &r);
    unit_run_free(&r);
    free(cols);
}

/* Reference 1 with the case's weight, the package's with its unit rows. */
static void test_linear(const bcos_backend *be, const fixture *fx, const char *kase) {
    check_linear(be, fx, kase, "weight", "");
    check_linear(be, fx, kase, "weight_unit", "pkg_");
}

static void test_patch(const bcos_backend *be, const fixture *fx, const char *kase) {
    check_patch(be, fx, kase, "weight", "");
    check_patch(be, fx, kase, "weight_unit", "pkg_");
}

static void test_layernorm_explain(const bcos_backend *be, const fixture *fx) {
    const char *kase = "layernorm_explain";
    int N = fixture_int(fx, kase, "N"), C = fixture_int(fx, kase, "C");
    size_t n = (size_t)N * C;
    const float *x = fixture_tensor(fx, kase, "x", n), *w = fixture_tensor(fx, kase, "weight", C);
    float *out = xcalloc(n, sizeof(float)), *mean = xcalloc(N, sizeof(float)), *rstd = xcalloc(N, sizeof(float));
    float *dx = xcalloc(n, sizeof(float));
    be->layernorm_forward(out, mean, rstd, x, w, NULL, N, C, (float)fixture_param(fx, kase, "eps"));
    be->layernorm_explain_backward(dx, fixture_tensor(fx, kase, "dout", n), w, rstd, N, C);
    fixture_expect_close(fx, kase, "out", out, n);
    fixture_expect_close(fx, kase, "rstd", rstd, N);
    fixture_expect_close(fx, kase, "dx_explain", dx, n);
    free(out), free(mean), free(rstd), free(dx);
}

static void test_attention_explain(const bcos_backend *be, const fixture *fx) {
    const char *kase = "attention_explain";
    int B = fixture_int(fx, kase, "B"), T = fixture_int(fx, kase, "T"), C = fixture_int(fx, kase, "C");
    int NH = fixture_int(fx, kase, "NH");
    size_t n_qkv = (size_t)B * T * 3 * C, n_out = (size_t)B * T * C;
    float *out = xcalloc(n_out, sizeof(float)), *att = xcalloc((size_t)B * NH * T * T, sizeof(float));
    float *dqkv = xcalloc(n_qkv, sizeof(float));
    be->attention_forward(out, att, fixture_tensor(fx, kase, "qkv", n_qkv), B, T, C, NH, 0);
    be->attention_explain_backward(dqkv, fixture_tensor(fx, kase, "dout", n_out), att, B, T, C, NH);
    fixture_expect_close(fx, kase, "out", out, n_out);
    fixture_expect_close(fx, kase, "dqkv_explain", dqkv, n_qkv);
    free(out), free(att), free(dqkv);
}

static void test_activation_explain(const fixture *fx, const char *kase,
                                    void (*forward)(float *, const float *, size_t),
                                    void (*explain)(float *, const float *, const float *, size_t)) {
    size_t n = (size_t)fixture_int(fx, kase, "n");
    const float *x = fixture_tensor(fx, kase, "x", n);
    float *out = xcalloc(n, sizeof(float)), *dx = xcalloc(n, sizeof(float));
    forward(out, x, n);
    explain(dx, x, fixture_tensor(fx, kase, "dout", n), n);
    fixture_expect_close(fx, kase, "out", out, n);
    fixture_expect_close(fx, kase, "dx_explain", dx, n);
    free(out), free(dx);
}

int main(void) {
    const bcos_backend *be = bcos_backend_cpu();
    fixture fx = fixture_open("tests/fixtures/bcos", "bcos.bin", "regenerate with tools/ref/make_bcos_fixtures.py");
    for (size_t i = 0; i < N_EXPONENTS; i++) {
        char kase[64];
        snprintf(kase, sizeof kase, "bcos_linear_B%g", exponents[i]);
        test_linear(be, &fx, kase);
        snprintf(kase, sizeof kase, "bcos_patch_B%g", exponents[i]);
        test_patch(be, &fx, kase);
    }
    test_linear(be, &fx, "bcos_linear_small");
    test_patch(be, &fx, "bcos_patch_small");
    test_layernorm_explain(be, &fx);
    test_attention_explain(be, &fx);
    test_activation_explain(&fx, "quickgelu_explain", be->quickgelu_forward, be->quickgelu_explain_backward);
    test_activation_explain(&fx, "gelu_explain", be->gelu_forward, be->gelu_explain_backward);
    fixture_close(&fx);
    return test_summary("test_bcos_torch");
}
