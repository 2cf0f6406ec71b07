/* A CLIP_benchmark dataset's metadata in its webdataset layout (bcos/eval_run.h): the root with its
 * placeholders filled in, the shard count, dataset type, class names and templates, read from a
 * folder, file:// or http(s)://. Lines are split and stripped as CLIP_benchmark's read_txt and
 * splitlines leave them. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/eval.h"
#include "bcos/eval_run.h"
#include "bcos/urls.h"

/* The body of an http(s) URL (heap, NUL-terminated), or NULL with err. */
static char *fetch_text(const char *url, const bcos_fetch_options *fetch, char *err, size_t errlen) {
    bcos_http_stream *s = bcos_http_open(url, fetch);
    size_t len = 0, cap = 4096;
    char *text = xmalloc(cap);
    const void *data;
    long n;
    while ((n = bcos_http_read(s, &data)) > 0) {
        while (len + (size_t)n + 1 > cap) text = xrealloc(text, cap *= 2);
        memcpy(text + len, data, (size_t)n);
        len += (size_t)n;
    }
    if (n < 0) {
        snprintf(err, errlen, "%s", bcos_http_error(s));
        bcos_url_redact_buffer(err, errlen);
        free(text);
        text = NULL;
    } else {
        text[len] = '\0';
    }
    bcos_http_close(s);
    return text;
}

/* The text of root/relative (heap), or NULL with err naming it. */
static char *read_text(const char *root, const char *relative, const bcos_fetch_options *fetch, char *err,
                       size_t errlen) {
    size_t root_len = strlen(root);
    int slash = root_len > 0 && root[root_len - 1] == '/';
    char *url = xmalloc(root_len + strlen(relative) + 2);
    sprintf(url, "%s%s%s", root, slash ? "" : "/", relative);
    char *text;
    bcos_url_kind kind = bcos_url_kind_of(url);
    if (kind == BCOS_URL_HTTP || kind == BCOS_URL_HTTPS) {
        text = fetch_text(url, fetch, err, errlen);
    } else {
        text = bcos_read_file(bcos_url_path(url), NULL);
        if (!text) {
            snprintf(err, errlen, "%s: %s", url, strerror(errno));
            bcos_url_redact_buffer(err, errlen);
        }
    }
    free(url);
    return text;
}

void bcos_eval_split_root(const char *root, char **metadata, char **tars) {
    static const char hf[] = "https://huggingface.co/datasets";
    /* as CLIP_benchmark's root.split("/", 7): the head is the first six parts, the seventh ("tree")
     * is dropped, the rest is the path */
    const char *at = root;
    int slashes = 0;
    while (*at && slashes < 7) slashes += *at++ == '/';
    if (strncmp(root, hf, sizeof hf - 1) != 0 || slashes < 7) {
        *metadata = xstrdup(root);
        *tars = xstrdup(root);
        return;
    }
    const char *seventh = at - 1;
    while (seventh > root && seventh[-1] != '/') seventh--;
    int head = (int)(seventh - 1 - root);
    size_t len = strlen(root) + 16;
    *metadata = xmalloc(len);
    *tars = xmalloc(len);
    snprintf(*metadata, len, "%.*s/raw/%s", head, root, at);
    snprintf(*tars, len, "%.*s/resolve/%s", head, root, at);
}

