/* A resumable HTTP(S) body stream: one curl easy handle driven through a multi handle in the
 * reader's own thread. A read runs the transfer until curl's write callback has put bytes into the
 * stream's buffer; a full buffer pauses the transfer, so memory stays bounded and nothing touches
 * the disk. A failed attempt is retried from the byte reached (see fetch.h). */
#include "bcos/fetch.h"

#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/rng.h"
#include "bcos/urls.h"
#include "fetch_retry.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BUFFER_BYTES (1 << 20)
#define CURL_BUFFER_BYTES (256 << 10)
#define POLL_MS 50
#define MAX_REDIRECTS 5

struct bcos_http_stream {
    char *url;
    char *shown_url; /* url without its credentials, for messages (bcos_url_redact) */
    bcos_fetch_options opt;
    char *ca_file;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *headers;
    char curl_error[CURL_ERROR_SIZE];

    uint8_t *buf; /* bytes for the consumer; the write callback appends */
    size_t cap, fill;
    bool in_flight;   /* easy is attached to multi */
    bool paused;      /* the write callback asked curl to hold its data */
    bool finished;    /* the whole body has been received */
    bool gave_up;
    bool first_write; /* the attempt's response status is not checked yet */

    uint64_t offset;       /* body bytes accepted so far: where a retry resumes */
    uint64_t range_from;   /* what the current attempt asked for */
    uint64_t discard;      /* bytes of a 200 answer still to drop (the server ignored Range) */
    long long range_start; /* first byte of the current answer's Content-Range, -1 if none */
    char reject[160];      /* why the write callback refused the current answer */

    double window_wait_ms; /* time spent waiting for the network in this low-speed window */
    long long window_bytes;
    double waited_ms; /* time reads spent waiting for the network, backoffs included */
    int failures;     /* in a row without a byte of progress */
    long http_status; /* of the last answer that failed with one; 0: none */
    bcos_rng rng;
    bcos_fetch_stats stats;
    char error[1024];
};

void bcos_fetch_options_default(bcos_fetch_options *opt) {
    *opt = (bcos_fetch_options){
        .connect_timeout_ms = 10000,
        .low_speed_bytes = 1024,
        .low_speed_ms = 30000,
        .max_retries = 5,
        .backoff_ms = 1000,
        .backoff_max_ms = 30000,
        .max_wait_ms = 1800000,
        .seed = 0,
        .ca_file = NULL,
        .token_env = "BCOS_HTTP_TOKEN",
    };
}

void bcos_fetch_stats_add(bcos_fetch_stats *sum, const bcos_fetch_stats *s) {
    sum->attempts += s->attempts;
    sum->retries += s->retries;
    sum->resumes += s->resumes;
    sum->restarts += s->restarts;
    sum->bytes += s->bytes;
}

static void global_init(void) {
    BCOS_CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK, "libcurl could not initialise (TLS library?)");
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static bool stopped(const bcos_http_stream *s) { return s->opt.stop && atomic_load(s->opt.stop); }

/* Sleeps ms, in polls, so that the stream's stop flag cuts the wait short. */
static void sleep_unless_stopped(const bcos_http_stream *s, long ms) {
    for (double end = now_ms() + (double)ms; !stopped(s) && now_ms() < end;) {
        double left = end - now_ms();
        long slice = left < POLL_MS ? (long)left + 1 : POLL_MS;
        struct timespec t = {0, slice * 1000000L};
        nanosleep(&t, NULL);
    }
}

static uint64_t url_hash(const char *url) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h;
}

/* Records the start of a 206 answer's Content-Range ("bytes START-END/TOTAL"); a new status line
 * (a redirect's, then the final one) forgets the previous answer's. */
static size_t on_header(char *line, size_t size, size_t n, void *user) {
    bcos_http_stream *s = user;
    size_t len = size * n;
    static const char name[] = "content-range:";
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) s->range_start = -1;
    if (len > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0) {
        char value[128];
        size_t vlen = len - (sizeof name - 1) < sizeof value - 1 ? len - (sizeof name - 1) : sizeof value - 1;
        memcpy(value, line + sizeof name - 1, vlen);
        value[vlen] = '\0';
        long long start;
        if (sscanf(value, " bytes %lld-", &start) == 1) s->range_start = start;
    }
    return len;
}

/* Checks the status of the answer the first body bytes belong to; 0 when they may be used. */
static int accept_answer(bcos_http_stream *s) {
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200 && s->range_from > 0) {
        s->discard = s->range_from;
        s->stats.restarts++;
        return 0;
    }
    if (status == 200) return 0;
    if (status == 206 && s->range_from > 0 && s->range_start == (long long)s->range_from) {
        s->stats.resumes++;
        return 0;
    }
    if (status == 206)
        snprintf(s->reject, sizeof s->reject, "asked for bytes %llu-, the server sent bytes %lld-",
                 (unsigned long long)s->range_from, s->range_start);
    else
        snprintf(s->reject, sizeof s->reject, "unexpected HTTP status %ld", status);
    return -1;
}

