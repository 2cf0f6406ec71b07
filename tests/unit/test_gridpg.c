/* The grid pointing game without a model (bcos/gridpg.h), on maps whose scores are computed by
 * hand: all the positive mass in the target cell gives 1, a uniform map 1/n^2, a mixed map its
 * share, negative values count for nothing, smoothing spreads a pixel over its neighbours before
 * the negatives are cut; the sliding windows scale with the input size and sum a known map back;
 * the choice of images takes distinct classes by falling confidence; the quartiles are numpy's. */
#include <string.h>

#include "bcos/check.h"
#include "bcos/gridpg.h"
#include "test.h"

static int near(double a, double b) { return fabs(a - b) < 1e-12; }

static void test_score_known_maps(void) {
    enum { N = 2, CELL = 4, SIDE = N * CELL };
    float map[SIDE * SIDE];
    /* everything in cell 3 (bottom right) */
    memset(map, 0, sizeof map);
    map[(SIDE - 1) * SIDE + SIDE - 1] = 2.5f;
    map[5 * SIDE + 6] = 1.0f;
    CHECK(near(bcos_gridpg_score(map, N, CELL, 3, 0), 1.0));
    CHECK(near(bcos_gridpg_score(map, N, CELL, 0, 0), 0.0));
    /* uniform: 1/n^2 for every cell, n = 2 and 3 */
    for (int i = 0; i < SIDE * SIDE; i++) map[i] = 0.25f;
    for (int k = 0; k < N * N; k++) CHECK(near(bcos_gridpg_score(map, N, CELL, k, 0), 0.25));
    float big[9 * 9];
    for (int i = 0; i < 81; i++) big[i] = 3.0f;
    CHECK(near(bcos_gridpg_score(big, 3, 3, 4, 0), 1.0 / 9));
    /* mixed, 2 x 2 cells of 2 pixels: cell 0 holds 1 + 2 + 3 (and -4), cell 1 holds 0.5 + 1.5,
     * cell 2 holds 4, cell 3 holds -1 only: positive total 12, cell 0's share 6/12 */
    float mixed[16] = {1, 2, 0.5f, 0, 3, -4, 1.5f, 0, 4, 0, -1, 0, 0, 0, 0, 0};
    CHECK(near(bcos_gridpg_score(mixed, 2, 2, 0, 0), 0.5));
    CHECK(near(bcos_gridpg_score(mixed, 2, 2, 1, 0), 2.0 / 12));
    CHECK(near(bcos_gridpg_score(mixed, 2, 2, 2, 0), 4.0 / 12));
    CHECK(near(bcos_gridpg_score(mixed, 2, 2, 3, 0), 0.0));
    /* negatives count for nothing: a large negative value in another cell leaves the share alone */
    mixed[15] = -100;
    CHECK(near(bcos_gridpg_score(mixed, 2, 2, 0, 0), 0.5));
    /* nothing positive: 0, not NaN */
    float negative[16];
    for (int i = 0; i < 16; i++) negative[i] = -1.0f;
    CHECK(near(bcos_gridpg_score(negative, 2, 2, 1, 0), 0.0));
}

static void test_score_smoothed(void) {
    /* 2 x 2 cells of 2 pixels; 9 at (row 0, column 1), the right edge of cell 0. A 3 x 3 average
     * (zeros outside counted) makes it 1 on rows 0-1, columns 0-2: 4 pixels in cell 0, 2 in cell 1. */
    float map[16] = {0};
    map[1] = 9;
    CHECK(near(bcos_gridpg_score(map, 2, 2, 0, 0), 1.0));
    CHECK(near(bcos_gridpg_score(map, 2, 2, 0, 3), 4.0 / 6));
    CHECK(near(bcos_gridpg_score(map, 2, 2, 1, 3), 2.0 / 6));
    CHECK(map[1] == 9 && map[0] == 0); /* the caller's map is left alone */
    /* -9 at (0, 3) spreads -1 over rows 0-1, columns 2-3: column 2 sums to 0 before the cut, so
     * cell 0 keeps everything; cutting first would have given 4/6 again. */
    map[3] = -9;
    CHECK(near(bcos_gridpg_score(map, 2, 2, 0, 3), 1.0));
    CHECK(near(bcos_gridpg_score(map, 2, 2, 1, 3), 0.0));
}

static void test_windows_scale(void) {
    bcos_gridpg_windows w = bcos_gridpg_windows_of(2, 224); /* the reference's 224-px ViTs */
    CHECK(w.window == 224 && w.stride == 112 && w.pad == 112 && w.per_side == 5);
    w = bcos_gridpg_windows_of(3, 32);
    CHECK(w.window == 32 && w.stride == 16 && w.pad == 16 && w.per_side == 7);
    w = bcos_gridpg_windows_of(3, 5); /* odd: stride 2, pad 3, (15 + 6 - 5) / 2 + 1 windows */
    CHECK(w.window == 5 && w.stride == 2 && w.pad == 3 && w.per_side == 9);
}

