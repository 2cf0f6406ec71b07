/* Unit tests of the image module's pieces for training crops and decoding modes: a box resized in
 * place equals the resize of a copy of the box (crop, then resize, as torchvision does it: the
 * kernels stop at the box's edges); windows equal the whole resize also where Pillow 13 runs the
 * vertical pass first; a flip mirrors each row and undoes itself; decoding modes parse from their
 * names and refuse others by name; fast decoding leaves PNGs and small JPEGs as exact decoding does. */
#include "bcos/check.h"
#include "../../src/image/image_internal.h" /* the decoders and crops under test */
#include "bcos/rng.h"
#include "test.h"

#include <string.h>

static bcos_image random_image(bcos_rng *rng, int w, int h) {
    bcos_image img = {.width = w, .height = h, .rgb = xmalloc((size_t)w * h * 3)};
    for (size_t i = 0; i < (size_t)w * h * 3; i++) img.rgb[i] = (uint8_t)bcos_rng_below(rng, 256);
    return img;
}

static bcos_image copy_of_box(const bcos_image *img, const bcos_box *b) {
    bcos_image out = {.width = b->w, .height = b->h, .rgb = xmalloc((size_t)b->w * b->h * 3)};
    for (int y = 0; y < b->h; y++)
        memcpy(out.rgb + (size_t)y * b->w * 3, img->rgb + ((size_t)(b->y + y) * img->width + b->x) * 3,
               (size_t)b->w * 3);
    return out;
}

static void test_box_equals_cropped_copy(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 9);
    bcos_image img = random_image(&rng, 120, 90);
    for (int trial = 0; trial < 60; trial++) {
        bcos_box b;
        b.w = 1 + (int)bcos_rng_below(&rng, 120);
        b.h = 1 + (int)bcos_rng_below(&rng, 90);
        b.x = (int)bcos_rng_below(&rng, (uint64_t)(120 - b.w + 1));
        b.y = (int)bcos_rng_below(&rng, (uint64_t)(90 - b.h + 1));
        int ow = 1 + (int)bcos_rng_below(&rng, 64), oh = 1 + (int)bcos_rng_below(&rng, 64);
        bcos_image copy = copy_of_box(&img, &b), resized;
        bcos_image_resize_bicubic(&resized, &copy, ow, oh);
        uint8_t *out = xmalloc((size_t)ow * oh * 3);
        bcos_image_resized_crop(out, &img, &b, ow, oh);
        CHECK_MSG(memcmp(out, resized.rgb, (size_t)ow * oh * 3) == 0, "box %dx%d at (%d,%d) -> %dx%d differs", b.w,
                  b.h, b.x, b.y, ow, oh);
        free(out);
        bcos_image_free(&resized);
        bcos_image_free(&copy);
    }
    bcos_image_free(&img);
}

static void test_vertical_first_windows(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 4);
    /* the height loses more than twice the width's pixels: 300 -> 50 against 60 -> 40 */
    bcos_image in = random_image(&rng, 60, 300), whole;
    bcos_image_resize_bicubic(&whole, &in, 40, 50);
    for (int trial = 0; trial < 30; trial++) {
        int ww = 1 + (int)bcos_rng_below(&rng, 40), wh = 1 + (int)bcos_rng_below(&rng, 50);
        int x0 = (int)bcos_rng_below(&rng, (uint64_t)(40 - ww + 1)), y0 = (int)bcos_rng_below(&rng, (uint64_t)(50 - wh + 1));
        uint8_t *win = xmalloc((size_t)ww * wh * 3);
        bcos_resize_bicubic_window(win, &in, 40, 50, x0, y0, ww, wh);
        int same = 1;
        for (int y = 0; y < wh; y++)
            same &= memcmp(win + (size_t)y * ww * 3, whole.rgb + ((size_t)(y0 + y) * 40 + x0) * 3, (size_t)ww * 3) == 0;
        CHECK_MSG(same, "window %dx%d at (%d,%d) of the vertical-first resize differs", ww, wh, x0, y0);
        free(win);
    }
    bcos_image_free(&whole);
    bcos_image_free(&in);
}

static void test_flip(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 2);
    bcos_image img = random_image(&rng, 7, 5);
    uint8_t *flipped = xmalloc(7 * 5 * 3);
    memcpy(flipped, img.rgb, 7 * 5 * 3);
    bcos_image_flip_horizontal(flipped, 7, 5);
    int mirrored = 1;
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 7; x++) mirrored &= memcmp(flipped + (y * 7 + x) * 3, img.rgb + (y * 7 + 6 - x) * 3, 3) == 0;
    CHECK(mirrored);
    bcos_image_flip_horizontal(flipped, 7, 5);
    CHECK(memcmp(flipped, img.rgb, 7 * 5 * 3) == 0);
    free(flipped);
    bcos_image_free(&img);
}

static void test_decode_modes(void) {
    char err[128];
    bcos_decode_mode mode = BCOS_DECODE_FAST;
    CHECK(bcos_decode_mode_parse(&mode, "exact", err, sizeof err) == 0 && mode == BCOS_DECODE_EXACT);
    CHECK(bcos_decode_mode_parse(&mode, "fast", err, sizeof err) == 0 && mode == BCOS_DECODE_FAST);
    CHECK(strcmp(bcos_decode_mode_name(BCOS_DECODE_EXACT), "exact") == 0);
    CHECK(strcmp(bcos_decode_mode_name(BCOS_DECODE_FAST), "fast") == 0);
    CHECK(bcos_decode_mode_parse(&mode, "Fast", err, sizeof err) != 0 && strstr(err, "'Fast'") != NULL);
}

/* A PNG, and a JPEG too small to shrink, come out of fast decoding as exact decoding gives them. */
static void test_fast_keeps_what_it_cannot_shrink(void) {
    const char *files[] = {"tests/fixtures/image/odd_301x257.png", "tests/fixtures/image/portrait_320x370.jpg"};
    for (int f = 0; f < 2; f++) {
        size_t len;
        uint8_t *data = (uint8_t *)bcos_read_file(files[f], &len);
        BCOS_CHECK(data, "fixture images of tests/fixtures/image");
        bcos_image exact, fast;
        char err[256];
        CHECK(bcos_image_decode(&exact, data, len, files[f], err, sizeof err) == 0);
        CHECK(bcos_image_decode_scaled(&fast, data, len, 200, 200, files[f], err, sizeof err) == 0);
        CHECK_MSG(fast.width == exact.width && fast.height == exact.height &&
                      memcmp(fast.rgb, exact.rgb, (size_t)exact.width * exact.height * 3) == 0,
                  "%s: fast decoding for 200 x 200 changed it", files[f]);
        bcos_image_free(&exact);
        bcos_image_free(&fast);
        free(data);
    }
}

int main(void) {
    test_box_equals_cropped_copy();
    test_vertical_first_windows();
    test_flip();
    test_decode_modes();
    test_fast_keeps_what_it_cannot_shrink();
    return test_summary("test_image_box");
}