static size_t on_body(char *data, size_t size, size_t n, void *user) {
    bcos_http_stream *s = user;
    size_t len = size * n;
    if (s->first_write) {
        if (accept_answer(s)) return CURL_WRITEFUNC_ERROR;
        s->first_write = false;
    }
    size_t drop = s->discard < len ? (size_t)s->discard : len;
    size_t keep = len - drop;
    if (keep > s->cap - s->fill) {
        if (s->fill > 0) {
            s->paused = true;
            return CURL_WRITEFUNC_PAUSE;
        }
        s->cap = keep;
        s->buf = xrealloc(s->buf, s->cap);
    }
    memcpy(s->buf + s->fill, data + drop, keep);
    s->discard -= drop;
    s->fill += keep;
    s->offset += keep;
    s->stats.bytes += (long long)len;
    s->window_bytes += (long long)len;
    return len;
}

static void set_options(bcos_http_stream *s) {
    CURL *e = s->easy;
    curl_easy_setopt(e, CURLOPT_URL, s->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
    curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s->opt.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)CURL_BUFFER_BYTES);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "bcosify/" BCOS_VERSION);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curl_error);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    if (s->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
}

/* The Authorization header lives only in curl's header list; the token is never printed. */
static struct curl_slist *auth_headers(const char *token_env) {
    const char *token = token_env && *token_env ? getenv(token_env) : NULL;
    if (!token || !*token) return NULL;
    static const char prefix[] = "Authorization: Bearer ";
    size_t n = sizeof prefix + strlen(token);
    char *line = xmalloc(n);
    snprintf(line, n, "%s%s", prefix, token);
    struct curl_slist *list = curl_slist_append(NULL, line);
    BCOS_CHECK(list != NULL, "out of memory");
    memset(line, 0, n);
    free(line);
    return list;
}

bcos_http_stream *bcos_http_open(const char *url, const bcos_fetch_options *opt) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, global_init);
    bcos_http_stream *s = xcalloc(1, sizeof *s);
    s->url = xstrdup(url);
    s->shown_url = bcos_url_redact(url);
    s->opt = *opt;
    s->ca_file = opt->ca_file ? xstrdup(opt->ca_file) : NULL;
    s->opt.ca_file = s->ca_file;
    s->opt.token_env = NULL;
    s->headers = auth_headers(opt->token_env);
    s->multi = curl_multi_init();
    s->easy = curl_easy_init();
    BCOS_CHECK(s->multi && s->easy, "libcurl could not create a handle (out of memory?)");
    s->cap = BUFFER_BYTES;
    s->buf = xmalloc(s->cap);
    s->range_start = -1;
    bcos_rng_seed_stream(&s->rng, opt->seed, url_hash(url));
    set_options(s);
    return s;
}

bcos_http_stream *bcos_http_open_at(const char *url, const bcos_fetch_options *opt, uint64_t offset) {
    bcos_http_stream *s = bcos_http_open(url, opt);
    s->offset = offset;
    return s;
}

static void start_attempt(bcos_http_stream *s) {
    char range[32];
    s->range_from = s->offset;
    snprintf(range, sizeof range, "%llu-", (unsigned long long)s->offset);
    curl_easy_setopt(s->easy, CURLOPT_RANGE, s->offset > 0 ? range : NULL);
    s->first_write = true;
    s->paused = false;
    s->discard = 0;
    s->range_start = -1;
    s->reject[0] = '\0';
    s->curl_error[0] = '\0';
    s->window_wait_ms = 0;
    s->window_bytes = 0;
    s->stats.attempts++;
    BCOS_CHECK(curl_multi_add_handle(s->multi, s->easy) == CURLM_OK, "libcurl refused a transfer");
    s->in_flight = true;
}

static void stop_attempt(bcos_http_stream *s) {
    curl_multi_remove_handle(s->multi, s->easy);
    s->in_flight = false;
}

/* Ends a failed attempt: schedules a retry after a backoff, or gives the stream up. An attempt that
 * delivered bytes starts the count of failures afresh: a link that drops often but moves on is read
 * whole, and the stream's total wait (max_wait_ms) bounds it instead. */
static void attempt_failed(bcos_http_stream *s, bool retryable, const char *why) {
    stop_attempt(s);
    if (s->offset > s->range_from) s->failures = 0;
    s->failures++;
    if (!retryable || s->failures > s->opt.max_retries) {
        snprintf(s->error, sizeof s->error, "%s: %s (%s after %ld attempt%s, at byte %llu)", s->shown_url, why,
                 retryable ? "gave up" : "not retried", s->stats.attempts, s->stats.attempts == 1 ? "" : "s",
                 (unsigned long long)s->offset);
        s->gave_up = true;
        return;
    }
    long delay = fetch_backoff_ms(&s->opt, s->failures, &s->rng);
    bcos_warn("fetch %s: %s; retry %d of %d in %ld ms from byte %llu", s->shown_url, why, s->failures,
              s->opt.max_retries, delay, (unsigned long long)s->offset);
    s->stats.retries++;
    sleep_unless_stopped(s, delay);
}

