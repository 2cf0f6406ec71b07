/* Gradient checks of the B-cos units' exact (training) backwards, the linear unit and the patch unit,
 * at B = 1, 1.25, 2, 2.5 and 3 (the B ramp needs the general form): finite differences in double,
 * accumulation, float against double (see tests/gradcheck.h). */
#include "../../src/cpu/cpu_f64.h"
#include "bcos/backend.h"
#include "gradcheck.h"

static const double exponents[] = {1, 1.25, 2, 2.5, 3};
#define N_EXPONENTS (sizeof exponents / sizeof exponents[0])

/* --- linear unit: tensors t[0] inp[N,IC], t[1] weight[OC,IC] --- */
enum { LIN_N = 3, LIN_IC = 5, LIN_OC = 4 };

typedef struct {
    double b;
    double z64[LIN_N * LIN_OC], norm64[LIN_N];
    float z32[LIN_N * LIN_OC], norm32[LIN_N];
} linear_ctx;

static void linear_fwd64(gc_case *c) {
    linear_ctx *k = c->ctx;
    bcos_cpu_f64()->bcos_linear_forward(c->out64, k->z64, k->norm64, c->t[0].x64, c->t[1].x64, LIN_N, LIN_IC, LIN_OC,
                                        k->b);
}
static void linear_bwd64(gc_case *c) {
    linear_ctx *k = c->ctx;
    bcos_cpu_f64()->bcos_linear_backward(c->t[0].g64, c->t[1].g64, c->dout64, c->t[0].x64, c->t[1].x64, k->z64,
                                         k->norm64, LIN_N, LIN_IC, LIN_OC, k->b);
}
static void linear_fwd32(gc_case *c) {
    linear_ctx *k = c->ctx;
    bcos_backend_cpu()->bcos_linear_forward(c->out32, k->z32, k->norm32, c->t[0].x32, c->t[1].x32, LIN_N, LIN_IC,
                                            LIN_OC, (float)k->b);
}
static void linear_bwd32(gc_case *c) {
    linear_ctx *k = c->ctx;
    bcos_backend_cpu()->bcos_linear_backward(c->t[0].g32, c->t[1].g32, c->dout32, c->t[0].x32, c->t[1].x32, k->z32,
                                             k->norm32, LIN_N, LIN_IC, LIN_OC, (float)k->b);
}

static void test_linear(bcos_rng *rng, double b) {
    linear_ctx k = {.b = b};
    char name[64];
    snprintf(name, sizeof name, "bcos_linear B=%g", b);
    gc_case c;
    gc_init(&c, name, LIN_N * LIN_OC);
    gc_add(&c, "inp", LIN_N * LIN_IC);
    gc_add(&c, "weight", LIN_OC * LIN_IC);
    gc_set_adapters(&c, linear_fwd64, linear_bwd64, linear_fwd32, linear_bwd32, &k);
    gc_run(&c, rng);
}

/* --- patch unit: tensors t[0] img[B,Cin,H,W], t[1] weight[OC,Cin,P,P]; H is not a multiple of P --- */
enum { PAT_B = 2, PAT_CIN = 6, PAT_H = 5, PAT_W = 4, PAT_P = 2, PAT_OC = 3 };
enum { PAT_NP = (PAT_H / PAT_P) * (PAT_W / PAT_P), PAT_K = PAT_CIN * PAT_P * PAT_P, PAT_ROWS = PAT_B * PAT_NP };

typedef struct {
    double b;
    double cols64[PAT_ROWS * PAT_K], z64[PAT_ROWS * PAT_OC], norm64[PAT_ROWS];
    float cols32[PAT_ROWS * PAT_K], z32[PAT_ROWS * PAT_OC], norm32[PAT_ROWS];
} patch_ctx;

static void patch_fwd64(gc_case *c) {
    patch_ctx *k = c->ctx;
    bcos_cpu_f64()->bcos_patch_forward(c->out64, k->cols64, k->z64, k->norm64, c->t[0].x64, c->t[1].x64, PAT_B, PAT_CIN,
                                       PAT_H, PAT_W, PAT_P, PAT_OC, k->b);
}
static void patch_bwd64(gc_case *c) {
    patch_ctx *k = c->ctx;
    bcos_cpu_f64()->bcos_patch_backward(c->t[0].g64, c->t[1].g64, c->dout64, k->cols64, c->t[1].x64, k->z64, k->norm64,
                                        PAT_B, PAT_CIN, PAT_H, PAT_W, PAT_P, PAT_OC, k->b);
}
static void patch_fwd32(gc_case *c) {
    patch_ctx *k = c->ctx;
    bcos_backend_cpu()->bcos_patch_forward(c->out32, k->cols32, k->z32, k->norm32, c->t[0].x32, c->t[1].x32, PAT_B,
                                           PAT_CIN, PAT_H, PAT_W, PAT_P, PAT_OC, (float)k->b);
}
static void patch_bwd32(gc_case *c) {
    patch_ctx *k = c->ctx;
    bcos_backend_cpu()->bcos_patch_backward(c->t[0].g32, c->t[1].g32, c->dout32, k->cols32, c->t[1].x32, k->z32,
                                            k->norm32, PAT_B, PAT_CIN, PAT_H, PAT_W, PAT_P, PAT_OC, (float)k->b);
}

static void test_patch(bcos_rng *rng, double b) {
    patch_ctx k = {.b = b};
    char name[64];
    snprintf(name, sizeof name, "bcos_patch B=%g", b);
    gc_case c;
    gc_init(&c, name, PAT_ROWS * PAT_OC);
    gc_add(&c, "img", PAT_B * PAT_CIN * PAT_H * PAT_W);
    gc_add(&c, "weight", PAT_OC * PAT_K);
    gc_set_adapters(&c, patch_fwd64, patch_bwd64, patch_fwd32, patch_bwd32, &k);
    gc_run(&c, rng);
}

int main(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 4);
    for (size_t i = 0; i < N_EXPONENTS; i++) {
        test_linear(&rng, exponents[i]);
        test_patch(&rng, exponents[i]);
    }
    return test_summary("test_grad_bcos");
}
