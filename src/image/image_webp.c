/* WebP decoding through libwebp, to the pixels PIL's convert("RGB") gives. PIL opens every WebP file
 * with libwebp's animation decoder (default options: RGBA, fancy upsampling, no dithering) and takes
 * the canvas after the first frame; convert("RGB") then drops alpha without compositing, so colours
 * under transparent pixels stay as decoded. For a still image that canvas is the image itself, so it is
 * decoded straight to RGB with the same options; an animation goes through the animation decoder as in
 * PIL (its first frame on a transparent black canvas). Asked to keep the file's own mode, a file with
 * alpha (PIL's RGBA) also keeps its alpha bytes: a still image is then decoded to RGBA and split. */
#include "image_internal.h"

#include "bcos/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <webp/decode.h>
#include <webp/demux.h>

static int webp_error(const char *name, VP8StatusCode status, char *err, size_t errlen) {
    const char *why = status == VP8_STATUS_NOT_ENOUGH_DATA      ? "the file ends early (truncated)"
                      : status == VP8_STATUS_UNSUPPORTED_FEATURE ? "a feature libwebp does not decode"
                      : status == VP8_STATUS_OUT_OF_MEMORY       ? "out of memory while decoding"
                                                                 : "damaged bitstream";
    snprintf(err, errlen, "%s: corrupt WebP: %s", name, why);
    return -1;
}

/* RGBA pixels to the image's RGB, and its alpha where it keeps one. */
static void split_rgba(bcos_image *img, const uint8_t *rgba) {
    size_t pixels = (size_t)img->width * (size_t)img->height;
    for (size_t i = 0; i < pixels; i++) {
        for (int c = 0; c < 3; c++) img->rgb[i * 3 + c] = rgba[i * 4 + c];
        if (img->alpha) img->alpha[i] = rgba[i * 4 + 3];
    }
}

/* Decodes to channels bytes per pixel (3: RGB, 4: RGBA) into out. */
static int decode_still_to(uint8_t *out, int channels, const bcos_image *img, const uint8_t *data, size_t len,
                           const char *name, char *err, size_t errlen) {
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) {
        snprintf(err, errlen, "%s: libwebp's decoder does not match its headers", name);
        return -1;
    }
    config.output.colorspace = channels == 4 ? MODE_RGBA : MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = out;
    config.output.u.RGBA.stride = img->width * channels;
    config.output.u.RGBA.size = (size_t)img->width * (size_t)img->height * (size_t)channels;
    VP8StatusCode status = WebPDecode(data, len, &config);
    WebPFreeDecBuffer(&config.output);
    return status == VP8_STATUS_OK ? 0 : webp_error(name, status, err, errlen);
}

static int decode_still(bcos_image *img, const uint8_t *data, size_t len, const char *name, char *err,
                        size_t errlen) {
    if (!img->alpha) return decode_still_to(img->rgb, 3, img, data, len, name, err, errlen);
    uint8_t *rgba = xmalloc((size_t)img->width * (size_t)img->height * 4);
    int rc = decode_still_to(rgba, 4, img, data, len, name, err, errlen);
    if (rc == 0) split_rgba(img, rgba);
    free(rgba);
    return rc;
}

static int decode_first_frame(bcos_image *img, const uint8_t *data, size_t len, const char *name, char *err,
                              size_t errlen) {
    WebPAnimDecoderOptions options;
    if (!WebPAnimDecoderOptionsInit(&options)) {
        snprintf(err, errlen, "%s: libwebp's animation decoder does not match its headers", name);
        return -1;
    }
    options.color_mode = MODE_RGBA;
    options.use_threads = 0;
    WebPData bytes = {data, len};
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&bytes, &options);
    WebPAnimInfo info;
    uint8_t *canvas = NULL;
    int timestamp = 0;
    int ok = dec && WebPAnimDecoderGetInfo(dec, &info) && info.canvas_width == (uint32_t)img->width &&
             info.canvas_height == (uint32_t)img->height && WebPAnimDecoderGetNext(dec, &canvas, &timestamp);
    if (ok)
        split_rgba(img, canvas);
    else
        snprintf(err, errlen, "%s: corrupt WebP: the animation's first frame does not decode", name);
    WebPAnimDecoderDelete(dec);
    return ok ? 0 : -1;
}

int bcos_decode_webp(bcos_image *img, const uint8_t *data, size_t len, int own_mode, const char *name, char *err,
                     size_t errlen) {
    WebPBitstreamFeatures features;
    VP8StatusCode status = WebPGetFeatures(data, len, &features);
    if (status != VP8_STATUS_OK) return webp_error(name, status, err, errlen);
    if (bcos_image_alloc(img, features.width, features.height, name, err, errlen) != 0) return -1;
    if (own_mode && features.has_alpha) { /* PIL opens it as RGBA */
        img->mode = BCOS_PIXELS_ALPHA;
        img->alpha = xmalloc((size_t)img->width * (size_t)img->height);
    }
    int rc = features.has_animation ? decode_first_frame(img, data, len, name, err, errlen)
                                    : decode_still(img, data, len, name, err, errlen);
    if (rc != 0) bcos_image_free(img);
    return rc;
}
