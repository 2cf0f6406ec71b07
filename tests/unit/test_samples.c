/* Tar streaming and WebDataset grouping on tars written with libarchive's writer: keys and lower-
 * cased extensions, grouping and its breaks (new key, repeated extension, a member of another key
 * whose extension is not kept), every skip reason with its counter, local files by path and by
 * file://, and shards that end badly: missing, not a tar, truncated, with a damaged header. The
 * expected samples are written out by hand from WebDataset's grouping rules. */
#include "bcos/check.h"
#include "bcos/samples.h"

#include "support/tar_build.h"
#include "test.h"

#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[] = "/tmp/bcos_test_samples_XXXXXX";

#define M(name, text) {name, text, sizeof text - 1, 0, NULL}

typedef struct {
    const char *key;
    const char *exts[4];
    const char *payloads[4];
} expected_sample;

/* Reads every sample of r and compares with want[0..n); returns the final status. */
static int expect_samples(bcos_sample_reader *r, const expected_sample *want, int n, const char *shard) {
    bcos_sample s;
    int got = 0, rc;
    while ((rc = bcos_samples_next(r, &s)) == 1) {
        if (got < n) {
            const expected_sample *w = &want[got];
            CHECK_MSG(strcmp(s.key, w->key) == 0, "sample %d key '%s', expected '%s'", got, s.key, w->key);
            CHECK_MSG(strcmp(s.shard, shard) == 0, "sample %d shard '%s'", got, s.shard);
            CHECK_MSG(s.index == got, "sample %d index %ld", got, s.index);
            int n_exts = 0;
            while (n_exts < 4 && w->exts[n_exts]) n_exts++;
            CHECK_MSG(s.n_members == n_exts, "sample '%s' has %d members, expected %d", s.key, s.n_members, n_exts);
            for (int i = 0; i < n_exts && i < s.n_members; i++) {
                CHECK_MSG(strcmp(s.members[i].ext, w->exts[i]) == 0, "sample '%s' member %d ext '%s'", s.key, i,
                          s.members[i].ext);
                size_t len = strlen(w->payloads[i]);
                CHECK_MSG(s.members[i].size == len && memcmp(s.members[i].data, w->payloads[i], len) == 0,
                          "sample '%s' member %s payload differs", s.key, w->exts[i]);
            }
        }
        got++;
        bcos_sample_clear(&s);
        CHECK(s.key == NULL && s.n_members == 0);
    }
    CHECK_MSG(got == n, "%s: %d samples, expected %d", shard, got, n);
    CHECK_MSG(bcos_samples_next(r, &s) == rc, "the reader did not stay ended");
    return rc;
}

static bcos_sample_reader *open_tar(const tb_member *members, int n, uint8_t **tar, size_t *size,
                                    bcos_data_counters *c) {
    *tar = tb_build(members, n, size);
    return bcos_samples_open_memory(*tar, *size, "mem.tar", c);
}

static void test_grouping(void) {
    const tb_member members[] = {
        M("a.jpg", "A-JPG"),        M("a.txt", "a caption"),  M("a.cls", "3"),
        M("dir/b.PNG", "B-PNG"),    M("dir/b.Json", "{}"),    M("c.d.e/f.webp", "F-WEBP"),
        M("c.d.e/f.jpeg", "F-JPEG"), M("g.jpg", "G1"),        M("g.jpg", "G2"),
        M("g.txt", "second g"),     M("h.seg.png", "H-SEG"),  M("h.png", "H"),
    };
    const expected_sample want[] = {
        {"a", {"jpg", "txt", "cls"}, {"A-JPG", "a caption", "3"}},
        {"dir/b", {"png", "json"}, {"B-PNG", "{}"}},
        {"c.d.e/f", {"webp", "jpeg"}, {"F-WEBP", "F-JPEG"}},
        {"g", {"jpg"}, {"G1"}},
        {"g", {"jpg", "txt"}, {"G2", "second g"}},
        {"h", {"png"}, {"H"}},
    };
    bcos_data_counters c = {0};
    uint8_t *tar;
    size_t size;
    bcos_sample_reader *r = open_tar(members, 12, &tar, &size, &c);
    CHECK(expect_samples(r, want, 6, "mem.tar") == 0);
    CHECK(strcmp(bcos_samples_error(r), "") == 0);
    bcos_samples_close(r);
    CHECK(c.shards == 1 && c.shards_failed == 0 && c.samples == 6 && c.samples_lost == 0);
    CHECK_MSG(c.members_ignored == 1, "ignored %ld (h.seg.png has extension seg.png)", c.members_ignored);
    free(tar);
}