static void transfer_done(bcos_http_stream *s, CURLcode code) {
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (code == CURLE_OK && s->first_write && accept_answer(s) == 0) s->first_write = false;
    if (code == CURLE_OK && !s->first_write) {
        stop_attempt(s);
        s->finished = true;
        return;
    }
    char why[CURL_ERROR_SIZE + 200];
    if (s->reject[0])
        snprintf(why, sizeof why, "%s", s->reject);
    else if (code == CURLE_HTTP_RETURNED_ERROR)
        snprintf(why, sizeof why, "HTTP %ld", status);
    if (code == CURLE_HTTP_RETURNED_ERROR) s->http_status = status;
    else
        snprintf(why, sizeof why, "%s", s->curl_error[0] ? s->curl_error : curl_easy_strerror(code));
    attempt_failed(s, !s->reject[0] && fetch_retryable(code, status), why);
}

/* Runs the transfer a step: until bytes arrive, the attempt ends or a poll times out. started_ms
 * is when the wait not yet added to the low-speed window began; returns it, moved to now when the
 * window was checked and restarted. */
static double pump(bcos_http_stream *s, double started_ms) {
    if (s->paused) {
        s->paused = false;
        curl_easy_pause(s->easy, CURLPAUSE_CONT);
    }
    int running = 0;
    curl_multi_perform(s->multi, &running);
    int left = 0;
    for (CURLMsg *m; (m = curl_multi_info_read(s->multi, &left)) != NULL;)
        if (m->msg == CURLMSG_DONE) {
            transfer_done(s, m->data.result);
            return started_ms;
        }
    if (s->fill > 0) return started_ms;
    curl_multi_poll(s->multi, NULL, 0, POLL_MS, NULL);
    double now = now_ms();
    if (s->window_wait_ms + (now - started_ms) < (double)s->opt.low_speed_ms) return started_ms;
    long long wanted = (long long)s->opt.low_speed_bytes * s->opt.low_speed_ms / 1000;
    if (s->window_bytes < wanted) {
        char why[160];
        snprintf(why, sizeof why, "fewer than %ld bytes/s for %ld ms", s->opt.low_speed_bytes, s->opt.low_speed_ms);
        attempt_failed(s, true, why);
    }
    s->window_wait_ms = 0;
    s->window_bytes = 0;
    return now;
}

/* Gives the stream up once its reads have waited max_wait_ms in all. */
static void check_deadline(bcos_http_stream *s, double entered_ms) {
    if (s->opt.max_wait_ms <= 0 || s->waited_ms + (now_ms() - entered_ms) < (double)s->opt.max_wait_ms) return;
    if (s->in_flight) stop_attempt(s);
    snprintf(s->error, sizeof s->error, "%s: waited %ld ms in all for data (the limit), at byte %llu after %ld attempts",
             s->shown_url, s->opt.max_wait_ms, (unsigned long long)s->offset, s->stats.attempts);
    s->gave_up = true;
}

long bcos_http_read(bcos_http_stream *s, const void **data) {
    s->fill = 0;
    double entered = now_ms(), started = entered;
    while (s->fill == 0 && !s->finished && !s->gave_up) {
        if (stopped(s)) {
            snprintf(s->error, sizeof s->error, "%s: stopped (the reader is shutting down)", s->shown_url);
            s->gave_up = true;
            break;
        }
        check_deadline(s, entered);
        if (s->gave_up) break;
        if (!s->in_flight) {
            start_attempt(s);
            started = now_ms();
        }
        started = pump(s, started);
    }
    if (s->in_flight) s->window_wait_ms += now_ms() - started;
    s->waited_ms += now_ms() - entered;
    if (s->fill > 0) {
        *data = s->buf;
        return (long)s->fill;
    }
    return s->gave_up ? -1 : 0;
}

const char *bcos_http_error(const bcos_http_stream *s) { return s->error; }

const bcos_fetch_stats *bcos_http_stats(const bcos_http_stream *s) { return &s->stats; }

long bcos_http_status(const bcos_http_stream *s) { return s->http_status; }

void bcos_http_close(bcos_http_stream *s) {
    if (!s) return;
    if (s->in_flight) stop_attempt(s);
    curl_easy_cleanup(s->easy);
    curl_multi_cleanup(s->multi);
    curl_slist_free_all(s->headers);
    free(s->buf);
    free(s->ca_file);
    free(s->url);
    free(s->shown_url);
    free(s);
}
