/* Writing pictures as 8-bit PNG files through libpng's simplified API, and the rounding of float
 * pictures in [0,1] to bytes that comes before it. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/explain.h"

void bcos_image_to_u8(uint8_t *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = in[i];
        /* the comparisons are false for NaN, which therefore becomes 0 */
        out[i] = v >= 1.0f ? 255 : v > 0.0f ? (uint8_t)lrintf(v * 255.0f) : 0;
    }
}

int bcos_png_write(const char *path, const uint8_t *pixels, int height, int width, int channels, char *err,
                   size_t errlen) {
    BCOS_CHECK(height > 0 && width > 0, "a PNG has at least one pixel");
    BCOS_CHECK(channels == 3 || channels == 4, "PNG pictures are RGB (3 channels) or RGBA (4)");
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    /* 8-bit samples are sRGB with straight (not premultiplied) alpha: libpng writes them as given. */
    image.format = channels == 4 ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
    /* libpng removes a partly written file itself when this fails */
    if (!png_image_write_to_file(&image, path, 0, pixels, 0, NULL)) {
        snprintf(err, errlen, "%s: cannot write PNG: %s", path, image.message);
        png_image_free(&image);
        return -1;
    }
    return 0;
}
