/* Gradient checks of the dense kernels, matmul and layernorm, each with and without a bias: finite
 * differences in double, accumulation, float against double (see tests/gradcheck.h). */
#include "../../src/cpu/cpu_f64.h"
#include "bcos/backend.h"
#include "gradcheck.h"

typedef struct {
    int N, IC, OC, has_bias;
} matmul_ctx;

/* Tensors: t[0] inp[N,IC], t[1] weight[OC,IC], t[2] bias[OC] when present. */
static void matmul_fwd64(gc_case *c) {
    matmul_ctx *k = c->ctx;
    bcos_cpu_f64()->matmul_forward(c->out64, c->t[0].x64, c->t[1].x64, k->has_bias ? c->t[2].x64 : NULL, k->N, k->IC,
                                   k->OC);
}
static void matmul_bwd64(gc_case *c) {
    matmul_ctx *k = c->ctx;
    bcos_cpu_f64()->matmul_backward(c->t[0].g64, c->t[1].g64, k->has_bias ? c->t[2].g64 : NULL, c->dout64, c->t[0].x64,
                                    c->t[1].x64, k->N, k->IC, k->OC);
}
static void matmul_fwd32(gc_case *c) {
    matmul_ctx *k = c->ctx;
    bcos_backend_cpu()->matmul_forward(c->out32, c->t[0].x32, c->t[1].x32, k->has_bias ? c->t[2].x32 : NULL, k->N,
                                       k->IC, k->OC);
}
static void matmul_bwd32(gc_case *c) {
    matmul_ctx *k = c->ctx;
    bcos_backend_cpu()->matmul_backward(c->t[0].g32, c->t[1].g32, k->has_bias ? c->t[2].g32 : NULL, c->dout32,
                                        c->t[0].x32, c->t[1].x32, k->N, k->IC, k->OC);
}

static void test_matmul(bcos_rng *rng, int has_bias) {
    matmul_ctx k = {.N = 3, .IC = 4, .OC = 5, .has_bias = has_bias};
    gc_case c;
    gc_init(&c, has_bias ? "matmul" : "matmul (no bias)", (size_t)k.N * k.OC);
    gc_add(&c, "inp", (size_t)k.N * k.IC);
    gc_add(&c, "weight", (size_t)k.OC * k.IC);
    if (has_bias) gc_add(&c, "bias", (size_t)k.OC);
    gc_set_adapters(&c, matmul_fwd64, matmul_bwd64, matmul_fwd32, matmul_bwd32, &k);
    gc_run(&c, rng);
}

enum { LN_N = 4, LN_C = 6 };

typedef struct {
    int N, C, has_bias;
    double eps;
    double mean64[LN_N], rstd64[LN_N];
    float mean32[LN_N], rstd32[LN_N];
} layernorm_ctx;

/* Tensors: t[0] inp[N,C], t[1] weight[C], t[2] bias[C] when present. */
static void layernorm_fwd64(gc_case *c) {
    layernorm_ctx *k = c->ctx;
    bcos_cpu_f64()->layernorm_forward(c->out64, k->mean64, k->rstd64, c->t[0].x64, c->t[1].x64,
                                      k->has_bias ? c->t[2].x64 : NULL, k->N, k->C, k->eps);
}
static void layernorm_bwd64(gc_case *c) {
    layernorm_ctx *k = c->ctx;
    bcos_cpu_f64()->layernorm_backward(c->t[0].g64, c->t[1].g64, k->has_bias ? c->t[2].g64 : NULL, c->dout64,
                                       c->t[0].x64, c->t[1].x64, k->mean64, k->rstd64, k->N, k->C);
}
static void layernorm_fwd32(gc_case *c) {
    layernorm_ctx *k = c->ctx;
    bcos_backend_cpu()->layernorm_forward(c->out32, k->mean32, k->rstd32, c->t[0].x32, c->t[1].x32,
                                          k->has_bias ? c->t[2].x32 : NULL, k->N, k->C, (float)k->eps);
}
static void layernorm_bwd32(gc_case *c) {
    layernorm_ctx *k = c->ctx;
    bcos_backend_cpu()->layernorm_backward(c->t[0].g32, c->t[1].g32, k->has_bias ? c->t[2].g32 : NULL, c->dout32,
                                           c->t[0].x32, c->t[1].x32, k->mean32, k->rstd32, k->N, k->C);
}

static void test_layernorm(bcos_rng *rng, int has_bias) {
    /* eps is a power of two so that float and double normalise by exactly the same constant */
    layernorm_ctx k = {.N = LN_N, .C = LN_C, .has_bias = has_bias, .eps = 0x1p-17};
    gc_case c;
    gc_init(&c, has_bias ? "layernorm" : "layernorm (no bias)", (size_t)k.N * k.C);
    gc_add(&c, "inp", (size_t)k.N * k.C);
    gc_add(&c, "weight", (size_t)k.C);
    if (has_bias) gc_add(&c, "bias", (size_t)k.C);
    gc_set_adapters(&c, layernorm_fwd64, layernorm_bwd64, layernorm_fwd32, layernorm_bwd32, &k);
    gc_run(&c, rng);
}

int main(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 1);
    test_matmul(&rng, 1);
    test_matmul(&rng, 0);
    test_layernorm(&rng, 1);
    test_layernorm(&rng, 0);
    return test_summary("test_grad_dense");
}
