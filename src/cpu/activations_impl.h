/* Elementwise activations (kernel template, see kernels_impl.h): QuickGELU x*sigmoid(1.702x), used by
 * OpenAI's CLIP weights, and the exact (erf) GELU, used by LAION's. */

#define QUICKGELU_SLOPE ((REAL)1.702)
#define SQRT_HALF ((REAL)0.70710678118654752440)
#define INV_SQRT_2PI ((REAL)0.39894228040143267794)

/* 1/(1+e^-x): for very negative x, e^-x overflows to inf and the result is a clean 0. */
static REAL sigmoid(REAL x) { return 1 / (1 + exp(-x)); }

void KERNEL(quickgelu_forward)(REAL *out, const REAL *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = inp[i] * sigmoid(QUICKGELU_SLOPE * inp[i]);
}

void KERNEL(quickgelu_backward)(REAL *dinp, const REAL *inp, const REAL *dout, size_t n) {
    if (!dinp) return;
    for (size_t i = 0; i < n; i++) {
        REAL s = sigmoid(QUICKGELU_SLOPE * inp[i]);
        dinp[i] += dout[i] * (s + inp[i] * QUICKGELU_SLOPE * s * (1 - s));
    }
}

void KERNEL(gelu_forward)(REAL *out, const REAL *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (REAL)0.5 * inp[i] * (1 + erf(inp[i] * SQRT_HALF));
}

/* d/dx x*Phi(x) = Phi(x) + x*phi(x), Phi and phi the standard normal cdf and density. */
void KERNEL(gelu_backward)(REAL *dinp, const REAL *inp, const REAL *dout, size_t n) {
    if (!dinp) return;
    for (size_t i = 0; i < n; i++) {
        REAL x = inp[i];
        REAL cdf = (REAL)0.5 * (1 + erf(x * SQRT_HALF));
        REAL pdf = INV_SQRT_2PI * exp((REAL)-0.5 * x * x);
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

#undef QUICKGELU_SLOPE
#undef SQRT_HALF
#undef INV_SQRT_2PI
