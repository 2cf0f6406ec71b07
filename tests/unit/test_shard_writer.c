/* The shard writer: samples read back through the data plane's reader exactly as written (keys, member
 * order, payloads, long and non-ASCII names), shards split by sample count and by the byte cap (a shard
 * never passes the cap unless one sample alone does, and is cut only when the next sample would pass
 * it), sizes.json and nshards.txt, the refusals of keys and members the reader would not give back, an
 * existing output folder, overwriting (stale shards removed), and abort (no partial shard left). */
#include "bcos/shards.h"

#include "bcos/check.h"
#include "support/sample_list.h"
#include "support/temp_tree.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[] = "/tmp/bcos_test_shard_writer_XXXXXX";

/* A sample with deterministic payloads: a "jpg" of size bytes, a .cls and a .txt. */
typedef struct {
    char key[64];
    bcos_sample_member m[3];
    char cls[16], txt[64];
} test_sample;

static void make_sample(test_sample *t, const char *key, int i, size_t size) {
    snprintf(t->key, sizeof t->key, "%s", key);
    uint8_t *img = xmalloc(size ? size : 1);
    for (size_t j = 0; j < size; j++) img[j] = (uint8_t)(j * 31 + (size_t)i * 7);
    snprintf(t->cls, sizeof t->cls, "%d", i % 10);
    snprintf(t->txt, sizeof t->txt, "caption of sample %d", i);
    t->m[0] = (bcos_sample_member){"jpg", img, size};
    t->m[1] = (bcos_sample_member){"cls", (uint8_t *)t->cls, strlen(t->cls)};
    t->m[2] = (bcos_sample_member){"txt", (uint8_t *)t->txt, strlen(t->txt)};
}

static char *path_of(const char *dir, const char *name) {
    static char path[4][512];
    static int turn;
    turn = (turn + 1) % 4;
    snprintf(path[turn], sizeof path[turn], "%s/%s", dir, name);
    return path[turn];
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Checks that the shard holds want[0..n) exactly. */
static void check_shard(const char *path, const test_sample *want, int n) {
    sl_list got;
    bcos_data_counters c = {0};
    bcos_fetch_options opt;
    bcos_fetch_options_default(&opt);
    sl_read(&got, path, &opt, &c);
    CHECK_MSG(got.status == 0 && got.count == n, "%s: %d samples (status %d, %s), expected %d", path, got.count,
              got.status, got.error, n);
    for (int i = 0; i < got.count && i < n; i++) {
        const bcos_sample *s = &got.items[i];
        bool same = strcmp(s->key, want[i].key) == 0 && s->n_members == 3;
        for (int j = 0; same && j < 3; j++)
            same = strcmp(s->members[j].ext, want[i].m[j].ext) == 0 && s->members[j].size == want[i].m[j].size &&
                   memcmp(s->members[j].data, want[i].m[j].data, want[i].m[j].size) == 0;
        CHECK_MSG(same, "%s: sample %d ('%s') differs from what was written ('%s')", path, i, s->key, want[i].key);
    }
    CHECK(c.members_ignored == 0 && c.members_bad_name == 0 && c.samples_lost == 0);
    sl_free(&got);
    long size = file_size(path);
    CHECK_MSG(size > 0 && size % 512 == 0, "%s: %ld bytes, not whole tar blocks", path, size);
}

static cJSON *read_json(const char *path) {
    char *text = bcos_read_file(path, NULL);
    cJSON *json = text ? cJSON_Parse(text) : NULL;
    free(text);
    return json;
}

static void free_samples(test_sample *t, int n) {
    for (int i = 0; i < n; i++) free(t[i].m[0].data);
}

static void test_split_by_count(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/count", g_dir);
    char err[512];
    bcos_shard_limits lim = {.max_samples = 10};
    bcos_shard_writer *w = bcos_shard_writer_open(dir, &lim, err, sizeof err);
    CHECK_MSG(w != NULL, "%s", err);
    test_sample t[25];
    for (int i = 0; i < 25; i++) {
        char key[32];
        snprintf(key, sizeof key, "s%07d", i);
        make_sample(&t[i], key, i, (size_t)(i * 97 % 1500));
        CHECK(bcos_shard_writer_add(w, t[i].key, t[i].m, 3, err, sizeof err) == 0);
    }
    CHECK(bcos_shard_writer_samples(w) == 25 && bcos_shard_writer_shards(w) == 3);
    char nshards_path[512];
    snprintf(nshards_path, sizeof nshards_path, "%s", path_of(dir, "nshards.txt"));
    CHECK_MSG(file_size(nshards_path) < 0, "nshards.txt exists before close");
    CHECK(bcos_shard_writer_close(w, err, sizeof err) == 0);
    check_shard(path_of(dir, "0.tar"), t, 10);
    check_shard(path_of(dir, "1.tar"), t + 10, 10);
    check_shard(path_of(dir, "2.tar"), t + 20, 5);
    CHECK(file_size(path_of(dir, "3.tar")) < 0 && tt_count_prefixed(dir, "2.tar.tmp.") == 0);
    char *nshards = bcos_read_file(nshards_path, NULL);
    CHECK(nshards && strcmp(nshards, "3\n") == 0);
    free(nshards);
    cJSON *sizes = read_json(path_of(dir, "sizes.json"));
    CHECK(sizes && cJSON_GetArraySize(sizes) == 3);
    const long want[3] = {10, 10, 5};
    for (int i = 0; sizes && i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "%d.tar", i);
        const cJSON *v = cJSON_GetObjectItem(sizes, name);
        CHECK_MSG(cJSON_IsNumber(v) && v->valuedouble == (double)want[i], "sizes.json[%s]", name);
    }
    cJSON_Delete(sizes);
    free_samples(t, 25);

    /* The folder holds shards now: a second run must ask to overwrite; a shorter one removes the rest. */
    CHECK(bcos_shard_writer_open(dir, &lim, err, sizeof err) == NULL);
    CHECK_MSG(strstr(err, dir) == err && strstr(err, "holds shards already"), "%s", err);
    lim.overwrite = true;
    w = bcos_shard_writer_open(dir, &lim, err, sizeof err);
    CHECK(w != NULL && file_size(nshards_path) < 0);
    make_sample(&t[0], "only", 0, 10);
    CHECK(bcos_shard_writer_add(w, t[0].key, t[0].m, 3, err, sizeof err) == 0);
    CHECK(bcos_shard_writer_close(w, err, sizeof err) == 0);
    check_shard(path_of(dir, "0.tar"), t, 1);
    CHECK_MSG(file_size(path_of(dir, "1.tar")) < 0 && file_size(path_of(dir, "2.tar")) < 0, "stale shards remain");
    free_samples(t, 1);
    tt_remove_tree(dir);
}

