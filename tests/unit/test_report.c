/* The report page on stores filled through the store API: a 10,000-step run stays under 2 MB
 * (curves decimated, each bucket's extremes kept), its resume and preemption marked; odd stores give well-formed pages: an empty
 * store, a run without metrics, a failed run, NaN and infinite losses, names and texts full of
 * HTML's special characters (escaped); an unknown run is refused. Decimation keeps the extremes
 * and the breaks of a series. */
#include "store_helpers.h"

#include <math.h>

#include "bcos/report.h"
#include "../../src/report/report_internal.h"

/* The page of the runs named (n 0: all), or NULL when refused (err set). */
static char *page_of(bcos_store *s, const char *const *runs, int n, size_t *len, char *err) {
    char *page = NULL;
    FILE *out = open_memstream(&page, len);
    int status = bcos_report_write(s, runs, n, out, err, BCOS_ERRLEN);
    fclose(out);
    if (status != 0) {
        free(page);
        return NULL;
    }
    return page;
}

static int is_void(const char *tag, size_t n) {
    static const char *const voids[] = {"meta", "br", "img", "hr", "link", "input"};
    for (size_t i = 0; i < sizeof voids / sizeof voids[0]; i++)
        if (strlen(voids[i]) == n && strncmp(voids[i], tag, n) == 0) return 1;
    return 0;
}

/* Whether the page starts with the doctype and its elements nest: every end tag closes the element
 * opened last (void elements and "<.../>" close themselves), and none is left open. Text holds
 * no raw '<' (the escaping would have turned it into "&lt;"). */
static int well_formed(const char *page) {
    if (strncmp(page, "<!DOCTYPE html>", 15) != 0) return 0;
    const char *stack[64];
    size_t lens[64];
    int depth = 0;
    for (const char *c = page + 15; (c = strchr(c, '<')) != NULL;) {
        int closing = c[1] == '/';
        const char *name = c + 1 + closing;
        size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789");
        const char *end = strchr(name, '>');
        if (n == 0 || !end) return 0; /* a '<' that starts no tag */
        /* a quoted attribute may hold '>' only escaped, so the tag ends at the first '>' */
        int self_closing = end[-1] == '/';
        if (closing) {
            if (depth == 0 || lens[depth - 1] != n || strncmp(stack[depth - 1], name, n) != 0) return 0;
            depth--;
        } else if (!self_closing && !is_void(name, n)) {
            if (depth == 64) return 0;
            stack[depth] = name, lens[depth] = n, depth++;
        }
        c = end + 1;
    }
    return depth == 0;
}

static int count(const char *text, const char *needle) {
    int n = 0;
    for (const char *c = text; (c = strstr(c, needle)) != NULL; c += strlen(needle)) n++;
    return n;
}

/* Every series path's data-points and data-rows, checked against the limits. */
static void check_paths(const char *page, int rows, int max_points) {
    int paths = 0;
    for (const char *c = page; (c = strstr(c, "<path class=\"series\"")) != NULL; c++) {
        int points = -1, n_rows = -1;
        const char *p = strstr(c, "data-points=\""), *r = strstr(c, "data-rows=\"");
        if (p) points = atoi(p + 13);
        if (r) n_rows = atoi(r + 11);
        CHECK_MSG(points >= 0 && points <= max_points, "a path of %d points", points);
        CHECK_MSG(n_rows == rows, "a path of %d rows, not %d", n_rows, rows);
        const char *d = strstr(c, " d=\""), *d_end = d ? strchr(d + 4, '"') : NULL;
        CHECK(d && d_end);
        int drawn = 0;
        for (const char *k = d + 4; d && k < d_end; k++) drawn += *k == 'M' || *k == 'L';
        CHECK_MSG(drawn == points, "data-points %d, the path draws %d", points, drawn);
        paths++;
    }
    CHECK_MSG(paths == 5, "%d curves, not 5", paths);
}

