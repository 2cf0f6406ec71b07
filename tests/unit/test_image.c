/* Unit tests of the image module's edges: the format comes from the bytes, not the name; every prefix
 * of a JPEG and a PNG is refused (or, past the PNG's pixel data, decodes to the same pixels) without a
 * crash; a missing file is named; the centre crop rounds halves to even as Python does; a resized window
 * equals the same window of the whole resize; an unchanged size is an exact copy; the pixel limit holds. */
#include "bcos/check.h"
#include "../../src/image/image_internal.h" /* the decoders and crops under test */
#include "bcos/rng.h"
#include "test.h"

#include <string.h>

#define FIXTURES "tests/fixtures/image/"

static uint8_t *read_fixture(const char *name, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    uint8_t *data = (uint8_t *)bcos_read_file(path, len);
    BCOS_CHECK(data, "fixture missing: run tools/ref/make_image_fixtures.py");
    return data;
}

static void test_format_from_magic_bytes(void) {
    size_t len = 0;
    uint8_t *jpeg = read_fixture("tiny_7x9.jpg", &len);
    CHECK(bcos_image_sniff(jpeg, len) == BCOS_IMAGE_JPEG);
    char err[256];
    bcos_image img;
    /* A JPEG named like a PNG is still a JPEG. */
    CHECK(bcos_image_decode(&img, jpeg, len, "looks_like.png", err, sizeof err) == 0);
    CHECK(img.width == 7 && img.height == 9);
    bcos_image_free(&img);
    free(jpeg);

    uint8_t *png = read_fixture("tiny_20x15.png", &len);
    CHECK(bcos_image_sniff(png, len) == BCOS_IMAGE_PNG);
    CHECK(bcos_image_sniff(png, 7) == BCOS_IMAGE_UNKNOWN);
    free(png);
    const uint8_t webp[12] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'};
    CHECK(bcos_image_sniff(webp, sizeof webp) == BCOS_IMAGE_WEBP);
    CHECK(strcmp(bcos_image_format_name(BCOS_IMAGE_WEBP), "WebP") == 0);
}

/* Prefix lengths to try: all of the first and last 256, and about 2000 in between (each decode of a
 * prefix redoes the work before its end, and the sanitizer build is slow). */
static size_t next_prefix(size_t n, size_t len) {
    size_t step = len / 2000 + 1;
    return n < 256 || n + 256 >= len || n + step + 256 >= len ? n + 1 : n + step;
}

/* Prefixes of the file: refused with a one-line message naming them, or identical to the whole. */
static void sweep_prefixes(const char *name, size_t must_fail_below) {
    size_t len = 0;
    uint8_t *data = read_fixture(name, &len);
    char err[512];
    bcos_image whole, part;
    CHECK(bcos_image_decode(&whole, data, len, name, err, sizeof err) == 0);
    size_t decoded = 0, tried = 0, bad_messages = 0, wrong_pixels = 0, early = 0;
    for (size_t n = 0; n < len; n = next_prefix(n, len), tried++) {
        /* A copy of exactly n bytes, so that the sanitizers catch any read past the end. */
        uint8_t *prefix = xmalloc(n);
        memcpy(prefix, data, n);
        err[0] = '\0';
        if (bcos_image_decode(&part, prefix, n, "prefix.bin", err, sizeof err) == 0) {
            decoded++;
            early += n < must_fail_below;
            wrong_pixels += part.width != whole.width || part.height != whole.height ||
                            memcmp(part.rgb, whole.rgb, (size_t)whole.width * whole.height * 3) != 0;
            bcos_image_free(&part);
        } else {
            bad_messages += strncmp(err, "prefix.bin: ", 12) != 0 || strchr(err, '\n') != NULL || part.rgb != NULL;
        }
        free(prefix);
    }
    CHECK_MSG(early == 0, "%s: %zu prefixes shorter than %zu bytes decoded", name, early, must_fail_below);
    CHECK_MSG(bad_messages == 0, "%s: %zu refusals without a one-line message naming the input", name, bad_messages);
    CHECK_MSG(wrong_pixels == 0, "%s: %zu prefixes decoded to other pixels", name, wrong_pixels);
    printf("  %s: %zu of %zu prefixes tried decode (past the pixel data)\n", name, decoded, tried);
    bcos_image_free(&whole);
    free(data);
}

/* Offset of the end of the last IDAT chunk's data in a PNG: prefixes shorter than that lack pixels. */
static size_t png_pixels_end(const char *name) {
    size_t len = 0, pos = 8, end = 0;
    uint8_t *data = read_fixture(name, &len);
    while (pos + 8 <= len) {
        size_t length = (size_t)data[pos] << 24 | (size_t)data[pos + 1] << 16 | (size_t)data[pos + 2] << 8 | data[pos + 3];
        if (memcmp(data + pos + 4, "IDAT", 4) == 0) end = pos + 8 + length;
        pos += 12 + length;
    }
    free(data);
    return end;
}

