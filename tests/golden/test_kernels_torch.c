/* The float CPU backend against PyTorch: outputs and gradients of layernorm (with and without bias),
 * attention (causal and not), QuickGELU, GELU, matmul and the patch conv (patchify + matmul), computed
 * in float64 by tools/ref/make_kernel_fixtures.py. Every tensor must agree to rel error < 1e-5. */
#include "bcos/backend.h"
#include "bcos/check.h"
#include "fixture_bin.h"
#include "test.h"

static void test_layernorm(const bcos_backend *be, const fixture *fx, const char *kase, int has_bias) {
    int N = fixture_int(fx, kase, "N"), C = fixture_int(fx, kase, "C");
    size_t n = (size_t)N * C;
    const float *x = fixture_tensor(fx, kase, "x", n), *w = fixture_tensor(fx, kase, "weight", C);
    const float *b = has_bias ? fixture_tensor(fx, kase, "bias", C) : NULL;
    float *out = xcalloc(n, sizeof(float)), *mean = xcalloc(N, sizeof(float)), *rstd = xcalloc(N, sizeof(float));
    float *dx = xcalloc(n, sizeof(float)), *dw = xcalloc(C, sizeof(float)), *db = xcalloc(C, sizeof(float));
    be->layernorm_forward(out, mean, rstd, x, w, b, N, C, (float)fixture_param(fx, kase, "eps"));
    fixture_expect_close(fx, kase, "out", out, n);
    fixture_expect_close(fx, kase, "mean", mean, N);
    fixture_expect_close(fx, kase, "rstd", rstd, N);
    be->layernorm_backward(dx, dw, has_bias ? db : NULL, fixture_tensor(fx, kase, "dout", n), x, w, mean, rstd, N, C);
    fixture_expect_close(fx, kase, "dx", dx, n);
    fixture_expect_close(fx, kase, "dweight", dw, C);
    if (has_bias) fixture_expect_close(fx, kase, "dbias", db, C);
    free(out), free(mean), free(rstd), free(dx), free(dw), free(db);
}

static void test_attention(const bcos_backend *be, const fixture *fx, const char *kase) {
    int B = fixture_int(fx, kase, "B"), T = fixture_int(fx, kase, "T"), C = fixture_int(fx, kase, "C");
    int NH = fixture_int(fx, kase, "NH"), causal = fixture_int(fx, kase, "causal");
    size_t n_qkv = (size_t)B * T * 3 * C, n_out = (size_t)B * T * C, n_att = (size_t)B * NH * T * T;
    const float *qkv = fixture_tensor(fx, kase, "qkv", n_qkv);
    float *out = xcalloc(n_out, sizeof(float)), *att = xcalloc(n_att, sizeof(float));
    float *dqkv = xcalloc(n_qkv, sizeof(float));
    be->attention_forward(out, att, qkv, B, T, C, NH, causal);
    fixture_expect_close(fx, kase, "out", out, n_out);
    fixture_expect_close(fx, kase, "att", att, n_att);
    be->attention_backward(dqkv, fixture_tensor(fx, kase, "dout", n_out), qkv, att, B, T, C, NH);
    fixture_expect_close(fx, kase, "dqkv", dqkv, n_qkv);
    free(out), free(att), free(dqkv);
}

static void test_activation(const fixture *fx, const char *kase, void (*forward)(float *, const float *, size_t),
                            void (*backward)(float *, const float *, const float *, size_t)) {
    size_t n = (size_t)fixture_param(fx, kase, "n");
    const float *x = fixture_tensor(fx, kase, "x", n);
    float *out = xcalloc(n, sizeof(float)), *dx = xcalloc(n, sizeof(float));
    forward(out, x, n);
    fixture_expect_close(fx, kase, "out", out, n);
    backward(dx, x, fixture_tensor(fx, kase, "dout", n), n);
    fixture_expect_close(fx, kase, "dx", dx, n);
    free(out), free(dx);
}

