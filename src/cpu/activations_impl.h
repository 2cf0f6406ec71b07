/* Elementwise activations (written with REAL, see kernels_impl.h): QuickGELU x*sigmoid(1.702x), used by
 * OpenAI's CLIP weights, and the exact (erf) GELU, used by LAION's. Both are x times a gate; explanation
 * mode (docs/METHOD.md, "Explanation mode and completeness") holds the gate constant, so its backward
 * is dout times the gate. */

#define QUICKGELU_SLOPE ((REAL)1.702)
#define SQRT_HALF ((REAL)0.70710678118654752440)
#define INV_SQRT_2PI ((REAL)0.39894228040143267794)

/* 1/(1+e^-x): for very negative x, e^-x overflows to inf and the result is a clean 0. */
static REAL sigmoid(REAL x) { return 1 / (1 + exp(-x)); }

/* The gates: sigmoid(1.702x) for QuickGELU, the standard normal cdf Phi(x) for GELU. */
static REAL quickgelu_gate(REAL x) { return sigmoid(QUICKGELU_SLOPE * x); }
static REAL gelu_gate(REAL x) { return (REAL)0.5 * (1 + erf(x * SQRT_HALF)); }

/* dinp[n] += dout * gate(inp): the backward of explanation mode. */
static void gate_explain_backward(REAL *dinp, const REAL *inp, const REAL *dout, size_t n, REAL (*gate)(REAL)) {
    if (!dinp) return;
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * gate(inp[i]);
}

static void quickgelu_forward_range(void *ctx, size_t begin, size_t end) {
    const elementwise_args *a = ctx;
    for (size_t i = begin; i < end; i++) a->out[i] = a->a[i] * quickgelu_gate(a->a[i]);
}

static void quickgelu_forward(REAL *out, const REAL *inp, size_t n) {
    elementwise_args a = {out, inp, NULL};
    cpu_parallel_for(n, ELEMENTWISE_GRAIN, quickgelu_forward_range, &a);
}

static void quickgelu_backward(REAL *dinp, const REAL *inp, const REAL *dout, size_t n) {
    if (!dinp) return;
    for (size_t i = 0; i < n; i++) {
        REAL s = quickgelu_gate(inp[i]);
        dinp[i] += dout[i] * (s + inp[i] * QUICKGELU_SLOPE * s * (1 - s));
    }
}

static void quickgelu_explain_backward(REAL *dinp, const REAL *inp, const REAL *dout, size_t n) {
    gate_explain_backward(dinp, inp, dout, n, quickgelu_gate);
}

static void gelu_forward_range(void *ctx, size_t begin, size_t end) {
    const elementwise_args *a = ctx;
    for (size_t i = begin; i < end; i++) a->out[i] = a->a[i] * gelu_gate(a->a[i]);
}

static void gelu_forward(REAL *out, const REAL *inp, size_t n) {
    elementwise_args a = {out, inp, NULL};
    cpu_parallel_for(n, ELEMENTWISE_GRAIN, gelu_forward_range, &a);
}

/* d/dx x*Phi(x) = Phi(x) + x*phi(x), Phi and phi the standard normal cdf and density. */
static void gelu_backward(REAL *dinp, const REAL *inp, const REAL *dout, size_t n) {
    if (!dinp) return;
    for (size_t i = 0; i < n; i++) {
        REAL x = inp[i];
        REAL cdf = gelu_gate(x);
        REAL pdf = INV_SQRT_2PI * exp((REAL)-0.5 * x * x);
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

static void gelu_explain_backward(REAL *dinp, const REAL *inp, const REAL *dout, size_t n) {
    gate_explain_backward(dinp, inp, dout, n, gelu_gate);
}

#undef QUICKGELU_SLOPE
#undef SQRT_HALF
#undef INV_SQRT_2PI

/* ReLU. The backward reads the forward's output (out > 0 exactly where inp > 0), so that a model may
 * apply it in place; explanation mode needs no variant, the gate being 0 or 1 already. */
static void relu_forward_range(void *ctx, size_t begin, size_t end) {
    const elementwise_args *a = ctx;
    for (size_t i = begin; i < end; i++) a->out[i] = a->a[i] > 0 ? a->a[i] : 0;
}

static void relu_forward(REAL *out, const REAL *inp, size_t n) {
    elementwise_args a = {out, inp, NULL};
    cpu_parallel_for(n, ELEMENTWISE_GRAIN, relu_forward_range, &a);
}

/* a->out is dinp, a->a the forward's output, a->b dout. */
static void relu_backward_range(void *ctx, size_t begin, size_t end) {
    const elementwise_args *a = ctx;
    for (size_t i = begin; i < end; i++)
        if (a->a[i] > 0) a->out[i] += a->b[i];
}

static void relu_backward(REAL *dinp, const REAL *out, const REAL *dout, size_t n) {
    if (!dinp) return;
    elementwise_args a = {dinp, out, dout};
    cpu_parallel_for(n, ELEMENTWISE_GRAIN, relu_backward_range, &a);
}
