/* float16 (IEEE binary16) and bfloat16 conversions to and from float32. Narrowing rounds to
 * nearest, ties to even; infinities, signed zeros and subnormals are exact; NaNs stay NaNs, made
 * quiet with sign and (top) payload kept, as x86's F16C conversions do. Widening bfloat16 is
 * exact: its bits are the top half of a float32. */
#include "bcos/safetensors.h"

#include <math.h>
#include <string.h>

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float bcos_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1Fu;
    uint32_t mantissa = h & 0x3FFu;
    if (exponent == 0) {
        /* Zero or subnormal: mantissa * 2^-24, exact in float32. */
        float magnitude = ldexpf((float)mantissa, -24);
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 0x1F) {
        /* Infinity, or a NaN made quiet (as F16C's vcvtph2ps does) with its payload kept. */
        uint32_t quiet = mantissa ? 0x400000u : 0;
        return f32_from_bits(sign | 0x7F800000u | quiet | (mantissa << 13));
    }
    /* Rebias the exponent from 15 to 127. */
    return f32_from_bits(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

/* |x| < 2^-14 in float16's subnormal range: a count of 2^-24 steps, rounded to nearest even. */
static uint16_t f16_subnormal_from_f32_bits(uint32_t magnitude) {
    uint32_t exponent = magnitude >> 23;
    if (exponent < 102) return 0; /* below 2^-25: rounds to zero (a tie is impossible here) */
    uint32_t significand = (magnitude & 0x7FFFFFu) | 0x800000u;
    uint32_t shift = 126 - exponent; /* value / 2^-24 = significand / 2^shift, shift in 14..24 */
    uint32_t quotient = significand >> shift;
    uint32_t remainder = significand & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (remainder > halfway || (remainder == halfway && (quotient & 1))) quotient++;
    return (uint16_t)quotient; /* 0x400 when it rounds up to the smallest normal: still right */
}

uint16_t bcos_f32_to_f16(float f) {
    uint32_t bits = f32_bits(f);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t magnitude = bits & 0x7FFFFFFFu;
    if (magnitude > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((magnitude >> 13) & 0x3FFu));
    /* 65520 is halfway between 65504 (odd mantissa) and the next power of two: ties go to inf. */
    if (magnitude >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u);
    if (magnitude < 0x38800000u) return (uint16_t)(sign | f16_subnormal_from_f32_bits(magnitude));
    /* Normal: add just under half an ulp plus the kept lowest bit, so ties go to even; a carry
     * out of the mantissa correctly bumps the exponent. Then rebias from 127 to 15. */
    uint32_t lowest_kept_bit = (magnitude >> 13) & 1u;
    uint32_t rounded = magnitude + 0xFFFu + lowest_kept_bit;
    return (uint16_t)(sign | ((rounded - 0x38000000u) >> 13));
}

float bcos_bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

uint16_t bcos_f32_to_bf16(float f) {
    uint32_t bits = f32_bits(f);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((bits >> 16) | 0x0040u);
    /* Same tie-to-even trick as above; overflow past the largest finite value lands on inf. */
    uint32_t lowest_kept_bit = (bits >> 16) & 1u;
    return (uint16_t)((bits + 0x7FFFu + lowest_kept_bit) >> 16);
}
