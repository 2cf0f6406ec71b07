/* The epoch rest's text: the pieces left of an epoch as one versioned line, stored with each
 * checkpoint of a run that re-partitioned its epoch and parsed (strictly: every field, digits only,
 * nothing after them) on resume. A piece is its shard and start, "end" for a shard read to its end,
 * then its extra samples as the first index and the gaps between the others. */
#include "bcos/shard_plan.h"

#include "loader_impl.h"

#include "bcos/check.h"
#include "line_text.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REST_VERSION 1

static void put_piece(line_text *t, const bcos_shard_piece *p) {
    if (p->from == BCOS_PIECE_END)
        line_put(t, " %d,end", p->shard);
    else
        line_put(t, " %d,%ld", p->shard, p->from);
    for (long i = 0; i < p->n_extra; i++)
        if (i == 0)
            line_put(t, "/%ld", p->extra[0]);
        else
            line_put(t, "+%ld", p->extra[i] - p->extra[i - 1]);
}

int bcos_epoch_rest_format(const bcos_epoch_rest *rest, char *buf, size_t size) {
    line_text t = line_text_in(buf, size);
    line_put(&t, "bcos-rest %d epoch %" PRIu64 " pieces %d", REST_VERSION, rest->epoch, rest->n);
    for (int i = 0; i < rest->n; i++) put_piece(&t, &rest->pieces[i]);
    return line_text_length(&t);
}

static void add_extra(bcos_shard_piece *p, long *capacity, long index) {
    if (p->n_extra == *capacity) {
        *capacity = *capacity ? 2 * *capacity : 8;
        p->extra = xrealloc(p->extra, (size_t)*capacity * sizeof *p->extra);
    }
    p->extra[p->n_extra++] = index;
}

/* "/first+gap..." at *p: ascending extras, all below the piece's start. */
static bool scan_extras(const char **p, bcos_shard_piece *piece) {
    long capacity = 0, index;
    if (!line_scan_char(p, '/')) return true;
    if (!line_scan_number(p, LONG_MAX, &index) || index >= piece->from) return false;
    add_extra(piece, &capacity, index);
    while (line_scan_char(p, '+')) {
        long gap;
        if (!line_scan_number(p, LONG_MAX - index, &gap) || gap < 1 || index + gap >= piece->from) return false;
        index += gap;
        add_extra(piece, &capacity, index);
    }
    return true;
}

/* " shard,from[/first+gap...]" at *p. */
static bool scan_piece(const char **p, bcos_shard_piece *piece) {
    long shard;
    if (!line_scan_char(p, ' ') || !line_scan_number(p, INT_MAX, &shard) || !line_scan_char(p, ',')) return false;
    piece->shard = (int)shard;
    if (strncmp(*p, "end", 3) == 0) {
        piece->from = BCOS_PIECE_END;
        *p += 3;
    } else if (!line_scan_number(p, LONG_MAX, &piece->from)) {
        return false;
    }
    return scan_extras(p, piece);
}

static int parse(bcos_epoch_rest *rest, const char *text, char *err, size_t errlen) {
    int version = 0, at = 0, used = 0, n = 0;
    if (sscanf(text, "bcos-rest %d %n", &version, &at) != 1)
        return bcos_error(err, errlen, "epoch rest", "'%.60s' is not an epoch rest", text);
    if (version != REST_VERSION)
        return bcos_error(err, errlen, "epoch rest", "version %d, this build reads %d", version, REST_VERSION);
    if (sscanf(text + at, "epoch %" SCNu64 " pieces %d%n", &rest->epoch, &n, &used) != 2 || n < 0)
        return bcos_error(err, errlen, "epoch rest", "'%.60s' lacks its epoch or piece count", text);
    const char *p = text + at + used;
    int capacity = 0;
    for (int i = 0; i < n; i++) {
        if (rest->n == capacity) {
            capacity = capacity ? 2 * capacity : 16;
            rest->pieces = xrealloc(rest->pieces, (size_t)capacity * sizeof *rest->pieces);
        }
        const char *start = *p == ' ' ? p + 1 : p;
        bcos_shard_piece *piece = &rest->pieces[rest->n++];
        *piece = (bcos_shard_piece){0};
        if (!scan_piece(&p, piece))
            return bcos_error(err, errlen, "epoch rest",
                              "piece %d of %d ('%.40s') is missing or malformed (shard,from or shard,end, then "
                              "/first+gap... extras, ascending and below from)",
                              i, n, start);
    }
    if (*p != '\0' && *p != '\n') return bcos_error(err, errlen, "epoch rest", "unexpected '%.40s' at the end", p);
    return 0;
}

int bcos_epoch_rest_parse(bcos_epoch_rest *rest, const char *text, char *err, size_t errlen) {
    memset(rest, 0, sizeof *rest);
    if (parse(rest, text, err, errlen) == 0) return 0;
    bcos_epoch_rest_free(rest);
    return -1;
}
