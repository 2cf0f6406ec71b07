/* The sources of `bcos shards write`: an image folder in torchvision's ImageFolder order (sorted classes,
 * folders before the files that sort after them, hidden files ignored, other files counted, symlinked
 * folders followed); IDX files plain and gzipped, with every refusal (bad magic, another element type,
 * truncated, trailing bytes, damaged gzip, missing file) one line naming the file; COCO captions
 * (captions joined to their images in file order, .json with captions, refusals of bad JSON and broken
 * references); PNG encoding that decodes back to the same pixels. */
#include "../../src/shards/shards_internal.h"

#include "bcos/check.h"
#include "../../src/image/image_internal.h" /* decodes what the writer wrote */
#include "support/tar_build.h"
#include "support/temp_tree.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char g_dir[] = "/tmp/bcos_test_shard_sources_XXXXXX";

static char *path_in(const char *rel) {
    static char path[4][512];
    static int turn;
    turn = (turn + 1) % 4;
    snprintf(path[turn], sizeof path[turn], "%s/%s", g_dir, rel);
    return path[turn];
}

static void put(const char *rel, const void *data, size_t len) {
    char *path = path_in(rel);
    char err[256];
    for (char *p = path + strlen(g_dir) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    (void)err;
    CHECK_MSG(tb_write_file(path, data, len) == 0, "cannot write %s", path);
}

static void put_text(const char *rel, const char *text) { put(rel, text, strlen(text)); }

static void test_image_folder(void) {
    const char *files[] = {"folder/dog/b.jpg", "folder/dog/a0.png", "folder/dog/a/z.JPEG", "folder/dog/.hidden.jpg",
                           "folder/dog/notes.txt", "folder/cat/x.webp", "folder/cat/deep/er/y.jpg",
                           "folder/bird/only.png", "folder/README.md", "elsewhere/e1.jpg"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) put_text(files[i], "bytes");
    mkdir(path_in("folder/.git"), 0755);
    CHECK(symlink(path_in("elsewhere"), path_in("folder/ant")) == 0);
    bcos_image_folder f;
    char err[512];
    CHECK_MSG(bcos_image_folder_scan(&f, path_in("folder"), err, sizeof err) == 0, "%s", err);
    const char *classes[] = {"ant", "bird", "cat", "dog"};
    CHECK(f.n_classes == 4);
    for (int c = 0; c < f.n_classes && c < 4; c++) CHECK_MSG(strcmp(f.classes[c], classes[c]) == 0, "class %d", c);
    /* torchvision: sorted(os.walk) roots, then sorted file names: dog/ before dog/a/ */
    const char *order[] = {"ant/e1.jpg", "bird/only.png", "cat/x.webp", "cat/deep/er/y.jpg",
                           "dog/a0.png", "dog/b.jpg", "dog/a/z.JPEG"};
    const int labels[] = {0, 1, 2, 2, 3, 3, 3};
    CHECK_MSG(f.count == 7, "%ld images", f.count);
    for (long i = 0; i < f.count && i < 7; i++) {
        const char *rel = f.paths[i] + strlen(path_in("folder/"));
        CHECK_MSG(strcmp(rel, order[i]) == 0 && f.labels[i] == labels[i], "image %ld: %s (label %d)", i, rel,
                  f.labels[i]);
    }
    CHECK_MSG(f.skipped == 1, "%ld skipped (notes.txt)", f.skipped);
    bcos_image_folder_free(&f);

    put_text("empty_class/a/notes.txt", "x");
    CHECK(bcos_image_folder_scan(&f, path_in("empty_class"), err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "empty_class/a: has no .jpg") && f.count == 0, "%s", err);
    CHECK(bcos_image_folder_scan(&f, path_in("elsewhere"), err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "elsewhere: has no class folders"), "%s", err);
    CHECK(bcos_image_folder_scan(&f, path_in("missing"), err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "missing: cannot read") && !strchr(err, '\n'), "%s", err);
}

/* An IDX header (unsigned bytes) for dims, then payload. */
static size_t idx_bytes(uint8_t *out, int type, const long *dims, int ndims, const uint8_t *payload, size_t len) {
    uint8_t *p = out;
    *p++ = 0, *p++ = 0, *p++ = (uint8_t)type, *p++ = (uint8_t)ndims;
    for (int d = 0; d < ndims; d++)
        for (int b = 3; b >= 0; b--) *p++ = (uint8_t)(dims[d] >> (8 * b));
    memcpy(p, payload, len);
    return (size_t)(p - out) + len;
}

static void put_gz(const char *rel, const void *data, size_t len) {
    put(rel, "", 0);
    gzFile f = gzopen(path_in(rel), "wb");
    CHECK(f && gzwrite(f, data, (unsigned)len) == (int)len);
    gzclose(f);
}

static void expect_idx_refused(const char *rel, const char *needle) {
    bcos_idx idx;
    char err[512] = "";
    CHECK_MSG(bcos_idx_read(&idx, path_in(rel), err, sizeof err) != 0, "%s read", rel);
    CHECK_MSG(strstr(err, path_in(rel)) == err && strstr(err, needle) && !strchr(err, '\n'), "%s: '%s' lacks '%s'",
              rel, err, needle);
    CHECK(idx.data == NULL);
}

static void test_idx(void) {
    uint8_t pixels[2 * 3 * 4], buf[256];
    for (int i = 0; i < 24; i++) pixels[i] = (uint8_t)(i * 11);
    const long dims[3] = {2, 3, 4};
    size_t len = idx_bytes(buf, 0x08, dims, 3, pixels, 24);
    put("plain.idx", buf, len);
    put_gz("packed.idx.gz", buf, len);
    const char *names[2] = {"plain.idx", "packed.idx.gz"};
    for (int k = 0; k < 2; k++) {
        bcos_idx idx;
        char err[512];
        CHECK_MSG(bcos_idx_read(&idx, path_in(names[k]), err, sizeof err) == 0, "%s", err);
        CHECK(idx.ndims == 3 && idx.dims[0] == 2 && idx.dims[1] == 3 && idx.dims[2] == 4 && idx.size == 24);
        CHECK(idx.data && memcmp(idx.data, pixels, 24) == 0);
        bcos_idx_free(&idx);
    }
    put("truncated.idx", buf, len - 1);
    expect_idx_refused("truncated.idx", "ends after 23 of the 24 data bytes");
    put_gz("truncated.idx.gz", buf, 10);
    expect_idx_refused("truncated.idx.gz", "header ends early");
    buf[len] = 7;
    put("trailing.idx", buf, len + 1);
    expect_idx_refused("trailing.idx", "bytes past the 24");
    len = idx_bytes(buf, 0x0D, dims, 3, pixels, 24);
    put("floats.idx", buf, len);
    expect_idx_refused("floats.idx", "IDX of floats (type 0x0d)");
    put_text("text.idx", "P5 28 28 255\n");
    expect_idx_refused("text.idx", "not an IDX file (it starts with 50 35 20 32)");
    const long zero[1] = {0};
    len = idx_bytes(buf, 0x08, zero, 1, pixels, 0);
    put("zero.idx", buf, len);
    expect_idx_refused("zero.idx", "dimension 0 is 0");
    /* a gzip stream damaged in its middle (its checksum no longer matches) */
    uint8_t big[4096];
    for (int i = 0; i < 4096; i++) big[i] = (uint8_t)(i * 7919 >> 3);
    const long big_dims[1] = {4088};
    len = idx_bytes(buf, 0x08, big_dims, 1, big, 0);
    uint8_t whole[4096 + 16];
    memcpy(whole, buf, len);
    memcpy(whole + len, big, 4088);
    put_gz("damaged.idx.gz", whole, len + 4088);
    size_t gz_len;
    char *gz = bcos_read_file(path_in("damaged.idx.gz"), &gz_len);
    for (size_t i = gz_len / 2; i < gz_len / 2 + 8; i++) gz[i] ^= 0x55;
    put("damaged.idx.gz", gz, gz_len);
    free(gz);
    expect_idx_refused("damaged.idx.gz", "damaged gzip data");
    expect_idx_refused("missing.idx", "cannot open");
}

static void expect_coco_refused(const char *json, const char *needle) {
    put_text("coco/bad.json", json);
    bcos_coco c;
    char err[512] = "";
    CHECK_MSG(bcos_coco_read(&c, path_in("coco/bad.json"), err, sizeof err) != 0, "accepted: %s", json);
    CHECK_MSG(strstr(err, "bad.json: ") && strstr(err, needle) && !strchr(err, '\n'), "'%s' lacks '%s'", err, needle);
    CHECK(c.count == 0 && c.images == NULL);
}

static void test_coco(void) {
    put_text("coco/captions.json",
             "{\"info\": {}, \"images\": [{\"id\": 42, \"file_name\": \"b.jpg\", \"width\": 640},"
             " {\"id\": 7, \"file_name\": \"sub/a.png\"}, {\"id\": 9, \"file_name\": \"none.jpg\"}],"
             " \"annotations\": [{\"image_id\": 7, \"id\": 1, \"caption\": \"a cat\\non a mat\"},"
             " {\"image_id\": 42, \"caption\": \"first of b\"}, {\"image_id\": 7, \"caption\": \"another cat\"},"
             " {\"image_id\": 42, \"caption\": \"second of b\"}]}");
    bcos_coco c;
    char err[512];
    CHECK_MSG(bcos_coco_read(&c, path_in("coco/captions.json"), err, sizeof err) == 0, "%s", err);
    CHECK(c.count == 3);
    if (c.count == 3) {
        CHECK(strcmp(c.images[0].file_name, "b.jpg") == 0 && c.images[0].n_captions == 2);
        CHECK(strcmp(c.images[0].captions[0], "first of b") == 0 && strcmp(c.images[0].captions[1], "second of b") == 0);
        CHECK(strcmp(c.images[1].file_name, "sub/a.png") == 0 && c.images[1].n_captions == 2);
        CHECK_MSG(strcmp(c.images[1].captions[0], "a cat on a mat") == 0, "'%s'", c.images[1].captions[0]);
        CHECK(c.images[2].n_captions == 0);
        cJSON *j = cJSON_Parse(c.images[0].json);
        CHECK_MSG(j && cJSON_GetObjectItem(j, "width")->valueint == 640 && cJSON_GetObjectItem(j, "id")->valueint == 42 &&
                      cJSON_GetArraySize(cJSON_GetObjectItem(j, "captions")) == 2,
                  "%s", c.images[0].json);
        cJSON_Delete(j);
    }
    bcos_coco_free(&c);
    expect_coco_refused("{\"images\": [", "not JSON");
    expect_coco_refused("{\"images\": []}", "lacks the \"images\" or \"annotations\" array");
    expect_coco_refused("{\"images\": [{\"id\": 1}], \"annotations\": []}", "images[0] lacks");
    expect_coco_refused("{\"images\": [{\"id\": 1, \"file_name\": \"a\"}, {\"id\": 1, \"file_name\": \"b\"}],"
                        " \"annotations\": []}", "images[1] repeats the id 1");
    expect_coco_refused("{\"images\": [{\"id\": 1, \"file_name\": \"a\"}], \"annotations\": [{\"image_id\": 1}]}",
                        "annotations[0] lacks");
    expect_coco_refused("{\"images\": [{\"id\": 1, \"file_name\": \"a\"}],"
                        " \"annotations\": [{\"image_id\": 2, \"caption\": \"x\"}]}",
                        "annotations[0] is about image 2");
    CHECK(bcos_coco_read(&c, path_in("coco/missing.json"), err, sizeof err) != 0 && strstr(err, "missing.json"));
}

static void test_png_round_trip(void) {
    enum { W = 29, H = 17 };
    uint8_t grey[W * H], rgb[W * H * 3];
    for (int i = 0; i < W * H; i++) grey[i] = (uint8_t)(i * 37 + i / W);
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)(i * 13 + 5);
    for (int channels = 1; channels <= 3; channels += 2) {
        size_t size;
        uint8_t *png = bcos_png_encode(channels == 1 ? grey : rgb, W, H, channels, &size);
        bcos_image img;
        char err[256];
        CHECK_MSG(bcos_image_decode(&img, png, size, "encoded.png", err, sizeof err) == 0, "%s", err);
        CHECK(img.width == W && img.height == H);
        int same = img.rgb != NULL;
        for (int i = 0; same && i < W * H * 3; i++) same = img.rgb[i] == (channels == 1 ? grey[i / 3] : rgb[i]);
        CHECK_MSG(same, "%d-channel PNG does not decode to its pixels", channels);
        bcos_image_free(&img);
        free(png);
    }
}

int main(void) {
    if (!mkdtemp(g_dir)) return 1;
    test_image_folder();
    test_idx();
    test_coco();
    test_png_round_trip();
    tt_remove_tree(g_dir);
    return test_summary("test_shard_sources");
}