static void test_matmul(const bcos_backend *be, const fixture *fx) {
    const char *kase = "matmul";
    int N = fixture_int(fx, kase, "N"), IC = fixture_int(fx, kase, "IC"), OC = fixture_int(fx, kase, "OC");
    const float *x = fixture_tensor(fx, kase, "x", (size_t)N * IC);
    const float *w = fixture_tensor(fx, kase, "weight", (size_t)OC * IC);
    float *out = xcalloc((size_t)N * OC, sizeof(float)), *dx = xcalloc((size_t)N * IC, sizeof(float));
    float *dw = xcalloc((size_t)OC * IC, sizeof(float)), *db = xcalloc(OC, sizeof(float));
    be->matmul_forward(out, x, w, fixture_tensor(fx, kase, "bias", OC), N, IC, OC);
    fixture_expect_close(fx, kase, "out", out, (size_t)N * OC);
    be->matmul_backward(dx, dw, db, fixture_tensor(fx, kase, "dout", (size_t)N * OC), x, w, N, IC, OC);
    fixture_expect_close(fx, kase, "dx", dx, (size_t)N * IC);
    fixture_expect_close(fx, kase, "dweight", dw, (size_t)OC * IC);
    fixture_expect_close(fx, kase, "dbias", db, OC);
    free(out), free(dx), free(dw), free(db);
}

/* conv2d(img, weight[OC,Cin,P,P], stride P) as tokens is patchify, then a matmul with the weight viewed
 * as [OC, Cin*P*P]: this pins down the (c, ky, kx) order of a patch. */
static void test_patch_conv(const bcos_backend *be, const fixture *fx) {
    const char *kase = "patch_conv";
    int B = fixture_int(fx, kase, "B"), Cin = fixture_int(fx, kase, "Cin"), H = fixture_int(fx, kase, "H");
    int W = fixture_int(fx, kase, "W"), P = fixture_int(fx, kase, "P"), OC = fixture_int(fx, kase, "OC");
    int NP = (H / P) * (W / P), K = Cin * P * P;
    size_t n_img = (size_t)B * Cin * H * W, n_cols = (size_t)B * NP * K, n_out = (size_t)B * NP * OC;
    const float *img = fixture_tensor(fx, kase, "img", n_img), *w = fixture_tensor(fx, kase, "weight", (size_t)OC * K);
    float *cols = xcalloc(n_cols, sizeof(float)), *out = xcalloc(n_out, sizeof(float));
    float *dcols = xcalloc(n_cols, sizeof(float)), *dimg = xcalloc(n_img, sizeof(float));
    float *dw = xcalloc((size_t)OC * K, sizeof(float));
    be->patchify_forward(cols, img, B, Cin, H, W, P);
    be->matmul_forward(out, cols, w, NULL, B * NP, K, OC);
    fixture_expect_close(fx, kase, "out", out, n_out);
    be->matmul_backward(dcols, dw, NULL, fixture_tensor(fx, kase, "dout", n_out), cols, w, B * NP, K, OC);
    be->patchify_backward(dimg, dcols, B, Cin, H, W, P);
    fixture_expect_close(fx, kase, "dimg", dimg, n_img);
    fixture_expect_close(fx, kase, "dweight", dw, (size_t)OC * K);
    free(cols), free(out), free(dcols), free(dimg), free(dw);
}

int main(void) {
    const bcos_backend *be = bcos_backend_cpu();
    fixture fx =
        fixture_open("tests/fixtures/kernels", "kernels.bin", "regenerate with tools/ref/make_kernel_fixtures.py");
    test_layernorm(be, &fx, "layernorm", 1);
    test_layernorm(be, &fx, "layernorm_nobias", 0);
    test_attention(be, &fx, "attention");
    test_attention(be, &fx, "attention_causal");
    test_activation(&fx, "quickgelu", be->quickgelu_forward, be->quickgelu_backward);
    test_activation(&fx, "gelu", be->gelu_forward, be->gelu_backward);
    test_matmul(be, &fx);
    test_patch_conv(be, &fx);
    fixture_close(&fx);
    return test_summary("test_kernels_torch");
}
