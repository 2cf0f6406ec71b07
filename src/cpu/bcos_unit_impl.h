/* The B-cos unit (written with REAL, see kernels_impl.h; docs/METHOD.md, "The B-cos unit"), in its
 * B-cosified form (no bias, no weight normalisation): for an input row x with norm n and weight rows w_j,
 *     z_j = w_j . x,   out_j = s_j * z_j,   s_j = (|z_j|/n + 1e-6)^(B-1)   (B >= 1).
 * The linear unit (a token's features) and the patch unit (a patch window, bcos_patch_impl.h) differ only
 * in where the norm's epsilon sits, a bcos_norm_mode; everything else is this code. The forward saves z
 * and n. Explanation mode holds the dynamic factor s constant: out = s * z is then linear in x. */

#define BCOS_COS_EPS ((REAL)1e-6)         /* added to |z|/n before the power */
#define BCOS_TOKEN_NORM_EPS ((REAL)1e-12) /* token norm: sqrt(sum x^2) + 1e-12 */
#define BCOS_WINDOW_NORM_EPS ((REAL)1e-6) /* window norm: sqrt(sum x^2 + 1e-6), as the bcos package's conv */

typedef enum { BCOS_NORM_TOKEN, BCOS_NORM_WINDOW } bcos_norm_mode;

static void bcos_check_exponent(REAL b) { BCOS_CHECK(b >= 1, "the B-cos exponent B must be at least 1"); }

/* n of each of the N rows of x[N,K]. */
static void bcos_norms(REAL *norm, const REAL *x, int N, int K, bcos_norm_mode mode) {
    for (int n = 0; n < N; n++) {
        const REAL *row = x + (size_t)n * K;
        REAL squares = 0;
        for (int i = 0; i < K; i++) squares += row[i] * row[i];
        norm[n] = mode == BCOS_NORM_TOKEN ? sqrt(squares) + BCOS_TOKEN_NORM_EPS : sqrt(squares + BCOS_WINDOW_NORM_EPS);
    }
}

/* dn/dx = x / sqrt(sum x^2) for the token norm and x / n for the window norm: the root to divide by,
 * recovered from the saved n. A zero token has root 0 and its dn/dx is taken as 0 (its dL/dn is 0 too,
 * since every z of a zero row is 0). */
static REAL bcos_norm_root(REAL n, bcos_norm_mode mode) {
    return mode == BCOS_NORM_TOKEN ? n - BCOS_TOKEN_NORM_EPS : n;
}

/* t^(B-1); the default B = 2 (and B = 1) skip pow, which dominates small models' steps otherwise. */
static REAL bcos_power(REAL t, REAL b) { return b == 2 ? t : b == 1 ? 1 : pow(t, b - 1); }

/* The dynamic factor s = (c + 1e-6)^(B-1) of one output, c = |z|/n. */
static REAL bcos_factor(REAL z, REAL n, REAL b) { return bcos_power(fabs(z) / n + BCOS_COS_EPS, b); }

/* The factor s of one output and its slope k = (B-1) t^(B-2) c (c = |z|/n, t = c + 1e-6), the two terms of
 * the exact gradient below: d(s z)/dz = s + k and d(s z)/dn = -k z / n. */
static REAL bcos_factor_slope(REAL z, REAL n, REAL b, REAL *k) {
    REAL c = fabs(z) / n, t = c + BCOS_COS_EPS;
    if (b == 2) { /* the default: s = t and k = c, the same numbers as below without pow and the division */
        *k = c;
        return t;
    }
    REAL s = bcos_power(t, b);
    *k = (b - 1) * s / t * c;
    return s;
}

/* out[N,OC], z[N,OC], norm[N] from x[N,K] and weight[OC,K]. */
static void bcos_unit_forward(REAL *out, REAL *z, REAL *norm, const REAL *x, const REAL *weight, int N, int K, int OC,
                              REAL b, bcos_norm_mode mode) {
    bcos_check_exponent(b);
    matmul_forward(z, x, weight, NULL, N, K, OC);
    bcos_norms(norm, x, N, K, mode);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            size_t j = (size_t)n * OC + o;
            out[j] = bcos_factor(z[j], norm[n], b) * z[j];
        }
}

/* The exact gradient. With g = dout, c = |z|/n, t = c + 1e-6, s = t^(B-1), k = (B-1) t^(B-2) c:
 *     dL/dz = g (s + k),  dL/dn = -sum_j g_j k_j z_j / n,  dL/dx = W^T dL/dz + dL/dn dn/dx,  dL/dW = dL/dz x^T.
 * (d(s z)/dz = s + z (B-1) t^(B-2) sign(z)/n = s + k, and d(s z)/dn = z (B-1) t^(B-2) (-|z|/n^2) = -k z/n.) */
static void bcos_unit_backward(REAL *dx, REAL *dweight, const REAL *dout, const REAL *x, const REAL *weight,
                               const REAL *z, const REAL *norm, int N, int K, int OC, REAL b, bcos_norm_mode mode) {
    bcos_check_exponent(b);
    if (!dx && !dweight) return;
    REAL *dz = xmalloc((size_t)N * OC * sizeof(REAL));
    for (int n = 0; n < N; n++) {
        REAL dnorm = 0;
        for (int o = 0; o < OC; o++) {
            size_t j = (size_t)n * OC + o;
            REAL k, s = bcos_factor_slope(z[j], norm[n], b, &k);
            dz[j] = dout[j] * (s + k);
            dnorm -= dout[j] * k * z[j];
        }
        dnorm /= norm[n];
        REAL root = bcos_norm_root(norm[n], mode);
        if (dx && root > 0)
            for (int i = 0; i < K; i++) dx[(size_t)n * K + i] += dnorm * x[(size_t)n * K + i] / root;
    }
    matmul_backward(dx, dweight, NULL, dz, x, weight, N, K, OC);
    free(dz);
}

static void bcos_linear_forward(REAL *out, REAL *z, REAL *norm, const REAL *inp, const REAL *weight, int N, int IC,
                                int OC, REAL b) {
    bcos_unit_forward(out, z, norm, inp, weight, N, IC, OC, b, BCOS_NORM_TOKEN);
}

static void bcos_linear_backward(REAL *dinp, REAL *dweight, const REAL *dout, const REAL *inp, const REAL *weight,
                                 const REAL *z, const REAL *norm, int N, int IC, int OC, REAL b) {
    bcos_unit_backward(dinp, dweight, dout, inp, weight, z, norm, N, IC, OC, b, BCOS_NORM_TOKEN);
}

/* Explanation mode: with s constant, dL/dx = W^T (g s). The norm's form no longer matters, so the patch
 * unit uses this as it is. */
static void bcos_linear_explain_backward(REAL *dinp, const REAL *dout, const REAL *weight, const REAL *z,
                                         const REAL *norm, int N, int IC, int OC, REAL b) {
    bcos_check_exponent(b);
    if (!dinp) return;
    REAL *dz = xmalloc((size_t)N * OC * sizeof(REAL));
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            size_t j = (size_t)n * OC + o;
            dz[j] = dout[j] * bcos_factor(z[j], norm[n], b);
        }
    matmul_backward(dinp, NULL, NULL, dz, NULL, weight, N, IC, OC);
    free(dz);
}

#undef BCOS_COS_EPS
#undef BCOS_TOKEN_NORM_EPS
#undef BCOS_WINDOW_NORM_EPS
