/* Epoch plans and data cursors: the (seed, epoch) permutation is a permutation, repeatable, new
 * each epoch and unbiased in where it puts a shard; every shard goes to exactly one rank and
 * worker, in permutation order; all ranks agree on the epoch length, every worker has the samples
 * for its batches, and one batch more would leave some worker short (checked by counting turns
 * directly); ranks get balanced loads; impossible plans are refused with a message; cursors (with
 * and without shuffle buffers) survive a text round trip and are checked against the plan and
 * loader they resume; old versions and malformed text are refused with a message. */
#include "../../src/loader/loader_impl.h"
#include "bcos/shard_plan.h"

#include "test.h"

#include <stdbool.h>
#include <string.h>

#define N_SHARDS 37

static void test_permutation(void) {
    static int a[1000], b[1000], c[1000];
    const int sizes[] = {1, 2, 10, 1000};
    for (int k = 0; k < 4; k++) {
        int n = sizes[k];
        bcos_shard_permutation(a, n, 11, 3);
        bcos_shard_permutation(b, n, 11, 3);
        static bool seen[1000];
        memset(seen, 0, sizeof seen);
        bool ok = true;
        for (int i = 0; i < n; i++) {
            ok = ok && a[i] >= 0 && a[i] < n && !seen[a[i]] && a[i] == b[i];
            if (a[i] >= 0 && a[i] < n) seen[a[i]] = true;
        }
        CHECK_MSG(ok, "n=%d: not a repeatable permutation", n);
    }
    bcos_shard_permutation(c, 1000, 11, 4);
    int same = 0;
    for (int i = 0; i < 1000; i++) same += a[i] == c[i];
    CHECK_MSG(same < 20, "epochs 3 and 4 agree on %d of 1000 places", same);
    /* Where shard 0 lands over 20000 epochs of 5 shards: 4000 per place, sigma 57. */
    long count[5] = {0};
    for (int e = 0; e < 20000; e++) {
        bcos_shard_permutation(a, 5, 1, (uint64_t)e);
        for (int i = 0; i < 5; i++) count[i] += a[i] == 0;
    }
    for (int i = 0; i < 5; i++) CHECK_MSG(count[i] > 3700 && count[i] < 4300, "place %d: %ld", i, count[i]);
}

static long turns(long n_batches, int worker, int n_workers) {
    long t = 0;
    for (long b = 0; b < n_batches; b++) t += b % n_workers == worker;
    return t;
}

