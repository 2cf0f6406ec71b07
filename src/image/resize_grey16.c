/* PIL's bicubic resize of a 16-bit greyscale image (mode I;16), bit for bit: the same weights as the
 * 8-bit resize but kept as doubles, not fixed point; each pass sums in double precision, in PIL's
 * order, and rounds half away from zero to a sample clipped to 0..65535; the passes run in the 8-bit
 * resize's order and a pass whose size does not change is skipped. As there, any window of the output
 * can be computed alone. */
#include "resize_kernel.h"

#include "bcos/check.h"

#include <stdlib.h>
#include <string.h>

/* Weights of the outputs [first, first + count) along one axis. */
typedef struct {
    int ksize;
    int *start, *taps;
    double *weight; /* [count][ksize] */
} real_kernel;

static void real_kernel_init(real_kernel *k, int in_size, int out_size, int first, int count) {
    k->ksize = bcos_axis_kernel_size(in_size, out_size);
    k->start = xmalloc((size_t)count * sizeof(int));
    k->taps = xmalloc((size_t)count * sizeof(int));
    k->weight = xcalloc((size_t)count * (size_t)k->ksize, sizeof(double));
    for (int i = 0; i < count; i++)
        k->taps[i] = bcos_axis_weights(k->weight + (size_t)i * k->ksize, &k->start[i], in_size, out_size, first + i);
}

static void real_kernel_free(real_kernel *k) {
    free(k->start);
    free(k->taps);
    free(k->weight);
}

/* The input span [first, end) the kernel's outputs read, made relative to first. */
static void real_kernel_span(real_kernel *k, int count, int *first, int *end) {
    *first = k->start[0];
    *end = k->start[count - 1] + k->taps[count - 1];
    for (int i = 0; i < count; i++) k->start[i] -= *first;
}

/* PIL's ROUND_UP (half away from zero), then CLIP16. */
static uint16_t round_clip16(double ss) {
    int v = (int)(ss >= 0.0 ? ss + 0.5 : ss - 0.5);
    return (uint16_t)(v <= 0 ? 0 : v < 65536 ? v : 65535);
}

/* Samples addressed by line and by position along the axis being resampled. */
typedef struct {
    uint16_t *p;
    size_t line, step; /* elements between lines, and between neighbours along the axis */
} strided;

/* lines x count outputs, each the sum over its taps of in's samples times the weights. */
static void resample(strided out, const uint16_t *in, size_t in_line, size_t in_step, int lines, const real_kernel *k,
                     int count) {
    for (int l = 0; l < lines; l++)
        for (int i = 0; i < count; i++) {
            const uint16_t *src = in + (size_t)l * in_line + (size_t)k->start[i] * in_step;
            const double *w = k->weight + (size_t)i * k->ksize;
            double ss = 0.0;
            for (int t = 0; t < k->taps[i]; t++) ss += src[(size_t)t * in_step] * w[t];
            out.p[(size_t)l * out.line + (size_t)i * out.step] = round_clip16(ss);
        }
}

static void copy_window(uint16_t *out, const uint16_t *in, size_t in_stride, int rows, int cols) {
    for (int y = 0; y < rows; y++) memcpy(out + (size_t)y * cols, in + (size_t)y * in_stride, (size_t)cols * 2);
}

static void horizontal_then_vertical(uint16_t *out, const bcos_grey16 *in, const bcos_resize_spec *w) {
    int need_horizontal = w->out_w != in->width, need_vertical = w->out_h != in->height;
    int row_first = w->y0, row_end = w->y0 + w->win_h;
    real_kernel vk = {0}, hk = {0};
    if (need_vertical) {
        real_kernel_init(&vk, in->height, w->out_h, w->y0, w->win_h);
        real_kernel_span(&vk, w->win_h, &row_first, &row_end);
    }
    int rows = row_end - row_first;
    uint16_t *temp = xmalloc((size_t)rows * (size_t)w->win_w * sizeof *temp);
    const uint16_t *top = in->samples + (size_t)row_first * in->width;
    if (need_horizontal) {
        real_kernel_init(&hk, in->width, w->out_w, w->x0, w->win_w);
        resample((strided){temp, (size_t)w->win_w, 1}, top, (size_t)in->width, 1, rows, &hk, w->win_w);
        real_kernel_free(&hk);
    } else {
        copy_window(temp, top + w->x0, (size_t)in->width, rows, w->win_w);
    }
    if (need_vertical) {
        resample((strided){out, 1, (size_t)w->win_w}, temp, 1, (size_t)w->win_w, w->win_w, &vk, w->win_h);
        real_kernel_free(&vk);
    } else {
        memcpy(out, temp, (size_t)rows * (size_t)w->win_w * sizeof *temp);
    }
    free(temp);
}

/* Only chosen when the height shrinks, so the vertical pass always runs. */
static void vertical_then_horizontal(uint16_t *out, const bcos_grey16 *in, const bcos_resize_spec *w) {
    int need_horizontal = w->out_w != in->width;
    int col_first = w->x0, col_end = w->x0 + w->win_w;
    real_kernel vk, hk = {0};
    if (need_horizontal) {
        real_kernel_init(&hk, in->width, w->out_w, w->x0, w->win_w);
        real_kernel_span(&hk, w->win_w, &col_first, &col_end);
    }
    int cols = col_end - col_first;
    uint16_t *temp = need_horizontal ? xmalloc((size_t)w->win_h * (size_t)cols * sizeof *temp) : out;
    real_kernel_init(&vk, in->height, w->out_h, w->y0, w->win_h);
    resample((strided){temp, 1, (size_t)cols}, in->samples + col_first, 1, (size_t)in->width, cols, &vk, w->win_h);
    real_kernel_free(&vk);
    if (need_horizontal) {
        resample((strided){out, (size_t)w->win_w, 1}, temp, (size_t)cols, 1, w->win_h, &hk, w->win_w);
        real_kernel_free(&hk);
        free(temp);
    }
}

void bcos_resize_grey16_window(uint16_t *out, const bcos_grey16 *in, const bcos_resize_spec *w) {
    if (bcos_resize_spec_vertical_first(w, in->width, in->height))
        vertical_then_horizontal(out, in, w);
    else
        horizontal_then_vertical(out, in, w);
}
