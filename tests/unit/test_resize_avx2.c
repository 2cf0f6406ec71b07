/* The AVX2 horizontal resize pass against the portable one, byte for byte: random rows, input widths
 * from 1 to 40 pixels and a few large ones, outputs from strong downscales to upscales, rows read
 * through a stride wider than the row (a box inside an image) and rows at the very end of their
 * buffer (where the 16-byte loads must fall back). The portable pass is the one the golden tests
 * hold to PIL's pixels. On a CPU with AVX2 every case must run the AVX2 pass (a build without it
 * fails here); on a CPU without AVX2 there is nothing to compare, and the test exits with ctest's skip
 * code, so that ctest reports it skipped rather than passed. */
#include "../../src/image/resize_kernel.h"
#include "bcos/check.h"
#include "bcos/rng.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

#define ROWS 3

/* Both passes over ROWS rows of in_width pixels, stride pad pixels wider; returns 0 if AVX2 ran. */
static int compare(bcos_rng *rng, int in_width, int out_width, int pad, int *cases_differing) {
    size_t stride = (size_t)(in_width + pad) * 3, n = (size_t)ROWS * out_width * 3;
    /* The buffer ends exactly where the last row does, so an overlong load would be caught by ASan. */
    size_t bytes = stride * (ROWS - 1) + (size_t)in_width * 3;
    uint8_t *in = xmalloc(bytes), *portable = xmalloc(n), *avx2 = xmalloc(n);
    for (size_t i = 0; i < bytes; i++) in[i] = (uint8_t)bcos_rng_below(rng, 256);
    bcos_axis_kernel k;
    bcos_axis_kernel_init(&k, in_width, out_width, 0, out_width);
    bcos_resize_horizontal_portable(portable, in, stride, ROWS, &k, out_width);
    int rc = bcos_resize_horizontal_avx2(avx2, in, stride, in_width, ROWS, &k, out_width);
    if (rc == 0 && memcmp(portable, avx2, n) != 0) {
        (*cases_differing)++;
        CHECK_MSG(0, "%d -> %d pixels (stride +%d): the AVX2 pass differs from the portable one", in_width, out_width,
                  pad);
    }
    bcos_axis_kernel_free(&k);
    free(in);
    free(portable);
    free(avx2);
    return rc;
}

/* ctest's SKIP_RETURN_CODE for the unit tests (CMakeLists.txt). */
#define TEST_SKIPPED 77

static int cpu_has_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

int main(void) {
    if (!cpu_has_avx2()) {
        printf("test_resize_avx2: SKIPPED: this CPU has no AVX2, so there is no AVX2 pass to compare\n");
        return TEST_SKIPPED;
    }
    bcos_rng rng;
    bcos_rng_seed(&rng, 3);
    int ran = 0, cases = 0, differing = 0;
    for (int in_width = 1; in_width <= 40; in_width++)
        for (int out_width = 1; out_width <= 48; out_width += 1 + out_width / 8) {
            ran += compare(&rng, in_width, out_width, (int)bcos_rng_below(&rng, 3), &differing) == 0;
            cases++;
        }
    const int large[][2] = {{500, 224}, {500, 298}, {1200, 224}, {4000, 7}, {224, 500}, {375, 224}, {3, 224}};
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
        ran += compare(&rng, large[i][0], large[i][1], 5, &differing) == 0;
        cases++;
    }
    printf("  %d of %d width pairs compared, %d differ\n", ran, cases, differing);
    CHECK_MSG(ran == cases, "the CPU has AVX2 but the AVX2 pass ran on %d of %d cases (built without it?)", ran,
              cases);
    return test_summary("test_resize_avx2");
}
