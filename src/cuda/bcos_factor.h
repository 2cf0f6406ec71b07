/* The B-cos factor on the GPU, shared by the units (bcos.cu) and the convolution's scaling
 * (bcos_conv.cu): s = (|z|/n + 1e-6)^(B-1) of an output z with input norm n, and its slope
 * k = (B-1) s/t c (c = |z|/n, t = c + 1e-6), so that d(s z)/dz = s + k and d(s z)/dn = -k z/n
 * (docs/METHOD.md, "The B-cos unit"; src/cpu/bcos_unit_impl.h). */
#ifndef BCOS_CUDA_BCOS_FACTOR_H
#define BCOS_CUDA_BCOS_FACTOR_H

#include "cuda_internal.h"

namespace bcos_cuda {

constexpr float COS_EPS = 1e-6f;         /* added to |z|/n before the power */
constexpr float TOKEN_NORM_EPS = 1e-12f; /* token norm: sqrt(sum x^2) + 1e-12 */
constexpr float WINDOW_NORM_EPS = 1e-6f; /* window norm: sqrt(sum x^2 + 1e-6) */

inline void check_exponent(float b) { BCOS_CHECK(b >= 1, "the B-cos exponent B must be at least 1"); }

/* t^(B-1), with B = 2 and B = 1 spared the pow. */
__device__ inline float power(float t, float b) { return b == 2.0f ? t : b == 1.0f ? 1.0f : powf(t, b - 1.0f); }

/* s of output z at norm n. */
__device__ inline float factor(float z, float n, float b) { return power(fabsf(z) / n + COS_EPS, b); }

/* s, and its slope k into *k. */
__device__ inline float factor_slope(float z, float n, float b, float *k) {
    float c = fabsf(z) / n, t = c + COS_EPS;
    if (b == 2.0f) { /* the default: s = t and k = c, the same numbers without the division */
        *k = c;
        return t;
    }
    float s = power(t, b);
    *k = (b - 1.0f) * s / t * c;
    return s;
}

} // namespace bcos_cuda

#endif
