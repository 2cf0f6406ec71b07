/* Known sample counts: taken from sizes.json beside the shards (local and over HTTP, where no shard is
 * requested), else counted once and then taken from the cache (again without reading the shards), and
 * counted afresh when a local shard changes; a sizes.json that lacks a shard gets that one counted;
 * URLs of several folders keep their order; the cache folder follows $BCOS_CACHE_DIR, $XDG_CACHE_HOME,
 * $HOME; bad sizes.json and unreadable or broken shards fail with one line naming them. Shards of
 * unequal sizes, so that no count can come from assuming equal shards. */
#include "bcos/shard_sizes.h"

#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/shards.h"
#include "support/http_server.h"
#include "support/tar_build.h"
#include "support/temp_tree.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[] = "/tmp/bcos_test_shard_sizes_XXXXXX";
static char g_cache[300], g_data[300], g_other[300];

static const long g_counts[4] = {7, 3, 11, 5};

/* Writes shards 0..3.tar of g_counts samples into dir, without sizes.json (each is the first shard of
 * a writer run in a folder of its own, moved into dir); shard s's payloads are s + 1 bytes. */
static void write_shards(const char *dir) {
    char err[512];
    bcos_shard_limits lim = {.max_samples = 1000};
    for (int s = 0; s < 4; s++) {
        char sub[400], from[500], to[500];
        snprintf(sub, sizeof sub, "%s/tmp%d", dir, s);
        bcos_shard_writer *w = bcos_shard_writer_open(sub, &lim, err, sizeof err);
        BCOS_CHECK(w, "the test folder is writable");
        for (long i = 0; i < g_counts[s]; i++) {
            char key[32];
            snprintf(key, sizeof key, "k%03ld", i);
            bcos_sample_member m = {"cls", (uint8_t *)"12345", (size_t)s + 1};
            CHECK(bcos_shard_writer_add(w, key, &m, 1, err, sizeof err) == 0);
        }
        CHECK(bcos_shard_writer_close(w, err, sizeof err) == 0);
        snprintf(from, sizeof from, "%s/0.tar", sub);
        snprintf(to, sizeof to, "%s/%d.tar", dir, s);
        CHECK(rename(from, to) == 0);
        const char *names[] = {"sizes.json", "nshards.txt"};
        for (int k = 0; k < 2; k++) {
            snprintf(from, sizeof from, "%s/%s", sub, names[k]);
            unlink(from);
        }
        rmdir(sub);
    }
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(tb_write_file(path, text, strlen(text)) == 0);
}

