/* Job files (bcos/job.h): the JSON object read and checked key by key against the kind's option
 * descriptions, ${VAR} replaced in paths and URLs, and each value handed to the command's setter. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "bcos/job.h"

/* Keys are compared with '-' read as '_': "log-every" is the option log_every. */
static int same_key(const char *option, const char *key) {
    for (; *option && (*option == *key || (*option == '_' && *key == '-')); option++, key++) {}
    return !*option && !*key;
}

const bcos_job_option *bcos_job_option_named(const bcos_job_spec *spec, const char *name) {
    for (int i = 0; i < spec->n_options; i++)
        if (same_key(spec->options[i].name, name)) return &spec->options[i];
    return NULL;
}

/* x in its shortest text that reads back the same: 2^53 in full, 0.1 as 0.1. */
static void shortest(char *out, size_t len, double x) {
    for (int digits = 15; digits <= 17; digits++)
        if (snprintf(out, len, "%.*g", digits, x), strtod(out, NULL) == x) return;
}

/* "in [0, 1)", "at least 1", "greater than 0": the range as the messages say it. */
static void describe_range(char *out, size_t len, const bcos_job_range *v) {
    char lo[32], hi[32];
    shortest(lo, sizeof lo, v->lo);
    shortest(hi, sizeof hi, v->hi);
    if (isinf(v->hi)) snprintf(out, len, "%s %s", v->lo_open ? "greater than" : "at least", lo);
    else snprintf(out, len, "in %c%s, %s%c", v->lo_open ? '(' : '[', lo, hi, v->hi_open ? ')' : ']');
}

int bcos_job_range_check(const bcos_job_range *v, double x, char *why, size_t len) {
    BCOS_CHECK(v->lo < v->hi, "every number in an option table has a range");
    if ((v->lo_open ? x > v->lo : x >= v->lo) && (v->hi_open ? x < v->hi : x <= v->hi)) return 0;
    char want[96];
    describe_range(want, sizeof want, v);
    snprintf(why, len, "it must be %s", want);
    return -1;
}

int bcos_job_choice_ok(const char *choices, const char *value) {
    if (!choices) return 1;
    if (strchr(value, '|')) return 0; /* the separator: no choice holds one */
    size_t n = strlen(value);
    for (const char *at = choices; at; at = strchr(at, '|') ? strchr(at, '|') + 1 : NULL)
        if (strncmp(at, value, n) == 0 && (at[n] == '|' || at[n] == '\0')) return 1;
    return 0;
}

/* What the option takes, as the messages say it: "a whole number in [1, 64]", "true or false". */
static void describe_expected(char *out, size_t len, const bcos_job_option *o) {
    char range[96];
    switch (o->type) {
    case BCOS_JOB_BOOLEAN: snprintf(out, len, "true or false"); break;
    case BCOS_JOB_STRING:
        if (o->choices) snprintf(out, len, "one of %s", o->choices);
        else snprintf(out, len, "a string");
        break;
    case BCOS_JOB_INTEGER:
    case BCOS_JOB_NUMBER:
        describe_range(range, sizeof range, &o->range);
        snprintf(out, len, "a %s %s", o->type == BCOS_JOB_INTEGER ? "whole number" : "number", range);
        break;
    }
}

/* text as a message shows it: at most max bytes, control characters as '?', so that the message
 * stays one line. */
static void shown(char *out, size_t len, const char *text, size_t max) {
    size_t n = 0;
    for (; text[n] && n < max && n + 4 < len; n++) out[n] = iscntrl((unsigned char)text[n]) ? '?' : text[n];
    snprintf(out + n, len - n, "%s", text[n] ? "..." : "");
}

/* A JSON value as the messages show it: a short string quoted, "an array", "null", 1.5. */
static void describe_found(char *out, size_t len, const cJSON *v) {
    if (cJSON_IsString(v)) {
        char text[80];
        shown(text, sizeof text, v->valuestring, 60);
        snprintf(out, len, "\"%s\"", text);
    } else if (cJSON_IsNumber(v)) {
        snprintf(out, len, "%.17g", v->valuedouble);
    } else {
        snprintf(out, len, "%s", cJSON_IsBool(v) ? (cJSON_IsTrue(v) ? "true" : "false")
                                 : cJSON_IsNull(v) ? "null"
                                 : cJSON_IsArray(v) ? "an array"
                                                    : "an object");
    }
}

