/* Golden test of the grid pointing game's geometry and score against torch's own operations
 * (tools/ref/make_gridpg_fixtures.py): the windows that F.unfold cuts (stride S/2, padding S - S/2,
 * zeros outside), the attributions that F.fold sums back, the smoothing of F.avg_pool2d and the
 * share of positive attribution in the target's cell, for three cases (2x2 and 3x3 grids, an odd
 * cell side, with and without smoothing). A stand-in explainer that depends on the whole window
 * replaces the model, computed alike on both sides. The reference places image i at row block
 * i % n, column block i // n: its target i is our cell (i % n) * n + i / n. */
#include <string.h>

#include "bcos/check.h"
#include "bcos/gridpg.h"
#include "bcos/safetensors.h"
#include "test.h"

#define FIXTURE "tests/fixtures/gridpg/gridpg.safetensors"

static bcos_safetensors g_fix;

static float *get(const char *cname, const char *part, size_t *numel) {
    char name[128], err[BCOS_ERRLEN];
    snprintf(name, sizeof name, "%s.%s", cname, part);
    const bcos_st_tensor *t = bcos_st_find(&g_fix, name);
    if (!t) BCOS_DIE("regenerate with tools/ref/make_gridpg_fixtures.py", "%s: no tensor %s", FIXTURE, name);
    float *out = xmalloc(t->numel * sizeof(float));
    BCOS_CHECK(bcos_st_to_f32(t, out, err, sizeof err) == 0, err);
    if (numel) *numel = t->numel;
    return out;
}

/* The fixture's stand-in explainer: (window channel k mod 6 - 0.5) * mean(window) * (k + 1). */
static void stand_in(float *att, const float *window, int S, int k) {
    size_t plane = (size_t)S * S;
    double sum = 0;
    for (size_t i = 0; i < 6 * plane; i++) sum += window[i];
    float mean = (float)(sum / (double)(6 * plane));
    for (size_t i = 0; i < plane; i++) att[i] = (window[(size_t)(k % 6) * plane + i] - 0.5f) * mean * (float)(k + 1);
}

static void check_case(const char *cname) {
    float *params = get(cname, "params", NULL);
    int n = (int)params[0], S = (int)params[1], smooth = (int)params[2], side = n * S;
    free(params);
    size_t plane = (size_t)side * side;
    float *grid = get(cname, "grid", NULL), *maps = get(cname, "maps", NULL), *scores = get(cname, "scores", NULL);
    bcos_gridpg_windows w = bcos_gridpg_windows_of(n, S);
    float *window = xmalloc((size_t)6 * S * S * sizeof(float)), *att = xmalloc((size_t)S * S * sizeof(float));
    float *map = xmalloc(plane * sizeof(float));
    for (int k = 0; k < n * n; k++) {
        memset(map, 0, plane * sizeof(float));
        for (int wy = 0; wy < w.per_side; wy++)
            for (int wx = 0; wx < w.per_side; wx++) {
                bcos_gridpg_window_cut(window, grid, side, &w, wy, wx);
                stand_in(att, window, S, k);
                bcos_gridpg_window_add(map, side, &w, wy, wx, att);
            }
        double e = test_rel_error_f32(map, maps + k * plane, plane);
        CHECK_MSG(e < 1e-5, "%s target %d: folded map rel error %.3g", cname, k, e);
        double score = bcos_gridpg_score(map, n, S, (k % n) * n + k / n, smooth);
        CHECK_MSG(fabs(score - scores[k]) < 1e-5, "%s target %d: score %.7f, torch %.7f", cname, k, score, scores[k]);
    }
    free(window), free(att), free(map), free(grid), free(maps), free(scores);
}

int main(void) {
    char err[BCOS_ERRLEN];
    if (bcos_st_open(&g_fix, FIXTURE, err, sizeof err) != 0) BCOS_DIE("run from the repository root", "%s", err);
    const char *cases = bcos_st_meta_get(&g_fix, "cases");
    BCOS_CHECK(cases != NULL, "regenerate with tools/ref/make_gridpg_fixtures.py");
    char *list = xstrdup(cases);
    int n_cases = 0;
    for (char *save = NULL, *cname = strtok_r(list, ",", &save); cname; cname = strtok_r(NULL, ",", &save)) {
        check_case(cname);
        n_cases++;
    }
    CHECK(n_cases == 3);
    free(list);
    bcos_st_close(&g_fix);
    return test_summary("test_gridpg_torch");
}
