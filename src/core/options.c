/* Option tables (bcos/options.h): an option set from text with its type and range checked, a job
 * file applied through the table, the ranges checked, and the job kind's description. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "bcos/options.h"

const option *option_find(const option_table *t, const char *name) {
    char canon[64];
    snprintf(canon, sizeof canon, "%s", name);
    for (char *p = canon; *p; p++)
        if (*p == '-') *p = '_';
    for (int i = 0; i < t->count; i++)
        if (strcmp(t->items[i].name, canon) == 0) return &t->items[i];
    return NULL;
}

static int parse_number(const char *text, double *out) {
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    return errno == 0 && end != text && *end == '\0';
}

/* "64K", "1G", "12": a whole number times its suffix's power of 1024. */
static int parse_size(const char *text, double *out) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    double unit = *end == 'K' ? 0x1p10 : *end == 'M' ? 0x1p20 : *end == 'G' ? 0x1p30 : 1;
    if (unit > 1) end++;
    *out = (double)v * unit;
    return errno == 0 && end != text && *end == '\0';
}

static int out_of_range(const option *o, double x, char *err, size_t errlen) {
    char why[128];
    if (bcos_job_range_check(&o->valid, x, why, sizeof why) == 0) return 0;
    snprintf(err, errlen, "option '%s': %.10g is out of range: %s", o->name, x, why);
    return -1;
}

/* A numeric field's value as a double. */
static double number_at(const option *o, const void *cfg) {
    const char *field = (const char *)cfg + o->offset;
    switch (o->type) {
    case OPT_INT: return *(const int *)field;
    case OPT_I64:
    case OPT_SIZE: return (double)*(const int64_t *)field;
    case OPT_F32: return *(const float *)field;
    default: return *(const double *)field;
    }
}

static int set_string(const option *o, char *field, const char *value, char *err, size_t errlen) {
    if (strlen(value) >= o->size) {
        snprintf(err, errlen, "option '%s': value of %zu bytes is longer than its limit of %zu bytes", o->name,
                 strlen(value), o->size - 1);
        return -1;
    }
    if (!bcos_job_choice_ok(o->choices, value)) {
        snprintf(err, errlen, "option '%s': '%s' is not one of %s", o->name, value, o->choices);
        return -1;
    }
    strcpy(field, value);
    return 0;
}

static int set_bool(const option *o, int *field, const char *value, char *err, size_t errlen) {
    int on = strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
    if (!on && strcmp(value, "false") != 0 && strcmp(value, "0") != 0) {
        snprintf(err, errlen, "option '%s': '%s' is not true or false", o->name, value);
        return -1;
    }
    *field = on;
    return 0;
}

static int set_number(const option *o, char *field, const char *value, char *err, size_t errlen) {
    double x = 0;
    int real = o->type == OPT_F64 || o->type == OPT_F32;
    if (o->type == OPT_SIZE && !parse_size(value, &x)) {
        snprintf(err, errlen, "option '%s': '%s' is not a positive size (a whole number, suffix K, M or G)", o->name,
                 value);
        return -1;
    }
    if (o->type != OPT_SIZE && (!parse_number(value, &x) || !isfinite(x) || (!real && x != floor(x)))) {
        snprintf(err, errlen, "option '%s': '%s' is not a%s number", o->name, value, real ? " finite" : " whole");
        return -1;
    }
    /* the range also keeps the conversions below defined: every range fits its type */
    if (out_of_range(o, x, err, errlen) != 0) return -1;
    if (o->type == OPT_INT) *(int *)field = (int)x;
    else if (o->type == OPT_I64 || o->type == OPT_SIZE) *(int64_t *)field = (int64_t)x;
    else if (o->type == OPT_F32) *(float *)field = (float)x;
    else *(double *)field = x;
    return 0;
}

int option_set(const option_table *t, void *cfg, const char *name, const char *value, char *err, size_t errlen) {
    const option *o = option_find(t, name);
    if (!o) {
        snprintf(err, errlen, "unknown option '%s' (see 'bcos %s --help')", name, t->command);
        return -1;
    }
    char *field = (char *)cfg + o->offset;
    if (o->type == OPT_STR) return set_string(o, field, value, err, errlen);
    if (o->type == OPT_BOOL) return set_bool(o, (int *)field, value, err, errlen);
    return set_number(o, field, value, err, errlen);
}