static void remove_file(const char *dir, const char *name) {
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

typedef struct {
    char *urls[8];
    int n;
} url_set;

static url_set urls_in(const char *prefix, int n) {
    url_set u = {.n = n};
    for (int i = 0; i < n; i++) {
        u.urls[i] = xmalloc(strlen(prefix) + 16);
        sprintf(u.urls[i], "%s/%d.tar", prefix, i);
    }
    return u;
}

static void urls_free(url_set *u) {
    for (int i = 0; i < u->n; i++) free(u->urls[i]);
}

/* Sizes of u, all expected from one source; returns the status. */
static int expect_sizes(const url_set *u, const long *want, bcos_size_source from, const bcos_fetch_options *opt,
                        const char *what) {
    long counts[8];
    bcos_size_source sources[8];
    char err[512] = "";
    int rc = bcos_shard_sizes(counts, sources, (const char *const *)u->urls, u->n, opt, g_cache, NULL, err, sizeof err);
    CHECK_MSG(rc == 0, "%s: %s", what, err);
    for (int i = 0; rc == 0 && i < u->n; i++) {
        CHECK_MSG(counts[i] == want[i], "%s: %s has %ld samples, expected %ld", what, u->urls[i], counts[i], want[i]);
        CHECK_MSG(sources[i] == from, "%s: %s from %s, expected %s", what, u->urls[i], bcos_size_source_name(sources[i]),
                  bcos_size_source_name(from));
    }
    return rc;
}

static void expect_failure(const url_set *u, const char *needle, const char *what) {
    long counts[8];
    char err[512] = "";
    int rc = bcos_shard_sizes(counts, NULL, (const char *const *)u->urls, u->n, NULL, g_cache, NULL, err, sizeof err);
    CHECK_MSG(rc != 0, "%s: no error", what);
    CHECK_MSG(strstr(err, needle) && !strchr(err, '\n'), "%s: message '%s' lacks '%s'", what, err, needle);
}

static void test_local(void) {
    url_set u = urls_in(g_data, 4);
    /* the writer's sizes.json */
    write_text(g_data, "sizes.json", "{\"0.tar\": 7, \"1.tar\": \"3\", \"2.tar\": 11, \"3.tar\": 5, \"9.tar\": 1}");
    expect_sizes(&u, g_counts, BCOS_SIZE_FROM_SIZES_JSON, NULL, "sizes.json");
    /* sizes.json is believed over the shards: it is what makes reading them unnecessary */
    write_text(g_data, "sizes.json", "{\"0.tar\": 70, \"1.tar\": 30, \"2.tar\": 110, \"3.tar\": 50}");
    const long believed[4] = {70, 30, 110, 50};
    expect_sizes(&u, believed, BCOS_SIZE_FROM_SIZES_JSON, NULL, "sizes.json believed");

    remove_file(g_data, "sizes.json");
    expect_sizes(&u, g_counts, BCOS_SIZE_COUNTED, NULL, "no sizes.json");
    expect_sizes(&u, g_counts, BCOS_SIZE_FROM_CACHE, NULL, "cached");
    /* the same folder by file:// URL shares the cache */
    char prefix[400];
    snprintf(prefix, sizeof prefix, "file://%s", g_data);
    url_set f = urls_in(prefix, 4);
    expect_sizes(&f, g_counts, BCOS_SIZE_FROM_CACHE, NULL, "cached, by file://");
    urls_free(&f);

    /* a shard that changes is counted again: 2.tar now holds shard 1's 3 samples */
    char from[400], to[400];
    snprintf(from, sizeof from, "%s/1.tar", g_data);
    snprintf(to, sizeof to, "%s/2.tar", g_data);
    size_t len;
    char *copy = bcos_read_file(from, &len);
    CHECK(tb_write_file(to, copy, len) == 0);
    free(copy);
    long counts[8];
    bcos_size_source sources[8];
    char err[512];
    CHECK(bcos_shard_sizes(counts, sources, (const char *const *)u.urls, 4, NULL, g_cache, NULL, err, sizeof err) == 0);
    CHECK_MSG(counts[2] == 3 && sources[2] == BCOS_SIZE_COUNTED, "changed shard: %ld from %s", counts[2],
              bcos_size_source_name(sources[2]));
    CHECK(sources[0] == BCOS_SIZE_FROM_CACHE && sources[3] == BCOS_SIZE_FROM_CACHE);

    /* a sizes.json that lacks a shard: that one is taken from the cache or counted */
    write_text(g_data, "sizes.json", "{\"0.tar\": 7, \"1.tar\": 3, \"3.tar\": 5}");
    CHECK(bcos_shard_sizes(counts, sources, (const char *const *)u.urls, 4, NULL, g_cache, NULL, err, sizeof err) == 0);
    CHECK(counts[2] == 3 && sources[2] == BCOS_SIZE_FROM_CACHE && sources[1] == BCOS_SIZE_FROM_SIZES_JSON);
    write_shards(g_data);
    remove_file(g_data, "sizes.json");
    urls_free(&u);
}

static void test_folders_keep_order(void) {
    url_set u = {.n = 5};
    const char *names[5][2] = {{g_other, "1.tar"}, {g_data, "2.tar"}, {g_other, "0.tar"}, {g_data, "0.tar"},
                               {g_data, "3.tar"}};
    for (int i = 0; i < 5; i++) {
        u.urls[i] = xmalloc(400);
        snprintf(u.urls[i], 400, "%s/%s", names[i][0], names[i][1]);
    }
    write_text(g_other, "sizes.json", "{\"0.tar\": 100, \"1.tar\": 200}");
    long counts[8];
    bcos_size_source sources[8];
    char err[512];
    CHECK(bcos_shard_sizes(counts, sources, (const char *const *)u.urls, 5, NULL, g_cache, NULL, err, sizeof err) == 0);
    CHECK(counts[0] == 200 && counts[1] == 11 && counts[2] == 100 && counts[3] == 7 && counts[4] == 5);
    CHECK(sources[0] == BCOS_SIZE_FROM_SIZES_JSON && sources[1] != BCOS_SIZE_FROM_SIZES_JSON);
    urls_free(&u);
}

static void test_bad_input(void) {
    url_set u = urls_in(g_other, 2);
    write_text(g_other, "sizes.json", "[1, 2]");
    expect_failure(&u, "sizes.json: not a JSON object", "sizes.json an array");
    write_text(g_other, "sizes.json", "{\"0.tar\": 5, \"1.tar\": -3}");
    expect_failure(&u, "\"1.tar\" is not a sample count", "a negative count");
    write_text(g_other, "sizes.json", "{\"0.tar\": 5, \"1.tar\": 2.5}");
    expect_failure(&u, "\"1.tar\" is not a sample count", "a fractional count");
    write_text(g_other, "sizes.json", "{\"0.tar\": 5, \"1.tar\": \"many\"}");
    expect_failure(&u, "\"1.tar\" is not a sample count", "a word");
    write_text(g_other, "sizes.json", "{\"0.tar\": 5");
    expect_failure(&u, "not a JSON object", "broken JSON");
    remove_file(g_other, "sizes.json");
    expect_failure(&u, "0.tar", "a missing shard");
    /* a shard cut inside a member: counting fails, naming it */
    char path[400];
    snprintf(path, sizeof path, "%s/1.tar", g_data);
    size_t len;
    char *whole = bcos_read_file(path, &len);
    CHECK(tb_write_file(u.urls[0], whole, 1500) == 0);
    CHECK(tb_write_file(u.urls[1], whole, len) == 0);
    free(whole);
    expect_failure(&u, "0.tar", "a truncated shard");
    unlink(u.urls[0]);
    unlink(u.urls[1]);
    urls_free(&u);
}

static void test_http(void) {
    hs_server *server = hs_start(g_dir, 0, 3);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "http://127.0.0.1:%d/data", hs_port(server));
    url_set u = urls_in(prefix, 4);
    bcos_fetch_options opt;
    bcos_fetch_options_default(&opt);
    opt.backoff_ms = 5;
    opt.max_retries = 2;
    write_text(g_data, "sizes.json", "{\"0.tar\": 7, \"1.tar\": 3, \"2.tar\": 11, \"3.tar\": 5}");
    long before = hs_requests(server);
    expect_sizes(&u, g_counts, BCOS_SIZE_FROM_SIZES_JSON, &opt, "http sizes.json");
    CHECK_MSG(hs_requests(server) - before == 1, "%ld requests for sizes.json alone", hs_requests(server) - before);
    remove_file(g_data, "sizes.json");
    before = hs_requests(server);
    expect_sizes(&u, g_counts, BCOS_SIZE_COUNTED, &opt, "http counted");
    CHECK_MSG(hs_requests(server) - before == 5, "%ld requests: sizes.json and the 4 shards", hs_requests(server) - before);
    before = hs_requests(server);
    expect_sizes(&u, g_counts, BCOS_SIZE_FROM_CACHE, &opt, "http cached");
    CHECK_MSG(hs_requests(server) - before == 1, "%ld requests when cached (sizes.json only)", hs_requests(server) - before);
    /* a shard the server cannot serve whole is not counted, it is an error naming it */
    url_set bad = urls_in(prefix, 5);
    hs_add_fault(server, &(hs_fault){.kind = HS_STATUS, .path = "/data/4.tar", .status = 404});
    long counts[8];
    char err[512] = "";
    CHECK(bcos_shard_sizes(counts, NULL, (const char *const *)bad.urls, 5, &opt, g_cache, NULL, err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "/data/4.tar") && strstr(err, "404"), "%s", err);
    urls_free(&bad);
    hs_clear_faults(server);

    /* a sizes.json that answers 503 twice is retried, and the retries are reported */
    write_text(g_data, "sizes.json", "{\"0.tar\": 7, \"1.tar\": 3, \"2.tar\": 11, \"3.tar\": 5}");
    hs_add_fault(server, &(hs_fault){.kind = HS_STATUS, .path = "/data/sizes.json", .times = 2, .status = 503});
    bcos_fetch_stats fetched = {0};
    before = hs_requests(server);
    CHECK(bcos_shard_sizes(counts, NULL, (const char *const *)u.urls, 4, &opt, g_cache, &fetched, err, sizeof err) == 0);
    CHECK_MSG(fetched.retries == 2 && fetched.attempts == 3 && hs_requests(server) - before == 3,
              "retries %ld attempts %ld requests %ld", fetched.retries, fetched.attempts, hs_requests(server) - before);
    CHECK(counts[0] == 7 && counts[2] == 11);
    /* one that keeps answering 503 is an error naming it, not an absent file: no shard is counted */
    hs_clear_faults(server);
    hs_add_fault(server, &(hs_fault){.kind = HS_STATUS, .path = "/data/sizes.json", .status = 503});
    before = hs_requests(server);
    bcos_log_set_level(BCOS_LOG_ERROR);
    CHECK(bcos_shard_sizes(counts, NULL, (const char *const *)u.urls, 4, &opt, g_cache, NULL, err, sizeof err) != 0);
    bcos_log_set_level(BCOS_LOG_INFO);
    CHECK_MSG(strstr(err, "/data/sizes.json") && strstr(err, "HTTP 503") && strstr(err, "3 attempts") &&
                  !strchr(err, '\n'),
              "%s", err);
    CHECK_MSG(hs_requests(server) - before == 3, "%ld requests: sizes.json 3 times, no shard",
              hs_requests(server) - before);
    hs_clear_faults(server);
    remove_file(g_data, "sizes.json");
    urls_free(&u);
    hs_stop(server);
}