static void test_decimate(void) {
    int n = 10000, *keep;
    double *y = xmalloc((size_t)n * sizeof *y);
    for (int i = 0; i < n; i++) y[i] = sin(i * 0.01) + 0.001 * (i % 7);
    y[4321] = 50;   /* the one spike */
    y[777] = -50;   /* the one dip */
    y[9000] = NAN;  /* a gap */
    int k = plot_decimate(y, n, 2000, &keep);
    CHECK_MSG(k > 500 && k <= 2000, "%d points kept", k);
    int spike = 0, dip = 0, gap = 0, ascending = 1;
    for (int i = 0; i < k; i++) {
        spike |= keep[i] == 4321, dip |= keep[i] == 777, gap |= keep[i] == 9000;
        if (i) ascending &= keep[i] > keep[i - 1];
    }
    CHECK(spike && dip && gap && ascending);
    CHECK(keep[0] == 0 && keep[k - 1] == n - 1);
    free(keep);
    CHECK(plot_decimate(y, 12, 2000, &keep) == 12 && keep[11] == 11);
    free(keep);
    free(y);
}

static void test_big_run(const char *dir) {
    char *db = helper_path(dir, "big.db");
    bcos_store *s = helper_open(db);
    int64_t run = helper_run(s, "big");
    int n = 10000;
    bcos_metric *rows = xmalloc((size_t)n * sizeof *rows);
    for (int i = 0; i < n; i++)
        rows[i] = (bcos_metric){i + 1, 0.5 * exp(-i / 3000.0) + 0.01 * sin(i), 0.6 + 0.3 * (1 - exp(-i / 3000.0)),
                                1e-4 * fmin(1.0, i / 500.0), 0.7 + 0.1 * cos(i * 0.1), 600 + 20 * sin(i * 0.05), 0};
    bcos_store_metrics_add(s, run, rows, n);
    for (int64_t step = 2000; step <= 10000; step += 2000) {
        CHECK(helper_commit(s, run, step, 10, 0, NULL) == 0);
        if (step != 6000) continue;
        bcos_checkpoint c; /* taken up again from step 6000: marked on the curves */
        CHECK(bcos_store_checkpoint_resume(s, run, &c) == 1 && c.step == 6000);
        bcos_checkpoint_free(&c);
    }
    for (int i = 0; i < 300; i++) bcos_store_event_add(s, run, i * 30, BCOS_EVENT_SKIP, "undecodable image", 1, NULL);
    bcos_store_event_add(s, run, 5000, BCOS_EVENT_PREEMPTION, "SIGTERM: checkpointed and stopped", 1, NULL);
    bcos_store_event_add(s, run, -1, BCOS_EVENT_RETRY, "HTTP 503", 4, NULL);
    bcos_store_run_set_status(s, run, BCOS_RUN_DONE);
    size_t len;
    char err[BCOS_ERRLEN];
    char *page = page_of(s, NULL, 0, &len, err);
    CHECK(page != NULL);
    CHECK_MSG(len < 2 * 1000 * 1000, "the page of 10,000 steps is %zu bytes", len);
    CHECK(well_formed(page));
    check_paths(page, n, BCOS_REPORT_MAX_POINTS);
    CHECK(count(page, "<g class=\"mark\">") == 10); /* the resume and the preemption, on each of the 5 curves */
    CHECK(count(page, "<title>resumed from step 6000 on 2 ranks</title>") == 5);
    CHECK(strstr(page, "<td>undecodable image</td><td class=\"num\">300</td>") != NULL);
    CHECK(strstr(page, "<td>HTTP 503</td><td class=\"num\">4</td>") != NULL);
    CHECK(count(page, "<td class=\"num\">10000</td>") == 1); /* the newest checkpoint's step */
    free(page);
    free(rows);
    bcos_store_close(s);
    free(db);
}

