/* The completeness error of an explanation, and the explanation pictures from x6 = [u, 1-u] and
 * the explanation-mode gradient w6 of a score as the B-cos package draws them
 * (bcos.common.gradient_to_image and plot_contribution_map). The arithmetic follows the package's
 * float32 operations step by step, including how torch and numpy interpolate their percentiles, so
 * that the pictures match it to float rounding. */
#include <math.h>
#include <stdlib.h>

#include "bcos/check.h"
#include "bcos/explain.h"

/* x6 and w6 are [6,H,W]: channel c of pixel p is at c*plane + p. */
enum { X6_CHANNELS = 6, RGB = 3 };

/* Summed in double, so that the error measures the decomposition, not float rounding. */
double bcos_completeness_error(const float *x6, const float *w6, size_t n, double const_contrib, double score) {
    double sum = const_contrib, abs_sum = fabs(const_contrib);
    for (size_t i = 0; i < n; i++) {
        double term = (double)x6[i] * w6[i];
        sum += term;
        abs_sum += fabs(term);
    }
    return abs_sum > 0 ? fabs(sum - score) / abs_sum : fabs(sum - score);
}

void bcos_explain_contribution(float *contribution, const float *x6, const float *w6, int height, int width) {
    size_t plane = (size_t)height * (size_t)width;
    for (size_t p = 0; p < plane; p++) {
        /* float products summed in channel order, as torch's (x6 * w6).sum(0): the sign of a
         * contribution near 0 decides whether the pixel counts as positive. */
        float sum = 0;
        for (int c = 0; c < X6_CHANNELS; c++) sum += x6[c * plane + p] * w6[c * plane + p];
        contribution[p] = sum;
    }
}

static int compare_floats(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float *sorted_copy(const float *values, size_t n) {
    float *sorted = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) sorted[i] = values[i];
    qsort(sorted, n, sizeof(float), compare_floats);
    return sorted;
}

/* torch.quantile(values, q) (linear): q is a float32 tensor, the rank q*(n-1) is formed in double,
 * its fractional part is the float weight, and lerp is one fused multiply-add from the nearer end. */
static float torch_quantile(const float *values, size_t n, double q) {
    float *sorted = sorted_copy(values, n);
    double rank = (double)(float)q * (double)(n - 1);
    size_t below = (size_t)rank, above = (size_t)ceil(rank);
    float weight = (float)(rank - (double)below);
    float lo = sorted[below], hi = sorted[above], span = hi - lo;
    free(sorted);
    return weight < 0.5f ? fmaf(weight, span, lo) : fmaf(-span, 1.0f - weight, hi);
}

/* np.percentile(values, percentile) (linear) on float32 data: the index (n-1)*p/100 in double, the
 * interpolation in float32 from the nearer end, as numpy's _lerp does. */
static float numpy_percentile(const float *values, size_t n, double percentile) {
    float *sorted = sorted_copy(values, n);
    double index = (double)(n - 1) * (percentile / 100.0);
    size_t below = (size_t)index, above = below + 1 < n ? below + 1 : n - 1;
    double gamma = index - (double)below;
    float lo = sorted[below], hi = sorted[above], span = hi - lo;
    free(sorted);
    return gamma >= 0.5 ? hi - span * (float)(1.0 - gamma) : lo + span * (float)gamma;
}

/* rgba[p*4 + 0..2]: w6 divided by its largest |channel|, negatives cut to 0, then each u channel's
 * share of its (u, 1-u) pair. */
static void colour_channels(float *rgba, const float *w6, size_t plane) {
    for (size_t p = 0; p < plane; p++) {
        float largest = 0;
        for (int c = 0; c < X6_CHANNELS; c++) largest = fmaxf(largest, fabsf(w6[c * plane + p]));
        float scale = largest + 1e-12f;
        for (int c = 0; c < RGB; c++) {
            float on = fmaxf(w6[c * plane + p] / scale, 0.0f);
            float off = fmaxf(w6[(c + RGB) * plane + p] / scale, 0.0f);
            rgba[p * 4 + c] = on / (on + off + 1e-12f);
        }
    }
}

/* alpha[p]: the strength ||w6|| of pixels whose contribution is not negative; the package puts
 * 1e-12 (not 0) on the others, which shows where nothing is positive. */
static void positive_strength(float *alpha, const float *contribution, const float *w6, size_t plane) {
    for (size_t p = 0; p < plane; p++) {
        double squares = 0;
        for (int c = 0; c < X6_CHANNELS; c++) squares += (double)w6[c * plane + p] * w6[c * plane + p];
        alpha[p] = contribution[p] < 0 ? 1e-12f : (float)sqrt(squares);
    }
}

