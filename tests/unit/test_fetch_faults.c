/* Shards over HTTP from the in-process test server, under every fault it can inject: the sample
 * stream (keys and payload bytes) must be exactly the one read from the same file on disk, the
 * transfer counters must say how it got there (resumes with Range, restarts when Range is ignored),
 * a permanently failing shard must give up within its retry budget and a time bound, and a broken
 * tar must lose only the samples it cuts. The bearer token must reach the server and never the log. */
#include "bcos/fetch.h"
#include "bcos/samples.h"

#include "bcos/log.h"
#include "bcos/rng.h"
#include "support/http_server.h"
#include "support/sample_list.h"
#include "support/tar_build.h"
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_SAMPLES 48
#define IMAGE_BYTES 6000
#define TOKEN "s3cr3t-t0ken-for-tests"

static char g_dir[] = "/tmp/bcos_test_fetch_XXXXXX";
static hs_server *g_server;
static sl_list g_reference; /* shard.tar read from disk */
static size_t g_shard_size;
static uint8_t *g_shard;

/* A shard of N_SAMPLES samples: a random .jpg payload and a .txt caption each. */
static void write_shard(void) {
    static char names[N_SAMPLES][2][32], captions[N_SAMPLES][32];
    static uint8_t images[N_SAMPLES][IMAGE_BYTES];
    tb_member members[2 * N_SAMPLES];
    bcos_rng rng;
    bcos_rng_seed(&rng, 42);
    for (int i = 0; i < N_SAMPLES; i++) {
        for (int b = 0; b < IMAGE_BYTES; b++) images[i][b] = (uint8_t)bcos_rng_u64(&rng);
        snprintf(names[i][0], 32, "train/%06d.jpg", i);
        snprintf(names[i][1], 32, "train/%06d.txt", i);
        snprintf(captions[i], 32, "caption %d", i);
        members[2 * i] = (tb_member){names[i][0], images[i], IMAGE_BYTES, 0, NULL};
        members[2 * i + 1] = (tb_member){names[i][1], captions[i], strlen(captions[i]), 0, NULL};
    }
    g_shard = tb_build(members, 2 * N_SAMPLES, &g_shard_size);
    char path[256];
    snprintf(path, sizeof path, "%s/shard.tar", g_dir);
    CHECK(tb_write_file(path, g_shard, g_shard_size) == 0);
    bcos_fetch_options opt;
    bcos_fetch_options_default(&opt);
    bcos_data_counters c = {0};
    sl_read(&g_reference, path, &opt, &c);
    CHECK(g_reference.status == 0 && g_reference.count == N_SAMPLES);
}

/* Options for tests: short backoff and a short low-speed window so that faults cost little time. */
static bcos_fetch_options fast_options(void) {
    bcos_fetch_options opt;
    bcos_fetch_options_default(&opt);
    opt.connect_timeout_ms = 2000;
    opt.low_speed_bytes = 1000;
    opt.low_speed_ms = 300;
    opt.max_retries = 4;
    opt.backoff_ms = 10;
    opt.backoff_max_ms = 40;
    opt.seed = 7;
    opt.token_env = "BCOS_TEST_TOKEN";
    return opt;
}

static const char *shard_url(const char *name) {
    static char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/%s", hs_port(g_server), name);
    return url;
}

/* Reads shard.tar over HTTP under the faults given, expects the reference stream, and returns the
 * counters. */
static bcos_data_counters read_expecting_reference(const char *what, const hs_fault *faults, int n_faults) {
    hs_clear_faults(g_server);
    for (int i = 0; i < n_faults; i++) hs_add_fault(g_server, &faults[i]);
    bcos_fetch_options opt = fast_options();
    bcos_data_counters c = {0};
    sl_list got;
    sl_read(&got, shard_url("shard.tar"), &opt, &c);
    char why[256] = "";
    CHECK_MSG(got.status == 0, "%s: shard failed: %s", what, got.error);
    CHECK_MSG(sl_equal(&got, &g_reference, N_SAMPLES, -1, why, sizeof why), "%s: %s", what, why);
    CHECK_MSG(c.samples == N_SAMPLES && c.shards_failed == 0 && c.samples_lost == 0, "%s: counters", what);
    sl_free(&got);
    hs_clear_faults(g_server);
    return c;
}

