/* URL list expansion: splits a pattern into "::"-joined sources (brackets first: "[::1]" is an IPv6
 * host), parses each source into literal text and decimal brace ranges, expands the ranges as an
 * odometer (last brace fastest, like bash), and checks every URL's scheme. Zero padding follows
 * braceexpand, which WebDataset uses: an end written with a leading zero sets the width ({000..999}
 * gives 000, 001, ...). Also the redaction of credentials (user:password@) from every URL shown or
 * stored. */
#include "bcos/urls.h"

#include "bcos/check.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* 18 digits always fit a long; longer range ends are rejected. */
#define MAX_RANGE_DIGITS 18

typedef struct {
    char *prefix; /* "url list 'PATTERN'" */
    char *err;
    size_t errlen;
} report;

/* The pattern's error, its URLs' credentials redacted. */
BCOS_PRINTF(2, 3) static int fail(const report *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    bcos_verror(r->err, r->errlen, r->prefix, fmt, ap);
    va_end(ap);
    if (r->err && r->errlen) bcos_url_redact_buffer(r->err, r->errlen);
    return -1;
}

/* One brace range of a source and the literal text before it. */
typedef struct {
    const char *literal;
    size_t literal_len;
    long lo, hi;
    int width;
} range_part;

/* A source: its ranges, then the literal text after the last one. */
typedef struct {
    range_part *parts;
    int n_parts;
    const char *tail;
    size_t tail_len;
} source;

static int parse_range_end(const char *s, size_t len, long *value) {
    if (len == 0 || len > MAX_RANGE_DIGITS) return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *value = v;
    return 0;
}

/* Parses the text between "{" and "}" as lo..hi. */
static int parse_range(const report *r, const char *s, size_t len, range_part *part) {
    const char *dots = NULL;
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == '.' && s[i + 1] == '.') {
            dots = s + i;
            break;
        }
    size_t lo_len = dots ? (size_t)(dots - s) : len;
    size_t hi_len = dots ? len - lo_len - 2 : 0;
    if (!dots || parse_range_end(s, lo_len, &part->lo) || parse_range_end(dots + 2, hi_len, &part->hi))
        return fail(r, "brace '{%.*s}' is not a decimal range like {000..999}", (int)len, s);
    if (part->hi < part->lo) return fail(r, "brace '{%.*s}' is a reversed range", (int)len, s);
    part->width = 0;
    if (s[0] == '0') part->width = (int)lo_len;
    if (dots[2] == '0' && (int)hi_len > part->width) part->width = (int)hi_len;
    return 0;
}

/* Splits one source into ranges and literal text; src is not NUL-terminated. */
static int parse_source(const report *r, const char *src, size_t len, source *out) {
    out->parts = NULL;
    out->n_parts = 0;
    const char *literal = src;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '}') return fail(r, "'}' without '{'");
        if (src[i] != '{') continue;
        size_t close = i + 1;
        while (close < len && src[close] != '}' && src[close] != '{') close++;
        if (close == len) return fail(r, "unclosed '{'");
        if (src[close] == '{') return fail(r, "nested '{'");
        out->parts = xrealloc(out->parts, (size_t)(out->n_parts + 1) * sizeof *out->parts);
        range_part *part = &out->parts[out->n_parts++];
        part->literal = literal;
        part->literal_len = (size_t)(src + i - literal);
        if (parse_range(r, src + i + 1, close - i - 1, part)) return -1;
        literal = src + close + 1;
        i = close;
    }
    out->tail = literal;
    out->tail_len = (size_t)(src + len - literal);
    return 0;
}

static int scheme_length(const char *url) {
    if (!isalpha((unsigned char)url[0])) return 0;
    int n = 1;
    while (isalnum((unsigned char)url[n]) || url[n] == '+' || url[n] == '-' || url[n] == '.') n++;
    return strncmp(url + n, "://", 3) == 0 ? n : 0;
}

/* The length of the userinfo ("user:password@", with its '@') at the start of an authority; 0 when
 * there is none. The authority ends at the path, query or fragment, or at what a URL quoted in a
 * message cannot hold (space, quote). */
static size_t userinfo_length(const char *authority) {
    size_t end = strcspn(authority, "/?#\"' \t\n"), at = 0;
    for (size_t i = 0; i < end; i++)
        if (authority[i] == '@') at = i + 1;
    return at;
}

char *bcos_url_redact(const char *text) {
    /* each "://" (3 bytes) grows the text by at most 3: a 1-byte userinfo "@" becomes "***@" */
    char *out = xmalloc(2 * strlen(text) + 1), *o = out;
    for (const char *p = text; *p;) {
        const char *sep = strstr(p, "://");
        const char *next = sep ? sep + 3 : p + strlen(p);
        memcpy(o, p, (size_t)(next - p));
        o += next - p;
        p = next;
        size_t hidden = sep ? userinfo_length(p) : 0;
        if (hidden > 0) {
            memcpy(o, "***@", 4);
            o += 4;
            p += hidden;
        }
    }
    *o = '\0';
    return out;
}

void bcos_url_redact_buffer(char *text, size_t size) {
    if (size == 0) return;
    char *shown = bcos_url_redact(text);
    snprintf(text, size, "%s", shown);
    free(shown);
}

bcos_url_kind bcos_url_kind_of(const char *url) {
    int n = scheme_length(url);
    if (n == 4 && strncasecmp(url, "http", 4) == 0) return BCOS_URL_HTTP;
    if (n == 5 && strncasecmp(url, "https", 5) == 0) return BCOS_URL_HTTPS;
    if (n == 4 && strncasecmp(url, "file", 4) == 0) return BCOS_URL_FILE;
    return BCOS_URL_PATH;
}

