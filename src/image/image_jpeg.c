/* JPEG decoding through TurboJPEG, to the pixels PIL gives: libjpeg's defaults (accurate integer DCT,
 * fancy upsampling), greyscale repeated into three channels, CMYK and YCCK read as Adobe-inverted CMYK
 * (PIL always assumes that) and converted with PIL's formula R = C * K / 255 on the inverted values.
 * A file without an end-of-image marker is refused as truncated, as PIL refuses it; libjpeg's warnings
 * (stray bytes, damaged entropy data it decodes as best it can) are not errors: PIL ignores them too.
 * A JPEG can also come out scaled by k/8 in libjpeg's DCT (the fast decoding mode). Asked to keep the
 * file's own mode, a four-component file also keeps PIL's CMYK pixels (the inverted ones inverted back). */
#include "image_internal.h"

#include "bcos/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

/* What the headers before the first scan say. TurboJPEG's own header reader is not used: it refuses
 * chroma subsamplings it has no name for, which libjpeg (and so PIL) decodes. */
typedef struct {
    long width, height;
    int components;
    size_t scan; /* offset of the first start-of-scan marker; the file's length when there is none */
} jpeg_layout;

static int is_frame_marker(uint8_t marker) { /* SOF0..SOF15 less DHT, JPG and DAC */
    return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

/* Walk the marker segments up to the first scan. Segments (APPn with EXIF thumbnails, say) are skipped
 * whole: a thumbnail holds markers of its own. Stray bytes between segments are skipped, as libjpeg
 * skips them. */
static jpeg_layout read_layout(const uint8_t *data, size_t len) {
    jpeg_layout l = {0, 0, 0, len};
    size_t pos = 2; /* after SOI */
    while (pos + 4 <= len) {
        uint8_t marker = data[pos + 1];
        if (data[pos] != 0xFF || marker == 0xFF) { /* a stray byte, or a fill byte before a marker */
            pos++;
            continue;
        }
        if (marker == 0xDA) {
            l.scan = pos;
            break;
        }
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) { /* TEM, RSTn, SOI: no length */
            pos += 2;
            continue;
        }
        size_t length = (size_t)data[pos + 2] << 8 | data[pos + 3];
        if (is_frame_marker(marker) && length >= 8 && pos + 10 <= len) {
            l.height = (long)data[pos + 5] << 8 | data[pos + 6];
            l.width = (long)data[pos + 7] << 8 | data[pos + 8];
            l.components = data[pos + 9];
        }
        pos += 2 + length;
    }
    return l;
}

/* Whether an end-of-image marker follows the first scan. Entropy-coded data never holds one (0xFF is
 * stuffed there), so its absence means the file stops short. */
static int has_end_marker(const uint8_t *data, size_t len, size_t scan) {
    for (size_t i = len; i >= scan + 2; i--)
        if (data[i - 2] == 0xFF && data[i - 1] == 0xD9) return 1;
    return 0;
}

/* Inverted (Adobe) CMYK as libjpeg hands it over, to RGB as PIL's convert("RGB") computes it. */
static void inverted_cmyk_to_rgb(uint8_t *rgb, const uint8_t *cmyk, size_t pixels) {
    for (size_t i = 0; i < pixels; i++, rgb += 3, cmyk += 4) {
        rgb[0] = bcos_muldiv255(cmyk[0], cmyk[3]);
        rgb[1] = bcos_muldiv255(cmyk[1], cmyk[3]);
        rgb[2] = bcos_muldiv255(cmyk[2], cmyk[3]);
    }
}

/* Decompress with libjpeg carrying on past warnings, as it does under PIL. TurboJPEG calls a failure a
 * "warning" whenever one came first, even when a fatal error followed and the image is unfinished. So a
 * first call stops at the first warning; if there is one, a second call goes on past it, and only when
 * it ends on that same first warning (libjpeg reports only the first) were there no fatal errors.
 * Returns 0, or -1 with TurboJPEG's message in tj. */
static int decompress(tjhandle tj, const uint8_t *data, size_t len, uint8_t *out, int width, int height,
                      int pixel_format) {
    /* LIMITSCANS: refuse progressive files with absurd scan counts (a CPU bomb). */
    const int flags = TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS;
    if (tjDecompress2(tj, data, (unsigned long)len, out, width, 0, height, pixel_format,
                      flags | TJFLAG_STOPONWARNING) == 0)
        return 0;
    if (tjGetErrorCode(tj) != TJERR_WARNING) return -1;
    char first_warning[256]; /* TurboJPEG keeps messages of up to 200 bytes */
    snprintf(first_warning, sizeof first_warning, "%s", tjGetErrorStr2(tj));
    if (tjDecompress2(tj, data, (unsigned long)len, out, width, 0, height, pixel_format, flags) == 0) return 0;
    return strcmp(tjGetErrorStr2(tj), first_warning) == 0 ? 0 : -1;
}

