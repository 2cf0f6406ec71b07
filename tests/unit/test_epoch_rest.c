/* Re-partitioning the rest of an epoch on another world size, with shuffle buffers and 2 loader
 * workers, on shards written at test time: ranks stopped after k batches leave a rest that is
 * exactly the epoch's samples less those delivered (set equality, from the batches' origins);
 * finishing that rest on 1 or 3 ranks delivers only samples of the rest, none twice, with the same
 * batch count on every new rank; rests compose (2 ranks -> 3 -> 1); chains a -> b -> a deliver the
 * whole epoch, also when the last rest has fewer pieces than ranks (it is split by sample index, and
 * the rest of a split piece merged back); a cursor taken inside a rest's epoch resumes it exactly;
 * a worker past its first pass leaves only its first-pass held samples; mismatched cursors, bad rests and bad texts are refused with a message; the text form
 * survives a round trip. */
#include "../../src/loader/loader_impl.h"
#include "bcos/loader.h"

#include "bcos/log.h"
#include "support/tar_build.h"
#include "test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_SHARDS 16
#define MAX_PER 16
#define BATCH 4
#define SHUFFLE 5
#define WORKERS 2
#define SEED 7
#define EPOCH 3
#define MAX_SAMPLES (N_SHARDS * MAX_PER)

static char g_dir[] = "/tmp/bcos_test_epoch_rest_XXXXXX";
static char g_paths[N_SHARDS][256];
static const char *g_urls[N_SHARDS];
static long g_count[N_SHARDS];

/* Shard k holds 9 to 15 samples, each a .txt member. */
static void write_shards(void) {
    for (int k = 0; k < N_SHARDS; k++) {
        g_count[k] = 9 + (k * 5) % 7;
        tb_member m[MAX_PER];
        char names[MAX_PER][32];
        for (int i = 0; i < g_count[k]; i++) {
            snprintf(names[i], sizeof names[i], "k%d-%d.txt", k, i);
            m[i] = (tb_member){names[i], "x", 1, 0, NULL};
        }
        size_t size;
        uint8_t *tar = tb_build(m, (int)g_count[k], &size);
        snprintf(g_paths[k], sizeof g_paths[k], "%s/shard-%d.tar", g_dir, k);
        CHECK(tb_write_file(g_paths[k], tar, size) == 0);
        free(tar);
        g_urls[k] = g_paths[k];
    }
}

static bcos_sample_verdict accept_all(void *ctx, const bcos_sample *s, void *out, int *label, char *msg, size_t n) {
    (void)ctx, (void)s, (void)msg, (void)n;
    *(char *)out = 1;
    *label = 0;
    return BCOS_SAMPLE_OK;
}

/* How often each sample was delivered (or, for a rest, whether it is in it). */
typedef struct {
    int n[N_SHARDS][MAX_PER];
} tally;

/* The origins of a run's batches in order. */
typedef struct {
    long n;
    bcos_sample_origin origins[MAX_SAMPLES];
} origin_log;

/* Runs rank's loader on plan from resume (NULL: its start) for up to limit batches, counting the
 * samples into *delivered and logging them into *log when given; the cursor after them, through its
 * text, into *cursor when given. Returns the batches delivered. */
static long run_loader(const bcos_epoch_plan *plan, const bcos_data_cursor *resume, long limit, tally *delivered,
                       origin_log *log, bcos_data_cursor *cursor) {
    bcos_loader_config cfg = {.urls = g_urls, .plan = plan, .resume = resume, .sample_bytes = 1, .fn = accept_all,
                              .ready_batches = 2, .shuffle = SHUFFLE};
    bcos_fetch_options_default(&cfg.fetch);
    char err[512];
    bcos_loader *l = bcos_loader_start(&cfg, err, sizeof err);
    CHECK_MSG(l != NULL, "%s", err);
    if (!l) return 0;
    if (log) log->n = 0;
    long done = 0;
    int status = 1;
    bcos_batch *b;
    while (done < limit && (status = bcos_loader_next(l, &b)) == 1) {
        for (long i = 0; i < b->size; i++) {
            delivered->n[b->origins[i].shard][b->origins[i].index]++;
            if (log) log->origins[log->n++] = b->origins[i];
        }
        done++;
        bcos_loader_release(l, b);
    }
    CHECK_MSG(status >= 0, "loader: %s", bcos_loader_error(l));
    if (cursor) {
        bcos_data_cursor taken;
        static char text[1 << 14];
        bcos_loader_cursor(l, &taken);
        CHECK(bcos_data_cursor_format(&taken, text, sizeof text) > 0);
        CHECK_MSG(bcos_data_cursor_parse(cursor, text, err, sizeof err) == 0, "%s", err);
        bcos_data_cursor_free(&taken);
    }
    bcos_loader_stop(l);
    return done;
}

