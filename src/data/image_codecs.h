/* The decoders behind bcos_image_decode, one per format, and the size check they share. Internal to
 * src/data: callers use include/bcos/image.h. */
#ifndef BCOS_IMAGE_CODECS_H
#define BCOS_IMAGE_CODECS_H

#include "bcos/image.h"

/* Each returns 0 with img filled, or -1 with "NAME: ..." in err and img empty. */
int bcos_decode_jpeg(bcos_image *img, const uint8_t *data, size_t len, const char *name, char *err,
                     size_t errlen);
/* The same at k/8 of the full size in each dimension (k = eighths, 1..8; TurboJPEG's rounding up),
 * through libjpeg's DCT scaling. */
int bcos_decode_jpeg_scaled(bcos_image *img, const uint8_t *data, size_t len, int eighths, const char *name,
                            char *err, size_t errlen);
int bcos_decode_png(bcos_image *img, const uint8_t *data, size_t len, const char *name, char *err,
                    size_t errlen);
int bcos_decode_webp(bcos_image *img, const uint8_t *data, size_t len, const char *name, char *err,
                     size_t errlen);

/* Refuse sizes that are empty or over bcos_image_max_pixels() (a decompression bomb): 0, or -1 with
 * err set. */
int bcos_image_check_size(long width, long height, const char *name, char *err, size_t errlen);
/* The same check, then img->rgb allocated for the size. */
int bcos_image_alloc(bcos_image *img, long width, long height, const char *name, char *err, size_t errlen);

#endif
