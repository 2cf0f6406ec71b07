/* Decode workers against PIL, torchvision and open_clip: shards of fixture images go through the
 * epoch loader with the image sample function, and each batch slot must equal what torchvision's
 * CenterCrop (uint8 crop), open_clip's evaluation transform (CLIP tensor) and [u, 1 - u] of that
 * crop (B-cos input) give for the same image (tests/fixtures/image, tools/ref/make_image_fixtures.py);
 * exactly for PNG, within 1/255 for JPEG, where libjpeg-turbo's and PIL's decoders may differ.
 * The student + teacher output holds both. Refused samples (corrupt, a GIF, no image, bad or missing
 * label) are skipped and counted. Training crops: each slot is its sample's own crop (by shard URL and
 * index) in both outputs, an epoch repeats exactly, and another epoch or fast decoding changes it. */
#include "bcos/loader.h"

#include "bcos/check.h"
#include "bcos/log.h"
#include "support/tar_build.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S 32
#define FIXTURES "tests/fixtures/image/"

static char g_dir[] = "/tmp/bcos_test_image_loader_XXXXXX";

typedef struct {
    const char *key, *image, *cls; /* image: a fixture file, NULL for a text-only sample */
    const char *ext;               /* the image member's extension; NULL: the file's */
} sample_spec;

/* The usable samples are 0, 7, 8 and 9; the others are refused for the reasons named. */
static const sample_spec g_specs[] = {
    {"s0", "tiny_20x15.png", "3", NULL},
    {"s1", "palette_256x256.png", "12", NULL}, /* bad label: 10 classes */
    {"s2", "corrupt_zlib.png", "1", NULL},     /* corrupt */
    {"s3", "sample.gif", "2", "jpg"},          /* unsupported: a GIF named .jpg */
    {"s4", NULL, "4", NULL},                   /* no image */
    {"s5", "tiny_7x9.jpg", "x", NULL},         /* bad label */
    {"s6", "grey16_64x48.png", NULL, NULL},    /* no label */
    {"s7", "odd_301x257.png", " 7\n", NULL},
    {"s8", "portrait_320x370.jpg", "9", NULL},
    {"s9", "lossy_40x30.webp", "5", NULL},
};
static const int g_usable[] = {0, 7, 8, 9};

static uint8_t *read_fixture(const char *name, size_t *size) {
    char path[256];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    uint8_t *data = (uint8_t *)bcos_read_file(path, size);
    CHECK_MSG(data != NULL, "cannot read %s", path);
    return data;
}

static void write_shard(const char *path) {
    tb_member m[32];
    uint8_t *payloads[16] = {0};
    char names[32][32];
    int n = 0;
    for (size_t i = 0; i < sizeof g_specs / sizeof g_specs[0]; i++) {
        const sample_spec *sp = &g_specs[i];
        if (sp->image) {
            size_t size = 0;
            payloads[i] = read_fixture(sp->image, &size);
            snprintf(names[n], 32, "%s.%s", sp->key, sp->ext ? sp->ext : strrchr(sp->image, '.') + 1);
            m[n] = (tb_member){names[n], payloads[i], size, 0, NULL};
            n++;
        } else {
            snprintf(names[n], 32, "%s.txt", sp->key);
            m[n] = (tb_member){names[n], "a caption", 9, 0, NULL};
            n++;
        }
        if (sp->cls) {
            snprintf(names[n], 32, "%s.cls", sp->key);
            m[n] = (tb_member){names[n], sp->cls, strlen(sp->cls), 0, NULL};
            n++;
        }
    }
    size_t size;
    uint8_t *tar = tb_build(m, n, &size);
    CHECK(tb_write_file(path, tar, size) == 0);
    free(tar);
    for (int i = 0; i < 16; i++) free(payloads[i]);
}

/* max |x6 - [u, 1 - u]| of a [6, S, S] B-cos input against an interleaved uint8 crop. */
static double bcos6_error(const float *x6, const uint8_t *crop) {
    size_t plane = (size_t)S * S;
    double worst = 0;
    for (size_t i = 0; i < plane * 3; i++) {
        size_t c = i % 3, p = i / 3;
        double u = crop[i] / 255.0;
        worst = fmax(worst, fmax(fabs(x6[c * plane + p] - u), fabs(x6[(c + 3) * plane + p] - (1 - u))));
    }
    return worst;
}

