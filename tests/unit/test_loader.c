/* The epoch loader on shards written at test time: every rank gets the plan's number of full
 * batches, batch b from worker b mod W and its shards; a run repeats exactly; a run resumed from a
 * cursor (through its text form) continues exactly as the uninterrupted run, also with shuffle
 * buffers (which change the order, not the samples) on 1 and 2 ranks; refused samples are
 * skipped and counted by reason; a worker whose shards hold fewer samples than known starts over,
 * and one with nothing usable fails the epoch quickly instead of hanging; buffers are reused and
 * stopping early returns. The sample function copies each .txt payload and parses .cls. */
#include "../../src/loader/loader_impl.h"
#include "bcos/loader.h"

#include "bcos/log.h"
#include "support/http_server.h"
#include "support/tar_build.h"
#include "test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_SHARDS 6
#define PER_SHARD 10
#define SAMPLE_BYTES 16
#define BATCH 4

static char g_dir[] = "/tmp/bcos_test_loader_XXXXXX";
static char g_paths[N_SHARDS + 1][256];
static const char *g_urls[N_SHARDS + 1];

/* Shard k holds PER_SHARD samples "kK-I" with .txt "vK-I" and .cls K*100+I; sample 3 of shard 1
 * has a corrupt payload and sample 5 of shard 2 no label. */
static void write_shards(void) {
    for (int k = 0; k < N_SHARDS; k++) {
        tb_member m[2 * PER_SHARD];
        char names[2 * PER_SHARD][32], text[PER_SHARD][32], cls[PER_SHARD][16];
        int n = 0;
        for (int i = 0; i < PER_SHARD; i++) {
            snprintf(names[n], 32, "k%d-%d.txt", k, i);
            snprintf(text[i], 32, k == 1 && i == 3 ? "corrupt" : "v%d-%d", k, i);
            m[n] = (tb_member){names[n], text[i], strlen(text[i]), 0, NULL};
            n++;
            if (k == 2 && i == 5) continue;
            snprintf(names[n], 32, "k%d-%d.cls", k, i);
            snprintf(cls[i], 16, "%d", k * 100 + i);
            m[n] = (tb_member){names[n], cls[i], strlen(cls[i]), 0, NULL};
            n++;
        }
        size_t size;
        uint8_t *tar = tb_build(m, n, &size);
        snprintf(g_paths[k], sizeof g_paths[k], "%s/shard-%d.tar", g_dir, k);
        CHECK(tb_write_file(g_paths[k], tar, size) == 0);
        free(tar);
        g_urls[k] = g_paths[k];
    }
    snprintf(g_paths[N_SHARDS], sizeof g_paths[0], "%s/missing.tar", g_dir);
    g_urls[N_SHARDS] = g_paths[N_SHARDS];
}

static bcos_sample_verdict copy_text(void *ctx, const bcos_sample *s, void *out, int *label, char *msg, size_t n) {
    (void)ctx;
    const bcos_sample_member *txt = bcos_sample_member_find(s, "txt");
    const bcos_sample_member *cls = bcos_sample_member_find(s, "cls");
    if (!txt) return BCOS_SKIP_NO_IMAGE;
    if (txt->size >= 7 && memcmp(txt->data, "corrupt", 7) == 0) {
        snprintf(msg, n, "payload marked corrupt");
        return BCOS_SKIP_CORRUPT;
    }
    if (!cls) return BCOS_SKIP_NO_LABEL;
    memset(out, 0, SAMPLE_BYTES);
    memcpy(out, txt->data, txt->size < SAMPLE_BYTES ? txt->size : SAMPLE_BYTES);
    char number[16] = "";
    memcpy(number, cls->data, cls->size < 15 ? cls->size : 15);
    *label = atoi(number);
    return BCOS_SAMPLE_OK;
}

typedef struct {
    long n;
    bcos_sample_origin origins[256][BATCH];
    int labels[256][BATCH];
    char data[256][BATCH][SAMPLE_BYTES];
    int status;
    char error[1024];
} run_log;

static bcos_loader_config config(const bcos_epoch_plan *plan, const bcos_data_cursor *resume) {
    bcos_loader_config cfg = {0};
    cfg.urls = g_urls;
    cfg.plan = plan;
    cfg.resume = resume;
    bcos_fetch_options_default(&cfg.fetch);
    cfg.sample_bytes = SAMPLE_BYTES;
    cfg.fn = copy_text;
    cfg.ready_batches = 2;
    return cfg;
}

