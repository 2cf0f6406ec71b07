/* The job text the store records and the --help of the training commands' option tables
 * (options_internal.h): values as the table formats them, credentials in shard URLs redacted. */
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "bcos/urls.h"
#include "options_internal.h"

/* An option's value as text, a string's credentials redacted: they are for the transfers only,
 * never shown, never stored. */
static void shown_value(char *value, size_t len, const option *o, const void *cfg, int exact) {
    option_format(value, len, o, cfg, exact);
    if (o->type != OPT_STR) return;
    char *shown = bcos_url_redact(value);
    snprintf(value, len, "%s", shown);
    free(shown);
}

char *option_job_text(const option_table *t, const void *cfg, const char *kind, int with_shards) {
    cJSON *root = cJSON_CreateObject();
    BCOS_CHECK(root != NULL, "cJSON could allocate");
    cJSON_AddStringToObject(root, "kind", kind);
    for (int i = 0; i < t->count; i++) {
        const option *o = &t->items[i];
        if (o->role == RUN || (o->role == SHARDS && !with_shards)) continue;
        char value[1100];
        shown_value(value, sizeof value, o, cfg, 1);
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
        shown_value(value, sizeof value, o, cfg, 0);
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", o->name);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_') *p = '-';
        printf("  %-20s %s (now: %s)\n", flag, o->help, value);
    }
}
