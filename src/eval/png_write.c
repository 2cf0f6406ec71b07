/* Writing pictures as 8-bit PNG files (encoded in memory, then replaced atomically), and the rounding
 * of float pictures in [0,1] to bytes that comes before it. */
#include <math.h>
#include <stdlib.h>

#include "bcos/check.h"
#include "bcos/explain.h"
#include "bcos/paths.h"
#include "bcos/shard_sources.h"

void bcos_image_to_u8(uint8_t *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = in[i];
        /* the comparisons are false for NaN, which therefore becomes 0 */
        out[i] = v >= 1.0f ? 255 : v > 0.0f ? (uint8_t)lrintf(v * 255.0f) : 0;
    }
}

int bcos_png_write(const char *path, const uint8_t *pixels, int height, int width, int channels, char *err,
                   size_t errlen) {
    BCOS_CHECK(channels == 3 || channels == 4, "PNG pictures are RGB (3 channels) or RGBA (4)");
    size_t size;
    uint8_t *png = bcos_png_encode(pixels, width, height, channels, &size);
    int rc = bcos_write_file_atomic(path, png, size, err, errlen);
    free(png);
    return rc;
}