static void test_skips(void) {
    char long_name[BCOS_NAME_MAX + 8];
    memset(long_name, 'x', BCOS_NAME_MAX);
    strcpy(long_name + BCOS_NAME_MAX, ".jpg");
    char just_fits[BCOS_NAME_MAX + 1];
    memset(just_fits, 'y', BCOS_NAME_MAX - 4);
    strcpy(just_fits + BCOS_NAME_MAX - 4, ".txt");
    const tb_member members[] = {
        M("__index__", "meta"),  M("a.jpg", "A"),        M("a.npy", "array"),    M("sub/__meta__", "m"),
        {"a", NULL, 0, AE_IFDIR, NULL},                 {"a.png", NULL, 0, AE_IFLNK, "a.jpg"},
        M("a.txt", "caption"),   M("b.npy", "B-ARRAY"),  M("a.cls", "7"),        M("../up.jpg", "U"),
        M("/abs.jpg", "ABS"),    M("d/../e.jpg", "E"),   {long_name, "L", 1, 0, NULL},
        {just_fits, "fits", 4, 0, NULL},                M("noext", "N"),        M(".hidden", "H"),
        M("k.", "K"),            M("k..jpg", "K2"),      M("z.JPG", "Z"),
    };
    char fits_key[BCOS_NAME_MAX];
    memset(fits_key, 'y', BCOS_NAME_MAX - 4);
    fits_key[BCOS_NAME_MAX - 4] = '\0';
    /* "k..jpg" has key k and extension ".jpg", which is not kept: k's sample is empty. */
    const expected_sample want[] = {
        {"a", {"jpg", "txt"}, {"A", "caption"}},
        {"a", {"cls"}, {"7"}},
        {fits_key, {"txt"}, {"fits"}},
        {"z", {"jpg"}, {"Z"}},
    };
    bcos_data_counters c = {0};
    uint8_t *tar;
    size_t size;
    bcos_sample_reader *r = open_tar(members, 19, &tar, &size, &c);
    CHECK(expect_samples(r, want, 4, "mem.tar") == 0);
    bcos_samples_close(r);
    CHECK_MSG(c.members_metadata == 2, "metadata %ld", c.members_metadata);
    CHECK_MSG(c.members_not_file == 2, "not_file %ld", c.members_not_file);
    CHECK_MSG(c.members_bad_name == 4, "bad_name %ld", c.members_bad_name);
    /* a.npy, b.npy, noext, .hidden, k., k..jpg */
    CHECK_MSG(c.members_ignored == 6, "ignored %ld", c.members_ignored);
    /* b (only b.npy) and k (only k..jpg) */
    CHECK_MSG(c.samples_empty == 2, "empty %ld", c.samples_empty);
    CHECK(c.samples == 4 && c.shards_failed == 0);
    free(tar);
}

/* A tar of n samples "sNNN" with .jpg and .txt members of distinct payloads. */
static uint8_t *numbered_tar(int n, size_t *size, char payloads[][2][32]) {
    tb_member *members = calloc((size_t)n * 2, sizeof *members);
    static char names[64][2][16];
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 2; j++) {
            snprintf(names[i][j], sizeof names[i][j], "s%03d.%s", i, j ? "txt" : "jpg");
            snprintf(payloads[i][j], 32, "%s payload %d", j ? "text" : "image", i * 7919 % 1000);
            members[2 * i + j] = (tb_member){names[i][j], payloads[i][j], strlen(payloads[i][j]), 0, NULL};
        }
    }
    uint8_t *tar = tb_build(members, 2 * n, size);
    free(members);
    return tar;
}

static void fill_expected(expected_sample *want, char keys[][8], char payloads[][2][32], int from, int n) {
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], 8, "s%03d", from + i);
        want[i] = (expected_sample){keys[i], {"jpg", "txt"}, {payloads[from + i][0], payloads[from + i][1]}};
    }
}

static void test_local_files(void) {
    char payloads[8][2][32], keys[8][8];
    size_t size;
    uint8_t *tar = numbered_tar(8, &size, payloads);
    char path[256], url[300];
    snprintf(path, sizeof path, "%s/shard.tar", g_dir);
    snprintf(url, sizeof url, "file://%s", path);
    CHECK(tb_write_file(path, tar, size) == 0);
    expected_sample want[8];
    fill_expected(want, keys, payloads, 0, 8);
    bcos_fetch_options opt;
    bcos_fetch_options_default(&opt);
    bcos_data_counters c = {0};
    const char *urls[] = {path, url};
    for (int i = 0; i < 2; i++) {
        bcos_sample_reader *r = bcos_samples_open(urls[i], &opt, &c);
        CHECK(expect_samples(r, want, 8, urls[i]) == 0);
        bcos_samples_close(r);
    }
    CHECK(c.shards == 2 && c.samples == 16 && c.shards_failed == 0 && c.http.attempts == 0);

    char missing[300];
    snprintf(missing, sizeof missing, "%s/missing.tar", g_dir);
    bcos_sample_reader *r = bcos_samples_open(missing, &opt, &c);
    CHECK(expect_samples(r, NULL, 0, missing) == -1);
    CHECK_MSG(strncmp(bcos_samples_error(r), missing, strlen(missing)) == 0, "error '%s'", bcos_samples_error(r));
    bcos_samples_close(r);
    CHECK(c.shards == 3 && c.shards_failed == 1);
    unlink(path);
    free(tar);
}

