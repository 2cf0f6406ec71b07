/* Completeness of a chain of explanation-mode layers (docs/METHOD.md, Explanation mode): one B-cosified ViT block on
 * x6 = [u, 1-u] (explain_chain_impl.h), whose output x2 is linear in the image once every dynamic factor
 * is frozen, so for the score s = sum(R * x2) the explanation dimg satisfies sum(img * dimg) = s, at
 * B = 1, 1.25, 2, 2.5 and 3, in double and in float; and the float explanation matches the double one. */
#include "../../src/cpu/cpu_f64.h"
#include "bcos/backend.h"
#include "bcos/rng.h"
#include "completeness.h"
#include "test.h"

enum { CH_B = 2, CH_CIN = 6, CH_H = 4, CH_W = 6, CH_P = 2, CH_C = 8, CH_NH = 2, CH_HID = 4 * CH_C };
enum { CH_T = (CH_H / CH_P) * (CH_W / CH_P), CH_ROWS = CH_B * CH_T, CH_K = CH_CIN * CH_P * CH_P };
enum { CH_IMG = CH_B * CH_CIN * CH_H * CH_W, CH_ATT = CH_B * CH_NH * CH_T * CH_T };
#define CH_LN_EPS 0x1p-17 /* a power of two: float and double add exactly the same constant */

#define COMPLETE_TOLERANCE_F64 1e-13
#define COMPLETE_TOLERANCE_F32 1e-6
#define F32_TOLERANCE 1e-5

#define REAL double
#define OP(name) bcos_cpu_f64()->name
#define CHAIN(name) name##_f64
#include "explain_chain_impl.h"
#undef REAL
#undef OP
#undef CHAIN

#define REAL float
#define OP(name) bcos_backend_cpu()->name
#define CHAIN(name) name##_f32
#include "explain_chain_impl.h"
#undef REAL
#undef OP
#undef CHAIN

static const double exponents[] = {1, 1.25, 2, 2.5, 3};
#define N_EXPONENTS (sizeof exponents / sizeof exponents[0])

/* Normal entries with standard deviation 1/sqrt(fan_in) (1 for the LayerNorm weights), in both types. */
static void fill_weights(bcos_rng *rng, weights_f32 *w32, weights_f64 *w64) {
    struct {
        float *x32;
        double *x64;
        size_t n;
        int fan_in;
    } parts[] = {{w32->patch, w64->patch, CH_C * CH_K, CH_K},
                 {w32->ln1, w64->ln1, CH_C, 1},
                 {w32->qkv, w64->qkv, 3 * CH_C * CH_C, CH_C},
                 {w32->out, w64->out, CH_C * CH_C, CH_C},
                 {w32->ln2, w64->ln2, CH_C, 1},
                 {w32->fc, w64->fc, CH_HID * CH_C, CH_C},
                 {w32->proj, w64->proj, CH_C * CH_HID, CH_HID}};
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        bcos_rng_fill_normal(rng, parts[p].x32, parts[p].n, 0.0f, 1.0f / sqrtf((float)parts[p].fan_in));
        for (size_t i = 0; i < parts[p].n; i++) parts[p].x64[i] = parts[p].x32[i];
    }
}

/* x6 = [u, 1-u] for a random image u in [0,1]^3, in both types. */
static void fill_x6(bcos_rng *rng, float *img32, double *img64) {
    for (int b = 0; b < CH_B; b++) {
        float *first = img32 + (size_t)b * CH_CIN * CH_H * CH_W, *second = first + 3 * CH_H * CH_W;
        bcos_rng_fill_uniform(rng, first, 3 * CH_H * CH_W, 0.0f, 1.0f);
        for (int i = 0; i < 3 * CH_H * CH_W; i++) second[i] = 1.0f - first[i];
    }
    for (int i = 0; i < CH_IMG; i++) img64[i] = img32[i];
}

static void test_chain(bcos_rng *rng, double b) {
    weights_f64 *w64 = xcalloc(1, sizeof *w64);
    weights_f32 *w32 = xcalloc(1, sizeof *w32);
    acts_f64 *a64 = xcalloc(1, sizeof *a64);
    acts_f32 *a32 = xcalloc(1, sizeof *a32);
    double img64[CH_IMG], dimg64[CH_IMG] = {0}, r64[CH_ROWS * CH_C];
    float img32[CH_IMG], dimg32[CH_IMG] = {0}, r32[CH_ROWS * CH_C];
    fill_weights(rng, w32, w64);
    fill_x6(rng, img32, img64);
    gc_fill_random(rng, r32, r64, CH_ROWS * CH_C);

    chain_forward_f64(a64, img64, w64, b);
    chain_explain_backward_f64(dimg64, a64, w64, r64, b);
    chain_forward_f32(a32, img32, w32, (float)b);
    chain_explain_backward_f32(dimg32, a32, w32, r32, (float)b);

    double terms64[2] = {0, 0}, terms32[2] = {0, 0};
    completeness_add_f64(terms64, img64, dimg64, CH_IMG);
    completeness_add_f32(terms32, img32, dimg32, CH_IMG);
    double err64 = completeness_error(terms64, dot_f64(r64, a64->x2, CH_ROWS * CH_C));
    double err32 = completeness_error(terms32, dot_f32(r32, a32->x2, CH_ROWS * CH_C));
    CHECK_MSG(err64 < COMPLETE_TOLERANCE_F64, "chain B=%g: double explanation not complete, rel error %.3g", b, err64);
    CHECK_MSG(err32 < COMPLETE_TOLERANCE_F32, "chain B=%g: float explanation not complete, rel error %.3g", b, err32);
    double err = gc_rel_error_f32_f64(dimg32, dimg64, CH_IMG);
    CHECK_MSG(err < F32_TOLERANCE, "chain B=%g: float vs double explanation, rel error %.3g", b, err);
    err = gc_rel_error_f32_f64(a32->x2, a64->x2, CH_ROWS * CH_C);
    CHECK_MSG(err < F32_TOLERANCE, "chain B=%g: float vs double forward, rel error %.3g", b, err);
    free(w64), free(w32), free(a64), free(a32);
}

int main(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 6);
    for (size_t i = 0; i < N_EXPONENTS; i++) test_chain(&rng, exponents[i]);
    return test_summary("test_explain_chain");
}
