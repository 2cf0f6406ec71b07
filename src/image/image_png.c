/* PNG through libpng, the project's one PNG reader and writer. Decoding, to the pixels PIL's convert("RGB") gives: alpha dropped without
 * compositing, tRNS ignored, palette indices looked up (entries past the palette are black), greyscale
 * repeated, 1/2/4-bit grey scaled to 0..255, 16-bit samples cut to their high byte except 16-bit
 * greyscale, which PIL opens as I;16 and clips at 255. Gamma and colour profiles are ignored, as PIL
 * ignores them. Asked to keep the file's own mode, it also says which of PIL's modes resizes apart
 * (P and 1 nearest, RGBA and LA premultiplied, I;16 in 16 bits) and keeps the alpha bytes (high bytes
 * of 16-bit alpha, as PIL keeps them) or the 16-bit grey samples. libpng reports errors by longjmp, so
 * the reading runs in one guarded function. Encoding, through libpng's simplified API in memory: the
 * images shard sources hold as raw pixels, and the pictures explain writes (replaced atomically). */
#include "image_internal.h"

#include "bcos/check.h"
#include "bcos/paths.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    int own_mode;
    const char *name;
    char *err;
    size_t errlen;
    png_structp png;
    png_infop info;
    uint8_t palette[256][3];
    uint8_t *rows;       /* the file's own samples: one row, or the whole image when interlaced */
    png_bytep *row_list; /* pointers into rows, for an interlaced image */
} png_reader;

static void on_error(png_structp png, png_const_charp message) {
    png_reader *r = png_get_error_ptr(png);
    snprintf(r->err, r->errlen, "%s: corrupt PNG: %s", r->name, message);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message; /* damaged ancillary chunks and the like: PIL reads on, and so do we */
}

static void read_bytes(png_structp png, png_bytep out, png_size_t count) {
    png_reader *r = png_get_io_ptr(png);
    if (count > r->len - r->pos) png_error(png, "the file ends early (truncated)");
    memcpy(out, r->data + r->pos, count);
    r->pos += count;
}

/* One row of the file's samples (bit depths below 8 already unpacked to a byte each) to RGB. */
static void row_to_rgb(const png_reader *r, uint8_t *rgb, const uint8_t *row, int width, int color_type,
                       int bit_depth) {
    int step = bit_depth == 16 ? 2 : 1; /* bytes per sample; the high byte comes first */
    int channels = color_type == PNG_COLOR_TYPE_RGB ? 3 : color_type == PNG_COLOR_TYPE_RGBA ? 4
                 : color_type == PNG_COLOR_TYPE_GA ? 2 : 1;
    for (int x = 0; x < width; x++, rgb += 3) {
        const uint8_t *px = row + (size_t)x * (size_t)(channels * step);
        if (color_type == PNG_COLOR_TYPE_PALETTE) {
            memcpy(rgb, r->palette[px[0]], 3);
        } else if (color_type == PNG_COLOR_TYPE_RGB || color_type == PNG_COLOR_TYPE_RGBA) {
            rgb[0] = px[0];
            rgb[1] = px[step];
            rgb[2] = px[2 * step];
        } else {
            uint8_t v = px[0];
            if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth == 16) v = px[0] ? 255 : px[1];
            else if (bit_depth < 8) v = (uint8_t)(v * (255 / ((1 << bit_depth) - 1)));
            rgb[0] = rgb[1] = rgb[2] = v;
        }
    }
}

/* The mode PIL opens a PNG of this colour type and bit depth in, as far as resizing tells them apart. */
static bcos_pixel_mode pil_mode(int color_type, int bit_depth) {
    if (color_type == PNG_COLOR_TYPE_PALETTE || (color_type == PNG_COLOR_TYPE_GRAY && bit_depth == 1))
        return BCOS_PIXELS_NEAREST;
    if (color_type == PNG_COLOR_TYPE_GA || color_type == PNG_COLOR_TYPE_RGBA) return BCOS_PIXELS_ALPHA;
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth == 16) return BCOS_PIXELS_GREY16;
    return BCOS_PIXELS_RGB;
}

static void keep_own_mode(bcos_image *img, int color_type, int bit_depth) {
    size_t pixels = (size_t)img->width * (size_t)img->height;
    img->mode = pil_mode(color_type, bit_depth);
    if (img->mode == BCOS_PIXELS_ALPHA) img->alpha = xmalloc(pixels);
    if (img->mode == BCOS_PIXELS_GREY16) img->grey16 = xmalloc(pixels * sizeof *img->grey16);
}

/* Row y's alpha bytes or 16-bit samples, where the image keeps them. */
static void row_to_own_mode(bcos_image *img, int y, const uint8_t *row, int color_type, int bit_depth) {
    size_t first = (size_t)y * (size_t)img->width;
    int step = bit_depth == 16 ? 2 : 1;
    int channels = color_type == PNG_COLOR_TYPE_RGBA ? 4 : 2;
    for (int x = 0; x < img->width && img->alpha; x++)
        img->alpha[first + x] = row[(size_t)x * (size_t)(channels * step) + (size_t)(channels - 1) * step];
    for (int x = 0; x < img->width && img->grey16; x++)
        img->grey16[first + x] = (uint16_t)(row[2 * x] << 8 | row[2 * x + 1]);
}