static void test_clean_and_transport_faults(void) {
    bcos_data_counters c = read_expecting_reference("no fault", NULL, 0);
    CHECK(c.http.attempts == 1 && c.http.retries == 0 && c.http.bytes == (long long)g_shard_size);

    hs_fault drop = {.kind = HS_DROP, .times = 1, .offset = 100000};
    c = read_expecting_reference("drop at byte 100000", &drop, 1);
    CHECK_MSG(c.http.retries == 1 && c.http.resumes == 1 && c.http.restarts == 0, "retries %ld resumes %ld",
              c.http.retries, c.http.resumes);
    CHECK_MSG(c.http.bytes == (long long)g_shard_size, "bytes %lld: a resume must not read again", c.http.bytes);

    hs_fault random_drops = {.kind = HS_DROP, .times = 3, .offset = -1};
    c = read_expecting_reference("three drops at random offsets", &random_drops, 1);
    CHECK_MSG(c.http.retries == 3 && c.http.attempts == 4, "retries %ld attempts %ld", c.http.retries, c.http.attempts);

    hs_fault unavailable = {.kind = HS_STATUS, .times = 2, .status = 503};
    c = read_expecting_reference("503 twice", &unavailable, 1);
    CHECK(c.http.retries == 2 && c.http.attempts == 3 && c.http.resumes == 0);

    hs_fault server_error = {.kind = HS_STATUS, .after = 1, .times = 1, .status = 500};
    hs_fault drop_late = {.kind = HS_DROP, .times = 1, .offset = 250000};
    hs_fault both[] = {drop_late, server_error};
    c = read_expecting_reference("drop, then 500 on the resume", both, 2);
    CHECK_MSG(c.http.retries == 2 && c.http.resumes == 1, "retries %ld resumes %ld", c.http.retries, c.http.resumes);

    hs_fault ignore_range = {.kind = HS_IGNORE_RANGE};
    hs_fault ignored[] = {drop, ignore_range};
    c = read_expecting_reference("drop, and the server ignores Range", ignored, 2);
    CHECK_MSG(c.http.restarts == 1 && c.http.resumes == 0, "restarts %ld resumes %ld", c.http.restarts, c.http.resumes);
    CHECK(c.http.bytes == (long long)g_shard_size + 100000);

    hs_fault stall = {.kind = HS_STALL, .times = 1, .offset = 150000, .stall_ms = 8000};
    double t0 = bcos_now_seconds();
    c = read_expecting_reference("stall at byte 150000", &stall, 1);
    double elapsed = bcos_now_seconds() - t0;
    CHECK_MSG(elapsed < 3.0, "a stall took %.1f s to detect with a 0.3 s window", elapsed);
    CHECK(c.http.retries == 1 && c.http.resumes == 1);
}

