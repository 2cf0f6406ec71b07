/* Explanation pictures (docs/METHOD.md, Explanation mode and completeness) from an image
 * x6[6,H,W] = [u, 1-u] and the explanation-mode gradient w6[6,H,W] of a score (dx6 of
 * bcos_student_explain, one image): how completely it decomposes the score, the contribution map,
 * the colour explanation and its composite over the image (bcos/image.h rounds them to bytes and
 * writes them as PNG). Pictures are float, channels last ([H,W,C], values in [0,1]), as the B-cos
 * package returns them. */
#ifndef BCOS_EXPLAIN_H
#define BCOS_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

/* The B-cos package's defaults for gradient_to_image and plot_contribution_map. */
#define BCOS_EXPLAIN_SMOOTH 15
#define BCOS_EXPLAIN_PERCENTILE 99.5

/* The relative completeness error (docs/METHOD.md) of an explanation: |sum terms - score| / sum |terms|,
 * the terms being x6[i]*w6[i] for i < n and the constants' share, summed in double. */
double bcos_completeness_error(const float *x6, const float *w6, size_t n, double const_contrib, double score);

/* contribution[H,W] = sum_c x6[c]*w6[c]: each pixel's share of the score. */
void bcos_explain_contribution(float *contribution, const float *x6, const float *w6, int height, int width);

/* rgba[H,W,4]: bcos.common.gradient_to_image(x6, w6, smooth, percentile). Colour: w6 scaled by its
 * largest |channel|, negatives cut, each pair (c, c+3) normalised to sum 1, the u half kept. Alpha:
 * ||w6|| where the contribution is >= 0 (1e-12 where negative), averaged over smooth x smooth windows
 * (stride 1, zero padding counted in the window), divided by its percentile (torch.quantile,
 * linear) and clipped to [0,1]. smooth is odd, or 0 for no smoothing. One deviation: where the
 * package divides 0 by 0 (alpha's percentile 0) and gets NaN, alpha is 0. */
void bcos_explain_colour(float *rgba, const float *x6, const float *w6, int height, int width, int smooth,
                         double percentile);

/* rgb[H,W,3]: the colours of bcos.common.plot_contribution_map(contribution, percentile=...):
 * contributions clipped at the percentile c of |contribution| (numpy, linear), mapped from [-c, c]
 * through matplotlib's 256-entry "bwr" colormap (blue, white, red). One deviation: when c is 0
 * (matplotlib paints it all blue) every pixel gets the colour of 0. */
void bcos_explain_contribution_map(float *rgb, const float *contribution, int height, int width,
                                   double percentile);

/* values[H,W] averaged in place over k x k windows (k odd): torch's avg_pool2d(kernel k, stride 1,
 * padding (k-1)/2) with count_include_pad, every output the window's sum over k*k, zeros outside
 * the image included. */
void bcos_explain_box_average(float *values, int height, int width, int k);

/* rgb[H,W,3]: the colour explanation laid over the image u = x6[0..2] by its alpha. */
void bcos_explain_composite(float *rgb, const float *rgba, const float *x6, int height, int width);

#endif
