/* Golden test of training crops and fast decoding against torchvision and PIL (fixtures from
 * tools/ref/make_train_crop_fixtures.py): RandomResizedCrop.get_params' box for 480 image sizes,
 * scales, ratios and seeds, replaying the draws torch's generator made (each float draw's 24 bits,
 * each randint's bound and value), so the algorithm (tries, rounding, fallbacks) is compared given
 * the same draws; resized_crop + hflip pixels identical to torchvision's on PIL for drawn and edge
 * boxes, and their model input within 1e-6; JPEG decoding at 1/2, 1/4 and 1/8 identical to PIL's
 * Image.draft, the fast evaluation crop at S identical to open_clip's transform of the image drafted
 * for 3/4 S (enlarged by the resize where the draft falls below S), and
 * the evaluation resize of a tall picture that Pillow 13 resizes vertically first. */
#include "bcos/check.h"
#include "../../src/image/image_internal.h" /* the decoders and crops under test */
#include "pixel_reference.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <string.h>

#define FIXTURES "tests/fixtures/train_crop"
#define IMAGES "tests/fixtures/image"

static cJSON *read_json(const char *path) {
    char *text = bcos_read_file(path, NULL);
    BCOS_CHECK(text, "run tools/ref/make_train_crop_fixtures.py");
    cJSON *json = cJSON_Parse(text);
    BCOS_CHECK(json, "fixture JSON does not parse: re-run tools/ref/make_train_crop_fixtures.py");
    free(text);
    return json;
}

static int int_at(const cJSON *array, int i) { return cJSON_GetArrayItem(array, i)->valueint; }
static int int_of(const cJSON *object, const char *key) { return cJSON_GetObjectItem(object, key)->valueint; }

/* torch's recorded draws, handed out in order; a randint asked for another bound is a mismatch. */
typedef struct {
    const cJSON *draws;
    int next, mismatches;
} replay;

static const cJSON *next_draw(replay *r, const char *key) {
    const cJSON *d = cJSON_GetArrayItem(r->draws, r->next++);
    if (!d || !cJSON_GetObjectItem(d, key)) {
        r->mismatches++;
        return NULL;
    }
    return d;
}

static float replay_unit(void *ctx) {
    const cJSON *d = next_draw(ctx, "unit");
    return d ? (float)int_of(d, "unit") / 16777216.0f : 0.0f;
}

static long replay_below(void *ctx, long n) {
    replay *r = ctx;
    const cJSON *d = next_draw(r, "n");
    if (!d) return 0;
    if (int_of(d, "n") != n) r->mismatches++;
    return int_of(d, "value");
}

static void check_geometry(void) {
    cJSON *cases = read_json(FIXTURES "/geometry.json");
    int n = 0, failed = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        int width = int_of(c, "width"), height = int_of(c, "height");
        const cJSON *sc = cJSON_GetObjectItem(c, "scale"), *ra = cJSON_GetObjectItem(c, "ratio");
        double scale[2] = {cJSON_GetArrayItem(sc, 0)->valuedouble, cJSON_GetArrayItem(sc, 1)->valuedouble};
        double ratio[2] = {cJSON_GetArrayItem(ra, 0)->valuedouble, cJSON_GetArrayItem(ra, 1)->valuedouble};
        replay r = {cJSON_GetObjectItem(c, "draws"), 0, 0};
        bcos_crop_draws draws = {replay_unit, replay_below, &r};
        bcos_box box;
        bcos_random_resized_crop_box(&box, width, height, scale, ratio, &draws);
        const cJSON *want = cJSON_GetObjectItem(c, "box");
        int same = box.x == int_at(want, 0) && box.y == int_at(want, 1) && box.w == int_at(want, 2) &&
                   box.h == int_at(want, 3);
        int all_draws = r.mismatches == 0 && r.next == cJSON_GetArraySize(r.draws);
        if (!same || !all_draws) failed++;
        CHECK_MSG(same && all_draws,
                  "%d x %d scale (%g, %g) ratio (%g, %g) seed %d: box (%d, %d, %d x %d), torchvision's (%d, %d, %d x "
                  "%d); %d of %d draws used, %d mismatched",
                  width, height, scale[0], scale[1], ratio[0], ratio[1], int_of(c, "seed"), box.x, box.y, box.w, box.h,
                  int_at(want, 0), int_at(want, 1), int_at(want, 2), int_at(want, 3), r.next,
                  cJSON_GetArraySize(r.draws), r.mismatches);
        n++;
    }
    CHECK(n >= 400);
    printf("  geometry: %d cases, %d differ from torchvision's get_params\n", n, failed);
    cJSON_Delete(cases);
}

