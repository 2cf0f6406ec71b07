/* The data cursor's text: a rank's exact position in an epoch as one versioned line, written with
 * each checkpoint and parsed (strictly: every field, digits only, nothing after them) on resume. A
 * worker with a shuffle buffer adds its generator's state and the positions of the samples it holds,
 * one run per shard: the first position, then the gaps between indices. */
#include "bcos/shard_plan.h"

#include "loader_impl.h"

#include "bcos/check.h"
#include "line_text.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURSOR_VERSION 2

/* Whether b follows a in the same shard, so that a gap writes it. */
static bool later_in_shard(const bcos_stream_pos *a, const bcos_stream_pos *b) {
    return a->shard_pos == b->shard_pos && a->pass == b->pass && b->sample_index > a->sample_index;
}

static void put_shuffle_state(line_text *t, const bcos_worker_cursor *wc) {
    line_put(t, ":");
    for (int i = 0; i < 4; i++) line_put(t, "%016" PRIx64, wc->rng.s[i]);
    for (long i = 0; i < wc->n_held; i++) {
        const bcos_stream_pos *h = &wc->held[i];
        if (i > 0 && later_in_shard(&wc->held[i - 1], h))
            line_put(t, "+%ld", h->sample_index - wc->held[i - 1].sample_index);
        else
            line_put(t, "/%d,%ld,%ld", h->shard_pos, h->sample_index, h->pass);
    }
}

int bcos_data_cursor_format(const bcos_data_cursor *c, char *buf, size_t size) {
    line_text t = line_text_in(buf, size);
    line_put(&t, "bcos-cursor %d epoch %" PRIu64 " batches %ld rank %d of %d workers %d shuffle %ld window %ld",
        CURSOR_VERSION, c->epoch, c->batches_done, c->rank, c->n_ranks, c->n_workers, c->shuffle, c->window);
    for (int w = 0; w < c->n_workers; w++) {
        const bcos_worker_cursor *wc = &c->workers[w];
        line_put(&t, " %d,%ld,%ld", wc->next.shard_pos, wc->next.sample_index, wc->next.pass);
        if (c->shuffle > 0) put_shuffle_state(&t, wc);
    }
    return line_text_length(&t);
}

/* "pos,index,pass" at *p. */
static bool scan_position(const char **p, bcos_stream_pos *pos) {
    long shard_pos;
    if (!line_scan_number(p, INT_MAX, &shard_pos) || !line_scan_char(p, ',') ||
        !line_scan_number(p, LONG_MAX, &pos->sample_index) || !line_scan_char(p, ',') ||
        !line_scan_number(p, LONG_MAX, &pos->pass))
        return false;
    pos->shard_pos = (int)shard_pos;
    return true;
}

/* Four 16-digit hex words at *p. */
static bool scan_rng(const char **p, bcos_rng *rng) {
    for (int i = 0; i < 4; i++) {
        char word[17];
        for (int k = 0; k < 16; k++) {
            if (!isxdigit((unsigned char)(*p)[k])) return false;
            word[k] = (*p)[k];
        }
        word[16] = '\0';
        rng->s[i] = strtoull(word, NULL, 16);
        *p += 16;
    }
    return true;
}

static void hold(bcos_worker_cursor *wc, long *capacity, bcos_stream_pos pos) {
    if (wc->n_held == *capacity) {
        *capacity = *capacity ? 2 * *capacity : 16;
        wc->held = xrealloc(wc->held, (size_t)*capacity * sizeof *wc->held);
    }
    wc->held[wc->n_held++] = pos;
}

/* ":RNG" and the runs of held positions at *p; at most shuffle of them. */
static bool scan_shuffle_state(const char **p, bcos_worker_cursor *wc, long shuffle) {
    if (!line_scan_char(p, ':') || !scan_rng(p, &wc->rng)) return false;
    long capacity = 0;
    while (line_scan_char(p, '/')) {
        bcos_stream_pos pos;
        if (!scan_position(p, &pos) || wc->n_held == shuffle) return false;
        hold(wc, &capacity, pos);
        while (line_scan_char(p, '+')) {
            long gap;
            if (!line_scan_number(p, LONG_MAX - pos.sample_index, &gap) || gap < 1 || wc->n_held == shuffle) return false;
            pos.sample_index += gap;
            hold(wc, &capacity, pos);
        }
    }
    return true;
}

static int scan_worker(const char **p, bcos_data_cursor *c, int w, const char *text, char *err, size_t errlen) {
    bcos_worker_cursor *wc = &c->workers[w];
    if (!line_scan_char(p, ' ') || !scan_position(p, &wc->next))
        return bcos_error(err, errlen, "data cursor", "worker %d's position in '%s' is missing or negative", w, text);
    if (c->shuffle > 0 && !scan_shuffle_state(p, wc, c->shuffle))
        return bcos_error(err, errlen, "data cursor",
                          "worker %d's shuffle state in '%s' is malformed or holds more than %ld samples", w, text,
                          c->shuffle);
    return 0;
}

static int check_version(int version, const char *text, char *err, size_t errlen) {
    if (version == 1)
        return bcos_error(err, errlen, "data cursor",
                          "'%.40s...' is version 1, from before shuffle buffers; this build reads version %d only "
                          "(start that epoch over)",
                          text, CURSOR_VERSION);
    if (version != CURSOR_VERSION)
        return bcos_error(err, errlen, "data cursor", "version %d, this build reads %d", version, CURSOR_VERSION);
    return 0;
}

static int parse(bcos_data_cursor *c, const char *text, char *err, size_t errlen) {
    int version = 0, at = 0, used = 0;
    if (sscanf(text, "bcos-cursor %d %n", &version, &at) != 1)
        return bcos_error(err, errlen, "data cursor", "'%s' is not a cursor", text);
    if (check_version(version, text, err, errlen)) return -1;
    if (sscanf(text + at, "epoch %" SCNu64 " batches %ld rank %d of %d workers %d shuffle %ld window %ld%n", &c->epoch,
               &c->batches_done, &c->rank, &c->n_ranks, &c->n_workers, &c->shuffle, &c->window, &used) != 7)
        return bcos_error(err, errlen, "data cursor", "'%s' lacks epoch, batches, rank, workers or shuffle", text);
    if (c->batches_done < 0 || c->n_ranks < 1 || c->rank < 0 || c->rank >= c->n_ranks || c->n_workers < 1 ||
        c->n_workers > BCOS_MAX_WORKERS || c->shuffle < 0 || c->shuffle > BCOS_SHUFFLE_MAX || c->window < 0)
        return bcos_error(err, errlen, "data cursor", "'%s' has a field out of range", text);
    const char *p = text + at + used;
    for (int w = 0; w < c->n_workers; w++)
        if (scan_worker(&p, c, w, text, err, errlen)) return -1;
    if (*p != '\0' && *p != '\n') return bcos_error(err, errlen, "data cursor", "unexpected '%s' at the end", p);
    return 0;
}

int bcos_data_cursor_parse(bcos_data_cursor *c, const char *text, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    if (parse(c, text, err, errlen) == 0) return 0;
    bcos_data_cursor_free(c);
    memset(c, 0, sizeof *c);
    return -1;
}
