/* WebP decoding through libwebp, to the pixels PIL's convert("RGB") gives. PIL opens every WebP file
 * with libwebp's animation decoder (default options: RGBA, fancy upsampling, no dithering) and takes
 * the canvas after the first frame; convert("RGB") then drops alpha without compositing, so colours
 * under transparent pixels stay as decoded. For a still image that canvas is the image itself, so it is
 * decoded straight to RGB with the same options; an animation goes through the animation decoder as in
 * PIL (its first frame on a transparent black canvas). */
#include "image_codecs.h"

#include <stdio.h>
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

static int decode_still(bcos_image *img, const uint8_t *data, size_t len, const char *name, char *err,
                        size_t errlen) {
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) {
        snprintf(err, errlen, "%s: libwebp's decoder does not match its headers", name);
        return -1;
    }
    config.output.colorspace = MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = img->rgb;
    config.output.u.RGBA.stride = img->width * 3;
    config.output.u.RGBA.size = (size_t)img->width * (size_t)img->height * 3;
    VP8StatusCode status = WebPDecode(data, len, &config);
    WebPFreeDecBuffer(&config.output);
    return status == VP8_STATUS_OK ? 0 : webp_error(name, status, err, errlen);
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
    if (ok) {
        size_t pixels = (size_t)img->width * (size_t)img->height;
        for (size_t i = 0; i < pixels; i++)
            for (int c = 0; c < 3; c++) img->rgb[i * 3 + c] = canvas[i * 4 + c];
    } else {
        snprintf(err, errlen, "%s: corrupt WebP: the animation's first frame does not decode", name);
    }
    WebPAnimDecoderDelete(dec);
    return ok ? 0 : -1;
}

int bcos_decode_webp(bcos_image *img, const uint8_t *data, size_t len, const char *name, char *err,
                     size_t errlen) {
    WebPBitstreamFeatures features;
    VP8StatusCode status = WebPGetFeatures(data, len, &features);
    if (status != VP8_STATUS_OK) return webp_error(name, status, err, errlen);
    if (bcos_image_alloc(img, features.width, features.height, name, err, errlen) != 0) return -1;
    int rc = features.has_animation ? decode_first_frame(img, data, len, name, err, errlen)
                                    : decode_still(img, data, len, name, err, errlen);
    if (rc != 0) bcos_image_free(img);
    return rc;
}
