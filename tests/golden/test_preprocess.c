/* Golden test of decoding and CLIP's evaluation preprocessing against PIL, torchvision and open_clip
 * (fixtures from tools/ref/make_image_fixtures.py): decoded RGB identical to PIL's convert("RGB"),
 * resized pixels identical to torchvision's Resize (PIL underneath) given PIL's decoded pixels, the
 * centre crop identical to CenterCrop, the model input within 1e-6 of open_clip's from PIL's pixels and
 * within 1/255 from our own decode, the B-cos input consistent with open_clip's tensor, and every file
 * PIL refuses (truncated, corrupt, not an image, bombs) refused with a one-line message naming it. */
#include "bcos/check.h"
#include "../../src/image/image_internal.h" /* the decoders and crops under test */
#include "pixel_reference.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <string.h>

#define FIXTURES "tests/fixtures/image"

static char *fixture_path(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, FIXTURES "/%s", name);
    return path;
}

/* The B-cos input [u, 1 - u] against u recovered from open_clip's tensor (u = t * std + mean). */
static void check_bcos6(const char *image, const uint8_t *crop, int size, const float *tensor) {
    size_t plane = (size_t)size * size;
    float *x6 = xmalloc(6 * plane * sizeof(float));
    bcos_x6_from_crop(x6, crop, size);
    double worst = 0;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++) {
            double u = (double)tensor[c * plane + i] * bcos_clip_std[c] + bcos_clip_mean[c];
            worst = fmax(worst, fabs(x6[c * plane + i] - u));
            worst = fmax(worst, fabs(x6[(c + 3) * plane + i] - (1.0 - u)));
        }
    CHECK_MSG(worst <= 1e-6, "%s B-cos input at %d: max abs %.3g from open_clip's pixels", image, size, worst);
    free(x6);
}

/* One model size for one image: geometry, resize, crop, tensors. pil_rgb is PIL's decoded image (our
 * decode where the fixture kept only its CRC and ours matched it), own is our decode. */
static void check_size(const char *image, const cJSON *s, const bcos_image *pil_rgb, const bcos_image *own) {
    int size = cJSON_GetObjectItem(s, "size")->valueint;
    char what[64], err[512];
    bcos_clip_geometry g;
    CHECK(bcos_clip_eval_geometry(&g, own->width, own->height, size, err, sizeof err) == 0);
    CHECK_MSG(g.resized_w == cJSON_GetObjectItem(s, "resized_width")->valueint &&
                  g.resized_h == cJSON_GetObjectItem(s, "resized_height")->valueint,
              "%s at %d: resized to %d x %d, torchvision says %d x %d", image, size, g.resized_w, g.resized_h,
              cJSON_GetObjectItem(s, "resized_width")->valueint, cJSON_GetObjectItem(s, "resized_height")->valueint);
    CHECK_MSG(g.crop_x == cJSON_GetObjectItem(s, "crop_left")->valueint &&
                  g.crop_y == cJSON_GetObjectItem(s, "crop_top")->valueint,
              "%s at %d: crop at (%d, %d), torchvision says (%d, %d)", image, size, g.crop_x, g.crop_y,
              cJSON_GetObjectItem(s, "crop_left")->valueint, cJSON_GetObjectItem(s, "crop_top")->valueint);

    pixel_reference resized_ref = pixel_reference_load(FIXTURES, cJSON_GetObjectItem(s, "resized"));
    bcos_image resized;
    bcos_image_resize_bicubic(&resized, pil_rgb, g.resized_w, g.resized_h);
    snprintf(what, sizeof what, "resized for %d", size);
    pixel_reference_check(image, what, resized.rgb, (size_t)resized.width * resized.height * 3, &resized_ref);
    bcos_image_free(&resized);
    free(resized_ref.raw);

    size_t plane = (size_t)size * size;
    uint8_t *crop = xmalloc(plane * 3);
    pixel_reference crop_ref = pixel_reference_load(FIXTURES, cJSON_GetObjectItem(s, "crop"));
    CHECK(bcos_clip_eval_crop(crop, pil_rgb, size, err, sizeof err) == 0);
    snprintf(what, sizeof what, "centre crop %d", size);
    pixel_reference_check(image, what, crop, plane * 3, &crop_ref);
    free(crop_ref.raw);

    pixel_reference tensor_ref = pixel_reference_load(FIXTURES, cJSON_GetObjectItem(s, "tensor"));
    if (tensor_ref.raw) {
        const float *expected = (const float *)tensor_ref.raw;
        float *ours = xmalloc(3 * plane * sizeof(float));
        bcos_clip_normalize(ours, crop, size, bcos_clip_mean, bcos_clip_std);
        double from_pil = pixel_max_abs_diff(ours, expected, 3 * plane);
        CHECK_MSG(from_pil <= 1e-6, "%s tensor %d from PIL's pixels: max abs %.3g", image, size, from_pil);
        CHECK(bcos_clip_preprocess(ours, own, size, bcos_clip_mean, bcos_clip_std, err, sizeof err) == 0);
        double from_own = pixel_max_abs_diff(ours, expected, 3 * plane);
        CHECK_MSG(from_own <= 1.0 / 255, "%s tensor %d from our decode: max abs %.3g", image, size, from_own);
        check_bcos6(image, crop, size, expected);
        free(ours);
    }
    free(tensor_ref.raw);
    free(crop);
}

