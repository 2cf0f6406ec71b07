/* The fast decoding mode: a JPEG decoded through libjpeg-turbo's DCT scaling at the smallest of 1/8,
 * 1/4 and 1/2 of its size whose sides keep at least 3/4 of what the preprocessing samples, which
 * skips most of the inverse DCT, upsampling and colour conversion and leaves the resize fewer pixels;
 * the resize then enlarges by up to 4/3 where the scaled side falls short. The 3/4 lets photos of
 * 336 to 447 pixels on the short side (ImageNet's commonest, 500 x 375) decode at 1/2 for a 224
 * input: 12% faster on ImageNet photos at a mean difference of about three 8-bit levels; 2/3 would
 * take 500 x 333 too, 5% faster again for half as much difference more (docs/PERF.md). 1/2 drops
 * the frequencies between half and 224/375 of the full size's, and the enlargement softens a little
 * more. Those three scales have libjpeg-turbo's SIMD inverse DCTs; the other k/8 it offers decode no
 * faster than the full size. The scale for a requested size is PIL's Image.draft rule, so the
 * decoded pixels are what draft gives for 3/4 of the need. */
#include "image_internal.h"

#include <stdio.h>
#include <string.h>

static const char *const g_mode_names[] = {"exact", "fast"};

int bcos_decode_mode_parse(bcos_decode_mode *mode, const char *text, char *err, size_t errlen) {
    for (int m = BCOS_DECODE_EXACT; m <= BCOS_DECODE_FAST; m++)
        if (strcmp(text, g_mode_names[m]) == 0) {
            *mode = (bcos_decode_mode)m;
            return 0;
        }
    snprintf(err, errlen, "decode mode '%s': expected \"exact\" or \"fast\"", text);
    return -1;
}

const char *bcos_decode_mode_name(bcos_decode_mode mode) {
    return mode == BCOS_DECODE_FAST ? g_mode_names[BCOS_DECODE_FAST] : g_mode_names[BCOS_DECODE_EXACT];
}

/* The scale in eighths: the largest reduction r of 8, 4, 2 with width / r >= min_w and
 * height / r >= min_h (PIL's draft: scale = min(width // min_w, height // min_h)); 8 when none. */
static int draft_eighths(int width, int height, int min_w, int min_h) {
    for (int r = 8; r > 1; r /= 2)
        if (width / r >= min_w && height / r >= min_h) return 8 / r;
    return 8;
}

int bcos_image_decode_scaled(bcos_image *img, const uint8_t *data, size_t len, int min_w, int min_h,
                             const char *name, char *err, size_t errlen) {
    int width, height;
    if (bcos_image_jpeg_size(data, len, &width, &height) != 0)
        return bcos_image_decode(img, data, len, name, err, errlen);
    *img = (bcos_image){0};
    return bcos_decode_jpeg_scaled(img, data, len, draft_eighths(width, height, min_w, min_h), name, err,
                                   errlen);
}

/* ceil(3 * need / 4): the least side the fast mode decodes to for a need of `need` pixels. */
static int fast_side(int need) { return (int)(((long)need * 3 + 3) / 4); }

int bcos_image_decode_fast(bcos_image *img, const uint8_t *data, size_t len, int need_w, int need_h,
                           const char *name, char *err, size_t errlen) {
    return bcos_image_decode_scaled(img, data, len, fast_side(need_w), fast_side(need_h), name, err, errlen);
}
