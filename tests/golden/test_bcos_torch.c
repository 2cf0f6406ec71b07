/* The float B-cos kernels against float64 references (tools/ref/make_bcos_fixtures.py, whose docstring
 * says exactly what each reference is): the linear and patch units at B = 1, 1.25, 2, 2.5, 3 and on tiny
 * inputs (forward, saved z and norm, exact gradients, explanation-mode input gradient) against DESIGN.md's
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

/* Keys of one set of references: reference 1 ("out", "dx", "dx_explain"), or the package's ("pkg_..."). */
static const char *key(char *buf, size_t size, const char *prefix, const char *name) {
    snprintf(buf, size, "%s%s", prefix, name);
    return buf;
}

/* Our linear unit on the case's x and dout with the weight <weight_key>, against the references named
 * <prefix>out, <prefix>dx, <prefix>dx_explain; with_saved also checks z, norm and dweight. */
static void check_linear(const bcos_backend *be, const fixture *fx, const char *kase, const char *weight_key,
                         const char *prefix, int with_saved) {
    int N = fixture_int(fx, kase, "N"), IC = fixture_int(fx, kase, "IC"), OC = fixture_int(fx, kase, "OC");
    float b = (float)fixture_param(fx, kase, "b");
    size_t n_in = (size_t)N * IC, n_out = (size_t)N * OC, n_w = (size_t)OC * IC;
    const float *x = fixture_tensor(fx, kase, "x", n_in), *dout = fixture_tensor(fx, kase, "dout", n_out);
    const float *w = fixture_tensor(fx, kase, weight_key, n_w);
    float *out = xcalloc(n_out, sizeof(float)), *z = xcalloc(n_out, sizeof(float)), *norm = xcalloc(N, sizeof(float));
    float *dx = xcalloc(n_in, sizeof(float)), *dw = xcalloc(n_w, sizeof(float));
    float *dx_explain = xcalloc(n_in, sizeof(float));
    char k[64];
    be->bcos_linear_forward(out, z, norm, x, w, N, IC, OC, b);
    be->bcos_linear_backward(dx, dw, dout, x, w, z, norm, N, IC, OC, b);
    be->bcos_linear_explain_backward(dx_explain, dout, w, z, norm, N, IC, OC, b);
    fixture_expect_close(fx, kase, key(k, sizeof k, prefix, "out"), out, n_out);
    fixture_expect_close(fx, kase, key(k, sizeof k, prefix, "dx"), dx, n_in);
    fixture_expect_close(fx, kase, key(k, sizeof k, prefix, "dx_explain"), dx_explain, n_in);
    if (with_saved) {
        fixture_expect_close(fx, kase, "z", z, n_out);
        fixture_expect_close(fx, kase, "norm", norm, N);
        fixture_expect_close(fx, kase, "dweight", dw, n_w);
    }
    free(out), free(z), free(norm), free(dx), free(dw), free(dx_explain);
}

static void test_linear(const bcos_backend *be, const fixture *fx, const char *kase) {
    check_linear(be, fx, kase, "weight", "", 1);
    check_linear(be, fx, kase, "weight_unit", "pkg_", 0);
}

/* The patch unit, as check_linear: <prefix>out, <prefix>dimg, <prefix>dimg_explain; with_saved also
 * checks z, norm and dweight. */
static void check_patch(const bcos_backend *be, const fixture *fx, const char *kase, const char *weight_key,
                        const char *prefix, int with_saved) {
    int B = fixture_int(fx, kase, "B"), Cin = fixture_int(fx, kase, "Cin"), H = fixture_int(fx, kase, "H");
    int W = fixture_int(fx, kase, "W"), P = fixture_int(fx, kase, "P"), OC = fixture_int(fx, kase, "OC");
    float b = (float)fixture_param(fx, kase, "b");
    int rows = B * (H / P) * (W / P), K = Cin * P * P;
    size_t n_img = (size_t)B * Cin * H * W, n_out = (size_t)rows * OC, n_w = (size_t)OC * K;
    const float *img = fixture_tensor(fx, kase, "img", n_img), *dout = fixture_tensor(fx, kase, "dout", n_out);
    const float *w = fixture_tensor(fx, kase, weight_key, n_w);
    float *out = xcalloc(n_out, sizeof(float)), *cols = xcalloc((size_t)rows * K, sizeof(float));
    float *z = xcalloc(n_out, sizeof(float)), *norm = xcalloc(rows, sizeof(float));
    float *dimg = xcalloc(n_img, sizeof(float)), *dw = xcalloc(n_w, sizeof(float));
    float *dimg_explain = xcalloc(n_img, sizeof(float));
    char k[64];
    be->bcos_patch_forward(out, cols, z, norm, img, w, B, Cin, H, W, P, OC, b);
    be->bcos_patch_backward(dimg, dw, dout, cols, w, z, norm, B, Cin, H, W, P, OC, b);
    be->bcos_patch_explain_backward(dimg_explain, dout, w, z, norm, B, Cin, H, W, P, OC, b);
    fixture_expect_close(fx, kase, key(k, sizeof k, prefix, "out"), out, n_out);
    fixture_expect_close(fx, kase, key(k, sizeof k, prefix, "dimg"), dimg, n_img);
    fixture_expect_close(fx, kase, key(k, sizeof k, prefix, "dimg_explain"), dimg_explain, n_img);
    if (with_saved) {
        fixture_expect_close(fx, kase, "z", z, n_out);
        fixture_expect_close(fx, kase, "norm", norm, rows);
        fixture_expect_close(fx, kase, "dweight", dw, n_w);
    }
    free(out), free(cols), free(z), free(norm), free(dimg), free(dw), free(dimg_explain);
}

static void test_patch(const bcos_backend *be, const fixture *fx, const char *kase) {
    check_patch(be, fx, kase, "weight", "", 1);
    check_patch(be, fx, kase, "weight_unit", "pkg_", 0);
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