/* Rank's plan of the rest (NULL: the whole epoch) on n_ranks ranks. */
static void plan_of(bcos_epoch_plan *plan, const bcos_epoch_rest *rest, int rank, int n_ranks) {
    char err[512];
    int rc = rest ? bcos_epoch_plan_make_rest(plan, rest, g_count, N_SHARDS, SEED, rank, n_ranks, WORKERS, BATCH, err,
                                              sizeof err)
                  : bcos_epoch_plan_make(plan, g_count, N_SHARDS, SEED, EPOCH, rank, n_ranks, WORKERS, BATCH, err,
                                         sizeof err);
    CHECK_MSG(rc == 0, "rank %d of %d: %s", rank, n_ranks, err);
}

/* Runs every rank of n_ranks on the rest (NULL: the whole epoch) for `limit` batches (to the end
 * when more), counting their samples into *delivered; the ranks' cursors into cursors when given.
 * Checks that all ranks plan the same length and deliver it (or the limit). */
static void run_ranks(const bcos_epoch_rest *rest, int n_ranks, long limit, tally *delivered,
                      bcos_data_cursor *cursors) {
    long length = -1;
    for (int r = 0; r < n_ranks; r++) {
        bcos_epoch_plan plan;
        plan_of(&plan, rest, r, n_ranks);
        if (length < 0) length = plan.n_batches;
        CHECK_MSG(plan.n_batches == length, "rank %d of %d plans %ld batches, rank 0 %ld", r, n_ranks, plan.n_batches,
                  length);
        CHECK_MSG(limit < plan.n_batches || !cursors, "stop after %ld of %ld batches", limit, plan.n_batches);
        long done = run_loader(&plan, NULL, limit, delivered, NULL, cursors ? &cursors[r] : NULL);
        long want = limit < plan.n_batches ? limit : plan.n_batches;
        CHECK_MSG(done == want, "rank %d of %d: %ld batches of %ld", r, n_ranks, done, want);
        bcos_epoch_plan_free(&plan);
    }
}

/* The rest from the ranks' cursors, through its text. */
static void rest_of(bcos_epoch_rest *rest, const bcos_epoch_rest *was, const bcos_data_cursor *cursors, int n_ranks) {
    bcos_epoch_rest made;
    char err[512];
    static char text[1 << 14], again[1 << 14];
    CHECK_MSG(bcos_epoch_rest_from_cursors(&made, was, cursors, n_ranks, g_count, N_SHARDS, SEED, BATCH, err,
                                           sizeof err) == 0,
              "%s", err);
    CHECK(bcos_epoch_rest_format(&made, text, sizeof text) > 0);
    CHECK_MSG(bcos_epoch_rest_parse(rest, text, err, sizeof err) == 0, "%s", err);
    CHECK(bcos_epoch_rest_format(rest, again, sizeof again) > 0 && strcmp(text, again) == 0);
    CHECK(rest->epoch == EPOCH);
    bcos_epoch_rest_free(&made);
}

/* Marks the samples the rest names; checks that its pieces name distinct shards and known samples. */
static void rest_members(const bcos_epoch_rest *rest, tally *in) {
    memset(in, 0, sizeof *in);
    long members = 0;
    for (int i = 0; i < rest->n; i++) {
        const bcos_shard_piece *p = &rest->pieces[i];
        for (long k = 0; k < p->n_extra; k++) CHECK(p->extra[k] < g_count[p->shard]);
        for (long s = 0; s < g_count[p->shard]; s++) {
            in->n[p->shard][s] += bcos_shard_piece_has(p, s);
            members += bcos_shard_piece_has(p, s);
            CHECK_MSG(in->n[p->shard][s] <= 1, "shard %d twice in the rest", p->shard);
        }
    }
    CHECK_MSG(members == bcos_epoch_rest_samples(rest, g_count), "%ld members, %ld counted", members,
              bcos_epoch_rest_samples(rest, g_count));
}

