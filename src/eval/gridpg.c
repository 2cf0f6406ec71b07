/* The grid pointing game's pieces that need no model (bcos/gridpg.h): the seeded choice of the
 * grids' images, the grid and its sliding windows, the score of a cell and the summary of the
 * scores. The method is the B-cos papers' localisation metric, written anew from its description. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/explain.h"
#include "bcos/gridpg.h"
#include "bcos/rng.h"

enum { X6_CHANNELS = 6 };

/* A candidate and its place in the caller's list, which breaks ties (qsort is not stable). */
typedef struct {
    bcos_gridpg_candidate c;
    size_t place;
} placed_candidate;

/* By class, then higher confidence first, then the earlier in the list. */
static int by_class_then_confidence(const void *a, const void *b) {
    const placed_candidate *x = a, *y = b;
    if (x->c.label != y->c.label) return x->c.label < y->c.label ? -1 : 1;
    if (x->c.confidence != y->c.confidence) return x->c.confidence > y->c.confidence ? -1 : 1;
    return x->place < y->place ? -1 : 1;
}

int bcos_gridpg_select(long *out, int max_grids, int per_grid, const bcos_gridpg_candidate *candidates,
                       size_t n_candidates, int n_classes, uint64_t seed) {
    BCOS_CHECK(per_grid > 0 && n_classes > 0, "a grid has cells and the dataset classes");
    placed_candidate *sorted = xmalloc((n_candidates + 1) * sizeof *sorted);
    for (size_t i = 0; i < n_candidates; i++) {
        BCOS_CHECK(candidates[i].label >= 0 && candidates[i].label < n_classes, "a candidate's class is the dataset's");
        sorted[i] = (placed_candidate){candidates[i], i};
    }
    qsort(sorted, n_candidates, sizeof *sorted, by_class_then_confidence);
    /* next[c]..end[c]: class c's candidates not taken yet, as positions in sorted */
    size_t *next = xcalloc((size_t)n_classes, sizeof *next), *end = xcalloc((size_t)n_classes, sizeof *end);
    for (size_t i = 0; i < n_candidates; i++) end[sorted[i].c.label] = i + 1;
    for (size_t i = n_candidates; i-- > 0;) next[sorted[i].c.label] = i;
    int *open = xmalloc((size_t)n_classes * sizeof *open), grids = 0;
    bcos_rng rng;
    bcos_rng_seed(&rng, seed);
    while (grids < max_grids) {
        int n_open = 0;
        for (int c = 0; c < n_classes; c++)
            if (next[c] < end[c]) open[n_open++] = c;
        if (n_open <= per_grid) break;
        for (int k = 0; k < per_grid; k++) { /* a partial Fisher-Yates shuffle: distinct classes */
            int pick = k + (int)bcos_rng_below(&rng, (uint64_t)(n_open - k)), c = open[pick];
            open[pick] = open[k];
            open[k] = c;
            out[(size_t)grids * per_grid + k] = sorted[next[c]++].c.sample;
        }
        grids++;
    }
    free(open);
    free(next);
    free(end);
    free(sorted);
    return grids;
}

void bcos_gridpg_assemble(float *grid6, const float *const *cells, int n, int cell) {
    size_t side = (size_t)n * cell, plane = side * side, cell_plane = (size_t)cell * cell;
    for (int k = 0; k < n * n; k++) {
        size_t top = (size_t)(k / n) * cell, left = (size_t)(k % n) * cell;
        for (int c = 0; c < X6_CHANNELS; c++)
            for (int y = 0; y < cell; y++)
                memcpy(grid6 + c * plane + (top + y) * side + left, cells[k] + c * cell_plane + (size_t)y * cell,
                       (size_t)cell * sizeof(float));
    }
}

bcos_gridpg_windows bcos_gridpg_windows_of(int n, int cell) {
    BCOS_CHECK(n > 0 && cell > 1, "a grid of cells at least 2 pixels wide");
    bcos_gridpg_windows w = {.window = cell, .stride = cell / 2};
    w.pad = w.window - w.stride;
    w.per_side = (n * cell + 2 * w.pad - w.window) / w.stride + 1;
    return w;
}

void bcos_gridpg_window_cut(float *window6, const float *grid6, int grid_side, const bcos_gridpg_windows *w, int wy,
                            int wx) {
    int top = wy * w->stride - w->pad, left = wx * w->stride - w->pad, S = w->window;
    size_t plane = (size_t)grid_side * grid_side, window_plane = (size_t)S * S;
    for (int c = 0; c < X6_CHANNELS; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int gy = top + y, gx = left + x;
                int inside = gy >= 0 && gy < grid_side && gx >= 0 && gx < grid_side;
                window6[c * window_plane + (size_t)y * S + x] =
                    inside ? grid6[c * plane + (size_t)gy * grid_side + gx] : 0.0f;
            }
}

void bcos_gridpg_window_add(float *map, int grid_side, const bcos_gridpg_windows *w, int wy, int wx,
                            const float *values) {
    int top = wy * w->stride - w->pad, left = wx * w->stride - w->pad, S = w->window;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            int gy = top + y, gx = left + x;
            if (gy >= 0 && gy < grid_side && gx >= 0 && gx < grid_side)
                map[(size_t)gy * grid_side + gx] += values[(size_t)y * S + x];
        }
}

double bcos_gridpg_score(const float *map, int n, int cell, int target, int smooth) {
    BCOS_CHECK(target >= 0 && target < n * n, "the target is a cell of the grid");
    BCOS_CHECK(smooth >= 0 && (smooth == 0 || smooth % 2 == 1), "the smoothing window is odd, or 0 for none");
    int side = n * cell;
    size_t plane = (size_t)side * side;
    float *m = xmalloc(plane * sizeof *m);
    memcpy(m, map, plane * sizeof *m);
    if (smooth) bcos_explain_box_average(m, side, side, smooth);
    double inside = 0, total = 0;
    int row = target / n, col = target % n;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            double v = m[(size_t)y * side + x] > 0 ? m[(size_t)y * side + x] : 0.0;
            total += v;
            if (y / cell == row && x / cell == col) inside += v;
        }
    free(m);
    return inside > 0 && total > 0 ? inside / total : 0.0;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile of sorted[n]: rank p/100 * (n - 1), linear between its neighbours. */
static double percentile(const double *sorted, size_t n, double p) {
    double rank = p / 100.0 * (double)(n - 1);
    size_t below = (size_t)floor(rank), above = below + 1 < n ? below + 1 : n - 1;
    return sorted[below] + (sorted[above] - sorted[below]) * (rank - (double)below);
}

void bcos_gridpg_summary(double out[4], const double *scores, size_t count) {
    BCOS_CHECK(count > 0, "a summary of at least one score");
    double *sorted = xmalloc(count * sizeof *sorted), sum = 0;
    for (size_t i = 0; i < count; i++) sum += sorted[i] = scores[i];
    qsort(sorted, count, sizeof *sorted, compare_doubles);
    out[0] = sum / (double)count;
    out[1] = percentile(sorted, count, 25);
    out[2] = percentile(sorted, count, 50);
    out[3] = percentile(sorted, count, 75);
    free(sorted);
}
