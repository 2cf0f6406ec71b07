/* PIL's bicubic resize, bit for bit: the cubic convolution kernel with a = -0.5, its support widened by
 * the downscale factor (antialiasing), weights normalised to sum 1 and then rounded to fixed point with
 * 22 fractional bits, two passes that each round and clip to 8 bits: horizontal then vertical, or the
 * other way round where Pillow 13 chooses it. A pass whose size does not change is skipped, as PIL
 * skips it. Any window of the output can be computed alone: each output pixel depends only on its
 * own coordinates. A box of the image is
 * resized as the image PIL's crop of it would be (torchvision's resized_crop: crop, then resize), so
 * the kernels stop at the box's edges, not the image's. Also the horizontal flip of a result. */
#include "image_internal.h"

#include "bcos/check.h"
#include "resize_kernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS BCOS_RESIZE_PRECISION_BITS
#define CHANNELS BCOS_RESIZE_CHANNELS


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

/* PIL takes the source extent as a float box (0, in_size): keep its rounding for huge sizes. */
static double axis_scale(int in_size, int out_size) { return (double)(float)in_size / out_size; }

static double axis_support(int in_size, int out_size) {
    double scale = axis_scale(in_size, out_size);
    return 2.0 * (scale < 1.0 ? 1.0 : scale);
}

int bcos_axis_kernel_size(int in_size, int out_size) {
    return (int)ceil(axis_support(in_size, out_size)) * 2 + 1;
}

int bcos_axis_weights(double *w, int *start, int in_size, int out_size, int xx) {
    double scale = axis_scale(in_size, out_size);
    double support = axis_support(in_size, out_size), inv_filterscale = 1.0 / (scale < 1.0 ? 1.0 : scale);
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
    for (int x = 0; x < taps && sum != 0.0; x++) w[x] /= sum;
    *start = xmin;
    return taps;
}

void bcos_axis_kernel_init(bcos_axis_kernel *k, int in_size, int out_size, int first, int count) {
    k->ksize = bcos_axis_kernel_size(in_size, out_size);
    k->start = xmalloc((size_t)count * sizeof(int));
    k->taps = xmalloc((size_t)count * sizeof(int));
    k->weight = xcalloc((size_t)count * (size_t)k->ksize, sizeof(int32_t));
    double *w = xmalloc((size_t)k->ksize * sizeof(double));
    for (int i = 0; i < count; i++) {
        k->taps[i] = bcos_axis_weights(w, &k->start[i], in_size, out_size, first + i);
        for (int x = 0; x < k->taps[i]; x++) k->weight[(size_t)i * k->ksize + x] = to_fixed(w[x]);
    }
    free(w);
}

int bcos_resize_vertical_first(int in_w, int in_h, int out_w, int out_h) {
    /* Pillow 13 (Resample.c) runs the vertical pass first when the height loses more than twice as
     * many pixels as the width; the rounding between the passes makes the order visible. */
    int height_loss = in_h - out_h, width_loss = in_w - out_w;
    return height_loss > 0 && height_loss > 2 * width_loss;
}

int bcos_resize_spec_vertical_first(const bcos_resize_spec *w, int in_w, int in_h) {
    BCOS_CHECK(w->out_w > 0 && w->out_h > 0 && w->win_w > 0 && w->win_h > 0, "resize sizes must be positive");
    BCOS_CHECK(w->x0 >= 0 && w->y0 >= 0 && w->x0 <= w->out_w - w->win_w && w->y0 <= w->out_h - w->win_h,
               "window outside the output");
    return bcos_resize_vertical_first(in_w, in_h, w->out_w, w->out_h);
}

void bcos_axis_kernel_free(bcos_axis_kernel *k) {
    free(k->start);
    free(k->taps);
    free(k->weight);
}

void bcos_resize_horizontal_portable(uint8_t *out, const uint8_t *in, size_t in_stride, int rows,
                                     const bcos_axis_kernel *k, int count) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *row = in + (size_t)y * in_stride;
        uint8_t *dst = out + (size_t)y * count * CHANNELS;
        for (int i = 0; i < count; i++) bcos_resize_pixel(dst + i * CHANNELS, row, k, i);
    }
}