/* No sample delivered twice before, and the rest is every sample of the epoch less those. */
static bool rest_is_complement(const bcos_epoch_rest *rest, const tally *before) {
    tally in;
    rest_members(rest, &in);
    bool ok = true;
    for (int k = 0; k < N_SHARDS; k++)
        for (long s = 0; s < g_count[k]; s++) ok = ok && before->n[k][s] <= 1 && in.n[k][s] == 1 - before->n[k][s];
    return ok;
}

static long delivered_total(const tally *t);

/* What ran after on n_ranks is the rest: every sample of it, none out of it or delivered before;
 * repeats only as the padding of the ranks and workers that ran short (less than a batch per
 * worker and the imbalance of one piece per rank). */
static bool after_is_rest(const bcos_epoch_rest *rest, const tally *before, const tally *after, int n_ranks) {
    tally in;
    rest_members(rest, &in);
    bool ok = true;
    for (int k = 0; k < N_SHARDS; k++)
        for (long s = 0; s < MAX_PER; s++)
            ok = ok && (after->n[k][s] > 0) == (in.n[k][s] > 0) && (after->n[k][s] == 0 || before->n[k][s] == 0);
    long repeats = delivered_total(after) - bcos_epoch_rest_samples(rest, g_count);
    return ok && repeats < n_ranks * (WORKERS * BATCH + MAX_PER);
}

static long delivered_total(const tally *t) {
    long total = 0;
    for (int k = 0; k < N_SHARDS; k++)
        for (long s = 0; s < MAX_PER; s++) total += t->n[k][s];
    return total;
}

/* Two ranks stop after k batches; the rest finishes on 1 and on 3 ranks. */
static void test_repartition(void) {
    const long stops[] = {1, 5, 11};
    for (int i = 0; i < 3; i++) {
        static tally before, after;
        bcos_data_cursor cursors[2];
        memset(&before, 0, sizeof before);
        run_ranks(NULL, 2, stops[i], &before, cursors);
        bcos_epoch_rest rest;
        rest_of(&rest, NULL, cursors, 2);
        CHECK_MSG(rest_is_complement(&rest, &before), "after %ld batches: the rest is not the epoch less the delivered",
                  stops[i]);
        CHECK(delivered_total(&before) == 2 * stops[i] * BATCH);
        for (int n_ranks = 1; n_ranks <= 3; n_ranks += 2) {
            memset(&after, 0, sizeof after);
            run_ranks(&rest, n_ranks, 1000, &after, NULL);
            CHECK_MSG(after_is_rest(&rest, &before, &after, n_ranks),
                      "after %ld batches, on %d ranks: not the rest's samples", stops[i], n_ranks);
            CHECK(delivered_total(&after) % (n_ranks * BATCH) == 0 && delivered_total(&after) > 0);
        }
        bcos_epoch_rest_free(&rest);
        for (int r = 0; r < 2; r++) bcos_data_cursor_free(&cursors[r]);
    }
}

/* 2 ranks -> 3 -> 1: the second rest is the epoch less what both runs delivered. */
static void test_compose(void) {
    static tally before, after;
    memset(&before, 0, sizeof before);
    memset(&after, 0, sizeof after);
    bcos_data_cursor two[2], three[3];
    run_ranks(NULL, 2, 4, &before, two);
    bcos_epoch_rest first, second;
    rest_of(&first, NULL, two, 2);
    run_ranks(&first, 3, 3, &before, three);
    rest_of(&second, &first, three, 3);
    CHECK_MSG(rest_is_complement(&second, &before), "the rest of the rest is not the epoch less both runs' samples");
    CHECK(second.n < first.n || bcos_epoch_rest_samples(&second, g_count) < bcos_epoch_rest_samples(&first, g_count));
    run_ranks(&second, 1, 1000, &after, NULL);
    CHECK_MSG(after_is_rest(&second, &before, &after, 1), "the last run did not deliver the rest");
    bcos_epoch_rest_free(&first);
    bcos_epoch_rest_free(&second);
    for (int r = 0; r < 2; r++) bcos_data_cursor_free(&two[r]);
    for (int r = 0; r < 3; r++) bcos_data_cursor_free(&three[r]);
}

