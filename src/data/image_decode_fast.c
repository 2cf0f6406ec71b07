/* The fast decoding mode: a JPEG decoded through libjpeg-turbo's DCT scaling at the smallest k/8 of
 * its size that still covers what the preprocessing samples, which skips most of the inverse DCT,
 * upsampling and colour conversion, and leaves the resize fewer pixels, for photos larger than the
 * model input. The scale test is PIL's draft rule (full size >= k/8-scaled need, in real numbers),
 * so at k = 1, 2, 4 the result is what Image.draft gives. */
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

/* The smallest k with width * k / 8 >= min_w and height * k / 8 >= min_h; 8 when none is smaller. */
static int smallest_eighths(int width, int height, int min_w, int min_h) {
    for (int k = 1; k < 8; k++)
        if ((long)width * k >= 8L * min_w && (long)height * k >= 8L * min_h) return k;
    return 8;
}

int bcos_image_decode_scaled(bcos_image *img, const uint8_t *data, size_t len, int min_w, int min_h,
                             const char *name, char *err, size_t errlen) {
    int width, height;
    if (bcos_image_jpeg_size(data, len, &width, &height) != 0)
        return bcos_image_decode(img, data, len, name, err, errlen);
    img->width = img->height = 0;
    img->rgb = NULL;
    return bcos_decode_jpeg_scaled(img, data, len, smallest_eighths(width, height, min_w, min_h), name, err,
                                   errlen);
}
