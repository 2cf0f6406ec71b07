/* Gradient checks of the kernels of CLIP's ResNet tower: convolution (padded, strided, ragged edges,
 * with and without bias), average pooling, ReLU, the per-channel affine map, the attention pool's
 * tokens and its single-query attention: finite differences in double, accumulation, float against
 * double (see tests/gradcheck.h). */
#include "../../src/cpu/cpu_f64.h"
#include "bcos/backend.h"
#include "gradcheck.h"

/* --- conv2d: tensors t[0] inp[B,Cin,H,W], t[1] weight[OC,Cin,K,K], t[2] bias[OC] --- */
typedef struct {
    int B, Cin, H, W, OC, K, stride, pad;
} conv_ctx;

static int conv_out(int n, const conv_ctx *k) { return (n + 2 * k->pad - k->K) / k->stride + 1; }
static size_t conv_pixels(const conv_ctx *k) { return (size_t)k->B * conv_out(k->H, k) * conv_out(k->W, k); }

static void conv_fwd64(gc_case *c) {
    conv_ctx *k = c->ctx;
    bcos_cpu_f64()->conv2d_forward(c->out64, c->t[0].x64, c->t[1].x64, c->t[2].x64, k->B, k->Cin, k->H, k->W, k->OC,
                                   k->K, k->stride, k->pad);
}
static void conv_bwd64(gc_case *c) {
    conv_ctx *k = c->ctx;
    bcos_cpu_f64()->conv2d_backward(c->t[0].g64, c->t[1].g64, c->t[2].g64, c->dout64, c->t[0].x64, c->t[1].x64, k->B,
                                    k->Cin, k->H, k->W, k->OC, k->K, k->stride, k->pad);
}
static void conv_fwd32(gc_case *c) {
    conv_ctx *k = c->ctx;
    bcos_backend_cpu()->conv2d_forward(c->out32, c->t[0].x32, c->t[1].x32, c->t[2].x32, k->B, k->Cin, k->H, k->W,
                                       k->OC, k->K, k->stride, k->pad);
}
static void conv_bwd32(gc_case *c) {
    conv_ctx *k = c->ctx;
    bcos_backend_cpu()->conv2d_backward(c->t[0].g32, c->t[1].g32, c->t[2].g32, c->dout32, c->t[0].x32, c->t[1].x32,
                                        k->B, k->Cin, k->H, k->W, k->OC, k->K, k->stride, k->pad);
}

static void test_conv(bcos_rng *rng, conv_ctx k) {
    size_t window = (size_t)k.Cin * k.K * k.K;
    char name[80];
    snprintf(name, sizeof name, "conv2d K=%d stride=%d pad=%d on %dx%d", k.K, k.stride, k.pad, k.H, k.W);
    gc_case c;
    gc_init(&c, name, conv_pixels(&k) * k.OC);
    gc_add(&c, "inp", (size_t)k.B * k.Cin * k.H * k.W);
    gc_add(&c, "weight", (size_t)k.OC * window);
    gc_add(&c, "bias", (size_t)k.OC);
    gc_set_adapters(&c, conv_fwd64, conv_bwd64, conv_fwd32, conv_bwd32, &k);
    gc_run(&c, rng);
}

/* Without bias (NULL) the forward must not touch it and the backward must not need it. */
static void test_conv_without_bias(bcos_rng *rng) {
    enum { B = 1, CIN = 2, H = 4, W = 3, OC = 3, K = 3 };
    float inp[B * CIN * H * W], weight[OC * CIN * K * K], out[B * OC * H * W];
    float with_zero[B * OC * H * W], zero_bias[OC] = {0};
    bcos_rng_fill_normal(rng, inp, sizeof inp / sizeof inp[0], 0, 1);
    bcos_rng_fill_normal(rng, weight, sizeof weight / sizeof weight[0], 0, 1);
    const bcos_backend *be = bcos_backend_cpu();
    be->conv2d_forward(out, inp, weight, NULL, B, CIN, H, W, OC, K, 1, 1);
    be->conv2d_forward(with_zero, inp, weight, zero_bias, B, CIN, H, W, OC, K, 1, 1);
    CHECK(memcmp(out, with_zero, sizeof out) == 0);
    float dinp[B * CIN * H * W] = {0};
    be->conv2d_backward(dinp, NULL, NULL, out, inp, weight, B, CIN, H, W, OC, K, 1, 1);
    double sum = 0;
    for (size_t i = 0; i < sizeof dinp / sizeof dinp[0]; i++) sum += fabs(dinp[i]);
    CHECK(sum > 0);
}