static void test_odd_stores(const char *dir) {
    char *db = helper_path(dir, "odd.db");
    bcos_store *s = helper_open(db);
    size_t len;
    char err[BCOS_ERRLEN];
    char *page = page_of(s, NULL, 0, &len, err);
    CHECK(page && well_formed(page) && strstr(page, "This store holds no runs") != NULL);
    free(page);

    const char *evil = "<script>alert(\"x\")</script> & 'q'";
    int64_t run = helper_run(s, evil);
    bcos_metric rows[6] = {{1, NAN, 0.5, 1e-4, 1, 100, 0},      {2, 0.4, NAN, 1e-4, INFINITY, 100, 8},
                           {3, INFINITY, 0.6, 1e-4, 1, NAN, 0}, {4, 0.3, 0.7, 1e-4, 1, 100, 0},
                           {5, -INFINITY, 0.7, NAN, 1, 100, 0}, {6, 0.2, 0.8, 1e-4, 1, 100, 0}};
    bcos_store_metrics_add(s, run, rows, 6);
    bcos_store_event_add(s, run, 6, BCOS_EVENT_FAILURE, "run failed", 1, "<b>bad</b> & \"worse\"");
    bcos_store_event_add(s, run, 2, BCOS_EVENT_SKIP, "non-finite <loss>", 1, NULL);
    bcos_store_run_set_status(s, run, BCOS_RUN_FAILED);
    int64_t bare = helper_run(s, "no metrics");
    bcos_eval_result result = {0, BCOS_MODEL_TEACHER, "data<set>", "test", NULL, "acc1", NAN, 10};
    bcos_store_results_add(s, bare, &result, 1);
    unsigned char png[] = {0x89, 'P', 'N', 'G'};
    bcos_explanation e = {-1, "im<g>.jpg", "a \"dog\" & <cat>", NAN, 0.5, 1e-7, png, sizeof png, NULL};
    bcos_store_explanation_add(s, bare, &e);

    page = page_of(s, NULL, 0, &len, err);
    CHECK(page && well_formed(page));
    CHECK(strstr(page, "<script") == NULL && strstr(page, "<b>bad") == NULL && strstr(page, "<cat>") == NULL);
    CHECK(strstr(page, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;") != NULL);
    CHECK(strstr(page, "&lt;b&gt;bad&lt;/b&gt; &amp; &quot;worse&quot;") != NULL);
    CHECK(strstr(page, "class=\"status-failed\"") != NULL);
    CHECK(strstr(page, "nan") == NULL && strstr(page, "inf\"") == NULL);
    CHECK(strstr(page, "data:image/png;base64,iVBORw==") != NULL); /* the 4 bytes in base64 */
    /* the loss curve: steps 2, 4 and 6 finite, each after a break, so three one-point lines */
    const char *loss = strstr(page, "data-plot=\"loss\"");
    CHECK(loss && strstr(loss, "data-points=\"3\"") != NULL);
    free(page);

    const char *only_bare[] = {"no metrics"};
    page = page_of(s, only_bare, 1, &len, err);
    CHECK(page && well_formed(page) && strstr(page, "No training metrics recorded") != NULL);
    CHECK(page && strstr(page, "running, but no process holds its lease") != NULL); /* begun, never ended */
    CHECK(page && strstr(page, "data-value=\"null\">-</td>") != NULL);
    free(page);
    const char *unknown[] = {"no metrics", "nope"};
    CHECK(page_of(s, unknown, 2, &len, err) == NULL && strstr(err, "no run named 'nope'") != NULL);
    const char *twice[] = {"no metrics", "no metrics"};
    CHECK(page_of(s, twice, 2, &len, err) == NULL && strstr(err, "run named twice") != NULL);
    bcos_store_close(s);
    free(db);
}

int main(void) {
    char *dir = helper_temp_dir();
    test_decimate();
    test_big_run(dir);
    test_odd_stores(dir);
    helper_remove_tree(dir);
    free(dir);
    return test_summary("test_report");
}
