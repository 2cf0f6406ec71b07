/* Golden test of the explanation pictures against the B-cos package (tools/ref/make_explain_fixtures.py):
 * gradient_to_image's RGBA, plot_contribution_map's colours and the composite over the image, on a
 * square and a non-square image, one with zero and exactly-zero-contribution pixels, one where every
 * contribution is negative, and one with other window and percentile settings. Also the degenerate
 * all-zero gradient, and the PNG writer: files read back with libpng hold the bytes written. */
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bcos/check.h"
#include "bcos/explain.h"
#include "bcos/image.h"
#include "bcos/safetensors.h"
#include "test.h"

#define FIXTURE "tests/fixtures/explain/explain.safetensors"

static bcos_safetensors g_fix;

static const bcos_st_tensor *find(const char *cname, const char *part) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", cname, part);
    const bcos_st_tensor *t = bcos_st_find(&g_fix, name);
    if (!t) BCOS_DIE("regenerate with tools/ref/make_explain_fixtures.py", "%s: no tensor %s", FIXTURE, name);
    return t;
}

static float *get(const char *cname, const char *part) {
    const bcos_st_tensor *t = find(cname, part);
    float *out = xmalloc(t->numel * sizeof(float));
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_st_to_f32(t, out, err, sizeof err) == 0, err);
    return out;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > worst || d != d) worst = d;
    }
    return worst;
}

typedef struct {
    int height, width;
    float *x6, *w6, *rgba, *contribution, *contribution_rgb, *composite;
} picture_case;

static picture_case load_case(const char *cname) {
    const bcos_st_tensor *x6 = find(cname, "x6");
    picture_case pc = {(int)x6->shape[1], (int)x6->shape[2], get(cname, "x6"), get(cname, "w"),
                       get(cname, "rgba"), get(cname, "contribution"), get(cname, "contribution_rgb"),
                       get(cname, "composite")};
    return pc;
}

static void free_case(picture_case *pc) {
    free(pc->x6);
    free(pc->w6);
    free(pc->rgba);
    free(pc->contribution);
    free(pc->contribution_rgb);
    free(pc->composite);
}

static void check_case(const char *cname) {
    picture_case pc = load_case(cname);
    float *params = get(cname, "params");
    size_t plane = (size_t)pc.height * pc.width;
    float *contribution = xmalloc(plane * sizeof(float));
    float *rgba = xmalloc(plane * 4 * sizeof(float));
    float *map = xmalloc(plane * 3 * sizeof(float));
    float *composite = xmalloc(plane * 3 * sizeof(float));

    bcos_explain_contribution(contribution, pc.x6, pc.w6, pc.height, pc.width);
    double rel = test_rel_error_f32(contribution, pc.contribution, plane);
    CHECK_MSG(rel < 1e-6, "%s: contribution relative error %g", cname, rel);

    bcos_explain_colour(rgba, pc.x6, pc.w6, pc.height, pc.width, (int)params[0], params[1]);
    double err = max_abs_diff(rgba, pc.rgba, plane * 4);
    CHECK_MSG(err < 1e-5, "%s: colour explanation max abs error %g", cname, err);

    bcos_explain_contribution_map(map, contribution, pc.height, pc.width, params[1]);
    err = max_abs_diff(map, pc.contribution_rgb, plane * 3);
    CHECK_MSG(err < 1e-5, "%s: contribution map max abs error %g", cname, err);

    bcos_explain_composite(composite, rgba, pc.x6, pc.height, pc.width);
    err = max_abs_diff(composite, pc.composite, plane * 3);
    CHECK_MSG(err < 1e-5, "%s: composite max abs error %g", cname, err);

    free(composite);
    free(map);
    free(rgba);
    free(contribution);
    free(params);
    free_case(&pc);
}

/* A score that does not depend on the image: the package would draw NaN alpha and an all-blue
 * map; we draw nothing and every pixel in the colour the package gives a zero contribution (the
 * "wide" case has zero-gradient pixels at [2,3]). */
static void check_zero_gradient(void) {
    picture_case wide = load_case("wide");
    int width = wide.width;
    const float *zero_colour = wide.contribution_rgb + (size_t)(2 * width + 3) * 3;
    CHECK(wide.contribution[2 * width + 3] == 0);
    enum { H = 9, W = 11 };
    float x6[6 * H * W], w6[6 * H * W] = {0}, rgba[H * W * 4], contribution[H * W], map[H * W * 3];
    for (int i = 0; i < 6 * H * W; i++) x6[i] = (float)(i % 7) / 7;
    bcos_explain_colour(rgba, x6, w6, H, W, BCOS_EXPLAIN_SMOOTH, BCOS_EXPLAIN_PERCENTILE);
    bcos_explain_contribution(contribution, x6, w6, H, W);
    bcos_explain_contribution_map(map, contribution, H, W, BCOS_EXPLAIN_PERCENTILE);
    int bad_rgba = 0, bad_map = 0;
    for (int p = 0; p < H * W; p++) {
        for (int c = 0; c < 4; c++) bad_rgba += rgba[p * 4 + c] != 0;
        for (int c = 0; c < 3; c++) bad_map += map[p * 3 + c] != zero_colour[c];
    }
    CHECK_MSG(bad_rgba == 0, "%d RGBA values of a zero gradient are not 0", bad_rgba);
    CHECK_MSG(bad_map == 0, "%d map values of zero contributions are not the package's colour of 0", bad_map);
    free_case(&wide);
}