static void check_image(const cJSON *e) {
    const char *name = cJSON_GetObjectItem(e, "file")->valuestring;
    char err[512];
    bcos_image own;
    int rc = bcos_image_load(&own, fixture_path(name), err, sizeof err);
    CHECK_MSG(rc == 0, "%s: %s", name, err);
    if (rc != 0) return;
    int w = cJSON_GetObjectItem(e, "width")->valueint, h = cJSON_GetObjectItem(e, "height")->valueint;
    CHECK_MSG(own.width == w && own.height == h, "%s: decoded %d x %d, PIL %d x %d", name, own.width, own.height, w, h);
    if (own.width != w || own.height != h) {
        bcos_image_free(&own);
        return;
    }
    pixel_reference rgb_ref = pixel_reference_load(FIXTURES, cJSON_GetObjectItem(e, "rgb"));
    pixel_reference_check(name, "decoded RGB", own.rgb, (size_t)w * h * 3, &rgb_ref);
    /* Resizing starts from PIL's own pixels, so that a decoder difference cannot hide in it. */
    bcos_image pil_rgb = {.width = w, .height = h, .rgb = rgb_ref.raw ? rgb_ref.raw : own.rgb};
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(e, "sizes")) check_size(name, s, &pil_rgb, &own);
    free(rgb_ref.raw);
    bcos_image_free(&own);
}

int main(void) {
    size_t len = 0;
    char *text = bcos_read_file(FIXTURES "/index.json", &len);
    BCOS_CHECK(text, "run tools/ref/make_image_fixtures.py");
    cJSON *index = cJSON_Parse(text);
    BCOS_CHECK(index, "index.json does not parse");
    printf("fixtures from Pillow %s (libjpeg-turbo %s), torchvision %s, open_clip %s\n",
           cJSON_GetObjectItem(index, "pillow")->valuestring,
           cJSON_GetObjectItem(index, "pillow_libjpeg_turbo")->valuestring,
           cJSON_GetObjectItem(index, "torchvision")->valuestring, cJSON_GetObjectItem(index, "open_clip")->valuestring);

    for (int c = 0; c < 3; c++) {
        CHECK(bcos_clip_mean[c] == (float)cJSON_GetArrayItem(cJSON_GetObjectItem(index, "mean"), c)->valuedouble);
        CHECK(bcos_clip_std[c] == (float)cJSON_GetArrayItem(cJSON_GetObjectItem(index, "std"), c)->valuedouble);
    }
    const cJSON *e;
    int images = 0, refused = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(index, "images")) {
        check_image(e);
        images++;
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(index, "rejected")) {
        check_refused_image(e, fixture_path(cJSON_GetObjectItem(e, "file")->valuestring));
        refused++;
    }
    CHECK(images >= 20 && refused >= 10);
    cJSON_Delete(index);
    free(text);
    return test_summary("test_preprocess");
}
