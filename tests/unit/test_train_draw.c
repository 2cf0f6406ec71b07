/* Per-sample training crops: the draws of a sample repeat for the same (seed, epoch, shard position,
 * index) and change with each of them; the loader's sample function crops a sample alike under two
 * URLs of the same shard position, and otherwise at another position; boxes lie inside the image with the area fraction and aspect ratio
 * asked for (up to rounding) and cover that range; about half are flipped; the configured scale is used; decoding straight
 * to the crop equals decode, draw, crop; and fast decoding stays close to exact decoding on a large
 * JPEG while its box is carried onto the smaller image. The geometry itself is checked against
 * torchvision in tests/golden/test_train_crop.c. */
#include "bcos/check.h"
#include "bcos/loader.h"
#include "../../src/image/image_internal.h" /* the decoders and crops under test */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 500
#define H 375
#define SAMPLES 4000

static int same_crop(const bcos_train_crop *a, const bcos_train_crop *b) {
    return memcmp(&a->box, &b->box, sizeof a->box) == 0 && a->flip == b->flip;
}

static void check_repeat_and_vary(void) {
    bcos_train_augment aug = {.seed = 11, .epoch = 3};
    bcos_train_crop a, b;
    bcos_train_crop_draw(&a, W, H, &aug, 0, 5);
    bcos_train_crop_draw(&b, W, H, &aug, 0, 5);
    CHECK(same_crop(&a, &b));
    int differ_index = 0, differ_shard = 0, differ_epoch = 0, differ_seed = 0;
    for (long i = 0; i < 50; i++) {
        bcos_train_crop_draw(&a, W, H, &aug, 0, i);
        bcos_train_crop_draw(&b, W, H, &aug, 0, i + 1);
        differ_index += !same_crop(&a, &b);
        bcos_train_crop_draw(&b, W, H, &aug, 1, i);
        differ_shard += !same_crop(&a, &b);
        bcos_train_augment other = aug;
        other.epoch++;
        bcos_train_crop_draw(&b, W, H, &other, 0, i);
        differ_epoch += !same_crop(&a, &b);
        other = aug;
        other.seed++;
        bcos_train_crop_draw(&b, W, H, &other, 0, i);
        differ_seed += !same_crop(&a, &b);
    }
    CHECK_MSG(differ_index == 50 && differ_shard == 50 && differ_epoch == 50 && differ_seed == 50,
              "of 50 crops, %d changed with the index, %d with the shard, %d with the epoch, %d with the seed",
              differ_index, differ_shard, differ_epoch, differ_seed);
}

/* Boxes of many samples: inside, with the area and aspect asked for, half flipped. */
static void check_distribution(double lo, double hi) {
    bcos_train_augment aug = {.scale = {lo, hi}, .seed = 1};
    int flips = 0, outside = 0, bad_area = 0, bad_aspect = 0;
    double smallest = 1, largest = 0;
    for (long i = 0; i < SAMPLES; i++) {
        bcos_train_crop c;
        bcos_train_crop_draw(&c, W, H, &aug, 0, i);
        const bcos_box *b = &c.box;
        flips += c.flip;
        outside += b->w < 1 || b->h < 1 || b->x < 0 || b->y < 0 || b->x + b->w > W || b->y + b->h > H;
        double area = (double)b->w * b->h / (W * H), aspect = (double)b->w / b->h;
        smallest = fmin(smallest, area);
        largest = fmax(largest, area);
        /* w and h are rounded to whole pixels: allow a pixel's worth each way */
        double slack = (double)(b->w + b->h + 1) / (W * H);
        bad_area += area < lo - slack || area > hi + slack;
        bad_aspect += aspect < 0.75 * (1 - 1.0 / b->h) - 1e-9 || aspect > 4.0 / 3.0 * (1 + 1.0 / b->h) + 1e-9;
    }
    CHECK_MSG(outside == 0 && bad_area == 0 && bad_aspect == 0,
              "scale (%g, %g): %d boxes outside, %d with the wrong area, %d with the wrong aspect", lo, hi, outside,
              bad_area, bad_aspect);
    CHECK_MSG(abs(flips - SAMPLES / 2) < SAMPLES / 20, "%d of %d flipped", flips, SAMPLES);
    /* The draws cover the range (large boxes fail more tries, so the mean says little). */
    CHECK_MSG(smallest < lo + 0.02 * (hi - lo) && largest > hi - 0.1 * (hi - lo),
              "scale (%g, %g): areas only from %.3f to %.3f", lo, hi, smallest, largest);
}