/* a ranks -> b -> a, stopped twice (the second time `late` batches before the end of the b ranks'
 * epoch; 0: half-way): what the three runs delivered is the whole epoch, every sample of it (set
 * equality); nothing of a rest is dropped, not even one with fewer pieces than the a ranks. */
static void test_chain(int a, int b, long late) {
    static tally seen;
    memset(&seen, 0, sizeof seen);
    bcos_data_cursor first[3], second[3];
    run_ranks(NULL, a, 4, &seen, first);
    bcos_epoch_rest rest1, rest2;
    rest_of(&rest1, NULL, first, a);
    bcos_epoch_plan plan;
    plan_of(&plan, &rest1, 0, b);
    long stop = late > 0 ? plan.n_batches - late : plan.n_batches / 2;
    bcos_epoch_plan_free(&plan);
    run_ranks(&rest1, b, stop, &seen, second);
    rest_of(&rest2, &rest1, second, b);
    CHECK_MSG(late == 0 || (rest2.n > 0 && rest2.n < a), "%d ranks -> %d -> %d: a rest of %d pieces", a, b, a, rest2.n);
    static tally before, in;
    memcpy(&before, &seen, sizeof before);
    rest_members(&rest2, &in);
    run_ranks(&rest2, a, 1000, &seen, NULL);
    long missing = 0, outside = 0;
    for (int k = 0; k < N_SHARDS; k++)
        for (long s = 0; s < MAX_PER; s++) {
            missing += s < g_count[k] && seen.n[k][s] == 0;
            outside += seen.n[k][s] > before.n[k][s] && !in.n[k][s];
        }
    CHECK_MSG(missing == 0, "%d ranks -> %d -> %d: %ld samples of the epoch never delivered", a, b, a, missing);
    CHECK_MSG(outside == 0, "%d ranks -> %d -> %d: %ld samples delivered from outside the last rest", a, b, a, outside);
    bcos_epoch_rest_free(&rest1);
    bcos_epoch_rest_free(&rest2);
    for (int r = 0; r < a; r++) bcos_data_cursor_free(&first[r]);
    for (int r = 0; r < b; r++) bcos_data_cursor_free(&second[r]);
}

/* Every rank of n_ranks, stopped after each odd batch of the rest's epoch, resumes at its cursor as
 * if never stopped. */
static void resumes_exactly(const bcos_epoch_rest *rest, int n_ranks) {
    static tally ignored;
    for (int r = 0; r < n_ranks; r++) {
        bcos_epoch_plan plan;
        plan_of(&plan, rest, r, n_ranks);
        static origin_log whole, resumed;
        run_loader(&plan, NULL, 1000, &ignored, &whole, NULL);
        for (long k = 1; k < plan.n_batches; k += 2) {
            bcos_data_cursor cursor;
            run_loader(&plan, NULL, k, &ignored, NULL, &cursor);
            run_loader(&plan, &cursor, 1000, &ignored, &resumed, NULL);
            bool same = resumed.n == whole.n - k * BATCH;
            for (long i = 0; same && i < resumed.n; i++)
                same = resumed.origins[i].shard == whole.origins[k * BATCH + i].shard &&
                       resumed.origins[i].index == whole.origins[k * BATCH + i].index;
            CHECK_MSG(same, "rank %d of %d resumed after batch %ld of the rest's epoch: not the same batches", r,
                      n_ranks, k);
            bcos_data_cursor_free(&cursor);
        }
        bcos_epoch_plan_free(&plan);
    }
}

/* A cursor taken in a rest's epoch resumes it on the same shape as if never stopped. */
static void test_resume_in_rest(void) {
    static tally ignored;
    bcos_data_cursor two[2];
    run_ranks(NULL, 2, 3, &ignored, two);
    bcos_epoch_rest rest;
    rest_of(&rest, NULL, two, 2);
    resumes_exactly(&rest, 3);
    bcos_epoch_rest_free(&rest);
    for (int r = 0; r < 2; r++) bcos_data_cursor_free(&two[r]);
}

/* Rests of fewer pieces than ranks: a piece (from 3 with extra 1, and one read to its end with a
 * single extra left) is split over 2 and 3 ranks; every rank plans the same length and the
 * ranks deliver the rest's samples, each of them, and no other. A cursor inside such an epoch
 * resumes it exactly; cursors of every rank of it leave the rest less what they consumed, and that
 * rest re-partitions on another shape to what is left, every sample of it. */