/* --- avgpool2d: tensor t[0] inp[B,C,H,W]; H and W are not multiples of k --- */
enum { POOL_B = 2, POOL_C = 2, POOL_H = 5, POOL_W = 7, POOL_K = 2 };
#define POOL_IN (POOL_B * POOL_C * POOL_H * POOL_W)
#define POOL_OUT (POOL_B * POOL_C * (POOL_H / POOL_K) * (POOL_W / POOL_K))

static void pool_fwd64(gc_case *c) {
    bcos_cpu_f64()->avgpool2d_forward(c->out64, c->t[0].x64, POOL_B, POOL_C, POOL_H, POOL_W, POOL_K);
}
static void pool_bwd64(gc_case *c) {
    bcos_cpu_f64()->avgpool2d_backward(c->t[0].g64, c->dout64, POOL_B, POOL_C, POOL_H, POOL_W, POOL_K);
}
static void pool_fwd32(gc_case *c) {
    bcos_backend_cpu()->avgpool2d_forward(c->out32, c->t[0].x32, POOL_B, POOL_C, POOL_H, POOL_W, POOL_K);
}
static void pool_bwd32(gc_case *c) {
    bcos_backend_cpu()->avgpool2d_backward(c->t[0].g32, c->dout32, POOL_B, POOL_C, POOL_H, POOL_W, POOL_K);
}

static void test_avgpool(bcos_rng *rng) {
    gc_case c;
    gc_init(&c, "avgpool2d", POOL_OUT);
    gc_add(&c, "inp", POOL_IN);
    gc_set_adapters(&c, pool_fwd64, pool_bwd64, pool_fwd32, pool_bwd32, NULL);
    gc_run(&c, rng);
}

/* --- relu: tensor t[0] inp[n]; the backward reads the output --- */
enum { RELU_N = 24 };

static void relu_fwd64(gc_case *c) { bcos_cpu_f64()->relu_forward(c->out64, c->t[0].x64, RELU_N); }
static void relu_bwd64(gc_case *c) { bcos_cpu_f64()->relu_backward(c->t[0].g64, c->out64, c->dout64, RELU_N); }
static void relu_fwd32(gc_case *c) { bcos_backend_cpu()->relu_forward(c->out32, c->t[0].x32, RELU_N); }
static void relu_bwd32(gc_case *c) { bcos_backend_cpu()->relu_backward(c->t[0].g32, c->out32, c->dout32, RELU_N); }

static void test_relu(bcos_rng *rng) {
    gc_case c;
    gc_init(&c, "relu", RELU_N);
    gc_add(&c, "inp", RELU_N);
    gc_set_adapters(&c, relu_fwd64, relu_bwd64, relu_fwd32, relu_bwd32, NULL);
    gc_run(&c, rng);
}

/* --- channel_affine: tensors t[0] inp[B,C,HW], t[1] scale[C], t[2] shift[C] --- */
enum { AFF_B = 2, AFF_C = 3, AFF_HW = 5 };