static char *strip(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

/* Python's str.splitlines() of text, each line stripped (heap array, NULL-terminated). */
static char **split_lines(char *text, int *n) {
    char **lines = xmalloc(sizeof(char *));
    *n = 0;
    char *at = text;
    while (*at) {
        char *end = at + strcspn(at, "\r\n");
        char next = *end;
        *end = '\0';
        lines = xrealloc(lines, (size_t)(*n + 2) * sizeof(char *));
        lines[(*n)++] = xstrdup(strip(at));
        if (next == '\0') break;
        at = end + 1 + (next == '\r' && end[1] == '\n');
    }
    lines[*n] = NULL;
    return lines;
}

static void free_lines(char **lines) {
    if (!lines) return;
    for (char **l = lines; *l; l++) free(*l);
    free(lines);
}

/* The lines of root/relative, or -1 with err. */
static int read_lines(char ***lines, int *n, const char *root, const char *relative,
                      const bcos_fetch_options *fetch, char *err, size_t errlen) {
    char *text = read_text(root, relative, fetch, err, errlen);
    if (!text) return -1;
    *lines = split_lines(text, n);
    free(text);
    return 0;
}

static int read_shard_count(bcos_eval_dataset *d, const bcos_fetch_options *fetch, char *err, size_t errlen) {
    char relative[512];
    snprintf(relative, sizeof relative, "%s/nshards.txt", d->split);
    char *text = read_text(d->root, relative, fetch, err, errlen);
    if (!text) return -1;
    char *end;
    long n = strtol(text, &end, 10);
    int bad = end == text || *strip(end) != '\0' || n < 1 || n > 1000000;
    free(text);
    if (bad) {
        snprintf(err, errlen, "%s/%s: not a positive shard count", d->root, relative);
        return -1;
    }
    d->n_shards = (int)n;
    d->shards = xcalloc((size_t)n + 1, sizeof(char *));
    int slash = d->tar_root[strlen(d->tar_root) - 1] == '/';
    for (int i = 0; i < d->n_shards; i++) {
        size_t len = strlen(d->tar_root) + strlen(d->split) + 32;
        d->shards[i] = xmalloc(len);
        snprintf(d->shards[i], len, "%s%s%s/%d.tar", d->tar_root, slash ? "" : "/", d->split, i);
    }
    return 0;
}

/* dataset_type.txt, absent meaning classification. */
static int read_type(bcos_eval_dataset *d, const bcos_fetch_options *fetch, char *err, size_t errlen) {
    char *text = read_text(d->root, "dataset_type.txt", fetch, err, errlen);
    if (!text) {
        /* absent only: a local file that does not exist, or an http answer of 404 */
        if (!strstr(err, "No such file") && !strstr(err, "404")) return -1;
        d->type = xstrdup("classification");
        return 0;
    }
    char *type = strip(text);
    for (char *c = type; *c; c++) *c = (char)tolower((unsigned char)*c);
    d->type = xstrdup(type);
    free(text);
    return 0;
}

int bcos_eval_dataset_open(bcos_eval_dataset *d, const char *root_pattern, const char *name, const char *split,
                           const bcos_fetch_options *fetch, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    d->name = xstrdup(name);
    d->split = xstrdup(split);
    char *cleaned = bcos_replace_all(name, "/", "-");
    char *partial = bcos_replace_all(root_pattern, "{dataset}", name);
    char *filled = bcos_replace_all(partial, "{dataset_cleaned}", cleaned);
    bcos_eval_split_root(filled, &d->root, &d->tar_root);
    free(filled);
    free(partial);
    free(cleaned);
    if (read_shard_count(d, fetch, err, errlen) != 0 || read_type(d, fetch, err, errlen) != 0) goto fail;
    if (strcmp(d->type, "retrieval") == 0) return 0; /* captions: no class names or templates */
    if (strcmp(d->type, "classification") != 0) {
        snprintf(err, errlen, "dataset %s: type '%s' is not supported (classification or retrieval)", name, d->type);
        goto fail;
    }
    if (read_lines(&d->classes, &d->n_classes, d->root, "classnames.txt", fetch, err, errlen) != 0 ||
        read_lines(&d->templates, &d->n_templates, d->root, "zeroshot_classification_templates.txt", fetch, err,
                   errlen) != 0)
        goto fail;
    if (d->n_classes < 1 || d->n_templates < 1) {
        snprintf(err, errlen, "dataset %s: no %s", name, d->n_classes < 1 ? "class names" : "templates");
        goto fail;
    }
    return 0;
fail:
    bcos_eval_dataset_free(d);
    return -1;
}

void bcos_eval_dataset_free(bcos_eval_dataset *d) {
    free_lines(d->classes);
    free_lines(d->templates);
    free_lines(d->shards);
    free(d->name);
    free(d->split);
    free(d->root);
    free(d->tar_root);
    free(d->type);
    memset(d, 0, sizeof *d);
}
