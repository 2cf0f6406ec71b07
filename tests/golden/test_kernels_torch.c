/* The float CPU backend against PyTorch: outputs and gradients of layernorm (with and without bias),
 * attention (causal and not), QuickGELU, GELU, matmul and the patch conv (patchify + matmul), computed
 * in float64 by tools/ref/make_kernel_fixtures.py. Every tensor must agree to rel error < 1e-5. */
#include <cjson/cJSON.h>
#include <string.h>

#include "bcos/backend.h"
#include "bcos/check.h"
#include "test.h"

#define FIXTURE_DIR "tests/fixtures/kernels/"
#define FIXTURE_HINT "regenerate with tools/ref/make_kernel_fixtures.py"
#define TOLERANCE 1e-5

/* The fixture: index.json (params and tensor locations) over kernels.bin (little-endian float32, which
 * is the host's layout on every machine this project targets). */
typedef struct {
    cJSON *index;
    float *data;
    size_t count; /* floats in data */
} fixture;

static fixture fixture_open(void) {
    fixture fx;
    char *json = bcos_read_file(FIXTURE_DIR "index.json", NULL);
    BCOS_CHECK(json != NULL, FIXTURE_HINT);
    fx.index = cJSON_Parse(json);
    BCOS_CHECK(fx.index != NULL, FIXTURE_HINT);
    free(json);
    size_t size = 0;
    char *blob = bcos_read_file(FIXTURE_DIR "kernels.bin", &size);
    BCOS_CHECK(blob != NULL && size % sizeof(float) == 0, FIXTURE_HINT);
    fx.data = xmalloc(size);
    memcpy(fx.data, blob, size);
    fx.count = size / sizeof(float);
    free(blob);
    return fx;
}

static void fixture_close(fixture *fx) {
    cJSON_Delete(fx->index);
    free(fx->data);
}

static double param(const fixture *fx, const char *kase, const char *key) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(fx->index, "params"), kase);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, key);
    if (!cJSON_IsNumber(v)) BCOS_DIE(FIXTURE_HINT, "no parameter %s.%s in the kernel fixture", kase, key);
    return v->valuedouble;
}

/* The tensor <kase>.<key>, which must hold n floats; it points into the fixture. */
static const float *tensor(const fixture *fx, const char *kase, const char *key, size_t n) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", kase, key);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(fx->index, "tensors"), name);
    const cJSON *offset = cJSON_GetObjectItemCaseSensitive(t, "offset");
    const cJSON *dim, *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
    if (!cJSON_IsNumber(offset) || !cJSON_IsArray(shape)) BCOS_DIE(FIXTURE_HINT, "no tensor %s in the fixture", name);
    size_t numel = 1;
    cJSON_ArrayForEach(dim, shape) numel *= (size_t)dim->valuedouble;
    size_t first = (size_t)offset->valuedouble / sizeof(float);
    if (numel != n || first + n > fx->count) BCOS_DIE(FIXTURE_HINT, "tensor %s: %zu floats, expected %zu", name, numel, n);
    return fx->data + first;
}

/* Our float result against the reference tensor <kase>.<key>. */
static void expect_close(const fixture *fx, const char *kase, const char *key, const float *ours, size_t n) {
    double err = test_rel_error_f32(ours, tensor(fx, kase, key, n), n);
    CHECK_MSG(err < TOLERANCE, "%s.%s: rel error %.3g against torch", kase, key, err);
}

static void test_layernorm(const bcos_backend *be, const fixture *fx, const char *kase, int has_bias) {
    int N = (int)param(fx, kase, "N"), C = (int)param(fx, kase, "C");
    size_t n = (size_t)N * C;
    const float *x = tensor(fx, kase, "x", n), *w = tensor(fx, kase, "weight", C);
    const float *b = has_bias ? tensor(fx, kase, "bias", C) : NULL;
    float *out = xcalloc(n, sizeof(float)), *mean = xcalloc(N, sizeof(float)), *rstd = xcalloc(N, sizeof(float));
    float *dx = xcalloc(n, sizeof(float)), *dw = xcalloc(C, sizeof(float)), *db = xcalloc(C, sizeof(float));
    be->layernorm_forward(out, mean, rstd, x, w, b, N, C, (float)param(fx, kase, "eps"));
    expect_close(fx, kase, "out", out, n);
    expect_close(fx, kase, "mean", mean, N);
    expect_close(fx, kase, "rstd", rstd, N);
    be->layernorm_backward(dx, dw, has_bias ? db : NULL, tensor(fx, kase, "dout", n), x, w, mean, rstd, N, C);
    expect_close(fx, kase, "dx", dx, n);
    expect_close(fx, kase, "dweight", dw, C);
    if (has_bias) expect_close(fx, kase, "dbias", db, C);
    free(out), free(mean), free(rstd), free(dx), free(dw), free(db);
}

