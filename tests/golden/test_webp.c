/* WebP decoding against PIL: every readable file of tests/fixtures/webp (tools/ref/make_webp_fixtures.py)
 * must decode to exactly the pixels of PIL's Image.open(f).convert("RGB") (lossy, lossless, alpha dropped,
 * odd sizes, metadata chunks, an animation's first frame); the files PIL refuses are refused with one line
 * naming them; every prefix of a file is refused without a crash; the pixel limit holds before decoding. */
#include "bcos/check.h"
#include "../../src/image/image_internal.h" /* the decoders and crops under test */
#include "pixel_reference.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <webp/decode.h>

#define FIXTURES "tests/fixtures/webp/"

static char *fixture_path(const char *name) {
    static char path[256];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    return path;
}

static uint8_t *read_fixture(const char *name, size_t *len) {
    uint8_t *data = (uint8_t *)bcos_read_file(fixture_path(name), len);
    BCOS_CHECK(data, "fixture missing: run tools/ref/make_webp_fixtures.py");
    return data;
}

static void check_image(const cJSON *e) {
    const char *name = cJSON_GetObjectItem(e, "file")->valuestring;
    int w = cJSON_GetObjectItem(e, "width")->valueint, h = cJSON_GetObjectItem(e, "height")->valueint;
    char err[512] = "";
    bcos_image img;
    int rc = bcos_image_load(&img, fixture_path(name), err, sizeof err);
    CHECK_MSG(rc == 0, "%s: PIL reads it, we do not: %s", name, err);
    if (rc != 0) return;
    CHECK_MSG(img.width == w && img.height == h, "%s: %d x %d, PIL %d x %d", name, img.width, img.height, w, h);
    size_t len = 0;
    uint8_t *want = read_fixture(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "rgb"), "file")->valuestring, &len);
    if (img.width == w && img.height == h && len == (size_t)w * h * 3) {
        size_t differ = 0;
        int worst = 0;
        for (size_t i = 0; i < len; i++) {
            int d = abs((int)img.rgb[i] - (int)want[i]);
            differ += d != 0;
            worst = d > worst ? d : worst;
        }
        CHECK_MSG(differ == 0, "%s: %zu of %zu values differ from PIL's (largest by %d)", name, differ, len, worst);
        printf("  %-36s %3d x %-3d %s\n", name, w, h, differ ? "DIFFERS" : "exact");
    }
    free(want);
    bcos_image_free(&img);
}

/* Every prefix of the file is refused with a one-line message naming it (the RIFF header gives the
 * whole size, so a shorter file is truncated), and the sanitizers see no read past the end. */
static void sweep_prefixes(const char *name) {
    size_t len = 0;
    uint8_t *data = read_fixture(name, &len);
    size_t decoded = 0, bad_messages = 0;
    for (size_t n = 0; n < len; n++) {
        uint8_t *prefix = xmalloc(n ? n : 1);
        memcpy(prefix, data, n);
        char err[512] = "";
        bcos_image part;
        if (bcos_image_decode(&part, prefix, n, "prefix.webp", err, sizeof err) == 0) {
            decoded++;
            bcos_image_free(&part);
        } else {
            bad_messages += strncmp(err, "prefix.webp: ", 13) != 0 || strchr(err, '\n') || part.rgb != NULL;
        }
        free(prefix);
    }
    CHECK_MSG(decoded == 0, "%s: %zu truncated prefixes decoded", name, decoded);
    CHECK_MSG(bad_messages == 0, "%s: %zu refusals without a one-line message", name, bad_messages);
    free(data);
}

static void test_pixel_limit(void) {
    char err[256];
    bcos_image img;
    long saved = bcos_image_max_pixels();
    bcos_image_set_max_pixels(48 * 36 - 1);
    CHECK(bcos_image_load(&img, FIXTURES "animated_48x36.webp", err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "48 x 36 pixels") != NULL && img.rgb == NULL, "%s", err);
    CHECK(bcos_image_load(&img, FIXTURES "lossy_160x107.webp", err, sizeof err) != 0);
    bcos_image_set_max_pixels(48 * 36);
    CHECK(bcos_image_load(&img, FIXTURES "animated_48x36.webp", err, sizeof err) == 0);
    bcos_image_free(&img);
    bcos_image_set_max_pixels(saved);
}

int main(void) {
    char *text = bcos_read_file(FIXTURES "index.json", NULL);
    BCOS_CHECK(text, "run tools/ref/make_webp_fixtures.py");
    cJSON *index = cJSON_Parse(text);
    BCOS_CHECK(index, "index.json does not parse");
    int v = WebPGetDecoderVersion();
    printf("fixtures from Pillow %s (libwebp %s); decoding with libwebp %d.%d.%d\n",
           cJSON_GetObjectItem(index, "pillow")->valuestring,
           cJSON_GetObjectItem(index, "pillow_libwebp")->valuestring, v >> 16, (v >> 8) & 0xff, v & 0xff);
    int images = 0, refused = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(index, "images")) {
        check_image(e);
        images++;
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(index, "rejected")) {
        check_refused_image(e, fixture_path(cJSON_GetObjectItem(e, "file")->valuestring));
        refused++;
    }
    CHECK(images >= 10 && refused >= 4);
    sweep_prefixes("lossy_odd_97x65.webp");
    sweep_prefixes("lossless_grey_64x64.webp");
    sweep_prefixes("animated_48x36.webp");
    test_pixel_limit();
    cJSON_Delete(index);
    free(text);
    return test_summary("test_webp");
}