static void affine_fwd64(gc_case *c) {
    bcos_cpu_f64()->channel_affine_forward(c->out64, c->t[0].x64, c->t[1].x64, c->t[2].x64, AFF_B, AFF_C, AFF_HW);
}
static void affine_bwd64(gc_case *c) {
    bcos_cpu_f64()->channel_affine_backward(c->t[0].g64, c->t[1].g64, c->t[2].g64, c->dout64, c->t[0].x64,
                                            c->t[1].x64, AFF_B, AFF_C, AFF_HW);
}
static void affine_fwd32(gc_case *c) {
    bcos_backend_cpu()->channel_affine_forward(c->out32, c->t[0].x32, c->t[1].x32, c->t[2].x32, AFF_B, AFF_C,
                                               AFF_HW);
}
static void affine_bwd32(gc_case *c) {
    bcos_backend_cpu()->channel_affine_backward(c->t[0].g32, c->t[1].g32, c->t[2].g32, c->dout32, c->t[0].x32,
                                                c->t[1].x32, AFF_B, AFF_C, AFF_HW);
}

static void test_channel_affine(bcos_rng *rng) {
    gc_case c;
    gc_init(&c, "channel_affine", AFF_B * AFF_C * AFF_HW);
    gc_add(&c, "inp", AFF_B * AFF_C * AFF_HW);
    gc_add(&c, "scale", AFF_C);
    gc_add(&c, "shift", AFF_C);
    gc_set_adapters(&c, affine_fwd64, affine_bwd64, affine_fwd32, affine_bwd32, NULL);
    gc_run(&c, rng);
}

/* --- map_tokens: tensors t[0] inp[B,C,HW], t[1] pos[1+HW,C] --- */
enum { TOK_B = 2, TOK_C = 3, TOK_HW = 4 };

static void tokens_fwd64(gc_case *c) {
    bcos_cpu_f64()->map_tokens_forward(c->out64, c->t[0].x64, c->t[1].x64, TOK_B, TOK_C, TOK_HW);
}
static void tokens_bwd64(gc_case *c) {
    bcos_cpu_f64()->map_tokens_backward(c->t[0].g64, c->t[1].g64, c->dout64, TOK_B, TOK_C, TOK_HW);
}
static void tokens_fwd32(gc_case *c) {
    bcos_backend_cpu()->map_tokens_forward(c->out32, c->t[0].x32, c->t[1].x32, TOK_B, TOK_C, TOK_HW);
}
static void tokens_bwd32(gc_case *c) {
    bcos_backend_cpu()->map_tokens_backward(c->t[0].g32, c->t[1].g32, c->dout32, TOK_B, TOK_C, TOK_HW);
}

static void test_map_tokens(bcos_rng *rng) {
    gc_case c;
    gc_init(&c, "map_tokens", TOK_B * (1 + TOK_HW) * TOK_C);
    gc_add(&c, "inp", TOK_B * TOK_C * TOK_HW);
    gc_add(&c, "pos", (1 + TOK_HW) * TOK_C);
    gc_set_adapters(&c, tokens_fwd64, tokens_bwd64, tokens_fwd32, tokens_bwd32, NULL);
    gc_run(&c, rng);
}

/* --- query_attention: tensors t[0] q[B,C], t[1] k[B,T,C], t[2] v[B,T,C]; two heads --- */
enum { QA_B = 2, QA_T = 5, QA_C = 6, QA_NH = 2 };

typedef struct {
    double att64[QA_B * QA_NH * QA_T];
    float att32[QA_B * QA_NH * QA_T];
} query_ctx;

static void query_fwd64(gc_case *c) {
    query_ctx *k = c->ctx;
    bcos_cpu_f64()->query_attention_forward(c->out64, k->att64, c->t[0].x64, c->t[1].x64, c->t[2].x64, QA_B, QA_T,
                                            QA_C, QA_NH);
}
static void query_bwd64(gc_case *c) {
    query_ctx *k = c->ctx;
    bcos_cpu_f64()->query_attention_backward(c->t[0].g64, c->t[1].g64, c->t[2].g64, c->dout64, c->t[0].x64,
                                             c->t[1].x64, c->t[2].x64, k->att64, QA_B, QA_T, QA_C, QA_NH);
}
static void query_fwd32(gc_case *c) {
    query_ctx *k = c->ctx;
    bcos_backend_cpu()->query_attention_forward(c->out32, k->att32, c->t[0].x32, c->t[1].x32, c->t[2].x32, QA_B,
                                                QA_T, QA_C, QA_NH);
}
static void query_bwd32(gc_case *c) {
    query_ctx *k = c->ctx;
    bcos_backend_cpu()->query_attention_backward(c->t[0].g32, c->t[1].g32, c->t[2].g32, c->dout32, c->t[0].x32,
                                                 c->t[1].x32, c->t[2].x32, k->att32, QA_B, QA_T, QA_C, QA_NH);
}