/* Bytes the sample takes in a tar with ustar names: a header and the padded payload per member. */
static long sample_tar_bytes(const test_sample *t) {
    long bytes = 0;
    for (int j = 0; j < 3; j++) bytes += 512 + (long)(t->m[j].size + 511) / 512 * 512;
    return bytes;
}

static void test_split_by_bytes(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/bytes", g_dir);
    char err[512];
    const long cap = 20000;
    bcos_shard_limits lim = {.max_samples = 1000, .max_bytes = cap};
    bcos_shard_writer *w = bcos_shard_writer_open(dir, &lim, err, sizeof err);
    enum { N = 40 };
    test_sample t[N];
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "dir/s%03d", i);
        /* sample 17 alone is over the cap */
        make_sample(&t[i], key, i, i == 17 ? 30000 : (size_t)(i * 1931 % 6000));
        CHECK(bcos_shard_writer_add(w, t[i].key, t[i].m, 3, err, sizeof err) == 0);
    }
    int shards = bcos_shard_writer_shards(w);
    CHECK(bcos_shard_writer_close(w, err, sizeof err) == 0);
    int first = 0;
    for (int s = 0; s < shards; s++) {
        char name[16];
        snprintf(name, sizeof name, "%d.tar", s);
        long size = file_size(path_of(dir, name)), expected = 1024;
        int n = 0;
        while (first + n < N && expected + sample_tar_bytes(&t[first + n]) <= (n == 0 ? LONG_MAX : cap))
            expected += sample_tar_bytes(&t[first + n++]);
        CHECK_MSG(size == expected, "%s: %ld bytes, expected %ld from its %d samples", name, size, expected, n);
        CHECK_MSG(size <= cap || n == 1, "%s: %ld bytes over the cap with %d samples", name, size, n);
        check_shard(path_of(dir, name), t + first, n);
        first += n;
    }
    CHECK_MSG(first == N, "the shards hold %d of %d samples", first, N);
    free_samples(t, N);
    tt_remove_tree(dir);
}

