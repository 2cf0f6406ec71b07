/* CLIP's evaluation preprocessing as open_clip's image_transform(S, is_train=False) does it on an RGB
 * PIL image: torchvision's Resize(S) (shortest side to S, the other int(S * long / short), truncated),
 * CenterCrop(S) (top-left corner rounded half to even, as Python's round does), ToTensor (/255) and
 * Normalize, all in float32 in torch's order of operations. Also the B-cos input [u, 1 - u], and the
 * crop straight from the encoded bytes in either decoding mode. */
#include "image_internal.h"

#include "bcos/check.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* float32 of the Python doubles, as torch.as_tensor(mean, dtype=float32) rounds them. */
const float bcos_clip_mean[3] = {(float)0.48145466, (float)0.4578275, (float)0.40821073};
const float bcos_clip_std[3] = {(float)0.26862954, (float)0.26130258, (float)0.27577711};

/* Python's round(d / 2) for d >= 0: a half goes to the even neighbour (C's round() would go up). */
static int half_rounded_to_even(long d) {
    long k = d / 2;
    return (int)(d % 2 == 0 || k % 2 == 0 ? k : k + 1);
}

int bcos_clip_eval_geometry(bcos_clip_geometry *g, int width, int height, int size, char *err, size_t errlen) {
    BCOS_CHECK(width > 0 && height > 0 && size > 0, "image and model sizes must be positive");
    int shorter = width <= height ? width : height, longer = width <= height ? height : width;
    /* S * long is exact in a double; the quotient is rounded once, as Python's int / int is. */
    double resized_long = (double)((int64_t)size * longer) / shorter;
    if (resized_long >= (double)INT_MAX) {
        snprintf(err, errlen, "image of %d x %d is too elongated to resize to %d on its short side", width, height,
                 size);
        return -1;
    }
    int scaled = (int)resized_long;
    g->resized_w = width <= height ? size : scaled;
    g->resized_h = width <= height ? scaled : size;
    g->crop_x = half_rounded_to_even((long)g->resized_w - size);
    g->crop_y = half_rounded_to_even((long)g->resized_h - size);
    return 0;
}

int bcos_clip_eval_crop(uint8_t *crop, const bcos_image *img, int size, char *err, size_t errlen) {
    bcos_clip_geometry g;
    if (bcos_clip_eval_geometry(&g, img->width, img->height, size, err, errlen) != 0) return -1;
    bcos_resize_bicubic_window(crop, img, g.resized_w, g.resized_h, g.crop_x, g.crop_y, size, size);
    return 0;
}

int bcos_clip_eval_decode_crop(uint8_t *crop, const uint8_t *data, size_t len, int size, bcos_decode_mode mode,
                               const char *name, char *err, size_t errlen) {
    bcos_image img;
    int rc = mode == BCOS_DECODE_FAST ? bcos_image_decode_fast(&img, data, len, size, size, name, err, errlen)
                                      : bcos_image_decode(&img, data, len, name, err, errlen);
    if (rc == 0) rc = bcos_clip_eval_crop(crop, &img, size, err, errlen);
    bcos_image_free(&img);
    return rc;
}

/* A byte has 256 values: each channel's result is computed once per value, with torch's operations
 * in torch's order, and looked up for every pixel (the same floats, without the divisions). */
void bcos_clip_normalize(float *out, const uint8_t *crop, int size, const float mean[3], const float std[3]) {
    size_t plane = (size_t)size * (size_t)size;
    float table[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) table[c][v] = ((float)v / 255.0f - mean[c]) / std[c];
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++) out[c * plane + i] = table[c][crop[i * 3 + c]];
}

void bcos_x6_from_crop(float *out, const uint8_t *crop, int size) {
    size_t plane = (size_t)size * (size_t)size;
    float u[256], one_minus_u[256];
    for (int v = 0; v < 256; v++) {
        u[v] = (float)v / 255.0f;
        one_minus_u[v] = 1.0f - u[v];
    }
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++) {
            out[c * plane + i] = u[crop[i * 3 + c]];
            out[(c + 3) * plane + i] = one_minus_u[crop[i * 3 + c]];
        }
}

int bcos_clip_preprocess(float *out, const bcos_image *img, int size, const float mean[3], const float std[3],
                         char *err, size_t errlen) {
    uint8_t *crop = xmalloc((size_t)size * (size_t)size * 3);
    int rc = bcos_clip_eval_crop(crop, img, size, err, errlen);
    if (rc == 0) bcos_clip_normalize(out, crop, size, mean, std);
    free(crop);
    return rc;
}