/* Runs the loader (with a shuffle buffer of `shuffle` samples and that window) for up to `limit`
 * batches, logging them; the cursor after them goes to *cursor. */
static void run_shuffled(const bcos_epoch_plan *plan, const bcos_data_cursor *resume, long shuffle, long window,
                         long limit, run_log *log, bcos_data_cursor *cursor, bcos_loader_counters *counters) {
    memset(log, 0, sizeof *log);
    bcos_loader_config cfg = config(plan, resume);
    cfg.shuffle = shuffle;
    cfg.shuffle_window = window;
    char err[256];
    bcos_loader *l = bcos_loader_start(&cfg, err, sizeof err);
    CHECK_MSG(l != NULL, "%s", err);
    if (!l) return;
    bcos_batch *b;
    while (log->n < limit && (log->status = bcos_loader_next(l, &b)) == 1) {
        CHECK(b->size == BATCH && b->index == (resume ? resume->batches_done : 0) + log->n);
        memcpy(log->origins[log->n], b->origins, sizeof log->origins[0]);
        memcpy(log->labels[log->n], b->labels, sizeof log->labels[0]);
        memcpy(log->data[log->n], b->data, sizeof log->data[0]);
        log->n++;
        bcos_loader_release(l, b);
    }
    snprintf(log->error, sizeof log->error, "%s", bcos_loader_error(l));
    if (cursor) bcos_loader_cursor(l, cursor);
    if (counters) bcos_loader_counters_get(l, counters);
    bcos_loader_stop(l);
}

static void run(const bcos_epoch_plan *plan, const bcos_data_cursor *resume, long limit, run_log *log,
                bcos_data_cursor *cursor, bcos_loader_counters *counters) {
    run_shuffled(plan, resume, 0, 0, limit, log, cursor, counters);
}

/* Whether batches [0, n) of a equal batches [from, from + n) of b: origins, labels and bytes. */
static bool same_batches(const run_log *a, const run_log *b, long from, long n) {
    for (long i = 0; i < n; i++)
        for (int j = 0; j < BATCH; j++) {
            const bcos_sample_origin *x = &a->origins[i][j], *y = &b->origins[from + i][j];
            if (x->shard != y->shard || x->index != y->index || a->labels[i][j] != b->labels[from + i][j] ||
                memcmp(a->data[i][j], b->data[from + i][j], SAMPLE_BYTES) != 0)
                return false;
        }
    return true;
}

/* Whether every slot of the log holds the payload and label of the sample its origin names. */
static bool payloads_match_origins(const run_log *log) {
    for (long b = 0; b < log->n; b++)
        for (int i = 0; i < BATCH; i++) {
            bcos_sample_origin o = log->origins[b][i];
            char want[SAMPLE_BYTES] = {0};
            snprintf(want, sizeof want, "v%d-%ld", o.shard, o.index);
            if (memcmp(want, log->data[b][i], SAMPLE_BYTES) != 0 || log->labels[b][i] != o.shard * 100 + o.index)
                return false;
        }
    return true;
}

static bool worker_has_shard(const bcos_worker_plan *w, int shard) {
    for (int i = 0; i < w->n_shards; i++)
        if (w->shards[i].shard == shard) return true;
    return false;
}

static void test_epoch(void) {
    long known[N_SHARDS];
    for (int k = 0; k < N_SHARDS; k++) known[k] = PER_SHARD;
    static run_log a, again;
    long length = -1;
    for (int rank = 0; rank < 2; rank++) {
        bcos_epoch_plan plan;
        char err[256];
        CHECK(bcos_epoch_plan_make(&plan, known, N_SHARDS, 3, 1, rank, 2, 2, BATCH, err, sizeof err) == 0);
        bcos_loader_counters c;
        run(&plan, NULL, 1000, &a, NULL, &c);
        CHECK_MSG(a.status == 0 && a.n == plan.n_batches, "rank %d: %ld batches of %ld, status %d", rank, a.n,
                  plan.n_batches, a.status);
        if (length < 0) length = a.n;
        CHECK(a.n == length);
        static bool used[N_SHARDS][PER_SHARD];
        memset(used, 0, sizeof used);
        bool from_worker = true, once = true;
        for (long b = 0; b < a.n; b++)
            for (int i = 0; i < BATCH; i++) {
                bcos_sample_origin o = a.origins[b][i];
                from_worker = from_worker && worker_has_shard(&plan.workers[b % plan.n_workers], o.shard);
                once = once && !used[o.shard][o.index];
                used[o.shard][o.index] = true;
                CHECK_MSG(!(o.shard == 1 && o.index == 3) && !(o.shard == 2 && o.index == 5), "a skipped sample was used");
            }
        CHECK_MSG(from_worker, "rank %d: a batch came from another worker's shard", rank);
        CHECK_MSG(payloads_match_origins(&a), "rank %d: payload or label does not match its origin", rank);
        CHECK_MSG(once, "rank %d: a sample was used twice", rank);
        CHECK(c.restarts == 0 && c.skipped[BCOS_SAMPLE_OK] >= a.n * BATCH);

        run(&plan, NULL, 1000, &again, NULL, NULL);
        CHECK_MSG(again.n == a.n && same_batches(&again, &a, 0, a.n), "rank %d: a second run differs", rank);
        bcos_epoch_plan_free(&plan);
    }
}