static void test_truncation_never_crashes(void) {
    size_t len = 0;
    free(read_fixture("tiny_7x9.jpg", &len));
    sweep_prefixes("tiny_7x9.jpg", len); /* a JPEG needs its end-of-image marker */
    sweep_prefixes("progressive_400x267.jpg", 0);
    sweep_prefixes("interlaced_131x87.png", png_pixels_end("interlaced_131x87.png"));
    sweep_prefixes("palette4_trns_100x80.png", png_pixels_end("palette4_trns_100x80.png"));
}

static void test_pixel_limit(void) {
    char err[256];
    bcos_image img;
    long saved = bcos_image_max_pixels();
    CHECK(saved == BCOS_IMAGE_MAX_PIXELS);
    bcos_image_set_max_pixels(20 * 15 - 1); /* one pixel short of tiny_20x15.png */
    CHECK(bcos_image_load(&img, FIXTURES "tiny_20x15.png", err, sizeof err) != 0);
    CHECK(strstr(err, "20 x 15 pixels") != NULL && img.rgb == NULL);
    bcos_image_set_max_pixels(20 * 15);
    CHECK(bcos_image_load(&img, FIXTURES "tiny_20x15.png", err, sizeof err) == 0);
    bcos_image_free(&img);
    bcos_image_set_max_pixels(saved);
}

static void test_missing_file_is_named(void) {
    char err[256];
    bcos_image img;
    CHECK(bcos_image_load(&img, "no/such/image.jpg", err, sizeof err) != 0);
    CHECK(strstr(err, "no/such/image.jpg") == err);
    CHECK(img.rgb == NULL);
}

static void test_crop_rounds_half_to_even(void) {
    /* Python: int(224 * 300 / 229) = 293, round((293 - 224) / 2) = round(34.5) = 34; C's round gives 35. */
    char err[128];
    bcos_clip_geometry g;
    CHECK(bcos_clip_eval_geometry(&g, 300, 229, 224, err, sizeof err) == 0);
    CHECK(g.resized_w == 293 && g.resized_h == 224 && g.crop_x == 34 && g.crop_y == 0);
    /* round(5.5) = 6: the other half goes up. */
    CHECK(bcos_clip_eval_geometry(&g, 224, 235, 224, err, sizeof err) == 0);
    CHECK(g.resized_w == 224 && g.resized_h == 235 && g.crop_x == 0 && g.crop_y == 6);
    /* A 1 x 178956970 image at 224 would be 224 x 40086361280: refused, not overflowed. */
    CHECK(bcos_clip_eval_geometry(&g, 1, 178956970, 224, err, sizeof err) != 0);
    CHECK(strstr(err, "elongated") != NULL);
}

static bcos_image random_image(bcos_rng *rng, int w, int h) {
    bcos_image img = {.width = w, .height = h, .rgb = xmalloc((size_t)w * h * 3)};
    for (size_t i = 0; i < (size_t)w * h * 3; i++) img.rgb[i] = (uint8_t)bcos_rng_below(rng, 256);
    return img;
}

static void test_window_equals_whole(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 7);
    const int sizes[][4] = {{97, 61, 40, 23}, {30, 50, 91, 150}, {64, 64, 64, 17}, {5, 300, 33, 224}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        bcos_image in = random_image(&rng, sizes[s][0], sizes[s][1]), whole;
        int ow = sizes[s][2], oh = sizes[s][3];
        bcos_image_resize_bicubic(&whole, &in, ow, oh);
        for (int trial = 0; trial < 20; trial++) {
            int ww = 1 + (int)bcos_rng_below(&rng, (uint64_t)ow), wh = 1 + (int)bcos_rng_below(&rng, (uint64_t)oh);
            int x0 = (int)bcos_rng_below(&rng, (uint64_t)(ow - ww + 1));
            int y0 = (int)bcos_rng_below(&rng, (uint64_t)(oh - wh + 1));
            uint8_t *win = xmalloc((size_t)ww * wh * 3);
            bcos_resize_bicubic_window(win, &in, ow, oh, x0, y0, ww, wh);
            int same = 1;
            for (int y = 0; y < wh; y++)
                same &= memcmp(win + (size_t)y * ww * 3, whole.rgb + ((size_t)(y0 + y) * ow + x0) * 3, (size_t)ww * 3) == 0;
            CHECK_MSG(same, "window %dx%d at (%d,%d) of %dx%d -> %dx%d differs", ww, wh, x0, y0, in.width, in.height, ow,
                      oh);
            free(win);
        }
        bcos_image_free(&whole);
        bcos_image_resize_bicubic(&whole, &in, in.width, in.height);
        CHECK(memcmp(whole.rgb, in.rgb, (size_t)in.width * in.height * 3) == 0);
        bcos_image_free(&whole);
        bcos_image_free(&in);
    }
}

int main(void) {
    test_format_from_magic_bytes();
    test_truncation_never_crashes();
    test_pixel_limit();
    test_missing_file_is_named();
    test_crop_rounds_half_to_even();
    test_window_equals_whole();
    return test_summary("test_image");
}
