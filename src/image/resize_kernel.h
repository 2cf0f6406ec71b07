/* The pieces of PIL's bicubic resize that the portable passes (resize_bicubic.c), the AVX2 horizontal
 * pass (resize_avx2.c) and the 16-bit resize (resize_grey16.c) share: the weights of one axis, the
 * order of the passes, the rounding to bytes and one output pixel of the horizontal pass. Internal to
 * src/image. */
#ifndef BCOS_RESIZE_KERNEL_H
#define BCOS_RESIZE_KERNEL_H

#include <stddef.h>
#include <stdint.h>

/* 8 bits of result and 2 of headroom (the kernel has negative lobes) in a 32-bit accumulator. */
#define BCOS_RESIZE_PRECISION_BITS 22
#define BCOS_RESIZE_CHANNELS 3

/* Weights of the output pixels [first, first + count) along one axis. */
typedef struct {
    int ksize;       /* weights per output pixel */
    int *start;      /* [count] first input index used */
    int *taps;       /* [count] input pixels used */
    int32_t *weight; /* [count][ksize] fixed point */
} bcos_axis_kernel;

/* The most weights an output pixel of a resize from in_size to out_size has. */
int bcos_axis_kernel_size(int in_size, int out_size);
/* PIL's weights of output pixel xx (normalised to sum 1, not yet rounded: the 16-bit resize uses them
 * as they are) into w, room for bcos_axis_kernel_size of them: returns how many, with the first input
 * index in *start. */
int bcos_axis_weights(double *w, int *start, int in_size, int out_size, int xx);
/* PIL's weights for the outputs [first, first + count) of a resize from in_size to out_size. */
void bcos_axis_kernel_init(bcos_axis_kernel *k, int in_size, int out_size, int first, int count);
void bcos_axis_kernel_free(bcos_axis_kernel *k);

/* The output window [x0, x0 + win_w) x [y0, y0 + win_h) of a resize to out_w x out_h. */
typedef struct {
    int out_w, out_h, x0, y0, win_w, win_h;
} bcos_resize_spec;

/* A 16-bit greyscale image: width x height samples, rows top to bottom. */
typedef struct {
    const uint16_t *samples;
    int width, height;
} bcos_grey16;

/* The window of PIL's bicubic resize of a 16-bit image (resize_grey16.c): win_h x win_w samples. */
void bcos_resize_grey16_window(uint16_t *out, const bcos_grey16 *in, const bcos_resize_spec *w);

/* Whether PIL runs the vertical pass before the horizontal one for this resize. */
int bcos_resize_vertical_first(int in_w, int in_h, int out_w, int out_h);
/* The same for a window of an image of in_w x in_h, after checking that the window lies inside a
 * non-empty output (a programming error otherwise). */
int bcos_resize_spec_vertical_first(const bcos_resize_spec *w, int in_w, int in_h);

/* Fixed-point sum (with its rounding half already added) to a byte. */
static inline uint8_t bcos_resize_clip8(int32_t acc) {
    if (acc < 0) return 0;
    acc >>= BCOS_RESIZE_PRECISION_BITS;
    return acc > 255 ? 255 : (uint8_t)acc;
}

/* Output pixel i of the horizontal pass over one RGB row: its three bytes into dst. */
static inline void bcos_resize_pixel(uint8_t *dst, const uint8_t *row, const bcos_axis_kernel *k, int i) {
    const int32_t *w = k->weight + (size_t)i * k->ksize;
    const uint8_t *src = row + (size_t)k->start[i] * BCOS_RESIZE_CHANNELS;
    /* Three named sums, not an array: they stay in registers. */
    int32_t r = 1 << (BCOS_RESIZE_PRECISION_BITS - 1), g = r, b = r;
    for (int t = 0; t < k->taps[i]; t++, src += BCOS_RESIZE_CHANNELS) {
        r += src[0] * w[t];
        g += src[1] * w[t];
        b += src[2] * w[t];
    }
    dst[0] = bcos_resize_clip8(r);
    dst[1] = bcos_resize_clip8(g);
    dst[2] = bcos_resize_clip8(b);
}

/* The horizontal pass: rows x count output pixels from rows of in_width RGB pixels, in_stride bytes
 * apart; the kernel's input column c of a row is at row + c * 3. */
void bcos_resize_horizontal_portable(uint8_t *out, const uint8_t *in, size_t in_stride, int rows,
                                     const bcos_axis_kernel *k, int count);
/* The same in AVX2, bit for bit: returns 0 when done, or -1 (nothing written) when the CPU or the
 * build has no AVX2. */
int bcos_resize_horizontal_avx2(uint8_t *out, const uint8_t *in, size_t in_stride, int in_width, int rows,
                                const bcos_axis_kernel *k, int count);

#endif
