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

/* "[0, 1)", "at least 1", "greater than 0": the range as the messages say it. */
static void describe_range(char *out, size_t len, const range *v) {
    if (isinf(v->hi)) snprintf(out, len, "%s %.10g", v->lo_open ? "greater than" : "at least", v->lo);
    else snprintf(out, len, "in %c%.10g, %.10g%c", v->lo_open ? '(' : '[', v->lo, v->hi, v->hi_open ? ')' : ']');
}

static int out_of_range(const option *o, double x, char *err, size_t errlen) {
    const range *v = &o->valid;
    BCOS_CHECK(v->lo < v->hi, "every number in the option table has a range");
    if ((v->lo_open ? x > v->lo : x >= v->lo) && (v->hi_open ? x < v->hi : x <= v->hi)) return 0;
    char want[96];
    describe_range(want, sizeof want, v);
    snprintf(err, errlen, "option '%s': %.10g is out of range: it must be %s", o->name, x, want);
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
    for (int i = 0; i < t->count; i++)
        if (t->items[i].type != OPT_STR && t->items[i].type != OPT_BOOL &&
            out_of_range(&t->items[i], number_at(&t->items[i], cfg), err, errlen) != 0)
            return -1;
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
