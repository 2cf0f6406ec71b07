/* Gradient checks of the elementwise kernels, QuickGELU, GELU and the residual addition: finite
 * differences in double, accumulation, float against double (see tests/gradcheck.h); and the scaled
 * bias addition, whose forward adds into its output. */
#include "../../src/cpu/cpu_f64.h"
#include "bcos/backend.h"
#include "gradcheck.h"

enum { N = 24 };

/* Tensor: t[0] inp[N]. */
static void quickgelu_fwd64(gc_case *c) { bcos_cpu_f64()->quickgelu_forward(c->out64, c->t[0].x64, N); }
static void quickgelu_bwd64(gc_case *c) { bcos_cpu_f64()->quickgelu_backward(c->t[0].g64, c->t[0].x64, c->dout64, N); }
static void quickgelu_fwd32(gc_case *c) { bcos_backend_cpu()->quickgelu_forward(c->out32, c->t[0].x32, N); }
static void quickgelu_bwd32(gc_case *c) {
    bcos_backend_cpu()->quickgelu_backward(c->t[0].g32, c->t[0].x32, c->dout32, N);
}

static void gelu_fwd64(gc_case *c) { bcos_cpu_f64()->gelu_forward(c->out64, c->t[0].x64, N); }
static void gelu_bwd64(gc_case *c) { bcos_cpu_f64()->gelu_backward(c->t[0].g64, c->t[0].x64, c->dout64, N); }
static void gelu_fwd32(gc_case *c) { bcos_backend_cpu()->gelu_forward(c->out32, c->t[0].x32, N); }
static void gelu_bwd32(gc_case *c) { bcos_backend_cpu()->gelu_backward(c->t[0].g32, c->t[0].x32, c->dout32, N); }

/* Tensors: t[0] a[N], t[1] b[N]. */
static void residual_fwd64(gc_case *c) { bcos_cpu_f64()->residual_forward(c->out64, c->t[0].x64, c->t[1].x64, N); }
static void residual_bwd64(gc_case *c) { bcos_cpu_f64()->residual_backward(c->t[0].g64, c->t[1].g64, c->dout64, N); }
static void residual_fwd32(gc_case *c) { bcos_backend_cpu()->residual_forward(c->out32, c->t[0].x32, c->t[1].x32, N); }
static void residual_bwd32(gc_case *c) {
    bcos_backend_cpu()->residual_backward(c->t[0].g32, c->t[1].g32, c->dout32, N);
}

/* Tensor: t[0] bias[C]; out[ROWS, C] starts at zero, the scale is 0.75. */
enum { ROWS = 4, C = N / ROWS };
static void bias_add_fwd64(gc_case *c) {
    memset(c->out64, 0, N * sizeof(double));
    bcos_cpu_f64()->bias_add_forward(c->out64, c->t[0].x64, 0.75, ROWS, C);
}
static void bias_add_bwd64(gc_case *c) { bcos_cpu_f64()->bias_add_backward(c->t[0].g64, c->dout64, 0.75, ROWS, C); }
static void bias_add_fwd32(gc_case *c) {
    memset(c->out32, 0, N * sizeof(float));
    bcos_backend_cpu()->bias_add_forward(c->out32, c->t[0].x32, 0.75f, ROWS, C);
}
static void bias_add_bwd32(gc_case *c) { bcos_backend_cpu()->bias_add_backward(c->t[0].g32, c->dout32, 0.75f, ROWS, C); }

static void run_bias_add_case(bcos_rng *rng) {
    gc_case c;
    gc_init(&c, "bias_add", N);
    gc_add(&c, "bias", C);
    gc_set_adapters(&c, bias_add_fwd64, bias_add_bwd64, bias_add_fwd32, bias_add_bwd32, NULL);
    gc_run(&c, rng);
}

/* A unary kernel has the input "inp", the binary residual the inputs "a" and "b". */
static void run_case(bcos_rng *rng, const char *name, int binary, void (*fwd64)(gc_case *), void (*bwd64)(gc_case *),
                     void (*fwd32)(gc_case *), void (*bwd32)(gc_case *)) {
    gc_case c;
    gc_init(&c, name, N);
    if (binary) {
        gc_add(&c, "a", N);
        gc_add(&c, "b", N);
    } else {
        gc_add(&c, "inp", N);
    }
    gc_set_adapters(&c, fwd64, bwd64, fwd32, bwd32, NULL);
    gc_run(&c, rng);
}

/* Far into the negative tail the sigmoid's exponential overflows; the result must stay a clean 0. */
static void test_activation_tails(void) {
    float x[2] = {-200.0f, 200.0f}, y[2], dx[2] = {0, 0}, dy[2] = {1, 1};
    bcos_backend_cpu()->quickgelu_forward(y, x, 2);
    bcos_backend_cpu()->quickgelu_backward(dx, x, dy, 2);
    CHECK_MSG(y[0] == 0.0f && y[1] == 200.0f, "quickgelu tails: %g %g", y[0], y[1]);
    CHECK_MSG(dx[0] == 0.0f && dx[1] == 1.0f, "quickgelu tail gradients: %g %g", dx[0], dx[1]);
}

int main(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 3);
    run_case(&rng, "quickgelu", 0, quickgelu_fwd64, quickgelu_bwd64, quickgelu_fwd32, quickgelu_bwd32);
    run_case(&rng, "gelu", 0, gelu_fwd64, gelu_bwd64, gelu_fwd32, gelu_bwd32);
    run_case(&rng, "residual", 1, residual_fwd64, residual_bwd64, residual_fwd32, residual_bwd32);
    run_bias_add_case(&rng);
    test_activation_tails();
    return test_summary("test_grad_elementwise");
}