char *bcos_job_expand(const char *text, char *why, size_t len) {
    size_t cap = strlen(text) + 1, n = 0;
    char *out = xmalloc(cap);
    for (const char *p = text; *p;) {
        const char *value = NULL, *end = NULL;
        if (p[0] == '$' && p[1] == '{') {
            end = p + 2;
            while (isalnum((unsigned char)*end) || *end == '_') end++;
            if (*end != '}' || end == p + 2 || isdigit((unsigned char)p[2])) {
                char at[60];
                shown(at, sizeof at, p, 40);
                snprintf(why, len, "'${' starts no variable name ${NAME} at \"%s\"", at);
                free(out);
                return NULL;
            }
            char name[128], in[80];
            snprintf(name, sizeof name, "%.*s", (int)(end - p - 2), p + 2);
            value = getenv(name);
            if (!value) {
                shown(in, sizeof in, text, 60);
                snprintf(why, len, "the environment variable %s is not set (in \"%s\")", name, in);
                free(out);
                return NULL;
            }
        }
        size_t add = value ? strlen(value) : 1;
        if (n + add + 1 > cap) out = xrealloc(out, cap = 2 * (n + add + 1));
        memcpy(out + n, value ? value : p, add);
        n += add;
        p = value ? end + 1 : p + 1;
    }
    out[n] = '\0';
    return out;
}

/* The value of it as the option takes it (heap), or NULL with "expected ..., found ..." in why. */
static char *checked_value(const bcos_job_option *o, const cJSON *it, char *why, size_t len) {
    char want[160], found[96], range_why[128];
    describe_expected(want, sizeof want, o);
    describe_found(found, sizeof found, it);
    int numeric = o->type == BCOS_JOB_INTEGER || o->type == BCOS_JOB_NUMBER;
    int fits = o->type == BCOS_JOB_STRING    ? cJSON_IsString(it)
               : o->type == BCOS_JOB_BOOLEAN ? cJSON_IsBool(it)
                                             : cJSON_IsNumber(it) && isfinite(it->valuedouble);
    if (fits && o->type == BCOS_JOB_INTEGER) fits = it->valuedouble == floor(it->valuedouble);
    if (fits && numeric && bcos_job_range_check(&o->range, it->valuedouble, range_why, sizeof range_why) != 0)
        fits = 0;
    if (fits && o->type == BCOS_JOB_STRING && !bcos_job_choice_ok(o->choices, it->valuestring)) fits = 0;
    if (!fits) {
        snprintf(why, len, "expected %s, found %s", want, found);
        return NULL;
    }
    if (o->type == BCOS_JOB_STRING)
        return o->use == BCOS_JOB_TEXT ? xstrdup(it->valuestring) : bcos_job_expand(it->valuestring, why, len);
    if (o->type == BCOS_JOB_BOOLEAN) return xstrdup(cJSON_IsTrue(it) ? "true" : "false");
    return bcos_strfmt("%.17g", it->valuedouble);
}

/* Whether an earlier key of the object names the same option ("log_every", "log-every"). */
static int repeats_earlier(const bcos_job_spec *spec, const cJSON *root, const cJSON *it) {
    const bcos_job_option *o = bcos_job_option_named(spec, it->string);
    for (const cJSON *e = root->child; e != it; e = e->next)
        if (strcmp(e->string, it->string) == 0 || (o && bcos_job_option_named(spec, e->string) == o)) return 1;
    return 0;
}

/* Checks one key of the object into job->entries; 0, or -1 with "$.KEY: why". */
static int check_key(bcos_job *job, const bcos_job_spec *spec, const cJSON *root, const cJSON *it, const char *where,
                     char *err, size_t errlen) {
    char why[BCOS_ERRLEN], key[100];
    shown(key, sizeof key, it->string, 80);
    if (repeats_earlier(spec, root, it))
        return snprintf(err, errlen, "%s.%s: key '%s' is given twice (which one was meant?)", where, key, key), -1;
    if (strcmp(it->string, "kind") == 0) return 0;
    const bcos_job_option *o = bcos_job_option_named(spec, it->string);
    if (!o)
        return snprintf(err, errlen, "%s.%s: expected an option of %s jobs (bcos jobs schema), found the "
                        "unknown key '%s'", where, key, spec->kind, key), -1;
    char *value = checked_value(o, it, why, sizeof why);
    if (!value) return snprintf(err, errlen, "%s.%s: %s", where, key, why), -1;
    job->entries[job->count++] = (bcos_job_entry){o, value};
    return 0;
}