const char *bcos_url_path(const char *url) {
    return bcos_url_kind_of(url) == BCOS_URL_FILE ? url + strlen("file://") : url;
}

/* Checks one expanded URL: a known scheme, a host for http(s), an absolute path for file. */
static int check_url(const report *r, const char *url) {
    int n = scheme_length(url);
    bcos_url_kind kind = bcos_url_kind_of(url);
    if (n > 0 && kind == BCOS_URL_PATH)
        return fail(r, "'%s' has scheme '%.*s' (use http://, https://, file:// or a path)", url, n, url);
    const char *rest = url + n + (n ? 3 : 0);
    if ((kind == BCOS_URL_HTTP || kind == BCOS_URL_HTTPS) && strcspn(rest, "/?#") == 0)
        return fail(r, "'%s' has no host", url);
    if (kind == BCOS_URL_FILE && rest[0] != '/')
        return fail(r, "'%s' needs an absolute path (file:///path)", url);
    return 0;
}

static long count_urls(const source *s) {
    long count = 1;
    for (int i = 0; i < s->n_parts; i++) {
        long n = s->parts[i].hi - s->parts[i].lo + 1;
        if (n > BCOS_URLS_MAX || count > BCOS_URLS_MAX / n) return BCOS_URLS_MAX + 1;
        count *= n;
    }
    return count;
}

static char *format_url(const source *s, const long *values) {
    size_t cap = s->tail_len + 1;
    for (int i = 0; i < s->n_parts; i++) cap += s->parts[i].literal_len + MAX_RANGE_DIGITS + 1;
    char *url = xmalloc(cap);
    size_t used = 0;
    for (int i = 0; i < s->n_parts; i++) {
        const range_part *p = &s->parts[i];
        memcpy(url + used, p->literal, p->literal_len);
        used += p->literal_len;
        used += (size_t)snprintf(url + used, cap - used, "%0*ld", p->width, values[i]);
    }
    memcpy(url + used, s->tail, s->tail_len);
    url[used + s->tail_len] = '\0';
    return url;
}

/* Appends every URL of s to list (which has room), checking each. */
static int expand_source(const report *r, const source *s, bcos_url_list *list) {
    long *values = xmalloc((size_t)(s->n_parts + 1) * sizeof *values);
    for (int i = 0; i < s->n_parts; i++) values[i] = s->parts[i].lo;
    int rc = 0;
    for (;;) {
        char *url = format_url(s, values);
        list->urls[list->count++] = url;
        if (check_url(r, url)) {
            rc = -1;
            break;
        }
        int i = s->n_parts - 1;
        while (i >= 0 && values[i] == s->parts[i].hi) {
            values[i] = s->parts[i].lo;
            i--;
        }
        if (i < 0) break;
        values[i]++;
    }
    free(values);
    return rc;
}

/* Splits at "::" outside brackets (an IPv6 host "[::1]" holds "::"); returns the number of sources
 * and fills starts/lens (both sized by the caller). */
static int split_sources(const char *pattern, const char **starts, size_t *lens) {
    int n = 0, in_brackets = 0;
    const char *start = pattern;
    for (const char *p = pattern; *p; p++) {
        if (*p == '[') in_brackets = 1;
        else if (*p == ']') in_brackets = 0;
        else if (!in_brackets && p[0] == ':' && p[1] == ':') {
            starts[n] = start;
            lens[n++] = (size_t)(p - start);
            start = p + 2;
            p++;
        }
    }
    starts[n] = start;
    lens[n++] = strlen(start);
    return n;
}

static int expand_all(const report *r, const char *pattern, bcos_url_list *list) {
    size_t max_sources = strlen(pattern) / 2 + 1;
    const char **starts = xmalloc(max_sources * sizeof *starts);
    size_t *lens = xmalloc(max_sources * sizeof *lens);
    int n = split_sources(pattern, starts, lens);
    source *sources = xcalloc((size_t)n, sizeof *sources);
    long total = 0;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (lens[i] == 0 && n == 1)
            rc = fail(r, "empty");
        else if (lens[i] == 0)
            rc = fail(r, "source %d of %d is empty", i + 1, n);
        else if (parse_source(r, starts[i], lens[i], &sources[i]) == 0)
            total += count_urls(&sources[i]);
        else
            rc = -1;
        if (rc == 0 && total > BCOS_URLS_MAX) rc = fail(r, "expands to more than %ld URLs", BCOS_URLS_MAX);
    }
    if (rc == 0) {
        list->urls = xmalloc((size_t)total * sizeof *list->urls);
        for (int i = 0; i < n && rc == 0; i++) rc = expand_source(r, &sources[i], list);
    }
    for (int i = 0; i < n; i++) free(sources[i].parts);
    free(sources);
    free(starts);
    free(lens);
    return rc;
}

int bcos_urls_expand(bcos_url_list *list, const char *pattern, char *err, size_t errlen) {
    size_t prefix_len = strlen(pattern) + sizeof "url list ''";
    report r = {xmalloc(prefix_len), err, errlen};
    snprintf(r.prefix, prefix_len, "url list '%s'", pattern);
    list->count = 0;
    list->urls = NULL;
    int rc = expand_all(&r, pattern, list);
    if (rc) bcos_urls_free(list);
    free(r.prefix);
    return rc;
}

void bcos_urls_free(bcos_url_list *list) {
    for (long i = 0; i < list->count; i++) free(list->urls[i]);
    free(list->urls);
    list->urls = NULL;
    list->count = 0;
}
