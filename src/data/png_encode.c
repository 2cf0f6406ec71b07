/* PNG encoding in memory through libpng's simplified API: images a source holds as raw pixels, and
 * the pictures explain writes. */
#include "bcos/shard_sources.h"

#include "bcos/check.h"

#include <png.h>
#include <string.h>

uint8_t *bcos_png_encode(const uint8_t *pixels, int width, int height, int channels, size_t *size) {
    BCOS_CHECK(width > 0 && height > 0 && (channels == 1 || channels == 3 || channels == 4),
               "a grey, RGB or RGBA image with pixels");
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    /* 8-bit samples are sRGB with straight (not premultiplied) alpha: libpng writes them as given. */
    image.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
    png_alloc_size_t bytes = 0;
    /* The first call only measures. */
    BCOS_CHECK(png_image_write_to_memory(&image, NULL, &bytes, 0, pixels, 0, NULL), "libpng could not size a PNG");
    uint8_t *out = xmalloc(bytes);
    BCOS_CHECK(png_image_write_to_memory(&image, out, &bytes, 0, pixels, 0, NULL), "libpng could not write a PNG");
    *size = bytes;
    return out;
}