/* The checked entries as one compact JSON object: what a job hash is taken of. */
static char *canonical_text(const bcos_job *job, const bcos_job_spec *spec) {
    cJSON *root = cJSON_CreateObject();
    BCOS_CHECK(root != NULL, "cJSON could allocate");
    cJSON_AddStringToObject(root, "kind", spec->kind);
    for (int i = 0; i < job->count; i++) {
        const bcos_job_entry *e = &job->entries[i];
        if (e->option->type == BCOS_JOB_STRING) cJSON_AddStringToObject(root, e->option->name, e->value);
        else cJSON_AddRawToObject(root, e->option->name, e->value);
    }
    char *text = cJSON_PrintUnformatted(root);
    BCOS_CHECK(text != NULL, "cJSON could print");
    cJSON_Delete(root);
    return text;
}

int bcos_job_parse_json(bcos_job *job, const bcos_job_spec *spec, const struct cJSON *root, const char *where,
                        char *err, size_t errlen) {
    *job = (bcos_job){0};
    char found[96] = "nothing";
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (!cJSON_IsObject(root)) {
        if (root) describe_found(found, sizeof found, root);
        return snprintf(err, errlen, "%s: expected a JSON object, found %s", where, found), -1;
    }
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, spec->kind) != 0) {
        if (kind) describe_found(found, sizeof found, kind);
        return snprintf(err, errlen, "%s.kind: expected \"%s\", found %s", where, spec->kind, found), -1;
    }
    job->entries = xcalloc((size_t)cJSON_GetArraySize(root), sizeof *job->entries);
    for (const cJSON *it = root->child; it; it = it->next)
        if (check_key(job, spec, root, it, where, err, errlen) != 0) {
            bcos_job_free(job);
            return -1;
        }
    job->canonical = canonical_text(job, spec);
    return 0;
}

int bcos_job_parse(bcos_job *job, const bcos_job_spec *spec, const char *text, size_t len, char *err, size_t errlen) {
    cJSON *root = cJSON_ParseWithLength(text, len);
    int rc = -1;
    if (!root) {
        *job = (bcos_job){0};
        snprintf(err, errlen, "$: expected a JSON object, found text that is not JSON");
    } else {
        rc = bcos_job_parse_json(job, spec, root, "$", err, errlen);
    }
    cJSON_Delete(root);
    return rc;
}

int bcos_job_read(bcos_job *job, const bcos_job_spec *spec, const char *path, char *err, size_t errlen) {
    size_t len;
    char *text = bcos_read_file(path, &len), why[BCOS_ERRLEN];
    if (!text) {
        *job = (bcos_job){0};
        return bcos_error(err, errlen, path, "cannot read the job file");
    }
    int rc = bcos_job_parse(job, spec, text, len, why, sizeof why);
    free(text);
    return rc == 0 ? 0 : bcos_error(err, errlen, path, "%s", why);
}

void bcos_job_free(bcos_job *job) {
    for (int i = 0; i < job->count; i++) free(job->entries[i].value);
    free(job->entries);
    free(job->canonical);
    *job = (bcos_job){0};
}

const bcos_job_entry *bcos_job_find(const bcos_job *job, const char *name) {
    for (int i = 0; i < job->count; i++)
        if (strcmp(job->entries[i].option->name, name) == 0) return &job->entries[i];
    return NULL;
}

char *bcos_job_kind_of(const char *path, char *err, size_t errlen) {
    size_t len;
    char *text = bcos_read_file(path, &len);
    if (!text) return bcos_error(err, errlen, path, "cannot read the job file"), NULL;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    char *out = cJSON_IsString(kind) ? xstrdup(kind->valuestring) : NULL;
    char found[96] = "text that is not JSON";
    if (root) describe_found(found, sizeof found, kind ? kind : root);
    if (!out && cJSON_IsObject(root))
        bcos_error(err, errlen, path, "$.kind: expected the job's kind, a string, found %s", kind ? found : "nothing");
    else if (!out)
        bcos_error(err, errlen, path, "$: expected a JSON object, found %s", found);
    cJSON_Delete(root);
    return out;
}

int bcos_job_load(const bcos_job_reader *r, const char *path, char *err, size_t errlen) {
    bcos_job job;
    if (bcos_job_read(&job, r->spec, path, err, errlen) != 0) return -1;
    int rc = 0;
    char why[BCOS_ERRLEN];
    for (int i = 0; i < job.count && rc == 0; i++) {
        const bcos_job_entry *e = &job.entries[i];
        if (r->set(r->ctx, e->option->name, e->value, why, sizeof why) != 0)
            rc = bcos_error(err, errlen, path, "$.%s: %s", e->option->name, why);
    }
    bcos_job_free(&job);
    return rc;
}