int option_check_ranges(const option_table *t, const void *cfg, char *err, size_t errlen) {
    for (int i = 0; i < t->count; i++) {
        const option *o = &t->items[i];
        const char *text = (const char *)cfg + o->offset;
        if (o->type == OPT_STR && !bcos_job_choice_ok(o->choices, text))
            return snprintf(err, errlen, "'%s' must be one of %s, not '%s'", o->name, o->choices, text), -1;
        if (o->type != OPT_STR && o->type != OPT_BOOL && out_of_range(o, number_at(o, cfg), err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* The shortest text that reads back as x exactly (as a float when single is set). */
static void format_exact(char *value, size_t len, double x, int single) {
    for (int digits = single ? 6 : 15; digits <= 17; digits++) {
        snprintf(value, len, "%.*g", digits, x);
        double back = strtod(value, NULL);
        if (single ? (float)back == (float)x : back == x) return;
    }
}

void option_format(char *value, size_t len, const option *o, const void *cfg, int exact) {
    const char *field = (const char *)cfg + o->offset;
    switch (o->type) {
    case OPT_STR: snprintf(value, len, "%s", field); break;
    case OPT_INT: snprintf(value, len, "%d", *(const int *)field); break;
    case OPT_I64:
    case OPT_SIZE: snprintf(value, len, "%lld", (long long)*(const int64_t *)field); break;
    case OPT_BOOL: snprintf(value, len, "%s", *(const int *)field ? "true" : "false"); break;
    case OPT_F64:
    case OPT_F32: {
        double x = o->type == OPT_F64 ? *(const double *)field : (double)*(const float *)field;
        if (exact) format_exact(value, len, x, o->type == OPT_F32);
        else snprintf(value, len, "%g", x);
        break;
    }
    }
}

static const bcos_job_type JOB_TYPES[] = {
    [OPT_STR] = BCOS_JOB_STRING, [OPT_INT] = BCOS_JOB_INTEGER, [OPT_I64] = BCOS_JOB_INTEGER,
    [OPT_F64] = BCOS_JOB_NUMBER, [OPT_F32] = BCOS_JOB_NUMBER,  [OPT_BOOL] = BCOS_JOB_BOOLEAN,
    [OPT_SIZE] = BCOS_JOB_INTEGER,
};

/* The default of an option as JSON text (heap), or NULL where there is none: an empty string, or a
 * number outside its range (a "not given" the job cannot write). */
static char *fallback_json(const option *o, const void *defaults) {
    char value[1100];
    option_format(value, sizeof value, o, defaults, 1);
    if (o->type == OPT_BOOL) return xstrdup(value);
    if (o->type != OPT_STR) {
        char why[128];
        return bcos_job_range_check(&o->valid, number_at(o, defaults), why, sizeof why) == 0 ? xstrdup(value) : NULL;
    }
    if (!value[0]) return NULL;
    cJSON *s = cJSON_CreateString(value);
    char *text = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    return text;
}

const bcos_job_spec *option_kind_spec(option_kind *k) {
    if (k->spec.kind) return &k->spec;
    const option_table *t = k->table;
    void *defaults = xmalloc(k->size);
    k->defaults(defaults);
    bcos_job_option *options = xcalloc((size_t)t->count, sizeof *options);
    for (int i = 0; i < t->count; i++) {
        const option *o = &t->items[i];
        options[i] = (bcos_job_option){o->name, JOB_TYPES[o->type], o->help, o->valid, o->choices, o->use,
                                       fallback_json(o, defaults)};
    }
    free(defaults);
    k->spec = (bcos_job_spec){k->kind, k->summary, options, t->count};
    return &k->spec;
}

typedef struct {
    const option_table *t;
    void *cfg;
} table_target;

static int set_from_job(void *ctx, const char *name, const char *value, char *err, size_t errlen) {
    const table_target *target = ctx;
    return option_set(target->t, target->cfg, name, value, err, errlen);
}

int option_load_job(option_kind *k, void *cfg, const char *path, char *err, size_t errlen) {
    table_target target = {k->table, cfg};
    bcos_job_reader r = {.spec = option_kind_spec(k), .set = set_from_job, .ctx = &target};
    return bcos_job_load(&r, path, err, errlen);
}