static void test_names_ustar_cannot_hold(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/names", g_dir);
    char err[512];
    bcos_shard_limits lim = {.max_samples = 100, .max_bytes = 40000};
    bcos_shard_writer *w = bcos_shard_writer_open(dir, &lim, err, sizeof err);
    test_sample t[4];
    char long_key[400];
    memset(long_key, 'k', 300);
    long_key[150] = '/';
    long_key[300] = '\0';
    char long_base[200];
    memset(long_base, 'b', 150);
    long_base[150] = '\0';
    make_sample(&t[0], long_key, 0, 100);
    make_sample(&t[1], "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac", 1, 200);
    make_sample(&t[2], long_base, 2, 300);
    make_sample(&t[3], "a.b.c/d", 3, 400);
    for (int i = 0; i < 4; i++) CHECK_MSG(bcos_shard_writer_add(w, t[i].key, t[i].m, 3, err, sizeof err) == 0, "%s", err);
    CHECK(bcos_shard_writer_close(w, err, sizeof err) == 0);
    check_shard(path_of(dir, "0.tar"), t, 4);
    CHECK(file_size(path_of(dir, "0.tar")) <= 40000);
    free_samples(t, 4);
    tt_remove_tree(dir);
}

static void expect_refused(bcos_shard_writer *w, const char *key, const bcos_sample_member *m, int n,
                           const char *needle) {
    char err[512] = "";
    CHECK_MSG(bcos_shard_writer_add(w, key, m, n, err, sizeof err) != 0, "key '%s' accepted", key);
    CHECK_MSG(strstr(err, needle) && !strchr(err, '\n'), "key '%s': message '%s' lacks '%s'", key, err, needle);
}

static void test_refusals(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/refusals", g_dir);
    char err[512];
    bcos_shard_limits lim = {.max_samples = 100};
    bcos_shard_writer *w = bcos_shard_writer_open(dir, &lim, err, sizeof err);
    CHECK(bcos_shard_writer_close(w, err, sizeof err) != 0 && strstr(err, "no samples"));
    w = bcos_shard_writer_open(dir, &lim, err, sizeof err);
    bcos_sample_member ok[2] = {{"jpg", (uint8_t *)"x", 1}, {"cls", (uint8_t *)"1", 1}};
    bcos_sample_member twice[2] = {{"jpg", (uint8_t *)"x", 1}, {"jpg", (uint8_t *)"y", 1}};
    bcos_sample_member odd[1] = {{"npy", (uint8_t *)"x", 1}};
    expect_refused(w, "a.b", ok, 2, "'.'");
    expect_refused(w, "dir/x.y", ok, 2, "'.'");
    expect_refused(w, "../up", ok, 2, "..");
    expect_refused(w, "a/../b", ok, 2, "..");
    expect_refused(w, "/abs", ok, 2, "relative");
    expect_refused(w, "dir/", ok, 2, "relative");
    expect_refused(w, "", ok, 2, "relative");
    expect_refused(w, "__meta__", ok, 2, "metadata");
    expect_refused(w, "__cache__/k", ok, 2, "metadata");
    expect_refused(w, "k", twice, 2, "two .jpg");
    expect_refused(w, "k", odd, 1, "npy");
    expect_refused(w, "k", ok, 0, "0 members");
    CHECK(bcos_shard_writer_add(w, "k", ok, 2, err, sizeof err) == 0);
    expect_refused(w, "k", ok, 2, "repeats");
    /* A shard in progress is removed on abort; nothing claims the folder complete. */
    CHECK(tt_count_prefixed(dir, "0.tar.tmp.") == 1);
    bcos_shard_writer_abort(w);
    CHECK(tt_count_prefixed(dir, "0.tar.tmp.") == 0 && file_size(path_of(dir, "0.tar")) < 0);
    CHECK(file_size(path_of(dir, "nshards.txt")) < 0);
    tt_remove_tree(dir);
    /* A file where the folder should be. */
    char file[256], below[300];
    snprintf(file, sizeof file, "%s/a_file", g_dir);
    snprintf(below, sizeof below, "%s/split", file);
    FILE *f = fopen(file, "w");
    fclose(f);
    CHECK(bcos_shard_writer_open(below, &lim, err, sizeof err) == NULL && strstr(err, "a_file"));
    unlink(file);
}

int main(void) {
    if (!mkdtemp(g_dir)) return 1;
    test_split_by_count();
    test_split_by_bytes();
    test_names_ustar_cannot_hold();
    test_refusals();
    tt_remove_tree(g_dir);
    return test_summary("test_shard_writer");
}
