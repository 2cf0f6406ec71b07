/* Gradient checks of the ResNet student's kernels (see tests/gradcheck.h: finite differences in double,
 * accumulation, float against double):
 *   - the B-cos convolution's scaling through its window norm, out = bcos_scale(z, window_norm(x)), at
 *     B = 1, 1.5, 2, 2.5 and 3, for z and x (a 3 x 3 window, stride 2, padding 1, ragged edges);
 *   - uncentered BatchNorm in training mode (batch mean and variance, the variance's gradient through
 *     every input) and with a constant variance (evaluation), for the input, gamma and the scaled bias;
 *     the ranks' partial statistics add up to the whole batch's. */
#include "../../src/cpu/cpu_f64.h"
#include "bcos/backend.h"
#include "gradcheck.h"

static const double exponents[] = {1, 1.5, 2, 2.5, 3};
#define N_EXPONENTS (sizeof exponents / sizeof exponents[0])

/* --- B-cos conv scaling: t[0] z[B,OC,HW], t[1] x[B,CIN,H,W] --- */
enum { CV_B = 2, CV_CIN = 3, CV_H = 5, CV_W = 6, CV_K = 3, CV_STRIDE = 2, CV_PAD = 1, CV_OC = 4 };
enum { CV_HO = (CV_H + 2 * CV_PAD - CV_K) / CV_STRIDE + 1, CV_WO = (CV_W + 2 * CV_PAD - CV_K) / CV_STRIDE + 1 };
enum { CV_HW = CV_HO * CV_WO };

typedef struct {
    double b;
    double norm64[CV_B * CV_HW], dnorm64[CV_B * CV_HW];
    float norm32[CV_B * CV_HW], dnorm32[CV_B * CV_HW];
} scale_ctx;

#define SCALE_ADAPTERS(bits, real, ops)                                                                                \
    static void scale_fwd##bits(gc_case *c) {                                                                          \
        scale_ctx *k = c->ctx;                                                                                         \
        ops->bcos_window_norm_forward(k->norm##bits, c->t[1].x##bits, CV_B, CV_CIN, CV_H, CV_W, CV_K, CV_STRIDE,       \
                                      CV_PAD);                                                                         \
        ops->bcos_scale_forward(c->out##bits, c->t[0].x##bits, k->norm##bits, CV_B, CV_OC, CV_HW, (real)k->b);         \
    }                                                                                                                  \
    static void scale_bwd##bits(gc_case *c) {                                                                          \
        scale_ctx *k = c->ctx;                                                                                         \
        memset(k->dnorm##bits, 0, sizeof k->dnorm##bits);                                                              \
        ops->bcos_scale_backward(c->t[0].g##bits, k->dnorm##bits, c->dout##bits, c->t[0].x##bits, k->norm##bits, CV_B, \
                                 CV_OC, CV_HW, (real)k->b);                                                            \
        ops->bcos_window_norm_backward(c->t[1].g##bits, k->dnorm##bits, c->t[1].x##bits, k->norm##bits, CV_B, CV_CIN,  \
                                       CV_H, CV_W, CV_K, CV_STRIDE, CV_PAD);                                           \
    }
SCALE_ADAPTERS(64, double, bcos_cpu_f64())
SCALE_ADAPTERS(32, float, bcos_backend_cpu())

static void test_scale(bcos_rng *rng, double b) {
    scale_ctx k = {.b = b};
    char name[64];
    snprintf(name, sizeof name, "bcos conv scaling B=%g", b);
    gc_case c;
    gc_init(&c, name, CV_B * CV_OC * CV_HW);
    gc_add(&c, "z", CV_B * CV_OC * CV_HW);
    gc_add(&c, "x", CV_B * CV_CIN * CV_H * CV_W);
    gc_set_adapters(&c, scale_fwd64, scale_bwd64, scale_fwd32, scale_bwd32, &k);
    gc_run(&c, rng);
}

/* --- uncentered BatchNorm: t[0] inp[B,C,HW], t[1] gamma[C], t[2] bias[C] --- */
enum { BN_B = 3, BN_C = 4, BN_HW = 5 };
#define BN_EPS 1e-5
#define BN_BIAS_SCALE 0.6

typedef struct {
    int training; /* 0: the variance is the constant var below */
    double mean64[BN_C], var64[BN_C], dvar64[BN_C];
    float mean32[BN_C], var32[BN_C], dvar32[BN_C];
} bn_ctx;