static bcos_image load_image(const char *name) {
    char path[256], err[512];
    snprintf(path, sizeof path, IMAGES "/%s", name);
    bcos_image img;
    BCOS_CHECK(bcos_image_load(&img, path, err, sizeof err) == 0, "fixture images of tests/fixtures/image");
    return img;
}

static void check_crop(const cJSON *c) {
    const char *name = cJSON_GetObjectItem(c, "image")->valuestring;
    const cJSON *b = cJSON_GetObjectItem(c, "box");
    bcos_train_crop crop = {{int_at(b, 0), int_at(b, 1), int_at(b, 2), int_at(b, 3)},
                            cJSON_IsTrue(cJSON_GetObjectItem(c, "flip"))};
    int size = int_of(c, "size");
    size_t plane = (size_t)size * size;
    bcos_image img = load_image(name);
    uint8_t *out = xmalloc(plane * 3);
    bcos_train_crop_apply(out, &img, &crop, size);
    char what[96];
    snprintf(what, sizeof what, "box (%d, %d, %d x %d)%s at %d", crop.box.x, crop.box.y, crop.box.w, crop.box.h,
             crop.flip ? " flipped" : "", size);
    pixel_reference ref = pixel_reference_load(FIXTURES, cJSON_GetObjectItem(c, "crop"));
    pixel_reference_check(name, what, out, plane * 3, &ref);
    free(ref.raw);
    const cJSON *tensor = cJSON_GetObjectItem(c, "tensor");
    if (tensor) {
        pixel_reference t = pixel_reference_load(FIXTURES, tensor);
        float *ours = xmalloc(3 * plane * sizeof(float));
        bcos_clip_normalize(ours, out, size, bcos_clip_mean, bcos_clip_std);
        double diff = pixel_max_abs_diff(ours, (const float *)t.raw, 3 * plane);
        CHECK_MSG(diff <= 1e-6, "%s %s: model input max abs %.3g from torchvision's", name, what, diff);
        free(ours);
        free(t.raw);
    }
    free(out);
    bcos_image_free(&img);
}

static uint8_t *read_image_bytes(const char *name, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, IMAGES "/%s", name);
    uint8_t *data = (uint8_t *)bcos_read_file(path, len);
    BCOS_CHECK(data, "fixture images of tests/fixtures/image");
    return data;
}