static void test_plans(void) {
    long samples[N_SHARDS];
    long most = 0;
    for (int i = 0; i < N_SHARDS; i++) {
        samples[i] = 50 + (i * 37) % 90;
        if (samples[i] > most) most = samples[i];
    }
    const int n_ranks = 4, n_workers = 3;
    const long batch = 16;
    int owner[N_SHARDS];
    for (int i = 0; i < N_SHARDS; i++) owner[i] = -1;
    int perm[N_SHARDS], place[N_SHARDS];
    bcos_shard_permutation(perm, N_SHARDS, 9, 2);
    for (int i = 0; i < N_SHARDS; i++) place[perm[i]] = i;
    long length = -1, least = -1, heaviest = 0;
    bool one_more_fits_everywhere = true;
    for (int r = 0; r < n_ranks; r++) {
        bcos_epoch_plan p, again;
        char err[256];
        CHECK(bcos_epoch_plan_make(&p, samples, N_SHARDS, 9, 2, r, n_ranks, n_workers, batch, err, sizeof err) == 0);
        CHECK(bcos_epoch_plan_make(&again, samples, N_SHARDS, 9, 2, r, n_ranks, n_workers, batch, err, sizeof err) == 0);
        CHECK(p.n_workers == n_workers && p.rank == r && p.n_batches > 0);
        if (length < 0) length = p.n_batches;
        CHECK_MSG(p.n_batches == length, "rank %d plans %ld batches, rank 0 %ld", r, p.n_batches, length);
        long rank_samples = 0;
        bool one_more_fits = true;
        for (int w = 0; w < p.n_workers; w++) {
            const bcos_worker_plan *wp = &p.workers[w];
            long sum = 0;
            for (int i = 0; i < wp->n_shards; i++) {
                int s = wp->shards[i].shard;
                CHECK_MSG(owner[s] == -1, "shard %d dealt twice", s);
                owner[s] = r * n_workers + w;
                sum += samples[s];
                if (i > 0) CHECK_MSG(place[wp->shards[i - 1].shard] < place[s], "rank %d worker %d out of order", r, w);
                CHECK(again.workers[w].shards[i].shard == s);
            }
            CHECK(sum == wp->samples);
            CHECK_MSG(wp->batches == turns(p.n_batches, w, p.n_workers), "worker %d supplies %ld batches", w, wp->batches);
            CHECK_MSG(wp->batches * batch <= wp->samples, "rank %d worker %d: %ld batches from %ld samples", r, w,
                      wp->batches, wp->samples);
            one_more_fits = one_more_fits && turns(p.n_batches + 1, w, p.n_workers) * batch <= wp->samples;
            rank_samples += sum;
        }
        one_more_fits_everywhere = one_more_fits_everywhere && one_more_fits;
        if (least < 0 || rank_samples < least) least = rank_samples;
        if (rank_samples > heaviest) heaviest = rank_samples;
        bcos_epoch_plan_free(&p);
        bcos_epoch_plan_free(&again);
    }
    CHECK_MSG(!one_more_fits_everywhere, "every rank could make batch %ld too", length);
    for (int i = 0; i < N_SHARDS; i++) CHECK_MSG(owner[i] >= 0, "shard %d dealt to nobody", i);
    CHECK_MSG(heaviest - least <= most, "rank loads from %ld to %ld samples", least, heaviest);

    bcos_epoch_plan p;
    char err[256] = "";
    CHECK(bcos_epoch_plan_make(&p, samples, 3, 1, 0, 0, 4, 1, 8, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "3 shards cannot feed 4 ranks x 1 loader workers"), "'%s'", err);
    CHECK(bcos_epoch_plan_make(&p, samples, N_SHARDS, 1, 0, 0, 2, 2, 100000, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "too few samples for one batch of 100000"), "'%s'", err);
    long zero[2] = {5, 0};
    CHECK(bcos_epoch_plan_make(&p, zero, 2, 1, 0, 0, 1, 1, 1, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "shard 1 has 0 known samples"), "'%s'", err);
    CHECK(bcos_epoch_plan_make(&p, samples, N_SHARDS, 1, 0, 4, 4, 1, 1, err, sizeof err) == -1);
    CHECK(bcos_epoch_plan_make(&p, samples, N_SHARDS, 1, 0, 0, 1, BCOS_MAX_WORKERS + 1, 1, err, sizeof err) == -1);
    /* Fewer shards than ranks x workers: an error with a hint. */
    CHECK(bcos_epoch_plan_make(&p, samples, 2, 1, 0, 1, 2, 4, 10, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "2 shards cannot feed 2 ranks x 4 loader workers") && strstr(err, "fewer workers"), "'%s'",
              err);
}

static bool same_cursor(const bcos_data_cursor *a, const bcos_data_cursor *b) {
    if (a->epoch != b->epoch || a->batches_done != b->batches_done || a->rank != b->rank || a->n_ranks != b->n_ranks ||
        a->n_workers != b->n_workers || a->shuffle != b->shuffle || a->window != b->window)
        return false;
    for (int w = 0; w < a->n_workers; w++) {
        const bcos_worker_cursor *x = &a->workers[w], *y = &b->workers[w];
        if (bcos_stream_pos_compare(x->next, y->next) != 0 ||
            memcmp(&x->rng, &y->rng, sizeof x->rng) != 0 || x->n_held != y->n_held)
            return false;
        for (long i = 0; i < x->n_held; i++)
            if (bcos_stream_pos_compare(x->held[i], y->held[i]) != 0) return false;
    }
    return true;
}

