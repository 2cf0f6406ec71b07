/* CLIP's evaluation crop of an image resized in the mode PIL opens its file in, as open_clip's
 * preprocess(Image.open(file)) computes it: Resize and CenterCrop on that image, and only then
 * convert("RGB"). PIL's Image.resize resamples palette (P) and 1-bit images with nearest neighbour
 * whatever the filter; RGBA and LA premultiplied (colour * alpha / 255 in PIL's integer arithmetic,
 * the bicubic resize of every channel, then colour * 255 / alpha truncated and clipped, alpha 0 and
 * 255 left alone); 16-bit greyscale in 16 bits, which convert("RGB") then clips at 255; CMYK in its
 * four channels, converted after. A resize to the size the image has is a copy in every mode.
 * Nearest neighbour and the per-pixel conversions commute with the crop, so only the crop's window
 * is resampled. Also the choice of order for a file. */
#include "bcos/image.h"

#include "bcos/check.h"
#include "image_internal.h"
#include "resize_kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const g_order_names[] = {"open-clip", "convert-first"};

int bcos_pixel_order_parse(bcos_pixel_order *order, const char *text, char *err, size_t errlen) {
    for (int o = BCOS_ORDER_OPEN_CLIP; o <= BCOS_ORDER_CONVERT_FIRST; o++)
        if (strcmp(text, g_order_names[o]) == 0) {
            *order = (bcos_pixel_order)o;
            return 0;
        }
    snprintf(err, errlen, "pixel order '%s': expected \"open-clip\" or \"convert-first\"", text);
    return -1;
}

/* PIL's nearest-neighbour source of each output along one axis (ImagingScaleAffine): the integer
 * part of a position that starts at half a step and advances a step of in / out at a time, in
 * doubles, so that its rounding is PIL's. */
static int *nearest_sources(int in_size, int out_size) {
    int *source = xmalloc((size_t)out_size * sizeof *source);
    double step = (double)(float)in_size / out_size, at = step * 0.5;
    for (int i = 0; i < out_size; i++, at += step) source[i] = (int)at;
    BCOS_CHECK(source[out_size - 1] < in_size, "nearest-neighbour source past the image");
    return source;
}

static void crop_nearest(uint8_t *crop, const bcos_image *img, const bcos_clip_geometry *g, int size) {
    int *xs = nearest_sources(img->width, g->resized_w), *ys = nearest_sources(img->height, g->resized_h);
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
            memcpy(crop + ((size_t)y * size + x) * 3,
                   img->rgb + ((size_t)ys[g->crop_y + y] * img->width + xs[g->crop_x + x]) * 3, 3);
    free(xs);
    free(ys);
}

static void resize_window(uint8_t *out, const bcos_image *img, const bcos_clip_geometry *g, int size) {
    bcos_resize_bicubic_window(out, img, g->resized_w, g->resized_h, g->crop_x, g->crop_y, size, size);
}

/* A four-channel image resized as two three-channel ones (the channels of the resize are
 * independent): the first three channels into crop3, the fourth (repeated) into crop1. */
static void crop_four_channels(uint8_t *crop3, uint8_t *crop1, const uint8_t *pixels4, const bcos_image *img,
                               const bcos_clip_geometry *g, int size) {
    size_t pixels = (size_t)img->width * (size_t)img->height;
    bcos_image three = {.width = img->width, .height = img->height, .rgb = xmalloc(pixels * 3)};
    bcos_image fourth = {.width = img->width, .height = img->height, .rgb = xmalloc(pixels * 3)};
    for (size_t i = 0; i < pixels; i++)
        for (int c = 0; c < 3; c++) {
            three.rgb[i * 3 + c] = pixels4[i * 4 + c];
            fourth.rgb[i * 3 + c] = pixels4[i * 4 + 3];
        }
    resize_window(crop3, &three, g, size);
    resize_window(crop1, &fourth, g, size);
    bcos_image_free(&three);
    bcos_image_free(&fourth);
}

