/* The grid pointing game's attribution maps with a real (tiny, B-cosified) student: each cell's map
 * sums, over every sliding window of the grid, what explanation mode attributes to the window's
 * pixels, so the map's total is the sum over the windows of (score - constants' share), each
 * window run alone; and the maps do not depend on how many windows go through the student at once
 * (a batch that divides the windows, one that leaves a shorter last batch, one that takes all). */
#include <string.h>

#include "bcos/check.h"
#include "bcos/eval_run.h"
#include "bcos/gridpg.h"
#include "bcos/rng.h"
#include "bcos/student.h"
#include "test.h"

enum { N = 2, CELLS = N * N };

static void load_student(bcos_student *s, bcos_clip *teacher) {
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_clip_load_file(teacher, "tests/fixtures/clip/tiny_openclip.safetensors", "bcos-tiny",
                                   bcos_backend_cpu(), err, sizeof err) == 0, err);
    bcos_student_options opt = bcos_student_default_options();
    bcos_student_init(s, &teacher->cfg, &opt, bcos_backend_cpu());
    bcos_student_from_clip(s, teacher);
}

/* The sum over the windows of e . row - constants, each window through the student alone. */
static double windows_total(const bcos_student *s, const float *grid6, const float *row) {
    int S = s->cfg.image_size, E = s->cfg.embed_dim;
    bcos_gridpg_windows w = bcos_gridpg_windows_of(N, S);
    size_t x6 = (size_t)6 * S * S;
    float *window = xmalloc(x6 * sizeof(float)), *dx6 = xmalloc(x6 * sizeof(float));
    float *emb = xmalloc((size_t)E * sizeof(float));
    bcos_student_acts *acts = bcos_student_acts_new(s, 1);
    double total = 0;
    for (int wy = 0; wy < w.per_side; wy++)
        for (int wx = 0; wx < w.per_side; wx++) {
            bcos_gridpg_window_cut(window, grid6, N * S, &w, wy, wx);
            bcos_student_forward(s, acts, emb, window, s->saved_b, s->saved_bias_scale);
            double constants, score = 0;
            bcos_student_explain(s, acts, dx6, &constants, row);
            for (int e = 0; e < E; e++) score += (double)emb[e] * row[e];
            total += score - constants;
        }
    bcos_student_acts_free(acts);
    free(window), free(dx6), free(emb);
    return total;
}

int main(void) {
    bcos_clip teacher;
    bcos_student s;
    load_student(&s, &teacher);
    int S = s.cfg.image_size, E = s.cfg.embed_dim, side = N * S;
    size_t plane = (size_t)side * side;
    bcos_rng rng;
    bcos_rng_seed(&rng, 11);
    float *grid6 = xmalloc(6 * plane * sizeof(float));
    for (size_t i = 0; i < 3 * plane; i++) {
        grid6[i] = bcos_rng_uniform(&rng);
        grid6[i + 3 * plane] = 1.0f - grid6[i];
    }
    float rows_data[CELLS][64];
    const float *rows[CELLS];
    BCOS_CHECK(E <= 64, "the tiny config's embedding fits");
    for (int k = 0; k < CELLS; k++) {
        bcos_rng_fill_normal(&rng, rows_data[k], (size_t)E, 0.0f, 1.0f);
        rows[k] = rows_data[k];
    }
    int n_windows = bcos_gridpg_windows_of(N, S).per_side * bcos_gridpg_windows_of(N, S).per_side;
    const int batches[] = {n_windows, 5, 4};
    float *maps[3];
    for (int b = 0; b < 3; b++) {
        maps[b] = xmalloc(CELLS * plane * sizeof(float));
        bcos_eval_gridpg_maps(&s, grid6, N, rows, batches[b], maps[b]);
    }
    for (int k = 0; k < CELLS; k++) {
        double total = 0, expected = windows_total(&s, grid6, rows[k]);
        for (size_t p = 0; p < plane; p++) total += maps[0][k * plane + p];
        CHECK_MSG(fabs(total - expected) <= 1e-4 * fabs(expected), "cell %d: map total %.9g, windows %.9g", k, total,
                  expected);
        double score = bcos_gridpg_score(maps[0] + k * plane, N, S, k, 0);
        CHECK(score >= 0 && score <= 1);
    }
    for (int b = 1; b < 3; b++) {
        double e = test_rel_error_f32(maps[b], maps[0], CELLS * plane);
        CHECK_MSG(e < 1e-5, "batch %d vs all %d windows at once: rel error %.3g", batches[b], n_windows, e);
    }
    /* a map is not the same for two classes: each cell's row is explained, not one for all */
    CHECK(test_rel_error_f32(maps[0], maps[0] + plane, plane) > 1e-3);
    for (int b = 0; b < 3; b++) free(maps[b]);
    free(grid6);
    bcos_student_free(&s);
    bcos_clip_free(&teacher);
    return test_summary("gridpg_student");
}