/* rows x count output pixels from rows of in_width pixels (in_stride bytes apart), along x. */
static void horizontal_pass(uint8_t *out, const uint8_t *in, size_t in_stride, int in_width, int rows,
                            const bcos_axis_kernel *k, int count) {
    if (bcos_resize_horizontal_avx2(out, in, in_stride, in_width, rows, k, count) != 0)
        bcos_resize_horizontal_portable(out, in, in_stride, rows, k, count);
}

/* The vertical pass is a sum of whole rows, which compilers turn into vector code when asked: GCC
 * at -O2 only vectorizes loops whose trip count it knows, so it is asked here, and x86-64 gets an
 * AVX2 build chosen at run time. Integer sums come out the same in any order. */
#if defined(__GNUC__) && !defined(__clang__)
#define VECTORIZED_LOOPS __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define VECTORIZED_LOOPS
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ROW_KERNEL __attribute__((target_clones("avx2", "default"))) VECTORIZED_LOOPS
#else
#define ROW_KERNEL VECTORIZED_LOOPS
#endif

/* One output row of n bytes: the rounding half plus the sum over the taps of row t * w[t], clipped. */
ROW_KERNEL static void vertical_row(uint8_t *restrict out, int32_t *restrict acc, const uint8_t *restrict top,
                                    size_t in_stride, const int32_t *restrict w, int taps, size_t n) {
    for (size_t j = 0; j < n; j++) acc[j] = 1 << (PRECISION_BITS - 1);
    for (int t = 0; t < taps; t++) {
        const uint8_t *restrict row = top + (size_t)t * in_stride;
        int32_t wt = w[t];
        for (size_t j = 0; j < n; j++) acc[j] += row[j] * wt;
    }
    for (size_t j = 0; j < n; j++) out[j] = bcos_resize_clip8(acc[j]);
}

/* count output rows of width pixels, along y; the kernel's input row r is at in + r * in_stride. */
static void vertical_pass(uint8_t *out, int width, const uint8_t *in, size_t in_stride, const bcos_axis_kernel *k,
                          int count) {
    size_t n = (size_t)width * CHANNELS;
    int32_t *acc = xmalloc(n * sizeof *acc);
    for (int i = 0; i < count; i++)
        vertical_row(out + (size_t)i * n, acc, in + (size_t)k->start[i] * in_stride, in_stride,
                     k->weight + (size_t)i * k->ksize, k->taps[i], n);
    free(acc);
}

/* Pixels the resize reads: a whole image, or a box inside one (its rows stride bytes apart). */
typedef struct {
    const uint8_t *rgb;
    size_t stride;
    int width, height;
} pixel_view;

/* The input span [first, end) the kernel's outputs read. */
static int kernel_first(const bcos_axis_kernel *k) { return k->start[0]; }
static int kernel_end(const bcos_axis_kernel *k, int count) { return k->start[count - 1] + k->taps[count - 1]; }

/* Makes the kernel's input indices relative to its first one, for a pass over a temporary copy. */
static void kernel_rebase(bcos_axis_kernel *k, int count) {
    int first = kernel_first(k);
    for (int i = 0; i < count; i++) k->start[i] -= first;
}

static void copy_rows(uint8_t *out, const uint8_t *in, size_t in_stride, int rows, size_t row_bytes) {
    for (int y = 0; y < rows; y++) memcpy(out + (size_t)y * row_bytes, in + (size_t)y * in_stride, row_bytes);
}

/* Horizontal pass on the input rows under the window's vertical kernel, then the vertical pass. */
static void horizontal_then_vertical(uint8_t *out, const pixel_view *in, const bcos_resize_spec *w) {
    int need_horizontal = w->out_w != in->width, need_vertical = w->out_h != in->height;
    size_t win_stride = (size_t)w->win_w * CHANNELS;
    bcos_axis_kernel vk = {0};
    int row_first = w->y0, row_end = w->y0 + w->win_h;
    if (need_vertical) {
        bcos_axis_kernel_init(&vk, in->height, w->out_h, w->y0, w->win_h);
        row_first = kernel_first(&vk);
        row_end = kernel_end(&vk, w->win_h);
        kernel_rebase(&vk, w->win_h);
    }
    const uint8_t *rows = in->rgb + (size_t)row_first * in->stride + (size_t)w->x0 * CHANNELS;
    size_t rows_stride = in->stride;
    uint8_t *temp = NULL;
    if (need_horizontal) {
        bcos_axis_kernel hk;
        bcos_axis_kernel_init(&hk, in->width, w->out_w, w->x0, w->win_w);
        temp = xmalloc((size_t)(row_end - row_first) * win_stride);
        horizontal_pass(temp, in->rgb + (size_t)row_first * in->stride, in->stride, in->width, row_end - row_first,
                        &hk, w->win_w);
        bcos_axis_kernel_free(&hk);
        rows = temp;
        rows_stride = win_stride;
    }
    if (need_vertical) {
        vertical_pass(out, w->win_w, rows, rows_stride, &vk, w->win_h);
        bcos_axis_kernel_free(&vk);
    } else {
        copy_rows(out, rows, rows_stride, w->win_h, win_stride);
    }
    free(temp);
}

