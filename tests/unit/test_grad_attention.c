/* Gradient checks of multi-head attention, causal and not: finite differences in double, accumulation,
 * float against double (see tests/gradcheck.h). */
#include "../../src/cpu/cpu_f64.h"
#include "bcos/backend.h"
#include "gradcheck.h"

enum { B = 2, T = 5, NH = 2, C = 6 };

typedef struct {
    int causal;
    double att64[B * NH * T * T];
    float att32[B * NH * T * T];
} attention_ctx;

/* Tensor: t[0] qkv[B,T,3C]. */
static void attention_fwd64(gc_case *c) {
    attention_ctx *k = c->ctx;
    bcos_cpu_f64()->attention_forward(c->out64, k->att64, c->t[0].x64, B, T, C, NH, k->causal);
}
static void attention_bwd64(gc_case *c) {
    attention_ctx *k = c->ctx;
    bcos_cpu_f64()->attention_backward(c->t[0].g64, c->dout64, c->t[0].x64, k->att64, B, T, C, NH);
}
static void attention_fwd32(gc_case *c) {
    attention_ctx *k = c->ctx;
    bcos_backend_cpu()->attention_forward(c->out32, k->att32, c->t[0].x32, B, T, C, NH, k->causal);
}
static void attention_bwd32(gc_case *c) {
    attention_ctx *k = c->ctx;
    bcos_backend_cpu()->attention_backward(c->t[0].g32, c->dout32, c->t[0].x32, k->att32, B, T, C, NH);
}

static void test_attention(bcos_rng *rng, int causal) {
    attention_ctx k = {.causal = causal};
    gc_case c;
    gc_init(&c, causal ? "attention (causal)" : "attention", (size_t)B * T * C);
    gc_add(&c, "qkv", (size_t)B * T * 3 * C);
    gc_set_adapters(&c, attention_fwd64, attention_bwd64, attention_fwd32, attention_bwd32, &k);
    gc_run(&c, rng);
}

/* The saved probabilities: rows sum to 1, and with the causal mask no query sees a later key. */
static void test_attention_probabilities(bcos_rng *rng) {
    float qkv[B * T * 3 * C], out[B * T * C], att[B * NH * T * T];
    bcos_rng_fill_normal(rng, qkv, B * T * 3 * C, 0.0f, 1.0f);
    bcos_backend_cpu()->attention_forward(out, att, qkv, B, T, C, NH, 1);
    int masked_ok = 1, sums_ok = 1;
    for (int row = 0; row < B * NH * T; row++) {
        int t = row % T;
        double sum = 0;
        for (int j = 0; j < T; j++) {
            sum += att[row * T + j];
            if (j > t && att[row * T + j] != 0.0f) masked_ok = 0;
        }
        if (fabs(sum - 1) > 1e-6) sums_ok = 0;
    }
    CHECK_MSG(masked_ok, "causal attention gives weight to a later key");
    CHECK_MSG(sums_ok, "attention probabilities do not sum to 1");
}

int main(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 2);
    test_attention(&rng, 0);
    test_attention(&rng, 1);
    test_attention_probabilities(&rng);
    return test_summary("test_grad_attention");
}