static void test_query_attention(bcos_rng *rng) {
    query_ctx k;
    gc_case c;
    gc_init(&c, "query_attention", QA_B * QA_C);
    gc_add(&c, "q", QA_B * QA_C);
    gc_add(&c, "k", QA_B * QA_T * QA_C);
    gc_add(&c, "v", QA_B * QA_T * QA_C);
    gc_set_adapters(&c, query_fwd64, query_bwd64, query_fwd32, query_bwd32, &k);
    gc_run(&c, rng);
}

/* Explanation mode: with att held, out is linear in v, so its backward is the exact dv and nothing else. */
static void test_query_attention_explain(bcos_rng *rng) {
    enum { NQ = QA_B * QA_C, NKV = QA_B * QA_T * QA_C };
    double q[NQ], k[NKV], v[NKV], out[NQ], att[QA_B * QA_NH * QA_T], dout[NQ];
    double dv_exact[NKV] = {0}, dv_explain[NKV] = {0}, dq[NQ] = {0}, dk[NKV] = {0};
    float buf[NKV];
    double *fill[4] = {q, k, v, dout};
    size_t sizes[4] = {NQ, NKV, NKV, NQ};
    for (int i = 0; i < 4; i++) gc_fill_random(rng, buf, fill[i], sizes[i]);
    const bcos_cpu_f64_ops *ops = bcos_cpu_f64();
    ops->query_attention_forward(out, att, q, k, v, QA_B, QA_T, QA_C, QA_NH);
    ops->query_attention_backward(dq, dk, dv_exact, dout, q, k, v, att, QA_B, QA_T, QA_C, QA_NH);
    ops->query_attention_explain_backward(dv_explain, dout, att, QA_B, QA_T, QA_C, QA_NH);
    CHECK(test_rel_error_f64(dv_explain, dv_exact, NKV) < 1e-15);
}

int main(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 12);
    test_conv(&rng, (conv_ctx){.B = 2, .Cin = 2, .H = 5, .W = 6, .OC = 3, .K = 3, .stride = 2, .pad = 1});
    test_conv(&rng, (conv_ctx){.B = 2, .Cin = 3, .H = 4, .W = 3, .OC = 2, .K = 3, .stride = 1, .pad = 1});
    test_conv(&rng, (conv_ctx){.B = 1, .Cin = 4, .H = 3, .W = 5, .OC = 3, .K = 1, .stride = 1, .pad = 0});
    test_conv(&rng, (conv_ctx){.B = 1, .Cin = 2, .H = 7, .W = 6, .OC = 2, .K = 2, .stride = 2, .pad = 0});
    /* 1x1 windows over more channels than the im2col's tile of 16, strided or not, for a batch */
    test_conv(&rng, (conv_ctx){.B = 3, .Cin = 20, .H = 5, .W = 4, .OC = 3, .K = 1, .stride = 1, .pad = 0});
    test_conv(&rng, (conv_ctx){.B = 2, .Cin = 18, .H = 5, .W = 6, .OC = 2, .K = 1, .stride = 2, .pad = 0});
    test_conv_without_bias(&rng);
    test_avgpool(&rng);
    test_relu(&rng);
    test_channel_affine(&rng);
    test_map_tokens(&rng);
    test_query_attention(&rng);
    test_query_attention_explain(&rng);
    return test_summary("test_grad_resnet");
}
