/* Image decoding entry points: the format from the magic bytes, then the decoder for it, with or
 * without the file's own mode; loading a file; the shared size check (decompression bombs). */
#include "image_codecs.h"

#include "bcos/check.h"

#include <errno.h>
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

/* Up to four leading bytes in hex, to say what an unknown file starts with. */
static void leading_bytes(char *out, size_t outlen, const uint8_t *data, size_t len) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < len && i < 4 && used < outlen; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%02x", i ? " " : "", data[i]);
}

static int decode(bcos_image *img, const uint8_t *data, size_t len, int own_mode, const char *name, char *err,
                  size_t errlen) {
    *img = (bcos_image){0};
    if (len == 0) {
        snprintf(err, errlen, "%s: empty file, not an image", name);
        return -1;
    }
    bcos_image_format format = bcos_image_sniff(data, len);
    switch (format) {
    case BCOS_IMAGE_JPEG: return bcos_decode_jpeg(img, data, len, own_mode, name, err, errlen);
    case BCOS_IMAGE_PNG: return bcos_decode_png(img, data, len, own_mode, name, err, errlen);
    case BCOS_IMAGE_WEBP: return bcos_decode_webp(img, data, len, own_mode, name, err, errlen);
    case BCOS_IMAGE_UNKNOWN: break;
    }
    char head[16];
    leading_bytes(head, sizeof head, data, len);
    snprintf(err, errlen, "%s: not a JPEG, PNG or WebP image (it starts with bytes %s)", name, head);
    return -1;
}

int bcos_image_decode(bcos_image *img, const uint8_t *data, size_t len, const char *name, char *err,
                      size_t errlen) {
    return decode(img, data, len, 0, name, err, errlen);
}

int bcos_image_decode_own_mode(bcos_image *img, const uint8_t *data, size_t len, const char *name, char *err,
                               size_t errlen) {
    return decode(img, data, len, 1, name, err, errlen);
}

static int load(bcos_image *img, const char *path, int own_mode, char *err, size_t errlen) {
    size_t len = 0;
    char *data = bcos_read_file(path, &len);
    if (!data) {
        *img = (bcos_image){0};
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    int rc = decode(img, (const uint8_t *)data, len, own_mode, path, err, errlen);
    free(data);
    return rc;
}

int bcos_image_load(bcos_image *img, const char *path, char *err, size_t errlen) {
    return load(img, path, 0, err, errlen);
}

int bcos_image_load_own_mode(bcos_image *img, const char *path, char *err, size_t errlen) {
    return load(img, path, 1, err, errlen);
}

void bcos_image_free(bcos_image *img) {
    free(img->rgb);
    free(img->alpha);
    free(img->grey16);
    free(img->cmyk);
    *img = (bcos_image){0};
}
