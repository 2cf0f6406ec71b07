/* The decoders behind bcos_image_decode, one per format, and the size check and arithmetic they and the
 * preprocessing share. Internal to src/image: callers use include/bcos/image.h. */
#ifndef BCOS_IMAGE_CODECS_H
#define BCOS_IMAGE_CODECS_H

#include "bcos/image.h"

/* PIL's MULDIV255: a * b / 255, rounded, in integers (CMYK to RGB, premultiplied alpha). */
static inline uint8_t bcos_muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

/* Each returns 0 with img filled, or -1 with "NAME: ..." in err and img empty. */
/* own_mode: also keep the file's own mode (bcos_image's mode and planes). */
int bcos_decode_jpeg(bcos_image *img, const uint8_t *data, size_t len, int own_mode, const char *name, char *err,
                     size_t errlen);
/* The same at k/8 of the full size in each dimension (k = eighths, 1..8; TurboJPEG's rounding up),
 * through libjpeg's DCT scaling. */
int bcos_decode_jpeg_scaled(bcos_image *img, const uint8_t *data, size_t len, int eighths, const char *name,
                            char *err, size_t errlen);
int bcos_decode_png(bcos_image *img, const uint8_t *data, size_t len, int own_mode, const char *name, char *err,
                    size_t errlen);
int bcos_decode_webp(bcos_image *img, const uint8_t *data, size_t len, int own_mode, const char *name, char *err,
                     size_t errlen);

/* Refuse sizes that are empty or over bcos_image_max_pixels() (a decompression bomb): 0, or -1 with
 * err set. */
int bcos_image_check_size(long width, long height, const char *name, char *err, size_t errlen);
/* The same check, then img->rgb allocated for the size. */
int bcos_image_alloc(bcos_image *img, long width, long height, const char *name, char *err, size_t errlen);

#endif