/* Vertical pass on the input columns under the window's horizontal kernel, then the horizontal
 * pass (the vertical pass is always needed here). */
static void vertical_then_horizontal(uint8_t *out, const pixel_view *in, const bcos_resize_spec *w) {
    int need_horizontal = w->out_w != in->width;
    bcos_axis_kernel vk, hk = {0};
    bcos_axis_kernel_init(&vk, in->height, w->out_h, w->y0, w->win_h);
    int col_first = w->x0, col_end = w->x0 + w->win_w;
    if (need_horizontal) {
        bcos_axis_kernel_init(&hk, in->width, w->out_w, w->x0, w->win_w);
        col_first = kernel_first(&hk);
        col_end = kernel_end(&hk, w->win_w);
        kernel_rebase(&hk, w->win_w);
    }
    int cols = col_end - col_first;
    uint8_t *temp = need_horizontal ? xmalloc((size_t)w->win_h * cols * CHANNELS) : out;
    vertical_pass(temp, cols, in->rgb + (size_t)col_first * CHANNELS, in->stride, &vk, w->win_h);
    bcos_axis_kernel_free(&vk);
    if (need_horizontal) {
        horizontal_pass(out, temp, (size_t)cols * CHANNELS, cols, w->win_h, &hk, w->win_w);
        bcos_axis_kernel_free(&hk);
        free(temp);
    }
}

static void resize_window(uint8_t *out, const pixel_view *in, const bcos_resize_spec *w) {
    if (bcos_resize_spec_vertical_first(w, in->width, in->height))
        vertical_then_horizontal(out, in, w);
    else
        horizontal_then_vertical(out, in, w);
}

void bcos_resize_bicubic_window(uint8_t *out, const bcos_image *in, int out_w, int out_h, int x0, int y0,
                                int win_w, int win_h) {
    pixel_view whole = {in->rgb, (size_t)in->width * CHANNELS, in->width, in->height};
    bcos_resize_spec w = {out_w, out_h, x0, y0, win_w, win_h};
    resize_window(out, &whole, &w);
}

void bcos_image_resized_crop(uint8_t *out, const bcos_image *in, const bcos_box *box, int out_w, int out_h) {
    BCOS_CHECK(box->w > 0 && box->h > 0 && box->x >= 0 && box->y >= 0 && box->x <= in->width - box->w &&
                   box->y <= in->height - box->h,
               "the crop box must lie inside the image");
    size_t stride = (size_t)in->width * CHANNELS;
    pixel_view cropped = {in->rgb + (size_t)box->y * stride + (size_t)box->x * CHANNELS, stride, box->w, box->h};
    bcos_resize_spec w = {out_w, out_h, 0, 0, out_w, out_h};
    resize_window(out, &cropped, &w);
}

void bcos_image_flip_horizontal(uint8_t *rgb, int width, int height) {
    for (int y = 0; y < height; y++) {
        uint8_t *row = rgb + (size_t)y * width * CHANNELS;
        for (int l = 0, r = width - 1; l < r; l++, r--)
            for (int c = 0; c < CHANNELS; c++) {
                uint8_t t = row[l * CHANNELS + c];
                row[l * CHANNELS + c] = row[r * CHANNELS + c];
                row[r * CHANNELS + c] = t;
            }
    }
}

void bcos_image_resize_bicubic(bcos_image *out, const bcos_image *in, int out_w, int out_h) {
    BCOS_CHECK(out_w > 0 && out_h > 0, "resize sizes must be positive");
    *out = (bcos_image){.width = out_w, .height = out_h, .rgb = xmalloc((size_t)out_w * (size_t)out_h * CHANNELS)};
    bcos_resize_bicubic_window(out->rgb, in, out_w, out_h, 0, 0, out_w, out_h);
}