static void test_few_pieces(void) {
    long extras[2] = {1, 4};
    bcos_shard_piece split[1] = {{4, 3, 1, extras}}, single[1] = {{2, BCOS_PIECE_END, 1, extras + 1}};
    const bcos_epoch_rest rests[2] = {{EPOCH, 1, split}, {EPOCH, 1, single}};
    for (int i = 0; i < 2; i++)
        for (int n_ranks = 2; n_ranks <= 3; n_ranks++) {
            static tally none, after;
            memset(&after, 0, sizeof after);
            run_ranks(&rests[i], n_ranks, 1000, &after, NULL);
            CHECK_MSG(after_is_rest(&rests[i], &none, &after, n_ranks), "rest %d on %d ranks: not the rest's samples",
                      i, n_ranks);
        }
    resumes_exactly(&rests[0], 3);
    static tally seen, left_in;
    memset(&seen, 0, sizeof seen);
    bcos_data_cursor three[3];
    run_ranks(&rests[0], 3, 1, &seen, three);
    bcos_epoch_rest left;
    rest_of(&left, &rests[0], three, 3);
    rest_members(&left, &left_in);
    tally in;
    rest_members(&rests[0], &in);
    bool kept = true; /* a sample a padding rank handed out again while it held it stays: never lost */
    for (int k = 0; k < N_SHARDS; k++)
        for (long s = 0; s < MAX_PER; s++)
            kept = kept && left_in.n[k][s] <= in.n[k][s] && left_in.n[k][s] >= (in.n[k][s] && !seen.n[k][s]);
    CHECK_MSG(kept && left.n == 1, "the rest of a split piece is not the piece less what its ranks consumed");
    static tally none, after;
    memset(&after, 0, sizeof after);
    run_ranks(&left, 2, 1000, &after, NULL);
    CHECK_MSG(after_is_rest(&left, &none, &after, 2), "the rest of a split piece, on 2 ranks: not its samples");
    bcos_epoch_rest_free(&left);
    for (int r = 0; r < 3; r++) bcos_data_cursor_free(&three[r]);
}

/* A cursor's sole worker is past its first pass: its pieces were all read; of the samples it holds,
 * those of the first pass are left, those of the second were handed out in the first. */
static void test_later_pass(void) {
    bcos_epoch_plan one;
    char err[512];
    CHECK(bcos_epoch_plan_make(&one, g_count, N_SHARDS, SEED, EPOCH, 0, 1, 1, BATCH, err, sizeof err) == 0);
    bcos_data_cursor c;
    bcos_data_cursor_start(&c, &one, 4, 32);
    bcos_stream_pos held[3] = {{0, 5, 0}, {1, 3, 0}, {0, 1, 1}};
    c.workers[0].next = (bcos_stream_pos){0, 2, 1};
    c.workers[0].held = held;
    c.workers[0].n_held = 3;
    c.batches_done = 1;
    bcos_epoch_rest rest;
    CHECK_MSG(bcos_epoch_rest_from_cursors(&rest, NULL, &c, 1, g_count, N_SHARDS, SEED, BATCH, err, sizeof err) == 0,
              "%s", err);
    CHECK_MSG(rest.n == 2, "%d pieces", rest.n);
    for (int i = 0; i < rest.n && i < 2; i++) {
        const bcos_shard_piece *p = &rest.pieces[i];
        CHECK_MSG(p->shard == one.workers[0].shards[i].shard && p->from == BCOS_PIECE_END && p->n_extra == 1 &&
                      p->extra[0] == (i == 0 ? 5 : 3),
                  "piece %d: shard %d from %ld, %ld extras", i, p->shard, p->from, p->n_extra);
    }
    CHECK(bcos_epoch_rest_samples(&rest, g_count) == 2);
    bcos_epoch_rest_free(&rest);
    bcos_epoch_plan_free(&one);
}