static void test_attention(const bcos_backend *be, const fixture *fx, const char *kase) {
    int B = (int)param(fx, kase, "B"), T = (int)param(fx, kase, "T"), C = (int)param(fx, kase, "C");
    int NH = (int)param(fx, kase, "NH"), causal = (int)param(fx, kase, "causal");
    size_t n_qkv = (size_t)B * T * 3 * C, n_out = (size_t)B * T * C, n_att = (size_t)B * NH * T * T;
    const float *qkv = tensor(fx, kase, "qkv", n_qkv);
    float *out = xcalloc(n_out, sizeof(float)), *att = xcalloc(n_att, sizeof(float));
    float *dqkv = xcalloc(n_qkv, sizeof(float));
    be->attention_forward(out, att, qkv, B, T, C, NH, causal);
    expect_close(fx, kase, "out", out, n_out);
    expect_close(fx, kase, "att", att, n_att);
    be->attention_backward(dqkv, tensor(fx, kase, "dout", n_out), qkv, att, B, T, C, NH);
    expect_close(fx, kase, "dqkv", dqkv, n_qkv);
    free(out), free(att), free(dqkv);
}

static void test_activation(const fixture *fx, const char *kase, void (*forward)(float *, const float *, size_t),
                            void (*backward)(float *, const float *, const float *, size_t)) {
    size_t n = (size_t)param(fx, kase, "n");
    const float *x = tensor(fx, kase, "x", n);
    float *out = xcalloc(n, sizeof(float)), *dx = xcalloc(n, sizeof(float));
    forward(out, x, n);
    expect_close(fx, kase, "out", out, n);
    backward(dx, x, tensor(fx, kase, "dout", n), n);
    expect_close(fx, kase, "dx", dx, n);
    free(out), free(dx);
}

static void test_matmul(const bcos_backend *be, const fixture *fx) {
    const char *kase = "matmul";
    int N = (int)param(fx, kase, "N"), IC = (int)param(fx, kase, "IC"), OC = (int)param(fx, kase, "OC");
    const float *x = tensor(fx, kase, "x", (size_t)N * IC), *w = tensor(fx, kase, "weight", (size_t)OC * IC);
    float *out = xcalloc((size_t)N * OC, sizeof(float)), *dx = xcalloc((size_t)N * IC, sizeof(float));
    float *dw = xcalloc((size_t)OC * IC, sizeof(float)), *db = xcalloc(OC, sizeof(float));
    be->matmul_forward(out, x, w, tensor(fx, kase, "bias", OC), N, IC, OC);
    expect_close(fx, kase, "out", out, (size_t)N * OC);
    be->matmul_backward(dx, dw, db, tensor(fx, kase, "dout", (size_t)N * OC), x, w, N, IC, OC);
    expect_close(fx, kase, "dx", dx, (size_t)N * IC);
    expect_close(fx, kase, "dweight", dw, (size_t)OC * IC);
    expect_close(fx, kase, "dbias", db, OC);
    free(out), free(dx), free(dw), free(db);
}

/* conv2d(img, weight[OC,Cin,P,P], stride P) as tokens is patchify, then a matmul with the weight viewed
 * as [OC, Cin*P*P]: this pins down the (c, ky, kx) order of a patch. */
static void test_patch_conv(const bcos_backend *be, const fixture *fx) {
    const char *kase = "patch_conv";
    int B = (int)param(fx, kase, "B"), Cin = (int)param(fx, kase, "Cin"), H = (int)param(fx, kase, "H");
    int W = (int)param(fx, kase, "W"), P = (int)param(fx, kase, "P"), OC = (int)param(fx, kase, "OC");
    int NP = (H / P) * (W / P), K = Cin * P * P;
    size_t n_img = (size_t)B * Cin * H * W, n_cols = (size_t)B * NP * K, n_out = (size_t)B * NP * OC;
    const float *img = tensor(fx, kase, "img", n_img), *w = tensor(fx, kase, "weight", (size_t)OC * K);
    float *cols = xcalloc(n_cols, sizeof(float)), *out = xcalloc(n_out, sizeof(float));
    float *dcols = xcalloc(n_cols, sizeof(float)), *dimg = xcalloc(n_img, sizeof(float));
    float *dw = xcalloc((size_t)OC * K, sizeof(float));
    be->patchify_forward(cols, img, B, Cin, H, W, P);
    be->matmul_forward(out, cols, w, NULL, B * NP, K, OC);
    expect_close(fx, kase, "out", out, n_out);
    be->matmul_backward(dcols, dw, NULL, tensor(fx, kase, "dout", n_out), cols, w, B * NP, K, OC);
    be->patchify_backward(dimg, dcols, B, Cin, H, W, P);
    expect_close(fx, kase, "dimg", dimg, n_img);
    expect_close(fx, kase, "dweight", dw, (size_t)OC * K);
    free(cols), free(out), free(dcols), free(dimg), free(dw);
}

int main(void) {
    const bcos_backend *be = bcos_backend_cpu();
    fixture fx = fixture_open();
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
