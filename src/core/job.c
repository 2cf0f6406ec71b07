/* Job files (bcos/job.h): the JSON object read, its kind checked, and each key handed to the
 * command's setter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "bcos/job.h"

static const char *json_value_text(const cJSON *v, char *buf, size_t len) {
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsBool(v)) return snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "true" : "false"), buf;
    if (cJSON_IsNumber(v)) return snprintf(buf, len, "%.17g", v->valuedouble), buf;
    return NULL;
}

/* Whether an earlier key of the same object names the same option ("log_every", "log-every") or is
 * the same unknown key: cJSON keeps both, and the later would silently win. */
static int repeats_earlier(const bcos_job_reader *r, const cJSON *root, const cJSON *it) {
    const void *o = r->identify(it->string);
    for (const cJSON *e = root->child; e != it; e = e->next)
        if (strcmp(e->string, it->string) == 0 || (o && r->identify(e->string) == o)) return 1;
    return 0;
}

int bcos_job_load(const bcos_job_reader *r, const char *path, char *err, size_t errlen) {
    char *text = bcos_read_file(path, NULL);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read the job file", path);
        return -1;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    int rc = -1;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: not a JSON object", path);
    } else if (!cJSON_IsString(kind) || strcmp(kind->valuestring, r->kind) != 0) {
        snprintf(err, errlen, "%s: \"kind\" must be \"%s\"", path, r->kind);
    } else {
        rc = 0;
        for (const cJSON *it = root->child; it && rc == 0; it = it->next) {
            char buf[64], why[BCOS_ERRLEN];
            const char *value = json_value_text(it, buf, sizeof buf);
            rc = -1;
            if (repeats_earlier(r, root, it))
                snprintf(err, errlen, "%s: key '%s' is given twice (which one was meant?)", path, it->string);
            else if (strcmp(it->string, "kind") == 0)
                rc = 0;
            else if (!value)
                snprintf(err, errlen, "%s: key '%s' must be a string, number or boolean", path, it->string);
            else if (r->set(r->ctx, it->string, value, why, sizeof why) != 0)
                snprintf(err, errlen, "%s: %s", path, why);
            else
                rc = 0;
        }
    }
    cJSON_Delete(root);
    return rc;
}