/* PIL's CMYK resize, then its cmyk2rgb: nk = 255 - K, channel = nk - nk * C / 255. */
static void crop_cmyk(uint8_t *crop, const bcos_image *img, const bcos_clip_geometry *g, int size) {
    size_t n = (size_t)size * size;
    uint8_t *k = xmalloc(n * 3);
    crop_four_channels(crop, k, img->cmyk, img, g, size);
    for (size_t i = 0; i < n * 3; i++) {
        int nk = 255 - k[i], v = nk - bcos_muldiv255((unsigned)crop[i], (unsigned)nk);
        crop[i] = (uint8_t)(v < 0 ? 0 : v);
    }
    free(k);
}

/* PIL's RGBA -> RGBa, resize, RGBa -> RGBA, and the crop's RGB. */
static void crop_premultiplied(uint8_t *crop, const bcos_image *img, const bcos_clip_geometry *g, int size) {
    size_t pixels = (size_t)img->width * (size_t)img->height, n = (size_t)size * size;
    uint8_t *rgba = xmalloc(pixels * 4), *alpha = xmalloc(n * 3);
    for (size_t i = 0; i < pixels; i++) {
        for (int c = 0; c < 3; c++) rgba[i * 4 + c] = bcos_muldiv255(img->rgb[i * 3 + c], img->alpha[i]);
        rgba[i * 4 + 3] = img->alpha[i];
    }
    crop_four_channels(crop, alpha, rgba, img, g, size);
    for (size_t i = 0; i < n * 3; i++) {
        unsigned a = alpha[i], v = 255u * crop[i] / (a ? a : 1);
        if (a != 0 && a != 255) crop[i] = (uint8_t)(v > 255 ? 255 : v);
    }
    free(alpha);
    free(rgba);
}

static void crop_grey16(uint8_t *crop, const bcos_image *img, const bcos_clip_geometry *g, int size) {
    size_t n = (size_t)size * size;
    uint16_t *window = xmalloc(n * sizeof *window);
    bcos_grey16 in = {img->grey16, img->width, img->height};
    bcos_resize_spec spec = {g->resized_w, g->resized_h, g->crop_x, g->crop_y, size, size};
    bcos_resize_grey16_window(window, &in, &spec);
    for (size_t i = 0; i < n; i++)
        crop[i * 3] = crop[i * 3 + 1] = crop[i * 3 + 2] = (uint8_t)(window[i] < 255 ? window[i] : 255);
    free(window);
}

int bcos_clip_eval_crop_own_mode(uint8_t *crop, const bcos_image *img, int size, char *err, size_t errlen) {
    bcos_clip_geometry g;
    if (bcos_clip_eval_geometry(&g, img->width, img->height, size, err, errlen) != 0) return -1;
    /* Image.resize to the size an image already has returns a copy, and the conversion works pixel
     * by pixel: the crop of the RGB image then. */
    if (g.resized_w == img->width && g.resized_h == img->height) {
        resize_window(crop, img, &g, size);
        return 0;
    }
    switch (img->mode) {
    case BCOS_PIXELS_NEAREST: crop_nearest(crop, img, &g, size); break;
    case BCOS_PIXELS_ALPHA: crop_premultiplied(crop, img, &g, size); break;
    case BCOS_PIXELS_GREY16: crop_grey16(crop, img, &g, size); break;
    case BCOS_PIXELS_CMYK: crop_cmyk(crop, img, &g, size); break;
    case BCOS_PIXELS_RGB: resize_window(crop, img, &g, size); break;
    }
    return 0;
}

int bcos_clip_eval_file_crop(uint8_t *crop, const char *path, int size, bcos_pixel_order order, char *err,
                             size_t errlen) {
    bcos_image img;
    int rc = order == BCOS_ORDER_OPEN_CLIP ? bcos_image_load_own_mode(&img, path, err, errlen)
                                           : bcos_image_load(&img, path, err, errlen);
    if (rc == 0) {
        char why[256];
        rc = bcos_clip_eval_crop_own_mode(crop, &img, size, why, sizeof why);
        if (rc != 0) snprintf(err, errlen, "%s: %s", path, why);
    }
    bcos_image_free(&img);
    return rc;
}