/* Cursors that are not one stop of one run are refused, naming the culprit. */
static void test_cursor_refusals(void) {
    static tally ignored;
    bcos_data_cursor two[2], swapped[2];
    run_ranks(NULL, 2, 2, &ignored, two);
    bcos_epoch_rest rest;
    char err[512] = "";
    swapped[0] = two[1];
    swapped[1] = two[0];
    CHECK(bcos_epoch_rest_from_cursors(&rest, NULL, swapped, 2, g_count, N_SHARDS, SEED, BATCH, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "cursor 0 is of rank 1 of 2"), "'%s'", err);
    CHECK(bcos_epoch_rest_from_cursors(&rest, NULL, two, 1, g_count, N_SHARDS, SEED, BATCH, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "expected rank 0 of 1"), "'%s'", err);
    two[1].batches_done++;
    CHECK(bcos_epoch_rest_from_cursors(&rest, NULL, two, 2, g_count, N_SHARDS, SEED, BATCH, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "rank 1's cursor is at epoch 3 batch 3, rank 0's at epoch 3 batch 2"), "'%s'", err);
    two[1].batches_done--;
    bcos_epoch_rest other = {.epoch = EPOCH + 1};
    CHECK(bcos_epoch_rest_from_cursors(&rest, &other, two, 2, g_count, N_SHARDS, SEED, BATCH, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "of epoch 3, the rest they ran of epoch 4"), "'%s'", err);
    two[1].workers[0].next.shard_pos = 99;
    CHECK(bcos_epoch_rest_from_cursors(&rest, NULL, two, 2, g_count, N_SHARDS, SEED, BATCH, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "rank 1's cursor") && strstr(err, "worker 0 at shard 99"), "'%s'", err);
    two[1].workers[0].next.shard_pos = 0;
    two[1].workers[0].next.sample_index = 0;
    CHECK(bcos_epoch_rest_from_cursors(&rest, NULL, two, 2, g_count, N_SHARDS, SEED, BATCH, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "rank 1's cursor") && strstr(err, "out of its list or order"), "'%s'", err);
    for (int r = 0; r < 2; r++) bcos_data_cursor_free(&two[r]);
}

/* Rests naming shards out of the list or twice, or with extras out of order, are refused; a rest
 * too small for the shape says so with 1. */
static void test_plan_refusals(void) {
    long extras[2] = {4, 2};
    bcos_shard_piece pieces[4] = {{3, 0, 0, NULL}, {5, 6, 2, extras}, {N_SHARDS, 0, 0, NULL}, {3, 2, 0, NULL}};
    bcos_epoch_plan plan;
    char err[512] = "";
    bcos_epoch_rest rest = {EPOCH, 2, pieces};
    CHECK(bcos_epoch_plan_make_rest(&plan, &rest, g_count, N_SHARDS, SEED, 0, 1, 1, BATCH, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "piece 1 (shard 5): extra sample 2 is out of order"), "'%s'", err);
    extras[0] = 1;
    CHECK(bcos_epoch_plan_make_rest(&plan, &rest, g_count, N_SHARDS, SEED, 0, 1, 1, BATCH, err, sizeof err) == 0);
    CHECK(plan.n_batches == (g_count[3] + g_count[5] - 6 + 2 + BATCH - 1) / BATCH); /* the last one padded */
    bcos_epoch_plan_free(&plan);
    rest.n = 3;
    CHECK(bcos_epoch_plan_make_rest(&plan, &rest, g_count, N_SHARDS, SEED, 0, 1, 1, BATCH, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "piece 2 names shard 16, not in the list"), "'%s'", err);
    pieces[2].shard = 7;
    rest.n = 4;
    CHECK(bcos_epoch_plan_make_rest(&plan, &rest, g_count, N_SHARDS, SEED, 0, 1, 1, BATCH, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "piece 3 names shard 3, named before"), "'%s'", err);
    rest.n = 3;
    CHECK(bcos_epoch_plan_make_rest(&plan, &rest, g_count, N_SHARDS, SEED, 0, 2, 2, BATCH, err, sizeof err) == 0);
    bcos_epoch_plan_free(&plan); /* a rest's ranks use fewer workers rather than leave pieces */
    CHECK(bcos_epoch_plan_make_rest(&plan, &rest, g_count, N_SHARDS, SEED, 0, 4, 1, BATCH, err, sizeof err) == 0);
    bcos_epoch_plan_free(&plan); /* fewer pieces than ranks: one is split (test_few_pieces) */
    rest.n = 0;
    CHECK(bcos_epoch_plan_make_rest(&plan, &rest, g_count, N_SHARDS, SEED, 0, 1, 1, BATCH, err, sizeof err) == 1);
    CHECK_MSG(strstr(err, "the rest of epoch 3 holds no known sample"), "'%s'", err);
    rest.n = 3;
    /* fewer samples than a batch: one batch, padded, rather than none */
    CHECK(bcos_epoch_plan_make_rest(&plan, &rest, g_count, N_SHARDS, SEED, 0, 3, 1, 100, err, sizeof err) == 0);
    CHECK(plan.n_batches == 1);
    bcos_epoch_plan_free(&plan);
}