static void check_to_u8(void) {
    const float in[] = {0.0f, 1.0f, -0.5f, 2.0f, NAN, INFINITY, -INFINITY, 1.0f / 255, 0.5f, 254.4f / 255};
    const uint8_t want[] = {0, 255, 0, 255, 0, 255, 0, 1, 128, 254};
    uint8_t out[sizeof want];
    bcos_image_to_u8(out, in, sizeof want);
    for (size_t i = 0; i < sizeof want; i++)
        CHECK_MSG(out[i] == want[i], "to_u8(%g) = %d, not %d", in[i], out[i], want[i]);
}

/* Write picture[H,W,channels] as a PNG, read it back with libpng and compare every byte. */
static void check_png_round_trip(const char *path, const float *picture, int height, int width,
                                 int channels) {
    size_t n = (size_t)height * width * channels;
    uint8_t *bytes = xmalloc(n);
    bcos_image_to_u8(bytes, picture, n);
    char err[BCOS_ERRLEN] = "";
    CHECK_MSG(bcos_png_write(path, bytes, height, width, channels, err, sizeof err) == 0, "%s", err);

    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    CHECK_MSG(png_image_begin_read_from_file(&image, path), "%s: %s", path, image.message);
    CHECK(image.width == (png_uint_32)width && image.height == (png_uint_32)height);
    CHECK(PNG_IMAGE_SAMPLE_CHANNELS(image.format) == (unsigned)channels);
    CHECK(PNG_IMAGE_SAMPLE_COMPONENT_SIZE(image.format) == 1);
    image.format = channels == 4 ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
    uint8_t *back = xcalloc(n, 1);
    if (image.width == (png_uint_32)width && image.height == (png_uint_32)height)
        CHECK_MSG(png_image_finish_read(&image, NULL, back, 0, NULL), "%s: %s", path, image.message);
    png_image_free(&image);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += back[i] != bytes[i];
    CHECK_MSG(differ == 0, "%s: %zu of %zu bytes read back differ", path, differ, n);
    free(back);
    free(bytes);
    unlink(path);
}

static void check_png_writer(void) {
    picture_case wide = load_case("wide");
    char dir[] = "/tmp/bcos_explain_XXXXXX";
    BCOS_CHECK(mkdtemp(dir) != NULL, "a temporary directory for the PNG files");
    char path[sizeof dir + 32];
    snprintf(path, sizeof path, "%s/colour.png", dir);
    check_png_round_trip(path, wide.rgba, wide.height, wide.width, 4);
    snprintf(path, sizeof path, "%s/map.png", dir);
    check_png_round_trip(path, wide.contribution_rgb, wide.height, wide.width, 3);

    /* an unwritable path: a status and one line naming it, no file left behind */
    snprintf(path, sizeof path, "%s/missing/colour.png", dir);
    uint8_t pixel[4] = {1, 2, 3, 4};
    char err[BCOS_ERRLEN] = "";
    CHECK(bcos_png_write(path, pixel, 1, 1, 4, err, sizeof err) == -1);
    CHECK_MSG(strncmp(err, path, strlen(path)) == 0 && strchr(err, '\n') == NULL, "message: %s", err);
    CHECK(access(path, F_OK) != 0);
    CHECK(rmdir(dir) == 0);
    free_case(&wide);
}

int main(void) {
    char err[BCOS_ERRLEN];
    if (bcos_st_open(&g_fix, FIXTURE, err, sizeof err) != 0)
        BCOS_DIE("run from the repository root", "%s", err);
    const char *cases = bcos_st_meta_get(&g_fix, "cases");
    BCOS_CHECK(cases != NULL, "regenerate with tools/ref/make_explain_fixtures.py");
    char *list = xstrdup(cases);
    int n_cases = 0;
    for (char *save = NULL, *cname = strtok_r(list, ",", &save); cname; cname = strtok_r(NULL, ",", &save)) {
        check_case(cname);
        n_cases++;
    }
    CHECK(n_cases == 4);
    free(list);
    check_zero_gradient();
    check_to_u8();
    check_png_writer();
    bcos_st_close(&g_fix);
    return test_summary("test_explain_image");
}