static void test_cursor(void) {
    long samples[N_SHARDS];
    for (int i = 0; i < N_SHARDS; i++) samples[i] = 64;
    bcos_epoch_plan p;
    char err[256] = "";
    CHECK(bcos_epoch_plan_make(&p, samples, N_SHARDS, 5, 7, 1, 2, 3, 8, err, sizeof err) == 0);
    bcos_data_cursor c, back;
    bcos_data_cursor_start(&c, &p, 0, 0);
    CHECK(c.epoch == 7 && c.rank == 1 && c.n_ranks == 2 && c.n_workers == 3 && c.batches_done == 0);
    c.batches_done = 11;
    c.workers[0].next = (bcos_stream_pos){2, 17, 0};
    c.workers[2].next = (bcos_stream_pos){1, 63, 1};
    char text[512];
    int n = bcos_data_cursor_format(&c, text, sizeof text);
    CHECK(n == (int)strlen(text));
    CHECK_MSG(strcmp(text, "bcos-cursor 2 epoch 7 batches 11 rank 1 of 2 workers 3 shuffle 0 window 0 2,17,0 0,0,0 "
                           "1,63,1") == 0,
              "'%s'", text);
    CHECK(bcos_data_cursor_format(&c, text, 20) == -1);
    bcos_data_cursor_format(&c, text, sizeof text);
    CHECK(bcos_data_cursor_parse(&back, text, err, sizeof err) == 0);
    CHECK(same_cursor(&back, &c));
    CHECK_MSG(bcos_data_cursor_check(&back, &p, 0, 0, err, sizeof err) == 0, "%s", err);
    CHECK(bcos_data_cursor_check(&back, &p, 4, 32, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "shuffle buffer of 0 samples") && strstr(err, "this loader has 4"), "'%s'", err);

    bcos_epoch_plan other;
    CHECK(bcos_epoch_plan_make(&other, samples, N_SHARDS, 5, 8, 1, 2, 3, 8, err, sizeof err) == 0);
    CHECK(bcos_data_cursor_check(&back, &other, 0, 0, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "saved for epoch 7") && strstr(err, "plans epoch 8"), "'%s'", err);
    bcos_epoch_plan_free(&other);
    back.workers[1].next.shard_pos = p.workers[1].n_shards + 1;
    CHECK(bcos_data_cursor_check(&back, &p, 0, 0, err, sizeof err) == -1);
    back.workers[1].next.shard_pos = 0;
    back.batches_done = p.n_batches + 1;
    CHECK(bcos_data_cursor_check(&back, &p, 0, 0, err, sizeof err) == -1);
    bcos_data_cursor_free(&back);

    const char *bad[] = {
        "", "bcos-cursor", "bcos-cursor 3 epoch 7 batches 11 rank 1 of 2 workers 1 shuffle 0 window 0 0,0,0",
        "bcos-cursor 2 epoch 7 batches 11 rank 1 of 2 workers 1 0,0,0",
        "bcos-cursor 2 epoch 7 batches 11 rank 1 of 2 workers 2 shuffle 0 window 0 0,0,0",
        "bcos-cursor 2 epoch 7 batches 11 rank 1 of 2 workers 1 shuffle 0 window 0 0,0,0 extra",
        "bcos-cursor 2 epoch 7 batches 11 rank 2 of 2 workers 1 shuffle 0 window 0 0,0,0",
        "bcos-cursor 2 epoch 7 batches -1 rank 1 of 2 workers 1 shuffle 0 window 0 0,0,0",
        "bcos-cursor 2 epoch 7 batches 1 rank 1 of 2 workers 1 shuffle 0 window 0 0,-4,0",
        "bcos-cursor 2 epoch 7 batches 1 rank 1 of 2 workers 1 shuffle 0 window 0 0,4",
        "bcos-cursor 2 epoch 7 batches 1 rank 1 of 2 workers 0 shuffle 0 window 0",
        "bcos-cursor 2 epoch 7 batches 1 rank 1 of 2 workers 1 shuffle -1 window 0 0,0,0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK_MSG(bcos_data_cursor_parse(&back, bad[i], err, sizeof err) == -1, "'%s' parsed", bad[i]);
        CHECK_MSG(strncmp(err, "data cursor: ", 13) == 0, "'%s' -> '%s'", bad[i], err);
    }
    /* A cursor written before shuffle buffers is refused with the reason. */
    CHECK(bcos_data_cursor_parse(&back, "bcos-cursor 1 epoch 7 batches 11 rank 1 of 2 workers 1 0,0,0", err,
                                 sizeof err) == -1);
    CHECK_MSG(strstr(err, "version 1, from before shuffle buffers") && strstr(err, "reads version 2"), "'%s'", err);
    bcos_epoch_plan_free(&p);
}

/* A cursor with shuffle buffers: generators seeded per worker and epoch, held positions written as
 * runs per shard and read back; malformed or inconsistent shuffle states are refused. */