static double float_error(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(a[i] - b[i]));
    return worst;
}

/* The reference for one slot: crop (uint8) or the tensor/B-cos input (float) from the fixtures. */
static double slot_error(const bcos_image_sample_config *cfg, const char *image, const void *slot) {
    char base[64], name[96];
    snprintf(base, sizeof base, "%.*s", (int)(strrchr(image, '.') - image), image);
    size_t size, plane = (size_t)S * S;
    double worst = 0;
    if (cfg->kind == BCOS_INPUT_CLIP || cfg->kind == BCOS_INPUT_BCOS6_CLIP) {
        snprintf(name, sizeof name, "%s.tensor%d.bin", base, S);
        float *want = (float *)read_fixture(name, &size);
        CHECK(size == plane * 3 * sizeof(float));
        const float *tensor = (const float *)slot + (cfg->kind == BCOS_INPUT_BCOS6_CLIP ? 6 * plane : 0);
        if (want) worst = float_error(tensor, want, plane * 3);
        free(want);
        if (cfg->kind == BCOS_INPUT_CLIP) return worst;
    }
    snprintf(name, sizeof name, "%s.crop%d.bin", base, S);
    uint8_t *crop = read_fixture(name, &size);
    CHECK(size == plane * 3);
    if (crop && cfg->kind == BCOS_INPUT_CROP_U8)
        for (size_t i = 0; i < plane * 3; i++)
            worst = fmax(worst, fabs((double)((const uint8_t *)slot)[i] - crop[i]) / 255);
    else if (crop)
        worst = fmax(worst, bcos6_error(slot, crop));
    free(crop);
    return worst;
}

static void run_kind(bcos_input_kind kind, const char *const *urls) {
    bcos_image_sample_config icfg = {.size = S, .kind = kind, .need_label = true, .n_classes = 10};
    long known[2] = {4, 4};
    bcos_epoch_plan plan;
    char err[256];
    CHECK(bcos_epoch_plan_make(&plan, known, 2, 1, 0, 0, 1, 2, 4, err, sizeof err) == 0);
    bcos_loader_config cfg = {0};
    cfg.urls = urls;
    cfg.plan = &plan;
    bcos_fetch_options_default(&cfg.fetch);
    cfg.sample_bytes = bcos_image_sample_bytes(&icfg);
    cfg.fn = bcos_image_sample;
    cfg.ctx = &icfg;
    cfg.ready_batches = 1;
    bcos_loader *l = bcos_loader_start(&cfg, err, sizeof err);
    bcos_batch *b;
    int batches = 0;
    while (bcos_loader_next(l, &b) == 1) {
        for (int i = 0; i < 4; i++) {
            const sample_spec *sp = &g_specs[g_usable[i]];
            CHECK_MSG(b->origins[i].index == g_usable[i], "slot %d holds sample %ld", i, b->origins[i].index);
            CHECK(b->labels[i] == atoi(sp->cls));
            bool jpeg = strstr(sp->image, ".jpg") != NULL;
            double worst = slot_error(&icfg, sp->image, (const char *)b->data + i * cfg.sample_bytes);
            double tolerance = jpeg ? 1.0 / 255 + 1e-6 : kind == BCOS_INPUT_CROP_U8 ? 0 : 1e-6;
            CHECK_MSG(worst <= tolerance, "kind %d, %s: max abs %.3g", (int)kind, sp->image, worst);
        }
        batches++;
        bcos_loader_release(l, b);
    }
    CHECK(batches == 2);
    bcos_loader_counters c;
    bcos_loader_counters_get(l, &c);
    bcos_loader_stop(l);
    const long want[BCOS_SKIP_REASONS] = {
        [BCOS_SAMPLE_OK] = 8, [BCOS_SKIP_BAD_LABEL] = 4, [BCOS_SKIP_CORRUPT] = 2,
        [BCOS_SKIP_UNSUPPORTED] = 2, [BCOS_SKIP_NO_IMAGE] = 2, [BCOS_SKIP_NO_LABEL] = 2,
    };
    for (int r = 0; r < BCOS_SKIP_REASONS; r++)
        CHECK_MSG(c.skipped[r] == want[r], "%s: %ld, expected %ld", bcos_sample_verdict_name((bcos_sample_verdict)r),
                  c.skipped[r], want[r]);
    bcos_epoch_plan_free(&plan);
}

