/* The horizontal resize pass in AVX2 on x86-64, bit for bit the portable one. Each output pixel
 * takes its taps four at a time: one byte shuffle lays the 12 source bytes out as 16-bit (tap,
 * next tap) pairs per channel, and pmaddwd multiplies and adds the pairs. pmaddwd's factors are 16
 * bits and PIL's weights have 22 fractional bits, so each weight is split as hi * 2^11 + lo with lo
 * in [0, 2^11), both sums are taken, and joined as hi_sum * 2^11 + lo_sum: all integer and wrapping,
 * so the total is exactly the portable sum (which fits 32 bits). Pixels whose 16-byte loads would
 * run past the end of the row take the portable loop. */
#include "resize_kernel.h"

#include "bcos/check.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define SPLIT_BITS 11
#define TAPS_PER_STEP 4

/* The 16-bit weights of four taps, in the lanes the shuffle puts their pixels in. */
typedef struct {
    int16_t hi[16], lo[16];
} tap_weights;

/* int16 lanes, low half: taps 0 and 1 of R, G, B, then a zero pair; high half: taps 2 and 3. A
 * pixel's bytes sit 3 apart; 0x80 writes a zero byte (the high byte of each 16-bit lane). */
#define PAIR(a, b) (a), 0x80, (b), 0x80
#define ZERO_PAIR 0x80, 0x80, 0x80, 0x80

static int steps_of(int taps) { return (taps + TAPS_PER_STEP - 1) / TAPS_PER_STEP; }

/* Weights for every output pixel, steps_of(taps) entries each, at the offsets in first[]. */
static tap_weights *pack_weights(const bcos_axis_kernel *k, int count, int *first) {
    int total = 0;
    for (int i = 0; i < count; i++) {
        first[i] = total;
        total += steps_of(k->taps[i]);
    }
    tap_weights *packed = xcalloc((size_t)total, sizeof *packed);
    for (int i = 0; i < count; i++)
        for (int t = 0; t < k->taps[i]; t++) {
            int32_t w = k->weight[(size_t)i * k->ksize + t];
            tap_weights *p = &packed[first[i] + t / TAPS_PER_STEP];
            int lane = (t % TAPS_PER_STEP / 2) * 8 + t % 2; /* half, then the pair's slot */
            for (int c = 0; c < BCOS_RESIZE_CHANNELS; c++) {
                p->hi[lane + 2 * c] = (int16_t)(w >> SPLIT_BITS); /* arithmetic shift: floor */
                p->lo[lane + 2 * c] = (int16_t)(w & ((1 << SPLIT_BITS) - 1));
            }
        }
    return packed;
}

__attribute__((target("avx2"))) static void pixel_avx2(uint8_t *dst, const uint8_t *src, const tap_weights *w,
                                                       int steps) {
    const __m256i layout = _mm256_setr_epi8(PAIR(0, 3), PAIR(1, 4), PAIR(2, 5), ZERO_PAIR, PAIR(6, 9), PAIR(7, 10),
                                            PAIR(8, 11), ZERO_PAIR);
    __m256i hi = _mm256_setzero_si256(), lo = _mm256_setzero_si256();
    for (int s = 0; s < steps; s++, src += TAPS_PER_STEP * BCOS_RESIZE_CHANNELS) {
        __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)src));
        __m256i pixels = _mm256_shuffle_epi8(bytes, layout);
        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(pixels, _mm256_loadu_si256((const __m256i *)w[s].hi)));
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(pixels, _mm256_loadu_si256((const __m256i *)w[s].lo)));
    }
    __m256i sum = _mm256_add_epi32(_mm256_slli_epi32(hi, SPLIT_BITS), lo);
    __m128i rgb0 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    rgb0 = _mm_add_epi32(rgb0, _mm_set1_epi32(1 << (BCOS_RESIZE_PRECISION_BITS - 1)));
    /* bcos_resize_clip8: the arithmetic shift keeps negatives negative, the unsigned pack clips. */
    rgb0 = _mm_srai_epi32(rgb0, BCOS_RESIZE_PRECISION_BITS);
    rgb0 = _mm_packus_epi16(_mm_packs_epi32(rgb0, rgb0), rgb0);
    uint32_t packed = (uint32_t)_mm_cvtsi128_si32(rgb0);
    memcpy(dst, &packed, BCOS_RESIZE_CHANNELS);
}

__attribute__((target("avx2"))) static void pass_avx2(uint8_t *out, const uint8_t *in, size_t in_stride,
                                                      int in_width, int rows, const bcos_axis_kernel *k, int count) {
    int *first = xmalloc((size_t)count * sizeof(int));
    tap_weights *packed = pack_weights(k, count, first);
    size_t row_bytes = (size_t)in_width * BCOS_RESIZE_CHANNELS;
    for (int y = 0; y < rows; y++) {
        const uint8_t *row = in + (size_t)y * in_stride;
        uint8_t *dst = out + (size_t)y * count * BCOS_RESIZE_CHANNELS;
        for (int i = 0; i < count; i++) {
            int steps = steps_of(k->taps[i]);
            size_t begin = (size_t)k->start[i] * BCOS_RESIZE_CHANNELS;
            size_t last_load_end = begin + (size_t)(steps - 1) * TAPS_PER_STEP * BCOS_RESIZE_CHANNELS + 16;
            if (last_load_end <= row_bytes)
                pixel_avx2(dst + i * BCOS_RESIZE_CHANNELS, row + begin, packed + first[i], steps);
            else
                bcos_resize_pixel(dst + i * BCOS_RESIZE_CHANNELS, row, k, i);
        }
    }
    free(packed);
    free(first);
}

int bcos_resize_horizontal_avx2(uint8_t *out, const uint8_t *in, size_t in_stride, int in_width, int rows,
                                const bcos_axis_kernel *k, int count) {
    if (!__builtin_cpu_supports("avx2")) return -1;
    pass_avx2(out, in, in_stride, in_width, rows, k, count);
    return 0;
}

#else

int bcos_resize_horizontal_avx2(uint8_t *out, const uint8_t *in, size_t in_stride, int in_width, int rows,
                                const bcos_axis_kernel *k, int count) {
    (void)out, (void)in, (void)in_stride, (void)in_width, (void)rows, (void)k, (void)count;
    return -1;
}

#endif