static void test_resume(void) {
    long known[N_SHARDS];
    for (int k = 0; k < N_SHARDS; k++) known[k] = PER_SHARD;
    bcos_epoch_plan plan;
    char err[256];
    CHECK(bcos_epoch_plan_make(&plan, known, N_SHARDS, 8, 0, 0, 1, 3, BATCH, err, sizeof err) == 0);
    static run_log whole, first, rest;
    run(&plan, NULL, 1000, &whole, NULL, NULL);
    CHECK(whole.n == plan.n_batches && whole.n > 5);
    for (long k = 1; k < whole.n; k += 2) {
        bcos_data_cursor cursor, parsed;
        run(&plan, NULL, k, &first, &cursor, NULL);
        char text[1024];
        CHECK(bcos_data_cursor_format(&cursor, text, sizeof text) > 0);
        CHECK_MSG(bcos_data_cursor_parse(&parsed, text, err, sizeof err) == 0, "%s", err);
        run(&plan, &parsed, 1000, &rest, NULL, NULL);
        CHECK_MSG(rest.status == 0 && rest.n == whole.n - k, "resumed at %ld: %ld batches", k, rest.n);
        CHECK_MSG(same_batches(&rest, &whole, k, rest.n), "resumed at batch %ld (%s): batches differ", k, text);
        bcos_data_cursor_free(&cursor);
        bcos_data_cursor_free(&parsed);
    }
    bcos_data_cursor wrong;
    bcos_data_cursor_start(&wrong, &plan, 0, 0);
    wrong.epoch = 5;
    bcos_loader_config cfg = config(&plan, &wrong);
    CHECK(bcos_loader_start(&cfg, err, sizeof err) == NULL);
    CHECK_MSG(strstr(err, "saved for epoch 5"), "'%s'", err);
    bcos_epoch_plan_free(&plan);
}

static void test_skips_and_dry_workers(void) {
    /* Claim twice the samples there are: workers run dry and start over, the epoch stays whole. */
    long claimed[N_SHARDS];
    for (int k = 0; k < N_SHARDS; k++) claimed[k] = 2 * PER_SHARD;
    bcos_epoch_plan plan;
    char err[256];
    CHECK(bcos_epoch_plan_make(&plan, claimed, N_SHARDS, 2, 0, 0, 1, 2, BATCH, err, sizeof err) == 0);
    static run_log log;
    bcos_loader_counters c;
    run(&plan, NULL, 1000, &log, NULL, &c);
    CHECK_MSG(log.status == 0 && log.n == plan.n_batches, "%ld of %ld batches", log.n, plan.n_batches);
    CHECK_MSG(c.restarts >= 2, "restarts %ld", c.restarts);
    CHECK_MSG(c.skipped[BCOS_SKIP_CORRUPT] >= 1 && c.skipped[BCOS_SKIP_NO_LABEL] >= 1, "corrupt %ld no_label %ld",
              c.skipped[BCOS_SKIP_CORRUPT], c.skipped[BCOS_SKIP_NO_LABEL]);
    CHECK(c.skipped[BCOS_SAMPLE_OK] == log.n * BATCH);
    CHECK(c.data.shards >= N_SHARDS && c.data.shards_failed == 0);
    bcos_epoch_plan_free(&plan);

    /* A worker whose only shard is missing: the epoch fails with a message, it does not spin. */
    long one[1] = {PER_SHARD};
    CHECK(bcos_epoch_plan_make(&plan, one, 1, 0, 0, 0, 1, 1, BATCH, err, sizeof err) == 0);
    const char *saved = g_urls[0];
    g_urls[0] = g_urls[N_SHARDS];
    double t0 = bcos_now_seconds();
    run(&plan, NULL, 1000, &log, NULL, &c);
    g_urls[0] = saved;
    CHECK_MSG(log.status == -1 && log.n == 0, "status %d after %ld batches", log.status, log.n);
    CHECK_MSG(strstr(log.error, "gave no usable sample") && strstr(log.error, "missing.tar"), "'%s'", log.error);
    CHECK(bcos_now_seconds() - t0 < 5.0);
    CHECK(c.data.shards_failed >= 1);
    bcos_epoch_plan_free(&plan);
}

