/* Image decoding entry points: the format from the magic bytes, then the decoder for it, with or
 * without the file's own mode; loading a file. */
#include "image_internal.h"

#include "bcos/check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