static void load_palette(png_reader *r) {
    png_colorp colors = NULL;
    int count = 0;
    memset(r->palette, 0, sizeof r->palette);
    if (png_get_PLTE(r->png, r->info, &colors, &count) != PNG_INFO_PLTE) return;
    for (int i = 0; i < count && i < 256; i++) {
        r->palette[i][0] = colors[i].red;
        r->palette[i][1] = colors[i].green;
        r->palette[i][2] = colors[i].blue;
    }
}

/* Everything that can longjmp. Its state lives in *r and *img, outside this frame, so that the caller
 * can clean up after a jump. */
static int read_guarded(png_reader *r, bcos_image *img) {
    if (setjmp(png_jmpbuf(r->png))) return -1;
    png_set_read_fn(r->png, r, read_bytes);
    png_read_info(r->png, r->info);
    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(r->png, r->info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    if (bcos_image_alloc(img, (long)width, (long)height, r->name, r->err, r->errlen) != 0) return -1;
    if (color_type == PNG_COLOR_TYPE_PALETTE) load_palette(r);
    if (r->own_mode) keep_own_mode(img, color_type, bit_depth);
    png_set_packing(r->png);
    int passes = png_set_interlace_handling(r->png);
    png_read_update_info(r->png, r->info);
    size_t rowbytes = png_get_rowbytes(r->png, r->info);
    size_t stored_rows = passes > 1 ? height : 1;
    r->rows = xmalloc(rowbytes * stored_rows);
    if (passes > 1) {
        r->row_list = xmalloc(height * sizeof(png_bytep));
        for (png_uint_32 y = 0; y < height; y++) r->row_list[y] = r->rows + y * rowbytes;
        png_read_image(r->png, r->row_list);
    }
    for (png_uint_32 y = 0; y < height; y++) {
        uint8_t *row = r->rows + (passes > 1 ? y * rowbytes : 0);
        if (passes == 1) png_read_row(r->png, row, NULL);
        row_to_rgb(r, img->rgb + (size_t)y * width * 3, row, (int)width, color_type, bit_depth);
        row_to_own_mode(img, (int)y, row, color_type, bit_depth);
    }
    return 0;
}

int bcos_decode_png(bcos_image *img, const uint8_t *data, size_t len, int own_mode, const char *name, char *err,
                    size_t errlen) {
    png_reader r = {.data = data, .len = len, .own_mode = own_mode, .name = name, .err = err, .errlen = errlen};
    r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_error, on_warning);
    if (r.png) r.info = png_create_info_struct(r.png);
    if (!r.png || !r.info) {
        snprintf(err, errlen, "%s: cannot start the PNG decoder", name);
        png_destroy_read_struct(r.png ? &r.png : NULL, NULL, NULL);
        return -1;
    }
    png_set_benign_errors(r.png, 1);
    int rc = read_guarded(&r, img);
    png_destroy_read_struct(&r.png, &r.info, NULL);
    free(r.rows);
    free(r.row_list);
    if (rc != 0) bcos_image_free(img);
    return rc;
}

uint8_t *bcos_png_encode(const uint8_t *pixels, int width, int height, int channels, size_t *size) {
    BCOS_CHECK(width > 0 && height > 0 && (channels == 1 || channels == 3 || channels == 4),
               "a grey, RGB or RGBA image with pixels");
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    /* 8-bit samples are sRGB with straight (not premultiplied) alpha: libpng writes them as given. */
    image.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
    png_alloc_size_t bytes = 0;
    /* The first call only measures. */
    BCOS_CHECK(png_image_write_to_memory(&image, NULL, &bytes, 0, pixels, 0, NULL), "libpng could not size a PNG");
    uint8_t *out = xmalloc(bytes);
    BCOS_CHECK(png_image_write_to_memory(&image, out, &bytes, 0, pixels, 0, NULL), "libpng could not write a PNG");
    *size = bytes;
    return out;
}

int bcos_png_write(const char *path, const uint8_t *pixels, int height, int width, int channels, char *err,
                   size_t errlen) {
    BCOS_CHECK(channels == 3 || channels == 4, "PNG pictures are RGB (3 channels) or RGBA (4)");
    size_t size;
    uint8_t *png = bcos_png_encode(pixels, width, height, channels, &size);
    int rc = bcos_write_file_atomic(path, png, size, err, errlen);
    free(png);
    return rc;
}

void bcos_image_to_u8(uint8_t *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = in[i];
        /* the comparisons are false for NaN, which therefore becomes 0 */
        out[i] = v >= 1.0f ? 255 : v > 0.0f ? (uint8_t)lrintf(v * 255.0f) : 0;
    }
}