#define BN_ADAPTERS(bits, real, ops)                                                                                   \
    static void bn_fwd##bits(gc_case *c) {                                                                             \
        bn_ctx *k = c->ctx;                                                                                            \
        real count = BN_B * BN_HW;                                                                                     \
        if (k->training) {                                                                                             \
            ops->bn_batch_mean(k->mean##bits, c->t[0].x##bits, BN_B, BN_C, BN_HW, count);                              \
            ops->bn_batch_var(k->var##bits, c->t[0].x##bits, k->mean##bits, BN_B, BN_C, BN_HW, count);                 \
        }                                                                                                              \
        ops->bn_uncentered_forward(c->out##bits, c->t[0].x##bits, c->t[1].x##bits, c->t[2].x##bits, k->var##bits,      \
                                   BN_B, BN_C, BN_HW, (real)BN_EPS, (real)BN_BIAS_SCALE);                              \
    }                                                                                                                  \
    static void bn_bwd##bits(gc_case *c) {                                                                             \
        bn_ctx *k = c->ctx;                                                                                            \
        if (k->training)                                                                                               \
            ops->bn_uncentered_dvar(k->dvar##bits, c->dout##bits, c->t[0].x##bits, c->t[1].x##bits, k->var##bits,      \
                                    BN_B, BN_C, BN_HW, (real)BN_EPS);                                                  \
        ops->bn_uncentered_backward(c->t[0].g##bits, c->t[1].g##bits, c->t[2].g##bits, c->dout##bits, c->t[0].x##bits, \
                                    c->t[1].x##bits, k->mean##bits, k->var##bits, k->training ? k->dvar##bits : NULL,  \
                                    BN_B, BN_C, BN_HW, (real)BN_EPS, (real)(BN_B * BN_HW), (real)BN_BIAS_SCALE);       \
    }
BN_ADAPTERS(64, double, bcos_cpu_f64())
BN_ADAPTERS(32, float, bcos_backend_cpu())

static void test_bn(bcos_rng *rng, int training) {
    bn_ctx k = {.training = training};
    for (int ch = 0; ch < BN_C; ch++) k.var32[ch] = (float)(k.var64[ch] = 0.5 + 0.25 * ch);
    gc_case c;
    gc_init(&c, training ? "uncentered BatchNorm, training" : "uncentered BatchNorm, running variance",
            BN_B * BN_C * BN_HW);
    gc_add(&c, "inp", BN_B * BN_C * BN_HW);
    gc_add(&c, "gamma", BN_C);
    gc_add(&c, "bias", BN_C);
    gc_set_adapters(&c, bn_fwd64, bn_bwd64, bn_fwd32, bn_bwd32, &k);
    gc_run(&c, rng);
}

/* The per-rank split: two halves of a batch, each with its partial statistics summed as the ranks would,
 * give the whole batch's mean, variance and dvar. */
static void test_bn_split(bcos_rng *rng) {
    enum { HALF = BN_B * BN_C * BN_HW };
    double x[2 * HALF], g[2 * HALF], w[BN_C];
    for (int i = 0; i < 2 * HALF; i++) x[i] = bcos_rng_uniform(rng) * 2 - 1, g[i] = bcos_rng_uniform(rng) - 0.5;
    for (int ch = 0; ch < BN_C; ch++) w[ch] = 0.5 + ch;
    const bcos_cpu_f64_ops *ops = bcos_cpu_f64();
    double count = 2 * BN_B * BN_HW, whole[3][BN_C], part[2][BN_C], sum[3][BN_C] = {{0}};
    ops->bn_batch_mean(whole[0], x, 2 * BN_B, BN_C, BN_HW, count);
    ops->bn_batch_var(whole[1], x, whole[0], 2 * BN_B, BN_C, BN_HW, count);
    ops->bn_uncentered_dvar(whole[2], g, x, w, whole[1], 2 * BN_B, BN_C, BN_HW, BN_EPS);
    for (int r = 0; r < 2; r++) {
        ops->bn_batch_mean(part[0], x + r * HALF, BN_B, BN_C, BN_HW, count);
        for (int ch = 0; ch < BN_C; ch++) sum[0][ch] += part[0][ch];
    }
    for (int r = 0; r < 2; r++) {
        ops->bn_batch_var(part[0], x + r * HALF, sum[0], BN_B, BN_C, BN_HW, count);
        ops->bn_uncentered_dvar(part[1], g + r * HALF, x + r * HALF, w, whole[1], BN_B, BN_C, BN_HW, BN_EPS);
        for (int ch = 0; ch < BN_C; ch++) sum[1][ch] += part[0][ch], sum[2][ch] += part[1][ch];
    }
    for (int s = 0; s < 3; s++) {
        double err = test_rel_error_f64(sum[s], whole[s], BN_C);
        CHECK_MSG(err < 1e-14, "BatchNorm statistic %d summed over two halves vs the whole batch: %.3g", s, err);
    }
}

int main(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 12);
    for (size_t i = 0; i < N_EXPONENTS; i++) test_scale(&rng, exponents[i]);
    test_bn(&rng, 1);
    test_bn(&rng, 0);
    test_bn_split(&rng);
    return test_summary("test_grad_rn_kernels");
}