/* Two cells of 4 pixels a side; the grid's channel c at (y, x) is 100 c + 10 y + x. */
static void test_windows_cut_and_sum(void) {
    enum { N = 2, CELL = 4, SIDE = 8, PLANE = SIDE * SIDE };
    float cells[4][6 * CELL * CELL];
    const float *cell_ptrs[4];
    for (int k = 0; k < 4; k++) {
        for (int c = 0; c < 6; c++)
            for (int y = 0; y < CELL; y++)
                for (int x = 0; x < CELL; x++)
                    cells[k][c * 16 + y * CELL + x] = 100.0f * c + 10.0f * (y + CELL * (k / N)) + x + CELL * (k % N);
        cell_ptrs[k] = cells[k];
    }
    float grid[6 * PLANE];
    bcos_gridpg_assemble(grid, cell_ptrs, N, CELL);
    int assembled = 1;
    for (int c = 0; c < 6; c++)
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++) assembled &= grid[c * PLANE + y * SIDE + x] == 100.0f * c + 10.0f * y + x;
    CHECK(assembled);

    bcos_gridpg_windows w = bcos_gridpg_windows_of(N, CELL);
    CHECK(w.window == 4 && w.stride == 2 && w.pad == 2 && w.per_side == 5);
    float window[6 * 16];
    /* window (0, 0) starts at (-2, -2): its lower right quarter is the grid's upper left corner */
    bcos_gridpg_window_cut(window, grid, SIDE, &w, 0, 0);
    CHECK(window[0] == 0 && window[1 * 4 + 3] == 0 && window[3 * 4 + 1] == 0);
    CHECK(window[2 * 4 + 2] == 0 && window[3 * 4 + 3] == 11 && window[16 * 5 + 3 * 4 + 2] == 510);
    /* window (4, 1) starts at (6, 0): rows 6-7 inside, 8-9 padding */
    bcos_gridpg_window_cut(window, grid, SIDE, &w, 4, 1);
    CHECK(window[0] == 60 && window[1 * 4 + 3] == 73 && window[2 * 4] == 0 && window[16 * 2 + 5] == 271);

    /* Every pixel lies in 2 windows along each axis: summing each window's own channel 0 back
     * gives 4 times the grid's; summing ones gives 4 everywhere. */
    float map[PLANE] = {0}, ones[PLANE] = {0}, one_window[16];
    for (int i = 0; i < 16; i++) one_window[i] = 1;
    for (int wy = 0; wy < w.per_side; wy++)
        for (int wx = 0; wx < w.per_side; wx++) {
            bcos_gridpg_window_cut(window, grid, SIDE, &w, wy, wx);
            bcos_gridpg_window_add(map, SIDE, &w, wy, wx, window);
            bcos_gridpg_window_add(ones, SIDE, &w, wy, wx, one_window);
        }
    int summed = 1;
    for (int i = 0; i < PLANE; i++) summed &= ones[i] == 4 && map[i] == 4 * grid[i];
    CHECK(summed);
}

static int label_of(long sample) { return (int)(sample / 10); }

static void test_select(void) {
    /* class 0: samples 0-2, class 1: 10-11, class 2: 20, class 3: 30-33; confidences such that
     * each class's order is 2, 0, 1 / 11, 10 / 20 / 31, 30, 33, 32 */
    bcos_gridpg_candidate c[] = {{0, 5, 0},  {0, 4, 1},  {0, 6, 2},  {1, 1, 10}, {1, 2, 11},
                                 {2, 3, 20}, {3, 7, 30}, {3, 9, 31}, {3, 1, 32}, {3, 2, 33}};
    const long order[4][4] = {{2, 0, 1, -1}, {11, 10, -1, -1}, {20, -1, -1, -1}, {31, 30, 33, 32}};
    long out[20 * 2], again[20 * 2];
    int grids = bcos_gridpg_select(out, 20, 2, c, 10, 4, 7);
    CHECK(grids >= 2 && grids <= 4);
    CHECK(bcos_gridpg_select(again, 20, 2, c, 10, 4, 7) == grids && memcmp(out, again, sizeof(long) * 2 * grids) == 0);
    int used[4] = {0};
    for (int g = 0; g < grids; g++) {
        CHECK(label_of(out[2 * g]) != label_of(out[2 * g + 1])); /* distinct classes in a grid */
        for (int k = 0; k < 2; k++) {
            int label = label_of(out[2 * g + k]);
            CHECK_MSG(out[2 * g + k] == order[label][used[label]], "grid %d cell %d", g, k); /* most confident first */
            used[label]++;
        }
    }
    /* it stops only when at most 2 classes have images left */
    int left = (used[0] < 3) + (used[1] < 2) + (used[2] < 1) + (used[3] < 4);
    CHECK_MSG(left <= 2, "%d classes left after %d grids", left, grids);
    /* max_grids holds; exactly per_grid classes make no grid (more than per_grid are needed) */
    CHECK(bcos_gridpg_select(out, 1, 2, c, 10, 4, 7) == 1);
    CHECK(bcos_gridpg_select(out, 20, 4, c, 10, 4, 7) == 0);
    /* another seed draws other classes somewhere, with the same rules */
    int differs = 0;
    for (uint64_t seed = 8; seed < 40 && !differs; seed++) {
        int n = bcos_gridpg_select(again, 20, 2, c, 10, 4, seed);
        differs = n != grids || memcmp(out, again, sizeof(long) * 2 * (size_t)n) != 0;
    }
    CHECK(differs);
}

static void test_quartiles(void) {
    double out[4];
    const double five[] = {0.4, 1.0, 0.1, 0.3, 0.2};
    bcos_gridpg_summary(out, five, 5);
    CHECK(near(out[0], 0.4) && near(out[1], 0.2) && near(out[2], 0.3) && near(out[3], 0.4));
    const double two[] = {1.0, 0.0};
    bcos_gridpg_summary(out, two, 2);
    CHECK(near(out[0], 0.5) && near(out[1], 0.25) && near(out[2], 0.5) && near(out[3], 0.75));
    const double one[] = {0.7};
    bcos_gridpg_summary(out, one, 1);
    CHECK(near(out[0], 0.7) && near(out[1], 0.7) && near(out[3], 0.7));
}

int main(void) {
    test_score_known_maps();
    test_score_smoothed();
    test_windows_scale();
    test_windows_cut_and_sum();
    test_select();
    test_quartiles();
    return test_summary("gridpg");
}