static void test_buffers_and_stop(void) {
    long known[N_SHARDS];
    for (int k = 0; k < N_SHARDS; k++) known[k] = PER_SHARD;
    bcos_epoch_plan plan;
    char err[256];
    CHECK(bcos_epoch_plan_make(&plan, known, N_SHARDS, 4, 0, 0, 1, 2, 1, err, sizeof err) == 0);
    bcos_loader_config cfg = config(&plan, NULL);
    bcos_loader *l = bcos_loader_start(&cfg, err, sizeof err);
    void *seen[64];
    int n_seen = 0;
    bcos_batch *b;
    for (int i = 0; i < 20 && bcos_loader_next(l, &b) == 1; i++) {
        bool known_buffer = false;
        for (int j = 0; j < n_seen; j++) known_buffer = known_buffer || seen[j] == b->data;
        if (!known_buffer && n_seen < 64) seen[n_seen++] = b->data;
        bcos_loader_release(l, b);
    }
    CHECK_MSG(n_seen <= 2 * (cfg.ready_batches + 1), "%d distinct batch buffers", n_seen);
    double t0 = bcos_now_seconds();
    bcos_loader_stop(l);
    CHECK(bcos_now_seconds() - t0 < 1.0);
    bcos_epoch_plan_free(&plan);
}