static void test_broken_tars(void) {
    char payloads[8][2][32], keys[8][8];
    size_t size;
    uint8_t *tar = numbered_tar(8, &size, payloads);
    expected_sample want[8];
    fill_expected(want, keys, payloads, 0, 8);

    /* Cut inside the payload of s003.txt: s000-s002 arrive, s003 is lost. */
    long cut = tb_header_offset(tar, size, "s003.txt") + 512 + 4;
    bcos_data_counters c = {0};
    bcos_sample_reader *r = bcos_samples_open_memory(tar, (size_t)cut, "cut.tar", &c);
    CHECK(expect_samples(r, want, 3, "cut.tar") == -1);
    CHECK_MSG(strncmp(bcos_samples_error(r), "cut.tar: ", 9) == 0, "error '%s'", bcos_samples_error(r));
    bcos_samples_close(r);
    CHECK(c.samples == 3 && c.samples_lost == 1 && c.shards_failed == 1);

    /* Cut right after s004.jpg's header block: s003 is complete, s004 is lost. */
    memset(&c, 0, sizeof c);
    cut = tb_header_offset(tar, size, "s004.jpg") + 512;
    r = bcos_samples_open_memory(tar, (size_t)cut, "cut.tar", &c);
    CHECK(expect_samples(r, want, 4, "cut.tar") == -1);
    bcos_samples_close(r);
    CHECK_MSG(c.samples == 4 && c.samples_lost == 1 && c.shards_failed == 1, "samples %ld lost %ld failed %ld", c.samples, c.samples_lost, c.shards_failed);

    /* A damaged header (bad checksum) on s005.txt loses s005 only; reading resumes after it. */
    uint8_t *damaged = malloc(size);
    memcpy(damaged, tar, size);
    damaged[tb_header_offset(tar, size, "s005.txt") + 148] ^= 0x01;
    memset(&c, 0, sizeof c);
    r = bcos_samples_open_memory(damaged, size, "damaged.tar", &c);
    expected_sample survivors[7];
    memcpy(survivors, want, 5 * sizeof *want);
    memcpy(survivors + 5, want + 6, 2 * sizeof *want);
    CHECK(expect_samples(r, survivors, 7, "damaged.tar") == 0);
    bcos_samples_close(r);
    CHECK_MSG(c.headers_damaged == 1 && c.samples_lost == 1 && c.shards_failed == 0,
              "damaged %ld lost %ld failed %ld", c.headers_damaged, c.samples_lost, c.shards_failed);
    free(damaged);

    /* Not a tar at all. */
    static const char junk[] = "this is not a tar archive, just some text that is long enough";
    memset(&c, 0, sizeof c);
    r = bcos_samples_open_memory(junk, sizeof junk, "junk.tar", &c);
    CHECK(expect_samples(r, NULL, 0, "junk.tar") == -1);
    CHECK(c.shards_failed == 1);
    bcos_samples_close(r);
    free(tar);

    /* A header whose size libarchive reads as negative (found by fuzz_tar_samples, now one of its
     * seeds): the shard fails with that reason instead of an allocation of 2^64 - 1 bytes. */
    size_t len;
    char *negative = bcos_read_file("tests/fuzz/seeds/fuzz_tar_samples/negative_size", &len);
    CHECK(negative != NULL);
    memset(&c, 0, sizeof c);
    r = bcos_samples_open_memory(negative, len, "negative.tar", &c);
    CHECK(expect_samples(r, NULL, 0, "negative.tar") == -1);
    CHECK_MSG(strstr(bcos_samples_error(r), "negative size") != NULL, "error '%s'", bcos_samples_error(r));
    CHECK(c.shards_failed == 1);
    bcos_samples_close(r);
    free(negative);
}

int main(void) {
    if (!mkdtemp(g_dir)) return 1;
    test_grouping();
    test_skips();
    test_local_files();
    test_broken_tars();
    rmdir(g_dir);
    return test_summary("test_samples");
}
