/* Golden test of a bare image file's preprocessing in both orders (fixtures from
 * tools/ref/make_bare_file_fixtures.py): open_clip's, where PIL resizes the file in its own mode
 * (nearest for P and 1, premultiplied RGBA and LA, 16 bits for I;16, CMYK) and converts to RGB after the
 * crop, and convert-first, as shards get it. Both crops byte for byte against PIL's, at 32 (raw bytes)
 * and 224 (CRC-32); the own-mode decode's RGB pixels the same as the plain decode's; the mode each file
 * is recognised in matching the one PIL opens it in. */
#include "bcos/check.h"
#include "../../src/image/image_internal.h" /* the decoders and crops under test */
#include "pixel_reference.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <string.h>

#define FIXTURES "tests/fixtures/bare_file"

/* How PIL resizes a file opened in this mode. */
static bcos_pixel_mode expected_mode(const char *pil_mode) {
    if (strcmp(pil_mode, "P") == 0 || strcmp(pil_mode, "1") == 0) return BCOS_PIXELS_NEAREST;
    if (strcmp(pil_mode, "RGBA") == 0 || strcmp(pil_mode, "LA") == 0) return BCOS_PIXELS_ALPHA;
    if (strcmp(pil_mode, "I;16") == 0) return BCOS_PIXELS_GREY16;
    if (strcmp(pil_mode, "CMYK") == 0) return BCOS_PIXELS_CMYK;
    return BCOS_PIXELS_RGB;
}

static void check_decode(const char *name, const char *path, const char *pil_mode) {
    char err[512];
    bcos_image plain, own;
    CHECK_MSG(bcos_image_load(&plain, path, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(bcos_image_load_own_mode(&own, path, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(plain.mode == BCOS_PIXELS_RGB && !plain.alpha && !plain.grey16, "%s: the plain decode keeps a mode",
              name);
    CHECK_MSG(own.mode == expected_mode(pil_mode), "%s: decoded in mode %d, PIL opens it as %s", name, own.mode,
              pil_mode);
    CHECK_MSG((own.alpha != NULL) == (own.mode == BCOS_PIXELS_ALPHA), "%s: alpha plane", name);
    CHECK_MSG((own.grey16 != NULL) == (own.mode == BCOS_PIXELS_GREY16), "%s: 16-bit plane", name);
    CHECK_MSG((own.cmyk != NULL) == (own.mode == BCOS_PIXELS_CMYK), "%s: CMYK plane", name);
    CHECK_MSG(own.width == plain.width && own.height == plain.height &&
                  memcmp(own.rgb, plain.rgb, (size_t)own.width * own.height * 3) == 0,
              "%s: the own-mode decode changed the RGB pixels", name);
    bcos_image_free(&plain);
    bcos_image_free(&own);
}

static void check_order(const char *name, const char *path, int size, bcos_pixel_order order, const cJSON *ref_entry,
                        const char *what) {
    char err[512], label[64];
    uint8_t *crop = xmalloc((size_t)size * size * 3);
    int rc = bcos_clip_eval_file_crop(crop, path, size, order, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    pixel_reference ref = pixel_reference_load(FIXTURES, ref_entry);
    snprintf(label, sizeof label, "%s crop %d", what, size);
    if (rc == 0) pixel_reference_check(name, label, crop, (size_t)size * size * 3, &ref);
    free(ref.raw);
    free(crop);
}

int main(void) {
    char *text = bcos_read_file(FIXTURES "/index.json", NULL);
    BCOS_CHECK(text, "run tools/ref/make_bare_file_fixtures.py");
    cJSON *index = cJSON_Parse(text);
    BCOS_CHECK(index, "index.json does not parse");
    printf("fixtures from Pillow %s, torchvision %s, open_clip %s\n",
           cJSON_GetObjectItem(index, "pillow")->valuestring, cJSON_GetObjectItem(index, "torchvision")->valuestring,
           cJSON_GetObjectItem(index, "open_clip")->valuestring);
    const cJSON *e;
    int files = 0, apart = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(index, "images")) {
        const char *name = cJSON_GetObjectItem(e, "file")->valuestring;
        const char *pil_mode = cJSON_GetObjectItem(e, "pil_mode")->valuestring;
        char path[512];
        snprintf(path, sizeof path, FIXTURES "/%s", name);
        check_decode(name, path, pil_mode);
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(e, "sizes")) {
            int size = cJSON_GetObjectItem(s, "size")->valueint;
            check_order(name, path, size, BCOS_ORDER_OPEN_CLIP, cJSON_GetObjectItem(s, "open_clip"), "open_clip");
            check_order(name, path, size, BCOS_ORDER_CONVERT_FIRST, cJSON_GetObjectItem(s, "convert_first"),
                        "convert-first");
            apart += cJSON_GetObjectItem(s, "max_abs_difference")->valueint > 0;
        }
        files++;
    }
    /* The fixtures must hold files whose orders differ, or the test would prove nothing. */
    CHECK(files >= 15 && apart >= 20);
    bcos_pixel_order order;
    char err[256];
    CHECK(bcos_pixel_order_parse(&order, "convert-first", err, sizeof err) == 0 && order == BCOS_ORDER_CONVERT_FIRST);
    CHECK(bcos_pixel_order_parse(&order, "open-clip", err, sizeof err) == 0 && order == BCOS_ORDER_OPEN_CLIP);
    CHECK(bcos_pixel_order_parse(&order, "pil", err, sizeof err) != 0 && strstr(err, "'pil'"));
    cJSON_Delete(index);
    free(text);
    return test_summary("test_bare_file");
}