static void test_cache_dir(void) {
    const char *vars[3] = {"BCOS_CACHE_DIR", "XDG_CACHE_HOME", "HOME"};
    char *saved[3];
    for (int i = 0; i < 3; i++) saved[i] = getenv(vars[i]) ? xstrdup(getenv(vars[i])) : NULL;
    setenv("BCOS_CACHE_DIR", "/c/own", 1);
    setenv("XDG_CACHE_HOME", "/c/xdg", 1);
    setenv("HOME", "/c/home", 1);
    char *dir = bcos_cache_dir();
    CHECK(dir && strcmp(dir, "/c/own") == 0);
    free(dir);
    unsetenv("BCOS_CACHE_DIR");
    dir = bcos_cache_dir();
    CHECK(dir && strcmp(dir, "/c/xdg/bcos") == 0);
    free(dir);
    unsetenv("XDG_CACHE_HOME");
    dir = bcos_cache_dir();
    CHECK(dir && strcmp(dir, "/c/home/.cache/bcos") == 0);
    free(dir);
    unsetenv("HOME");
    CHECK(bcos_cache_dir() == NULL);
    for (int i = 0; i < 3; i++) {
        if (saved[i]) setenv(vars[i], saved[i], 1);
        free(saved[i]);
    }
}

int main(void) {
    if (!mkdtemp(g_dir)) return 1;
    bcos_log_set_level(BCOS_LOG_ERROR);
    snprintf(g_cache, sizeof g_cache, "%s/cache", g_dir);
    snprintf(g_data, sizeof g_data, "%s/data", g_dir);
    snprintf(g_other, sizeof g_other, "%s/other", g_dir);
    write_shards(g_data);
    mkdir(g_other, 0755);
    test_local();
    test_folders_keep_order();
    test_bad_input();
    test_http();
    test_cache_dir();
    tt_remove_tree(g_dir);
    return test_summary("test_shard_sizes");
}