/* Decode into img (already allocated for the header's size). Four components are CMYK or YCCK, which
 * libjpeg turns into CMYK; one or three become RGB. */
static int decode_pixels(tjhandle tj, bcos_image *img, const uint8_t *data, size_t len, int components,
                         int own_mode, const char *name, char *err, size_t errlen) {
    int four_channels = components == 4;
    size_t pixels = (size_t)img->width * (size_t)img->height;
    uint8_t *out = four_channels ? xmalloc(pixels * 4) : img->rgb;
    int rc = decompress(tj, data, len, out, img->width, img->height, four_channels ? TJPF_CMYK : TJPF_RGB);
    if (rc != 0)
        snprintf(err, errlen, "%s: corrupt JPEG: %s", name, tjGetErrorStr2(tj));
    else if (four_channels)
        inverted_cmyk_to_rgb(img->rgb, out, pixels);
    if (rc == 0 && four_channels && own_mode) { /* PIL reads it as "CMYK;I": inverted back */
        for (size_t i = 0; i < pixels * 4; i++) out[i] = (uint8_t)(255 - out[i]);
        img->mode = BCOS_PIXELS_CMYK;
        img->cmyk = out;
    } else if (four_channels) {
        free(out);
    }
    return rc;
}

/* The checks PIL makes before decoding any pixel; 0 with the layout, or -1 with err set. */
static int read_checked_layout(jpeg_layout *layout, const uint8_t *data, size_t len, const char *name, char *err,
                               size_t errlen) {
    *layout = read_layout(data, len);
    if (layout->scan == len) {
        snprintf(err, errlen, "%s: truncated JPEG (the headers end before the image data)", name);
        return -1;
    }
    if (layout->components == 0) {
        snprintf(err, errlen, "%s: corrupt JPEG: no frame header before the image data", name);
        return -1;
    }
    if (!has_end_marker(data, len, layout->scan)) {
        snprintf(err, errlen, "%s: truncated JPEG (no end-of-image marker after the image data)", name);
        return -1;
    }
    return 0;
}

int bcos_image_jpeg_size(const uint8_t *data, size_t len, int *width, int *height) {
    if (bcos_image_sniff(data, len) != BCOS_IMAGE_JPEG) return -1;
    jpeg_layout layout = read_layout(data, len);
    if (layout.scan == len || layout.components == 0 || layout.width < 1 || layout.height < 1) return -1;
    *width = (int)layout.width;
    *height = (int)layout.height;
    return 0;
}

static int decode_scaled(bcos_image *img, const uint8_t *data, size_t len, int eighths, int own_mode,
                         const char *name, char *err, size_t errlen) {
    BCOS_CHECK(eighths >= 1 && eighths <= 8, "JPEG scale must be 1/8 .. 8/8");
    jpeg_layout layout;
    if (read_checked_layout(&layout, data, len, name, err, errlen) != 0) return -1;
    /* The bomb limit is about the file, whatever size it is decoded at. */
    if (bcos_image_check_size(layout.width, layout.height, name, err, errlen) != 0) return -1;
    /* TurboJPEG's TJSCALED: it picks the scale k/8 from this size. */
    long width = (layout.width * eighths + 7) / 8, height = (layout.height * eighths + 7) / 8;
    if (bcos_image_alloc(img, width, height, name, err, errlen) != 0) return -1;
    tjhandle tj = tjInitDecompress();
    if (!tj) {
        snprintf(err, errlen, "%s: cannot start the JPEG decoder: %s", name, tjGetErrorStr2(NULL));
        bcos_image_free(img);
        return -1;
    }
    int rc = decode_pixels(tj, img, data, len, layout.components, own_mode, name, err, errlen);
    if (rc != 0) bcos_image_free(img);
    tjDestroy(tj);
    return rc;
}

int bcos_decode_jpeg_scaled(bcos_image *img, const uint8_t *data, size_t len, int eighths, const char *name,
                            char *err, size_t errlen) {
    return decode_scaled(img, data, len, eighths, 0, name, err, errlen);
}

int bcos_decode_jpeg(bcos_image *img, const uint8_t *data, size_t len, int own_mode, const char *name, char *err,
                     size_t errlen) {
    return decode_scaled(img, data, len, 8, own_mode, name, err, errlen);
}
