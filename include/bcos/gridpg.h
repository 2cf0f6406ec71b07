/* The grid pointing game (docs/METHOD.md, GridPG), the pieces that need no model: which images
 * form the grids, how a grid is cut into the sliding windows of a fixed-input-size model and their
 * attributions summed back, and the score of one cell's attribution map. A grid is n x n cells of
 * side `cell` (the model's input size), G = n * cell pixels a side; cell k lies at row k / n,
 * column k % n. */
#ifndef BCOS_GRIDPG_H
#define BCOS_GRIDPG_H

#include <stddef.h>
#include <stdint.h>

/* A correctly classified image: its class, its confidence (the logit of that class) and what
 * finds it again (the caller's numbering). */
typedef struct {
    int label;
    float confidence;
    long sample;
} bcos_gridpg_candidate;

/* The images of up to max_grids grids of `per_grid` cells each: out[g * per_grid + k] is the
 * sample of grid g's cell k. Each class's candidates are taken in order of falling confidence
 * (ties: the earlier one in the list first); while more than per_grid classes have candidates
 * left, a grid draws per_grid distinct ones of them uniformly (seeded) and takes each one's next
 * candidate. Returns the number of grids filled. */
int bcos_gridpg_select(long *out, int max_grids, int per_grid, const bcos_gridpg_candidate *candidates,
                       size_t n_candidates, int n_classes, uint64_t seed);

/* grid6[6, G, G] from the cells' images cells[k][6, cell, cell]. */
void bcos_gridpg_assemble(float *grid6, const float *const *cells, int n, int cell);

/* The sliding windows of a model whose input side is `cell` over a grid of n cells: windows of
 * that side, a stride of half of it (rounded down), the grid padded by window - stride on every
 * side, `per_side` window positions along each axis ((G + 2 pad - window) / stride + 1). */
typedef struct {
    int window, stride, pad, per_side;
} bcos_gridpg_windows;

bcos_gridpg_windows bcos_gridpg_windows_of(int n, int cell);

/* window6[6, window, window]: the window at position (wy, wx) of grid6[6, G, G], zeros where it
 * lies in the padding. */
void bcos_gridpg_window_cut(float *window6, const float *grid6, int grid_side, const bcos_gridpg_windows *w, int wy,
                            int wx);

/* map[G, G] += the window (wy, wx)'s values[window, window], those in the padding dropped. */
void bcos_gridpg_window_add(float *map, int grid_side, const bcos_gridpg_windows *w, int wy, int wx,
                            const float *values);

/* The score of the explanation map[G, G] of cell `target`'s class: after an optional average pool
 * (smooth: odd window, stride 1, zero padding counted; 0: none) and with negative values cut to 0,
 * the share of the map's sum inside cell `target`; 0 where nothing is positive. map is not
 * changed. */
double bcos_gridpg_score(const float *map, int n, int cell, int target, int smooth);

/* The summary of the cells' scores: out = {mean, first quartile, median, third quartile}, the
 * quartiles interpolated linearly between order statistics (numpy's percentile). count > 0. */
void bcos_gridpg_summary(double out[4], const double *scores, size_t count);

#endif
