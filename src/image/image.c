/* The image type itself: what a file's magic bytes say it is, the pixel limit every decoder checks
 * (decompression bombs), allocation and freeing. The decoders (image_jpeg.c, image_png.c,
 * image_webp.c) build on it, and image_decode.c picks among them. */
#include "image_internal.h"

#include "bcos/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bcos_image_format bcos_image_sniff(const uint8_t *data, size_t len) {
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return BCOS_IMAGE_JPEG;
    if (len >= 8 && memcmp(data, png_magic, 8) == 0) return BCOS_IMAGE_PNG;
    if (len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0) return BCOS_IMAGE_WEBP;
    return BCOS_IMAGE_UNKNOWN;
}

const char *bcos_image_format_name(bcos_image_format format) {
    switch (format) {
    case BCOS_IMAGE_JPEG: return "JPEG";
    case BCOS_IMAGE_PNG: return "PNG";
    case BCOS_IMAGE_WEBP: return "WebP";
    case BCOS_IMAGE_UNKNOWN: break;
    }
    return "unknown";
}

static long max_pixels = BCOS_IMAGE_MAX_PIXELS;

void bcos_image_set_max_pixels(long limit) {
    BCOS_CHECK(limit > 0, "the pixel limit must be positive");
    max_pixels = limit;
}

long bcos_image_max_pixels(void) { return max_pixels; }

int bcos_image_check_size(long width, long height, const char *name, char *err, size_t errlen) {
    if (width < 1 || height < 1) {
        snprintf(err, errlen, "%s: image has no pixels (%ld x %ld)", name, width, height);
        return -1;
    }
    if (width > max_pixels / height) {
        snprintf(err, errlen, "%s: image is %ld x %ld pixels, over the limit of %ld (a decompression bomb?)", name,
                 width, height, max_pixels);
        return -1;
    }
    return 0;
}

int bcos_image_alloc(bcos_image *img, long width, long height, const char *name, char *err, size_t errlen) {
    if (bcos_image_check_size(width, height, name, err, errlen) != 0) return -1;
    img->width = (int)width;
    img->height = (int)height;
    img->rgb = xmalloc((size_t)width * (size_t)height * 3);
    return 0;
}

void bcos_image_free(bcos_image *img) {
    free(img->rgb);
    free(img->alpha);
    free(img->grey16);
    free(img->cmyk);
    *img = (bcos_image){0};
}