static void test_text(void) {
    long extras[3] = {0, 4, 9};
    bcos_shard_piece pieces[3] = {{12, 10, 3, extras}, {0, BCOS_PIECE_END, 1, extras + 1}, {7, 0, 0, NULL}};
    bcos_epoch_rest rest = {42, 3, pieces}, back;
    char text[256], again[256], err[512] = "";
    int n = bcos_epoch_rest_format(&rest, text, sizeof text);
    CHECK_MSG(n > 0 && strcmp(text, "bcos-rest 1 epoch 42 pieces 3 12,10/0+4+5 0,end/4 7,0") == 0, "'%s'", text);
    CHECK(bcos_epoch_rest_format(&rest, text, (size_t)n) == -1);
    CHECK(bcos_epoch_rest_format(&rest, text, sizeof text) == n);
    CHECK_MSG(bcos_epoch_rest_parse(&back, text, err, sizeof err) == 0, "%s", err);
    CHECK(back.epoch == 42 && back.n == 3 && back.pieces[1].from == BCOS_PIECE_END && back.pieces[0].n_extra == 3 &&
          back.pieces[0].extra[2] == 9);
    CHECK(bcos_epoch_rest_format(&back, again, sizeof again) == n && strcmp(again, text) == 0);
    bcos_epoch_rest_free(&back);
    CHECK(bcos_epoch_rest_parse(&back, "bcos-rest 1 epoch 0 pieces 0\n", err, sizeof err) == 0 && back.n == 0);
    bcos_epoch_rest_free(&back);

    const struct {
        const char *text, *says;
    } bad[] = {
        {"bcos-cursor 2 epoch 1", "is not an epoch rest"},
        {"bcos-rest 2 epoch 1 pieces 0", "version 2, this build reads 1"},
        {"bcos-rest 1 epoch 1", "lacks its epoch or piece count"},
        {"bcos-rest 1 epoch 1 pieces 2 3,0", "piece 1 of 2 ('')"},
        {"bcos-rest 1 epoch 1 pieces 1 3,5/5", "piece 0 of 1 ('3,5/5')"},
        {"bcos-rest 1 epoch 1 pieces 1 3,9/2+0", "piece 0 of 1"},
        {"bcos-rest 1 epoch 1 pieces 1 -3,0", "piece 0 of 1 ('-3,0')"},
        {"bcos-rest 1 epoch 1 pieces 1 3,ending", "unexpected 'ing' at the end"},
        {"bcos-rest 1 epoch 1 pieces 1 3,0 4,0", "unexpected ' 4,0' at the end"},
        {"bcos-rest 1 epoch 1 pieces 1 3,99999999999999999999", "piece 0 of 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK_MSG(bcos_epoch_rest_parse(&back, bad[i].text, err, sizeof err) == -1 && back.n == 0 && !back.pieces,
                  "'%s' parsed", bad[i].text);
        CHECK_MSG(strstr(err, bad[i].says), "'%s': '%s'", bad[i].text, err);
    }
}

int main(void) {
    if (!mkdtemp(g_dir)) return 1;
    bcos_log_set_level(BCOS_LOG_ERROR);
    write_shards();
    test_repartition();
    test_compose();
    test_chain(2, 1, 0);
    test_chain(3, 2, 0);
    test_chain(2, 1, 1);
    test_chain(3, 1, 2);
    test_chain(3, 2, 1);
    test_resume_in_rest();
    test_few_pieces();
    test_later_pass();
    test_cursor_refusals();
    test_plan_refusals();
    test_text();
    for (int k = 0; k < N_SHARDS; k++) unlink(g_paths[k]);
    rmdir(g_dir);
    return test_summary("test_epoch_rest");
}