/* One epoch of training crops (B-cos input and CLIP tensor of one decode) through the loader; each
 * slot must be the sample's own crop (bcos_train_decode_crop of its shard's position and index, golden-
 * tested in test_train_crop) in both outputs. Returns a checksum of the epoch's slots. */
static double run_train(const char *const *urls, uint64_t epoch, bcos_decode_mode decode) {
    bcos_train_augment aug = {.seed = 7, .epoch = epoch};
    bcos_image_sample_config icfg = {.size = S, .kind = BCOS_INPUT_BCOS6_CLIP, .need_label = true, .n_classes = 10,
                                     .decode = decode, .train = &aug};
    long known[2] = {3, 3};
    bcos_epoch_plan plan;
    char err[256];
    CHECK(bcos_epoch_plan_make(&plan, known, 2, 1, epoch, 0, 1, 2, 3, err, sizeof err) == 0);
    bcos_loader_config cfg = {0};
    cfg.urls = urls;
    cfg.plan = &plan;
    bcos_fetch_options_default(&cfg.fetch);
    cfg.sample_bytes = bcos_image_sample_bytes(&icfg);
    CHECK(cfg.sample_bytes == (size_t)S * S * 9 * sizeof(float));
    cfg.fn = bcos_image_sample;
    cfg.ctx = &icfg;
    cfg.ready_batches = 1;
    bcos_loader *l = bcos_loader_start(&cfg, err, sizeof err);
    bcos_batch *b;
    size_t plane = (size_t)S * S;
    uint8_t *crop = xmalloc(plane * 3);
    float *tensor = xmalloc(plane * 3 * sizeof(float));
    double checksum = 0;
    while (bcos_loader_next(l, &b) == 1) {
        for (int i = 0; i < 3; i++) {
            const bcos_sample_origin *o = &b->origins[i];
            const char *image = g_specs[o->index].image;
            size_t len;
            uint8_t *data = read_fixture(image, &len);
            CHECK(bcos_train_decode_crop(crop, data, len, S, &aug, o->shard, o->index, decode, image, err,
                                         sizeof err) == 0);
            free(data);
            const float *slot = (const float *)((const char *)b->data + i * cfg.sample_bytes);
            bcos_clip_normalize(tensor, crop, S, bcos_clip_mean, bcos_clip_std);
            CHECK_MSG(bcos6_error(slot, crop) <= 1e-6, "%s: the B-cos input is not the sample's training crop", image);
            CHECK_MSG(float_error(slot + 6 * plane, tensor, plane * 3) == 0,
                      "%s: the CLIP tensor is not the sample's training crop", image);
            for (size_t k = 0; k < plane * 9; k++) checksum += slot[k] * (double)(k % 97 + 1);
        }
        bcos_loader_release(l, b);
    }
    bcos_loader_stop(l);
    bcos_epoch_plan_free(&plan);
    free(crop);
    free(tensor);
    return checksum;
}

int main(void) {
    if (!mkdtemp(g_dir)) return 1;
    bcos_log_set_level(BCOS_LOG_ERROR); /* the refusals are meant */
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/a.tar", g_dir);
    snprintf(b, sizeof b, "file://%s/a.tar", g_dir);
    write_shard(a);
    const char *urls[2] = {a, b};
    run_kind(BCOS_INPUT_CROP_U8, urls);
    run_kind(BCOS_INPUT_CLIP, urls);
    run_kind(BCOS_INPUT_BCOS6, urls);
    run_kind(BCOS_INPUT_BCOS6_CLIP, urls);
    double epoch0 = run_train(urls, 0, BCOS_DECODE_EXACT);
    CHECK_MSG(run_train(urls, 0, BCOS_DECODE_EXACT) == epoch0, "the same epoch must give the same crops");
    CHECK_MSG(run_train(urls, 1, BCOS_DECODE_EXACT) != epoch0, "another epoch must give other crops");
    CHECK_MSG(run_train(urls, 0, BCOS_DECODE_FAST) != epoch0, "fast decoding of the 320 x 370 JPEG must shrink it");
    unlink(a);
    rmdir(g_dir);
    return test_summary("test_image_loader");
}
