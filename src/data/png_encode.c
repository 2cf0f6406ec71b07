/* PNG encoding in memory through libpng's simplified API, for images a source holds as raw pixels. */
#include "bcos/shard_sources.h"

#include "bcos/check.h"

#include <png.h>
#include <string.h>

uint8_t *bcos_png_encode(const uint8_t *pixels, int width, int height, int channels, size_t *size) {
    BCOS_CHECK(width > 0 && height > 0 && (channels == 1 || channels == 3), "a grey or RGB image with pixels");
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    png_alloc_size_t bytes = 0;
    /* The first call only measures. */
    BCOS_CHECK(png_image_write_to_memory(&image, NULL, &bytes, 0, pixels, 0, NULL), "libpng could not size a PNG");
    uint8_t *out = xmalloc(bytes);
    BCOS_CHECK(png_image_write_to_memory(&image, out, &bytes, 0, pixels, 0, NULL), "libpng could not write a PNG");
    *size = bytes;
    return out;
}