/* Separable: rows, then columns, summed in double. */
void bcos_explain_box_average(float *values, int height, int width, int k) {
    int half = (k - 1) / 2;
    double *rows = xmalloc((size_t)height * (size_t)width * sizeof(double));
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            double sum = 0;
            for (int j = x - half; j <= x + half; j++)
                if (j >= 0 && j < width) sum += values[(size_t)y * width + j];
            rows[(size_t)y * width + x] = sum;
        }
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            double sum = 0;
            for (int i = y - half; i <= y + half; i++)
                if (i >= 0 && i < height) sum += rows[(size_t)i * width + x];
            values[(size_t)y * width + x] = (float)(sum / ((double)k * k));
        }
    free(rows);
}

void bcos_explain_colour(float *rgba, const float *x6, const float *w6, int height, int width, int smooth,
                         double percentile) {
    BCOS_CHECK(height > 0 && width > 0, "an explanation needs a non-empty image");
    BCOS_CHECK(smooth >= 0 && (smooth == 0 || smooth % 2 == 1), "the smoothing window is odd, or 0 for none");
    BCOS_CHECK(percentile >= 0 && percentile <= 100, "a percentile lies in [0, 100]");
    size_t plane = (size_t)height * (size_t)width;
    float *contribution = xmalloc(plane * sizeof(float));
    float *alpha = xmalloc(plane * sizeof(float));
    bcos_explain_contribution(contribution, x6, w6, height, width);
    colour_channels(rgba, w6, plane);
    positive_strength(alpha, contribution, w6, plane);
    if (smooth) bcos_explain_box_average(alpha, height, width, smooth);
    float cutoff = torch_quantile(alpha, plane, percentile / 100.0);
    for (size_t p = 0; p < plane; p++) {
        float scaled = alpha[p] / cutoff;
        /* written so that NaN (0/0 when the cutoff is 0) becomes 0: nothing positive to show */
        rgba[p * 4 + 3] = scaled > 0 ? fminf(scaled, 1.0f) : 0.0f;
    }
    free(alpha);
    free(contribution);
}

/* Entry i of matplotlib's "bwr" colormap (256 entries, linear from blue through white to red). */
static void bwr_entry(float *rgb, int i) {
    double s = i / 255.0;
    rgb[0] = (float)(s < 0.5 ? 2 * s : 1.0);
    rgb[1] = (float)(s < 0.5 ? 2 * s : 2 - 2 * s);
    rgb[2] = (float)(s < 0.5 ? 1.0 : 2 - 2 * s);
}

/* The colormap entry matplotlib picks for v under Normalize(-cutoff, cutoff), in its float32
 * arithmetic: t = (v + cutoff) / (2 cutoff), entry floor(256 t) clamped to [0, 255]. */
static int bwr_index(float v, float cutoff) {
    if (!(cutoff > 0)) return 128; /* the entry of 0, i.e. t = 0.5 */
    float t = (v + cutoff) / (cutoff + cutoff);
    float x = t * 256.0f;
    if (!(x > 0)) return 0;
    return x >= 255.0f ? 255 : (int)x;
}

void bcos_explain_contribution_map(float *rgb, const float *contribution, int height, int width,
                                   double percentile) {
    BCOS_CHECK(height > 0 && width > 0, "a contribution map needs a non-empty image");
    BCOS_CHECK(percentile >= 0 && percentile <= 100, "a percentile lies in [0, 100]");
    size_t plane = (size_t)height * (size_t)width;
    float *magnitude = xmalloc(plane * sizeof(float));
    for (size_t p = 0; p < plane; p++) magnitude[p] = fabsf(contribution[p]);
    float cutoff = numpy_percentile(magnitude, plane, percentile);
    free(magnitude);
    for (size_t p = 0; p < plane; p++) {
        float clipped = fminf(fmaxf(contribution[p], -cutoff), cutoff);
        bwr_entry(rgb + p * RGB, bwr_index(clipped, cutoff));
    }
}

void bcos_explain_composite(float *rgb, const float *rgba, const float *x6, int height, int width) {
    size_t plane = (size_t)height * (size_t)width;
    for (size_t p = 0; p < plane; p++) {
        float alpha = rgba[p * 4 + 3];
        for (int c = 0; c < RGB; c++)
            rgb[p * RGB + c] = rgba[p * 4 + c] * alpha + (1 - alpha) * x6[c * plane + p];
    }
}