static void test_shuffle_cursor(void) {
    long samples[N_SHARDS];
    for (int i = 0; i < N_SHARDS; i++) samples[i] = 64;
    bcos_epoch_plan p, next_epoch;
    char err[256] = "";
    CHECK(bcos_epoch_plan_make(&p, samples, N_SHARDS, 5, 7, 0, 1, 2, 8, err, sizeof err) == 0);
    CHECK(bcos_epoch_plan_make(&next_epoch, samples, N_SHARDS, 5, 8, 0, 1, 2, 8, err, sizeof err) == 0);
    bcos_data_cursor c, other, back, copy;
    bcos_data_cursor_start(&c, &p, 4, 32);
    bcos_data_cursor_start(&other, &next_epoch, 4, 32);
    CHECK(c.shuffle == 4 && c.window == 32 && c.workers[0].n_held == 0 && c.workers[0].held == NULL);
    CHECK_MSG(memcmp(&c.workers[0].rng, &c.workers[1].rng, sizeof(bcos_rng)) != 0, "workers share a generator");
    CHECK_MSG(memcmp(&c.workers[0].rng, &other.workers[0].rng, sizeof(bcos_rng)) != 0, "epochs share a generator");
    bcos_stream_pos held[4] = {{1, 60, 0}, {1, 63, 0}, {0, 2, 1}, {1, 0, 1}};
    c.batches_done = 3;
    c.workers[0] = (bcos_worker_cursor){.next = {1, 2, 1}, .rng = c.workers[0].rng, .n_held = 4, .held = held};
    c.workers[0].rng.s[3] = 0xfedcba9876543210ULL;
    c.workers[1].next.sample_index = 5;
    char text[1024];
    CHECK(bcos_data_cursor_format(&c, text, sizeof text) > 0);
    const char *runs = strstr(text, "/1,60,0+3/0,2,1/1,0,1 ");
    CHECK_MSG(runs != NULL && strstr(text, "fedcba9876543210/"), "'%s'", text);
    CHECK_MSG(bcos_data_cursor_parse(&back, text, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(same_cursor(&back, &c), "'%s' reads back differently", text);
    CHECK_MSG(bcos_data_cursor_check(&back, &p, 4, 32, err, sizeof err) == 0, "%s", err);
    CHECK(bcos_data_cursor_check(&back, &p, 4, 16, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "(window 32)") && strstr(err, "(window 16)"), "'%s'", err);
    CHECK(bcos_data_cursor_check(&back, &p, 3, 32, err, sizeof err) == -1);
    bcos_data_cursor_copy(&copy, &back);
    CHECK(copy.workers[0].held != back.workers[0].held && same_cursor(&copy, &back));
    bcos_data_cursor_free(&back);
    CHECK(back.workers[0].held == NULL && back.workers[0].n_held == 0 && same_cursor(&copy, &c));

    /* Held positions must lie before the worker's position, in stream order, within its list. */
    copy.workers[0].held[1] = copy.workers[0].held[0];
    CHECK(bcos_data_cursor_check(&copy, &p, 4, 32, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "held sample 1") && strstr(err, "out of its list or order"), "'%s'", err);
    /* The text keeps even such a cursor as it is, for the check to refuse after a round trip. */
    CHECK(bcos_data_cursor_format(&copy, text, sizeof text) > 0);
    CHECK_MSG(bcos_data_cursor_parse(&back, text, err, sizeof err) == 0 && same_cursor(&back, &copy), "'%s'", text);
    bcos_data_cursor_free(&back);
    copy.workers[0].held[1] = held[1];
    copy.workers[0].held[3] = (bcos_stream_pos){1, 2, 1}; /* the worker's position: not read yet */
    CHECK(bcos_data_cursor_check(&copy, &p, 4, 32, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "held sample 3"), "'%s'", err);
    copy.workers[0].held[3] = held[3];
    CHECK_MSG(bcos_data_cursor_check(&copy, &p, 4, 32, err, sizeof err) == 0, "%s", err);
    copy.workers[0].held[0] = (bcos_stream_pos){p.workers[0].n_shards, 0, 0};
    CHECK(bcos_data_cursor_check(&copy, &p, 4, 32, err, sizeof err) == -1);
    bcos_data_cursor_free(&copy);

    const char *rng = ":0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const struct {
        bool with_rng;
        const char *runs;
    } bad_states[] = {
        {false, ""},                  /* no generator */
        {false, ":0123"},             /* a short one */
        {true, "/0,1"},               /* a run without its pass */
        {true, "/0,1,0+0"},           /* a gap of 0 */
        {true, "/0,1,0+-1"},          /* a negative gap */
        {true, "/0,1,0+1+1/1,0,0"},   /* three held: one more than the buffer of 2 */
    };
    for (size_t i = 0; i < sizeof bad_states / sizeof bad_states[0]; i++) {
        char line[512];
        snprintf(line, sizeof line, "bcos-cursor 2 epoch 7 batches 0 rank 0 of 1 workers 1 shuffle 2 window 16 %s%s%s",
                 "0,5,0", bad_states[i].with_rng ? rng : "", bad_states[i].runs);
        err[0] = '\0';
        CHECK_MSG(bcos_data_cursor_parse(&back, line, err, sizeof err) == -1, "'%s' parsed", line);
        CHECK_MSG(strstr(err, "worker 0's"), "'%s' -> '%s'", line, err);
        CHECK(back.workers[0].held == NULL);
    }
    bcos_epoch_plan_free(&p);
    bcos_epoch_plan_free(&next_epoch);
}

int main(void) {
    test_permutation();
    test_plans();
    test_cursor();
    test_shuffle_cursor();
    return test_summary("test_shard_plan");
}