/* Captures stderr into a file while f runs; returns what was written (static buffer). */
static const char *capture_stderr(void (*f)(void *), void *arg) {
    static char text[16384];
    char path[256];
    snprintf(path, sizeof path, "%s/stderr.txt", g_dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    dup2(fd, 2);
    close(fd);
    f(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *in = fopen(path, "rb");
    size_t n = in ? fread(text, 1, sizeof text - 1, in) : 0;
    text[n] = '\0';
    if (in) fclose(in);
    unlink(path);
    return text;
}

typedef struct {
    bcos_data_counters counters;
    sl_list got;
    double seconds;
} failing_read;

static void read_failing_shard(void *arg) {
    failing_read *r = arg;
    bcos_fetch_options opt = fast_options();
    opt.max_retries = 3;
    double t0 = bcos_now_seconds();
    sl_read(&r->got, shard_url("shard.tar"), &opt, &r->counters);
    r->seconds = bcos_now_seconds() - t0;
}

static void test_permanent_failures(void) {
    hs_fault broken = {.kind = HS_STATUS, .status = 500};
    hs_add_fault(g_server, &broken);
    long before = hs_requests(g_server);
    failing_read r = {0};
    const char *log = capture_stderr(read_failing_shard, &r);
    CHECK_MSG(r.got.status == -1 && r.got.count == 0, "status %d count %d", r.got.status, r.got.count);
    CHECK_MSG(strstr(r.got.error, shard_url("shard.tar")) && strstr(r.got.error, "HTTP 500") &&
                  strstr(r.got.error, "4 attempts"),
              "error '%s'", r.got.error);
    CHECK(hs_requests(g_server) - before == 4);
    CHECK(r.counters.shards_failed == 1 && r.counters.http.attempts == 4 && r.counters.http.retries == 3);
    CHECK_MSG(r.seconds < 2.0, "giving up took %.2f s", r.seconds);
    CHECK_MSG(strstr(log, "retry 3 of 3") != NULL, "log '%s'", log);
    CHECK_MSG(strstr(log, TOKEN) == NULL && strstr(r.got.error, TOKEN) == NULL, "the token was logged");
    char auth[256];
    hs_last_authorization(g_server, auth, sizeof auth);
    CHECK_MSG(strcmp(auth, "Bearer " TOKEN) == 0, "Authorization '%s'", auth);
    sl_free(&r.got);
    hs_clear_faults(g_server);

    /* A missing file is not retried. */
    bcos_fetch_options opt = fast_options();
    bcos_data_counters c = {0};
    sl_list got;
    sl_read(&got, shard_url("missing.tar"), &opt, &c);
    CHECK_MSG(got.status == -1 && strstr(got.error, "HTTP 404") && strstr(got.error, "not retried"), "error '%s'",
              got.error);
    CHECK(c.http.attempts == 1 && c.shards_failed == 1);
    sl_free(&got);

    /* Nobody listening: connection refused, retried, given up. */
    hs_server *gone = hs_start(g_dir, 0, 1);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/shard.tar", hs_port(gone));
    hs_stop(gone);
    memset(&c, 0, sizeof c);
    opt.max_retries = 2;
    double t0 = bcos_now_seconds();
    bcos_log_set_level(BCOS_LOG_ERROR);
    sl_read(&got, url, &opt, &c);
    bcos_log_set_level(BCOS_LOG_INFO);
    CHECK_MSG(got.status == -1 && c.http.attempts == 3, "status %d attempts %ld", got.status, c.http.attempts);
    CHECK(bcos_now_seconds() - t0 < 2.0);
    sl_free(&got);

    /* Without the variable no Authorization header goes out. */
    unsetenv("BCOS_TEST_TOKEN");
    read_expecting_reference("no token", NULL, 0);
    char none[256];
    hs_last_authorization(g_server, none, sizeof none);
    CHECK_MSG(none[0] == '\0', "Authorization '%s' sent without a token", none);
    setenv("BCOS_TEST_TOKEN", TOKEN, 1);
}

/* Every answer drops after 20000 bytes: a dozen failed attempts, each of which moved on, with 2 retries
 * allowed in a row. The count starts afresh with each byte delivered, so the shard is read whole. */
static void test_progress_resets_retries(void) {
    hs_fault drops = {.kind = HS_DROP_AFTER, .length = 20000};
    hs_add_fault(g_server, &drops);
    bcos_fetch_options opt = fast_options();
    opt.max_retries = 2;
    bcos_data_counters c = {0};
    sl_list got;
    sl_read(&got, shard_url("shard.tar"), &opt, &c);
    char why[256] = "";
    CHECK_MSG(got.status == 0, "a shard whose every attempt advanced was given up: %s", got.error);
    CHECK_MSG(sl_equal(&got, &g_reference, N_SAMPLES, -1, why, sizeof why), "%s", why);
    long want = (long)(g_shard_size + 19999) / 20000;
    CHECK_MSG(c.http.attempts == want && c.http.retries == want - 1, "attempts %ld retries %ld, %ld expected",
              c.http.attempts, c.http.retries, want);
    sl_free(&got);
    hs_clear_faults(g_server);
}

/* A shard that stalls at byte 150000 on every answer, with retries to spare, is given up once its
 * reads waited max_wait_ms in all. */
static void test_total_wait(void) {
    hs_fault stall = {.kind = HS_STALL, .offset = 150000, .stall_ms = 60000};
    hs_add_fault(g_server, &stall);
    bcos_fetch_options opt = fast_options();
    opt.max_retries = 1000;
    opt.max_wait_ms = 1500;
    bcos_data_counters c = {0};
    sl_list got;
    double t0 = bcos_now_seconds();
    bcos_log_set_level(BCOS_LOG_ERROR);
    sl_read(&got, shard_url("shard.tar"), &opt, &c);
    bcos_log_set_level(BCOS_LOG_INFO);
    double seconds = bcos_now_seconds() - t0;
    CHECK_MSG(got.status == -1 && strstr(got.error, "waited 1500 ms in all"), "status %d error '%s'", got.status,
              got.error);
    CHECK_MSG(seconds >= 1.5 && seconds < 2.5, "a stalled shard ended after %.2f s with a 1.5 s bound", seconds);
    CHECK(c.shards_failed == 1);
    sl_free(&got);
    hs_clear_faults(g_server);
}

/* Offset of the header of member name in the shard. */
static long member_offset(const char *name) { return tb_header_offset(g_shard, g_shard_size, name); }

static void test_broken_bodies(void) {
    /* Truncated inside sample 20's image: samples 0-19 arrive, 20 is lost, the shard is reported. */
    hs_fault truncate = {.kind = HS_TRUNCATE, .offset = member_offset("train/000020.jpg") + 512 + 3000};
    hs_add_fault(g_server, &truncate);
    bcos_fetch_options opt = fast_options();
    bcos_data_counters c = {0};
    sl_list got;
    sl_read(&got, shard_url("shard.tar"), &opt, &c);
    char why[256] = "";
    CHECK_MSG(got.status == -1 && strstr(got.error, shard_url("shard.tar")), "error '%s'", got.error);
    CHECK_MSG(sl_equal(&got, &g_reference, 20, -1, why, sizeof why), "truncated: %s", why);
    CHECK_MSG(c.samples == 20 && c.samples_lost == 1 && c.shards_failed == 1 && c.http.retries == 0,
              "samples %ld lost %ld failed %ld", c.samples, c.samples_lost, c.shards_failed);
    sl_free(&got);
    hs_clear_faults(g_server);

    /* A corrupted header block (sample 30's caption): sample 30 is lost, the rest arrive. */
    hs_fault corrupt = {.kind = HS_CORRUPT, .offset = member_offset("train/000030.txt") + 100, .length = 8};
    hs_add_fault(g_server, &corrupt);
    memset(&c, 0, sizeof c);
    sl_read(&got, shard_url("shard.tar"), &opt, &c);
    CHECK_MSG(got.status == 0, "corrupt: %s", got.error);
    CHECK_MSG(sl_equal(&got, &g_reference, N_SAMPLES, 30, why, sizeof why), "corrupt: %s", why);
    CHECK(c.headers_damaged == 1 && c.samples_lost == 1 && c.samples == N_SAMPLES - 1);
    sl_free(&got);
    hs_clear_faults(g_server);
}

/* A consumer slower than low_speed_bytes must not make a fast server look slow: only time spent
 * waiting for the network counts. */
static void test_slow_consumer(void) {
    static uint8_t big[3 << 20];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 2654435761u >> 24);
    char path[256];
    snprintf(path, sizeof path, "%s/big.bin", g_dir);
    CHECK(tb_write_file(path, big, sizeof big) == 0);
    bcos_fetch_options opt = fast_options();
    opt.low_speed_bytes = 10 << 20; /* the consumer below takes about 4 MiB/s */
    opt.low_speed_ms = 200;
    bcos_http_stream *s = bcos_http_open(shard_url("big.bin"), &opt);
    size_t total = 0;
    bool same = true;
    long n;
    const void *data;
    while ((n = bcos_http_read(s, &data)) > 0) {
        same = same && total + (size_t)n <= sizeof big && memcmp(data, big + total, (size_t)n) == 0;
        total += (size_t)n;
        struct timespec pause = {0, 250 * 1000000L};
        nanosleep(&pause, NULL);
    }
    CHECK_MSG(n == 0 && total == sizeof big && same, "read %zu bytes: %s", total, bcos_http_error(s));
    CHECK_MSG(bcos_http_stats(s)->retries == 0, "a slow consumer caused %ld retries", bcos_http_stats(s)->retries);
    bcos_http_close(s);
    unlink(path);
}

int main(void) {
    if (!mkdtemp(g_dir)) return 1;
    setenv("BCOS_TEST_TOKEN", TOKEN, 1);
    bcos_log_set_level(BCOS_LOG_ERROR);
    write_shard();
    g_server = hs_start(g_dir, 0, 1234);
    test_clean_and_transport_faults();
    bcos_log_set_level(BCOS_LOG_INFO);
    test_permanent_failures();
    test_progress_resets_retries();
    test_total_wait();
    test_broken_bodies();
    test_slow_consumer();
    hs_stop(g_server);
    sl_free(&g_reference);
    free(g_shard);
    char path[256];
    snprintf(path, sizeof path, "%s/shard.tar", g_dir);
    unlink(path);
    rmdir(g_dir);
    return test_summary("test_fetch_faults");
}
