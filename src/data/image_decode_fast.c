/* The fast decoding mode: a JPEG decoded through libjpeg-turbo's DCT scaling at the smallest of 1/8,
 * 1/4 and 1/2 of its size that still covers what the preprocessing samples, which skips most of the
 * inverse DCT, upsampling and colour conversion, and leaves the resize fewer pixels, for photos at
 * least twice the model input. Those three scales have libjpeg-turbo's SIMD inverse DCTs; the other
 * k/8 it offers decode no faster than the full size (measured on ImageNet photos, docs/PERF.md). The
 * choice is PIL's Image.draft rule, so the pixels are what draft gives. */
#include "image_codecs.h"

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
    img->width = img->height = 0;
    img->rgb = NULL;
    return bcos_decode_jpeg_scaled(img, data, len, draft_eighths(width, height, min_w, min_h), name, err,
                                   errlen);
}