static uint8_t *read_jpeg(size_t *len) {
    uint8_t *data = (uint8_t *)bcos_read_file("tests/fixtures/image/landscape_1200x800.jpg", len);
    BCOS_CHECK(data, "fixture images of tests/fixtures/image");
    return data;
}

static void check_decode_crop(void) {
    size_t len, n = 64 * 64 * 3;
    uint8_t *data = read_jpeg(&len);
    uint8_t *direct = xmalloc(n), *pieces = xmalloc(n), *fast = xmalloc(n);
    bcos_train_augment aug = {.seed = 5};
    char err[256];
    double sum = 0;
    long count = 0;
    int max_abs = 0;
    for (long i = 0; i < 8; i++) {
        CHECK(bcos_train_decode_crop(direct, data, len, 64, &aug, 0, i, BCOS_DECODE_EXACT, "j", err,
                                     sizeof err) == 0);
        bcos_image img;
        CHECK(bcos_image_decode(&img, data, len, "j", err, sizeof err) == 0);
        bcos_train_crop c;
        bcos_train_crop_draw(&c, img.width, img.height, &aug, 0, i);
        bcos_train_crop_apply(pieces, &img, &c, 64);
        bcos_image_free(&img);
        CHECK_MSG(memcmp(direct, pieces, n) == 0, "sample %ld: decode-and-crop differs from its pieces", i);
        CHECK(bcos_train_decode_crop(fast, data, len, 64, &aug, 0, i, BCOS_DECODE_FAST, "j", err,
                                     sizeof err) == 0);
        for (size_t k = 0; k < n; k++) {
            int d = abs((int)fast[k] - (int)direct[k]);
            sum += d;
            max_abs = d > max_abs ? d : max_abs;
            count++;
        }
    }
    /* The scaled decode (down to 3/4 of the crop's size, then enlarged) softens the crop and the box
     * rounded outwards moves edges by under a source pixel: the mean stays a few levels; a box
     * carried to the wrong place would differ by tens of levels. */
    double mean = sum / count;
    printf("  fast vs exact training crops of a 1200 x 800 JPEG at 64: mean abs %.2f, max abs %d levels\n", mean,
           max_abs);
    CHECK_MSG(mean > 0 && mean < 6, "fast training crops: mean abs %.2f levels from the exact ones", mean);
    free(direct);
    free(pieces);
    free(fast);
    free(data);
}

/* One JPEG as sample 7 of a shard at three (URL, position) pairs: the first two are the same shard
 * position under other schemes and hosts, the third another position under the first URL. */
static void check_position_not_url(void) {
    static const char *const URLS[3] = {"http://data.example.org/train/shard-000004.tar",
                                        "file:///mnt/copy/shard-000004.tar",
                                        "http://data.example.org/train/shard-000004.tar"};
    static const int POSITIONS[3] = {4, 4, 5};
    size_t len;
    uint8_t *data = read_jpeg(&len);
    bcos_train_augment aug = {.seed = 9, .epoch = 2};
    bcos_image_sample_config cfg = {.size = 64, .kind = BCOS_INPUT_CROP_U8, .train = &aug};
    size_t n = bcos_image_sample_bytes(&cfg);
    uint8_t *out[3];
    for (int k = 0; k < 3; k++) {
        out[k] = xmalloc(n);
        bcos_sample s = {.key = "s7", .shard = (char *)URLS[k], .shard_index = POSITIONS[k], .index = 7, .n_members = 1};
        s.members[0] = (bcos_sample_member){"jpg", data, len};
        char msg[256] = "";
        int label;
        CHECK_MSG(bcos_image_sample(&cfg, &s, out[k], &label, msg, sizeof msg) == BCOS_SAMPLE_OK, "%s: %s", URLS[k],
                  msg);
    }
    CHECK_MSG(memcmp(out[0], out[1], n) == 0, "the same shard position over http:// and file:// crops differently");
    CHECK_MSG(memcmp(out[0], out[2], n) != 0, "another shard position under the same URL gives the same crop");
    for (int k = 0; k < 3; k++) free(out[k]);
    free(data);
}

int main(void) {
    check_repeat_and_vary();
    check_position_not_url();
    check_distribution(0.08, 1.0);
    check_distribution(0.9, 1.0);
    check_decode_crop();
    return test_summary("test_train_draw");
}
