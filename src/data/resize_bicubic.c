/* PIL's bicubic resize, bit for bit: the cubic convolution kernel with a = -0.5, its support widened by
 * the downscale factor (antialiasing), weights normalised to sum 1 and then rounded to fixed point with
 * 22 fractional bits, a horizontal pass and then a vertical one, each rounding and clipping to 8 bits.
 * A pass whose size does not change is skipped, as PIL skips it. Any window of the output can be
 * computed alone: each output pixel depends only on its own coordinates. */
#include "bcos/image.h"

#include "bcos/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 8 bits of result and 2 of headroom (the kernel has negative lobes) in a 32-bit accumulator. */
#define PRECISION_BITS 22
#define CHANNELS 3

/* Weights of the output pixels [first, first + count) along one axis. */
typedef struct {
    int ksize;       /* weights per output pixel */
    int *start;      /* [count] first input index used */
    int *taps;       /* [count] input pixels used */
    int32_t *weight; /* [count][ksize] fixed point */
} axis_kernel;

static double cubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Float to fixed point, rounding halves away from zero. */
static int32_t to_fixed(double w) {
    return (int32_t)(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
}

static void axis_kernel_init(axis_kernel *k, int in_size, int out_size, int first, int count) {
    /* PIL takes the source extent as a float box (0, in_size): keep its rounding for huge sizes. */
    double scale = (double)(float)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale, inv_filterscale = 1.0 / filterscale;
    k->ksize = (int)ceil(support) * 2 + 1;
    k->start = xmalloc((size_t)count * sizeof(int));
    k->taps = xmalloc((size_t)count * sizeof(int));
    k->weight = xcalloc((size_t)count * (size_t)k->ksize, sizeof(int32_t));
    double *w = xmalloc((size_t)k->ksize * sizeof(double));
    for (int i = 0; i < count; i++) {
        int xx = first + i;
        double center = (xx + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        int xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        int taps = xmax - xmin;
        double sum = 0.0;
        for (int x = 0; x < taps; x++) {
            w[x] = cubic((x + xmin - center + 0.5) * inv_filterscale);
            sum += w[x];
        }
        for (int x = 0; x < taps; x++)
            k->weight[(size_t)i * k->ksize + x] = to_fixed(sum != 0.0 ? w[x] / sum : w[x]);
        k->start[i] = xmin;
        k->taps[i] = taps;
    }
    free(w);
}

static void axis_kernel_free(axis_kernel *k) {
    free(k->start);
    free(k->taps);
    free(k->weight);
}

/* Fixed-point sum (with its rounding half already added) to a byte. */
static uint8_t clip8(int32_t acc) {
    if (acc < 0) return 0;
    acc >>= PRECISION_BITS;
    return acc > 255 ? 255 : (uint8_t)acc;
}

/* rows x count output pixels from rows of the input (in_stride bytes apart), along x. */
static void horizontal_pass(uint8_t *out, const uint8_t *in, size_t in_stride, int rows, const axis_kernel *k,
                            int count) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *row = in + (size_t)y * in_stride;
        uint8_t *dst = out + (size_t)y * count * CHANNELS;
        for (int i = 0; i < count; i++) {
            const int32_t *w = k->weight + (size_t)i * k->ksize;
            const uint8_t *src = row + (size_t)k->start[i] * CHANNELS;
            /* Three named sums, not an array: they stay in registers. */
            int32_t r = 1 << (PRECISION_BITS - 1), g = r, b = r;
            for (int t = 0; t < k->taps[i]; t++, src += CHANNELS) {
                r += src[0] * w[t];
                g += src[1] * w[t];
                b += src[2] * w[t];
            }
            dst[i * CHANNELS + 0] = clip8(r);
            dst[i * CHANNELS + 1] = clip8(g);
            dst[i * CHANNELS + 2] = clip8(b);
        }
    }
}

/* count output rows of width pixels, along y; input row r is at in + (r - first_row) * in_stride. */
static void vertical_pass(uint8_t *out, int width, const uint8_t *in, size_t in_stride, int first_row,
                          const axis_kernel *k, int count) {
    size_t n = (size_t)width * CHANNELS;
    for (int i = 0; i < count; i++) {
        const int32_t *w = k->weight + (size_t)i * k->ksize;
        const uint8_t *top = in + (size_t)(k->start[i] - first_row) * in_stride;
        for (size_t j = 0; j < n; j++) {
            int32_t acc = 1 << (PRECISION_BITS - 1);
            for (int t = 0; t < k->taps[i]; t++) acc += top[(size_t)t * in_stride + j] * w[t];
            out[(size_t)i * n + j] = clip8(acc);
        }
    }
}

void bcos_resize_bicubic_window(uint8_t *out, const bcos_image *in, int out_w, int out_h, int x0, int y0,
                                int win_w, int win_h) {
    BCOS_CHECK(out_w > 0 && out_h > 0 && win_w > 0 && win_h > 0, "resize sizes must be positive");
    BCOS_CHECK(x0 >= 0 && y0 >= 0 && x0 <= out_w - win_w && y0 <= out_h - win_h, "window outside the output");
    int need_horizontal = out_w != in->width, need_vertical = out_h != in->height;
    size_t in_stride = (size_t)in->width * CHANNELS, win_stride = (size_t)win_w * CHANNELS;

    /* The source rows the window needs: those under the vertical kernel, or its own rows. */
    axis_kernel vk = {0};
    int row_first = y0, row_end = y0 + win_h;
    if (need_vertical) {
        axis_kernel_init(&vk, in->height, out_h, y0, win_h);
        row_first = vk.start[0];
        row_end = vk.start[win_h - 1] + vk.taps[win_h - 1];
    }

    const uint8_t *rows = in->rgb + (size_t)row_first * in_stride + (size_t)x0 * CHANNELS;
    size_t rows_stride = in_stride;
    uint8_t *temp = NULL;
    if (need_horizontal) {
        axis_kernel hk;
        axis_kernel_init(&hk, in->width, out_w, x0, win_w);
        temp = xmalloc((size_t)(row_end - row_first) * win_stride);
        horizontal_pass(temp, in->rgb + (size_t)row_first * in_stride, in_stride, row_end - row_first, &hk, win_w);
        axis_kernel_free(&hk);
        rows = temp;
        rows_stride = win_stride;
    }

    if (need_vertical) {
        vertical_pass(out, win_w, rows, rows_stride, row_first, &vk, win_h);
        axis_kernel_free(&vk);
    } else {
        for (int y = 0; y < win_h; y++) memcpy(out + (size_t)y * win_stride, rows + (size_t)y * rows_stride, win_stride);
    }
    free(temp);
}

void bcos_image_resize_bicubic(bcos_image *out, const bcos_image *in, int out_w, int out_h) {
    BCOS_CHECK(out_w > 0 && out_h > 0, "resize sizes must be positive");
    out->width = out_w;
    out->height = out_h;
    out->rgb = xmalloc((size_t)out_w * (size_t)out_h * CHANNELS);
    bcos_resize_bicubic_window(out->rgb, in, out_w, out_h, 0, 0, out_w, out_h);
}