static void check_draft(const cJSON *c) {
    const char *name = cJSON_GetObjectItem(c, "image")->valuestring;
    const cJSON *req = cJSON_GetObjectItem(c, "request");
    size_t len;
    uint8_t *data = read_image_bytes(name, &len);
    bcos_image img;
    char err[512], what[64];
    int rc = bcos_image_decode_scaled(&img, data, len, int_at(req, 0), int_at(req, 1), name, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    int w = int_of(c, "width"), h = int_of(c, "height");
    CHECK_MSG(img.width == w && img.height == h, "%s scaled for %d x %d: %d x %d, PIL's draft %d x %d", name,
              int_at(req, 0), int_at(req, 1), img.width, img.height, w, h);
    if (rc == 0 && img.width == w && img.height == h) {
        pixel_reference ref = pixel_reference_load(FIXTURES, cJSON_GetObjectItem(c, "rgb"));
        snprintf(what, sizeof what, "decoded at 1/%d", int_of(c, "scale"));
        pixel_reference_check(name, what, img.rgb, (size_t)w * h * 3, &ref);
        free(ref.raw);
    }
    bcos_image_free(&img);
    free(data);
}

static void check_fast_eval(const cJSON *c) {
    const char *name = cJSON_GetObjectItem(c, "image")->valuestring;
    int size = int_of(c, "size");
    size_t plane = (size_t)size * size, len;
    uint8_t *data = read_image_bytes(name, &len);
    uint8_t *crop = xmalloc(plane * 3);
    char err[512], what[64];
    int rc = bcos_clip_eval_decode_crop(crop, data, len, size, BCOS_DECODE_FAST, name, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    snprintf(what, sizeof what, "fast evaluation crop %d (PIL draft 1/%d for %d)", size, int_of(c, "scale"),
             int_at(cJSON_GetObjectItem(c, "request"), 0));
    pixel_reference ref = pixel_reference_load(FIXTURES, cJSON_GetObjectItem(c, "crop"));
    pixel_reference_check(name, what, crop, plane * 3, &ref);
    pixel_reference t = pixel_reference_load(FIXTURES, cJSON_GetObjectItem(c, "tensor"));
    if (t.raw) {
        float *ours = xmalloc(3 * plane * sizeof(float));
        bcos_clip_normalize(ours, crop, size, bcos_clip_mean, bcos_clip_std);
        double diff = pixel_max_abs_diff(ours, (const float *)t.raw, 3 * plane);
        CHECK_MSG(diff <= 1e-6, "%s %s: model input max abs %.3g from open_clip's", name, what, diff);
        free(ours);
        free(t.raw);
    }
    free(ref.raw);
    free(crop);
    free(data);
}

/* Resize and centre crop of a picture Pillow 13 resizes vertically first. */
static void check_tall_eval(const cJSON *c) {
    const char *name = cJSON_GetObjectItem(c, "image")->valuestring;
    char path[256], err[512];
    snprintf(path, sizeof path, FIXTURES "/%s", name);
    bcos_image img, resized;
    BCOS_CHECK(bcos_image_load(&img, path, err, sizeof err) == 0, "re-run tools/ref/make_train_crop_fixtures.py");
    int size = int_of(c, "size"), rw = int_of(c, "resized_width"), rh = int_of(c, "resized_height");
    bcos_image_resize_bicubic(&resized, &img, rw, rh);
    pixel_reference ref = pixel_reference_load(FIXTURES, cJSON_GetObjectItem(c, "resized"));
    pixel_reference_check(name, "resized (vertical pass first)", resized.rgb, (size_t)rw * rh * 3, &ref);
    free(ref.raw);
    uint8_t *crop = xmalloc((size_t)size * size * 3);
    CHECK(bcos_clip_eval_crop(crop, &img, size, err, sizeof err) == 0);
    ref = pixel_reference_load(FIXTURES, cJSON_GetObjectItem(c, "crop"));
    pixel_reference_check(name, "centre crop (vertical pass first)", crop, (size_t)size * size * 3, &ref);
    free(ref.raw);
    free(crop);
    bcos_image_free(&resized);
    bcos_image_free(&img);
}

int main(void) {
    cJSON *index = read_json(FIXTURES "/index.json");
    printf("fixtures from torch %s, torchvision %s, Pillow %s, open_clip %s\n",
           cJSON_GetObjectItem(index, "torch")->valuestring, cJSON_GetObjectItem(index, "torchvision")->valuestring,
           cJSON_GetObjectItem(index, "pillow")->valuestring, cJSON_GetObjectItem(index, "open_clip")->valuestring);
    check_geometry();
    int counts[4] = {0, 0, 0, 0};
    const char *sections[4] = {"crops", "drafts", "fast_eval", "tall_eval"};
    void (*checks[4])(const cJSON *) = {check_crop, check_draft, check_fast_eval, check_tall_eval};
    for (int s = 0; s < 4; s++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(index, sections[s])) {
            checks[s](c);
            counts[s]++;
        }
    }
    printf("  %d crops, %d drafts, %d fast evaluation crops, %d tall evaluation crops\n", counts[0], counts[1],
           counts[2], counts[3]);
    CHECK(counts[0] >= 30 && counts[1] >= 8 && counts[2] >= 4 && counts[3] >= 2);
    cJSON_Delete(index);
    return test_summary("test_train_crop");
}
