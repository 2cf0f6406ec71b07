/* The option tables of the training commands (options_internal.h): an option set from text with its
 * type and range checked, --help, and the job text the store records. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "bcos/urls.h"
#include "options_internal.h"

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
    case OPT_I64: return (double)*(const int64_t *)field;
    case OPT_F32: return *(const float *)field;
    default: return *(const double *)field;
    }
}

int option_set(const option_table *t, void *cfg, const char *name, const char *value, char *err, size_t errlen) {
    const option *o = option_find(t, name);
    if (!o) {
        snprintf(err, errlen, "unknown option '%s' (see 'bcos %s --help')", name, t->command);
        return -1;
    }
    char *field = (char *)cfg + o->offset;
    double x = 0;
    if (o->type == OPT_STR) {
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
    if (o->type == OPT_BOOL) {
        int on = strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
        if (!on && strcmp(value, "false") != 0 && strcmp(value, "0") != 0) {
            snprintf(err, errlen, "option '%s': '%s' is not true or false", o->name, value);
            return -1;
        }
        *(int *)field = on;
        return 0;
    }
    int real = o->type == OPT_F64 || o->type == OPT_F32;
    if (!parse_number(value, &x) || !isfinite(x) || (!real && x != floor(x))) {
        snprintf(err, errlen, "option '%s': '%s' is not a%s number", o->name, value, real ? " finite" : " whole");
        return -1;
    }
    /* the range also keeps the conversions below defined: every range fits its type */
    if (out_of_range(o, x, err, errlen) != 0) return -1;
    if (o->type == OPT_INT) *(int *)field = (int)x;
    else if (o->type == OPT_I64) *(int64_t *)field = (int64_t)x;
    else if (o->type == OPT_F32) *(float *)field = (float)x;
    else *(double *)field = x;
    return 0;
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

/* An option's value as text; exact (reads back the same) when exact is set, else short for --help. */
static void format_value(char *value, size_t len, const option *o, const void *cfg, int exact) {
    const char *field = (const char *)cfg + o->offset;
    switch (o->type) {
    case OPT_STR: {
        /* credentials in shard URLs are for the transfers only: never shown, never stored */
        char *shown = bcos_url_redact(field);
        snprintf(value, len, "%s", shown);
        free(shown);
        break;
    }
    case OPT_INT: snprintf(value, len, "%d", *(const int *)field); break;
    case OPT_I64: snprintf(value, len, "%lld", (long long)*(const int64_t *)field); break;
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

char *option_job_text(const option_table *t, const void *cfg, const char *kind, int with_shards) {
    cJSON *root = cJSON_CreateObject();
    BCOS_CHECK(root != NULL, "cJSON could allocate");
    cJSON_AddStringToObject(root, "kind", kind);
    for (int i = 0; i < t->count; i++) {
        const option *o = &t->items[i];
        if (o->role == RUN || (o->role == SHARDS && !with_shards)) continue;
        char value[1100];
        format_value(value, sizeof value, o, cfg, 1);
        /* numbers as formatted here, not through cJSON's double: int64 seeds stay exact */
        if (o->type == OPT_STR) cJSON_AddStringToObject(root, o->name, value);
        else cJSON_AddRawToObject(root, o->name, value);
    }
    char *text = cJSON_PrintUnformatted(root);
    BCOS_CHECK(text != NULL, "cJSON could print");
    cJSON_Delete(root);
    return text;
}

void option_print(const option_table *t, const void *cfg) {
    for (int i = 0; i < t->count; i++) {
        const option *o = &t->items[i];
        char value[1100];
        format_value(value, sizeof value, o, cfg, 0);
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", o->name);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_') *p = '-';
        printf("  %-20s %s (now: %s)\n", flag, o->help, value);
    }
}

static const bcos_job_type JOB_TYPES[] = {
    [OPT_STR] = BCOS_JOB_STRING, [OPT_INT] = BCOS_JOB_INTEGER, [OPT_I64] = BCOS_JOB_INTEGER,
    [OPT_F64] = BCOS_JOB_NUMBER, [OPT_F32] = BCOS_JOB_NUMBER,  [OPT_BOOL] = BCOS_JOB_BOOLEAN,
};

/* The default of an option as JSON text (heap), or NULL where there is none (an empty string). */
static char *fallback_json(const option *o, const void *defaults) {
    char value[1100];
    format_value(value, sizeof value, o, defaults, 1);
    if (o->type != OPT_STR) return xstrdup(value);
    if (!value[0]) return NULL;
    cJSON *s = cJSON_CreateString(value);
    char *text = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    return text;
}

void option_job_spec(const option_table *t, const void *defaults, const char *kind, const char *description,
                     bcos_job_option *options, bcos_job_spec *spec) {
    for (int i = 0; i < t->count; i++) {
        const option *o = &t->items[i];
        options[i] = (bcos_job_option){o->name, JOB_TYPES[o->type], o->help, o->valid, o->choices, o->use,
                                       fallback_json(o, defaults)};
    }
    *spec = (bcos_job_spec){kind, description, options, t->count};
}