static int compare_origins(const void *a, const void *b) {
    const bcos_sample_origin *x = a, *y = b;
    if (x->shard != y->shard) return x->shard < y->shard ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Whether two runs used the same samples, each as often. */
static bool same_multiset(const run_log *a, const run_log *b) {
    static bcos_sample_origin x[256 * BATCH], y[256 * BATCH];
    if (a->n != b->n) return false;
    size_t n = (size_t)a->n * BATCH;
    memcpy(x, a->origins, n * sizeof *x);
    memcpy(y, b->origins, n * sizeof *y);
    qsort(x, n, sizeof *x, compare_origins);
    qsort(y, n, sizeof *y, compare_origins);
    for (size_t i = 0; i < n; i++)
        if (compare_origins(&x[i], &y[i]) != 0) return false;
    return true;
}

/* Stops the shuffled epoch after every batch k, resumes a fresh loader from the cursor's text and
 * checks that the rest equals the uninterrupted run. Returns how many of those cursors had a worker
 * holding samples while stopped inside a shard. */
static int check_resumes(const bcos_epoch_plan *plan, long shuffle, long window, const run_log *whole) {
    static run_log first, rest;
    int inside = 0;
    for (long k = 1; k < whole->n; k++) {
        bcos_data_cursor cursor, parsed;
        run_shuffled(plan, NULL, shuffle, window, k, &first, &cursor, NULL);
        static char text[1 << 14];
        char err[256];
        CHECK(same_batches(&first, whole, 0, k));
        CHECK(bcos_data_cursor_format(&cursor, text, sizeof text) > 0);
        CHECK_MSG(bcos_data_cursor_parse(&parsed, text, err, sizeof err) == 0, "%s", err);
        run_shuffled(plan, &parsed, shuffle, window, 1000, &rest, NULL, NULL);
        CHECK_MSG(rest.status == 0 && rest.n == whole->n - k && same_batches(&rest, whole, k, rest.n),
                  "rank %d of %d, shuffle %ld window %ld, resumed after batch %ld (%s): %ld batches, not the rest",
                  plan->rank, plan->n_ranks, shuffle, window, k, text, rest.n);
        bool stopped_inside = false;
        for (int w = 0; w < cursor.n_workers; w++) {
            const bcos_worker_cursor *wc = &cursor.workers[w];
            long index = wc->next.sample_index;
            stopped_inside = stopped_inside || (wc->n_held > 0 && index > 0 && index < PER_SHARD);
        }
        inside += stopped_inside;
        bcos_data_cursor_free(&cursor);
        bcos_data_cursor_free(&parsed);
    }
    return inside;
}

#define SHUFFLE 6

/* One rank's epoch with a shuffle buffer and 2 workers: the same samples as without one in another
 * order, the same again on a second run, read order when every held sample outlives a window of
 * one read, and exact resumption after every batch, with the default window and a small one. */
static void check_shuffled_epoch(const bcos_epoch_plan *plan) {
    static run_log plain, shuffled, again, fifo, windowed;
    run(plan, NULL, 1000, &plain, NULL, NULL);
    run_shuffled(plan, NULL, SHUFFLE, 0, 1000, &shuffled, NULL, NULL);
    CHECK_MSG(shuffled.status == 0 && shuffled.n == plan->n_batches && plain.n == plan->n_batches,
              "rank %d of %d: %ld and %ld batches of %ld", plan->rank, plan->n_ranks, shuffled.n, plain.n,
              plan->n_batches);
    CHECK(payloads_match_origins(&shuffled));
    CHECK_MSG(same_multiset(&shuffled, &plain), "rank %d of %d: the shuffled epoch uses other samples", plan->rank,
              plan->n_ranks);
    CHECK_MSG(!same_batches(&shuffled, &plain, 0, plain.n), "rank %d of %d: the buffer did not change the order",
              plan->rank, plan->n_ranks);
    run_shuffled(plan, NULL, SHUFFLE, 0, 1000, &again, NULL, NULL);
    CHECK(again.n == shuffled.n && same_batches(&again, &shuffled, 0, shuffled.n));
    run_shuffled(plan, NULL, SHUFFLE, 1, 1000, &fifo, NULL, NULL);
    CHECK_MSG(fifo.n == plain.n && same_batches(&fifo, &plain, 0, plain.n), "window 1 is not read order");
    int inside = check_resumes(plan, SHUFFLE, 0, &shuffled);
    CHECK_MSG(inside > 0, "rank %d of %d: no cursor was taken inside a shard with samples held", plan->rank,
              plan->n_ranks);
    run_shuffled(plan, NULL, SHUFFLE, SHUFFLE + 2, 1000, &windowed, NULL, NULL);
    CHECK(windowed.n == plain.n && same_multiset(&windowed, &plain) && !same_batches(&windowed, &plain, 0, plain.n));
    check_resumes(plan, SHUFFLE, SHUFFLE + 2, &windowed);
}

static void test_shuffle(void) {
    long known[N_SHARDS], claimed[N_SHARDS];
    for (int k = 0; k < N_SHARDS; k++) {
        known[k] = PER_SHARD;
        claimed[k] = 2 * PER_SHARD;
    }
    bcos_epoch_plan plan;
    char err[256];
    for (int n_ranks = 1; n_ranks <= 2; n_ranks++)
        for (int rank = 0; rank < n_ranks; rank++) {
            CHECK(bcos_epoch_plan_make(&plan, known, N_SHARDS, 5, 1, rank, n_ranks, 2, BATCH, err, sizeof err) == 0);
            check_shuffled_epoch(&plan);
            bcos_epoch_plan_free(&plan);
        }
    /* Workers that run dry and start over keep their buffers across passes. */
    CHECK(bcos_epoch_plan_make(&plan, claimed, N_SHARDS, 5, 2, 0, 1, 2, BATCH, err, sizeof err) == 0);
    static run_log log;
    bcos_loader_counters c;
    run_shuffled(&plan, NULL, SHUFFLE, 0, 1000, &log, NULL, &c);
    CHECK_MSG(c.restarts >= 2, "restarts %ld", c.restarts);
    check_shuffled_epoch(&plan);
    bcos_epoch_plan_free(&plan);
}

/* Cursors from another world size or shuffle buffer, and shuffle settings out of range, are refused
 * with a message before any worker starts. */
static void test_shuffle_refusals(void) {
    long known[N_SHARDS];
    for (int k = 0; k < N_SHARDS; k++) known[k] = PER_SHARD;
    bcos_epoch_plan one, two;
    char err[256];
    CHECK(bcos_epoch_plan_make(&one, known, N_SHARDS, 5, 1, 0, 1, 2, BATCH, err, sizeof err) == 0);
    CHECK(bcos_epoch_plan_make(&two, known, N_SHARDS, 5, 1, 0, 2, 2, BATCH, err, sizeof err) == 0);
    static run_log log;
    bcos_data_cursor of_two;
    run_shuffled(&two, NULL, SHUFFLE, 0, 2, &log, &of_two, NULL);
    bcos_loader_config cfg = config(&one, &of_two);
    cfg.shuffle = SHUFFLE;
    CHECK(bcos_loader_start(&cfg, err, sizeof err) == NULL);
    CHECK_MSG(strstr(err, "rank 0 of 2") && strstr(err, "rank 0 of 1"), "'%s'", err);
    cfg = config(&two, &of_two);
    cfg.shuffle = SHUFFLE - 2;
    CHECK(bcos_loader_start(&cfg, err, sizeof err) == NULL);
    CHECK_MSG(strstr(err, "shuffle buffer of 6 samples (window 48)") && strstr(err, "this loader has 4"), "'%s'", err);
    cfg = config(&two, NULL);
    cfg.shuffle = -1;
    CHECK(bcos_loader_start(&cfg, err, sizeof err) == NULL);
    CHECK_MSG(strstr(err, "shuffle buffer of -1 samples"), "'%s'", err);
    bcos_data_cursor_free(&of_two);
    bcos_epoch_plan_free(&one);
    bcos_epoch_plan_free(&two);
}

/* The same epoch over HTTP with a flaky server equals the epoch from disk. */
static void test_over_http(void) {
    long known[N_SHARDS];
    for (int k = 0; k < N_SHARDS; k++) known[k] = PER_SHARD;
    bcos_epoch_plan plan;
    char err[256];
    CHECK(bcos_epoch_plan_make(&plan, known, N_SHARDS, 6, 2, 0, 1, 2, BATCH, err, sizeof err) == 0);
    static run_log disk, http;
    run(&plan, NULL, 1000, &disk, NULL, NULL);
    hs_server *server = hs_start(g_dir, 0, 5);
    hs_fault flaky = {.kind = HS_STATUS, .times = 3, .status = 503};
    hs_fault drop = {.kind = HS_DROP, .after = 3, .times = 2, .offset = -1};
    hs_add_fault(server, &flaky);
    hs_add_fault(server, &drop);
    static char urls[N_SHARDS][128];
    for (int k = 0; k < N_SHARDS; k++) {
        snprintf(urls[k], sizeof urls[k], "http://127.0.0.1:%d/shard-%d.tar", hs_port(server), k);
        g_urls[k] = urls[k];
    }
    bcos_loader_config cfg = config(&plan, NULL);
    cfg.fetch.backoff_ms = 5;
    bcos_loader *l = bcos_loader_start(&cfg, err, sizeof err);
    memset(&http, 0, sizeof http);
    bcos_batch *b;
    while ((http.status = bcos_loader_next(l, &b)) == 1) {
        memcpy(http.origins[http.n], b->origins, sizeof http.origins[0]);
        memcpy(http.labels[http.n], b->labels, sizeof http.labels[0]);
        memcpy(http.data[http.n++], b->data, sizeof http.data[0]);
        bcos_loader_release(l, b);
    }
    bcos_loader_counters c;
    bcos_loader_counters_get(l, &c);
    bcos_loader_stop(l);
    hs_stop(server);
    for (int k = 0; k < N_SHARDS; k++) g_urls[k] = g_paths[k];
    CHECK_MSG(http.status == 0 && http.n == disk.n, "over HTTP: %ld batches of %ld", http.n, disk.n);
    CHECK(same_batches(&http, &disk, 0, disk.n));
    CHECK_MSG(c.data.http.retries == 5, "retries %ld", c.data.http.retries);
    bcos_epoch_plan_free(&plan);
}

int main(void) {
    if (!mkdtemp(g_dir)) return 1;
    bcos_log_set_level(BCOS_LOG_ERROR); /* the skips, restarts and retries below are meant */
    write_shards();
    test_epoch();
    test_resume();
    test_skips_and_dry_workers();
    test_buffers_and_stop();
    test_shuffle();
    test_shuffle_refusals();
    test_over_http();
    for (int k = 0; k < N_SHARDS; k++) unlink(g_paths[k]);
    rmdir(g_dir);
    return test_summary("test_loader");
}
