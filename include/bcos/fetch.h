/* HTTP(S) shard fetching: a resumable byte stream over libcurl that a tar reader pulls from. A
 * transfer that breaks or stalls is retried with exponential backoff and seeded jitter; a retry
 * asks for "Range: bytes=N-" from the byte reached, and when the server ignores the range (200
 * instead of 206) the bytes already delivered are read again and dropped, so the consumer sees one
 * unbroken stream either way. TLS peers are always verified. Network failures are data-path
 * events: every call returns a status, nothing stops the process. */
#ifndef BCOS_FETCH_H
#define BCOS_FETCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    long connect_timeout_ms; /* TCP and TLS handshake */
    /* A transfer that delivers fewer than low_speed_bytes per second over low_speed_ms of
     * waiting is abandoned and retried. Only time the reader spends waiting for the network
     * counts, so a slow consumer never looks like a slow server. */
    long low_speed_bytes;
    long low_speed_ms;
    /* Failed attempts in a row retried per shard; the next failure gives the shard up. An attempt
     * that delivered bytes starts the count afresh. */
    int max_retries;
    long backoff_ms;     /* delay before the first retry; doubles per retry up to backoff_max_ms */
    long backoff_max_ms; /* each delay is then drawn uniformly from [delay/2, delay] */
    /* Time a stream's reads may spend waiting for the network in all, backoffs included, before
     * the shard is given up whatever its progress; 0: no bound. A slow consumer's time does not
     * count. */
    long max_wait_ms;
    uint64_t seed;       /* the jitter stream (one per URL, derived from the seed) */
    const char *ca_file; /* PEM bundle of trusted CAs; NULL: the system store */
    /* Environment variable holding a bearer token, sent as "Authorization: Bearer TOKEN" and
     * never logged; NULL or "" sends none. */
    const char *token_env;
    /* NULL, or a flag another thread sets to make every read give up within a poll (50 ms),
     * backoff waits included: how a loader that is stopped leaves a stalled transfer. */
    const atomic_bool *stop;
} bcos_fetch_options;

/* Counts of one stream, or summed over many (bcos_fetch_stats_add). */
typedef struct {
    long attempts;    /* requests sent */
    long retries;     /* failed attempts that were retried */
    long resumes;     /* retries the server answered with 206 from the byte reached */
    long restarts;    /* retries answered with 200: the delivered prefix was read again and dropped */
    long long bytes;  /* body bytes received, dropped ones included */
} bcos_fetch_stats;

/* Defaults: connect 10 s, 1 KiB/s over 30 s, 5 retries, backoff 1 s doubling up to 30 s, 30 minutes
 * of waiting per stream, seed 0, the system CAs, token from
 * BCOS_HTTP_TOKEN, no stop flag. */
void bcos_fetch_options_default(bcos_fetch_options *opt);
void bcos_fetch_stats_add(bcos_fetch_stats *sum, const bcos_fetch_stats *s);

typedef struct bcos_http_stream bcos_http_stream;

/* Prepares a stream of url's body; nothing is sent before the first read. The options' strings are
 * copied and the token is read from the environment now. */
bcos_http_stream *bcos_http_open(const char *url, const bcos_fetch_options *opt);
/* The same from byte offset of the body on (the first request asks for "Range: bytes=offset-"): the
 * rest of a download kept from an earlier process. */
bcos_http_stream *bcos_http_open_at(const char *url, const bcos_fetch_options *opt, uint64_t offset);
/* The next bytes of the body: returns their count and points *data at them (valid until the next
 * call), 0 at the end of the body, or -1 once the stream has given up (see bcos_http_error). */
long bcos_http_read(bcos_http_stream *s, const void **data);
/* "URL: why the stream gave up"; "" while it has not. */
const char *bcos_http_error(const bcos_http_stream *s);
const bcos_fetch_stats *bcos_http_stats(const bcos_http_stream *s);
/* The HTTP status of the last answer that was an error (404, 503 ...); 0 when none was. */
long bcos_http_status(const bcos_http_stream *s);
void bcos_http_close(bcos_http_stream *s);

/* What bcos_http_fetch_file did. */
typedef struct {
    int had_it;             /* path held the file already (its SHA-256 verified): nothing was fetched */
    long long resumed_from; /* bytes an earlier, interrupted download had kept (PATH.part) */
    bcos_fetch_stats stats; /* this download's transfers */
} bcos_fetch_file_result;

/* url's body into the file path (its folders created), unless path holds it already: downloaded
 * into PATH.part (locked: a second process fetching the same path waits, then finds it there),
 * hashed as it arrives, and renamed to path only when its SHA-256 is sha256_hex (64 hex digits,
 * either case). A download that gives up keeps PATH.part, which the next call resumes with Range;
 * one that does not match is removed. So path only ever holds the verified file. 0, or -1 with a
 * one-line message naming the URL or file in err. */
int bcos_http_fetch_file(const char *url, const bcos_fetch_options *opt, const char *path, const char *sha256_hex,
                         bcos_fetch_file_result *result, char *err, size_t errlen);

#endif
