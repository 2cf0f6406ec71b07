/* What a job names is there before any work starts: its input files, its shards (local ones on disk,
 * http(s) ones asked for their first bytes), the folders of its outputs and its store writable. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bcos/check.h"
#include "bcos/fetch.h"
#include "bcos/store.h"
#include "bcos/urls.h"
#include "cli.h"

/* A quick probe: one attempt, a few seconds. */
#define PROBE_TIMEOUT_MS 5000

static int refuse(char *err, size_t errlen, const char *key, const char *expected, const char *value, const char *why) {
    snprintf(err, errlen, "$.%s: expected %s, found \"%.200s\" (%s)", key, expected, value, why);
    return -1;
}

static int check_input(const char *key, const char *path, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) != 0) return refuse(err, errlen, key, "an existing file or folder", path, strerror(errno));
    if (access(path, R_OK) != 0) return refuse(err, errlen, key, "a readable file or folder", path, strerror(errno));
    return 0;
}

/* Whether url's server answers with the first bytes of its body. */
static int probe_url(const char *key, const char *url, char *err, size_t errlen) {
    bcos_fetch_options opt;
    bcos_fetch_options_default(&opt);
    opt.connect_timeout_ms = PROBE_TIMEOUT_MS;
    opt.low_speed_ms = PROBE_TIMEOUT_MS;
    opt.max_wait_ms = PROBE_TIMEOUT_MS;
    opt.max_retries = 0;
    bcos_http_stream *s = bcos_http_open(url, &opt);
    const void *data;
    int rc = 0;
    if (bcos_http_read(s, &data) < 0) {
        char *shown = bcos_url_redact(url);
        rc = refuse(err, errlen, key, "shards that answer", shown, bcos_http_error(s));
        free(shown);
    }
    bcos_http_close(s);
    return rc;
}

/* Local shards exist; the first http(s) one answers (each would take a probe's time). */
static int check_source(const char *key, const char *pattern, char *err, size_t errlen) {
    bcos_url_list list;
    char why[BCOS_ERRLEN];
    if (bcos_urls_expand(&list, pattern, why, sizeof why) != 0) return refuse(err, errlen, key, "a URL list", pattern, why);
    int rc = 0, probed = 0;
    for (long i = 0; i < list.count && rc == 0; i++) {
        bcos_url_kind kind = bcos_url_kind_of(list.urls[i]);
        if (kind == BCOS_URL_HTTP || kind == BCOS_URL_HTTPS) {
            if (!probed++) rc = probe_url(key, list.urls[i], err, errlen);
        } else {
            rc = check_input(key, bcos_url_path(list.urls[i]), err, errlen);
        }
    }
    bcos_urls_free(&list);
    return rc;
}

/* path can be written: a writable file, or the nearest folder above it that exists is writable (a
 * store's own folder must exist: the store makes no folders). */
static int check_writable(const char *key, const char *expected, const char *path, int is_store, char *err,
                          size_t errlen) {
    if (access(path, F_OK) == 0) return access(path, W_OK) == 0 ? 0 : refuse(err, errlen, key, expected, path, strerror(errno));
    char *dir = xstrdup(path), why[BCOS_ERRLEN];
    int rc = 0;
    for (;;) {
        char *parent = xstrdup(dirname(dir));
        free(dir);
        dir = parent;
        struct stat st;
        if (stat(dir, &st) != 0) {
            if (is_store) {
                snprintf(why, sizeof why, "its folder %s: %s", dir, strerror(errno));
                rc = refuse(err, errlen, key, expected, path, why);
                break;
            }
            if (strcmp(dir, "/") == 0 || strcmp(dir, ".") == 0) break;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) snprintf(why, sizeof why, "%s is not a folder", dir);
        else if (access(dir, W_OK | X_OK) != 0) snprintf(why, sizeof why, "its folder %s: %s", dir, strerror(errno));
        else break;
        rc = refuse(err, errlen, key, expected, path, why);
        break;
    }
    free(dir);
    return rc;
}

int cli_job_check_resources(const bcos_job *job, const bcos_job_spec *spec, char *err, size_t errlen) {
    int rc = 0;
    for (int i = 0; i < job->count && rc == 0; i++) {
        const bcos_job_entry *e = &job->entries[i];
        const char *key = e->option->name;
        if (e->option->type != BCOS_JOB_STRING || !e->value[0]) continue;
        switch (e->option->use) {
        case BCOS_JOB_TEXT:
        case BCOS_JOB_PLACE: break;
        case BCOS_JOB_INPUT: rc = check_input(key, e->value, err, errlen); break;
        case BCOS_JOB_SOURCE: rc = check_source(key, e->value, err, errlen); break;
        case BCOS_JOB_OUTPUT: rc = check_writable(key, "a path that can be written", e->value, 0, err, errlen); break;
        case BCOS_JOB_STORE: rc = check_writable(key, "a store that can be written", e->value, 1, err, errlen); break;
        }
    }
    /* a kind with a store that the job does not name writes the default one */
    for (int i = 0; i < spec->n_options && rc == 0; i++) {
        const bcos_job_entry *e = bcos_job_find(job, spec->options[i].name);
        if (spec->options[i].use == BCOS_JOB_STORE && (!e || !e->value[0]))
            rc = check_writable(spec->options[i].name, "a store that can be written (the default one)",
                                bcos_store_default_path(), 1, err, errlen);
    }
    return rc;
}
