/* The job reader (bcos/job.h): every kind of bad job file refused with the JSON path, what was
 * expected and what was found (wrong types, unknown and repeated keys, ranges, choices, the kind,
 * ${VAR}); good values handed over as text that reads back exactly; the canonical text; the schema
 * written from the same descriptions; and the distill kind's table through the same reader. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "bcos/distill.h"
#include "bcos/job.h"
#include "test.h"

static const bcos_job_option OPTIONS[] = {
    {"steps", BCOS_JOB_INTEGER, "steps", {1, 1000, 0, 0}, NULL, BCOS_JOB_TEXT, "10"},
    {"lr", BCOS_JOB_NUMBER, "learning rate", {0, INFINITY, 1, 0}, NULL, BCOS_JOB_TEXT, "0.001"},
    {"beta", BCOS_JOB_NUMBER, "beta", {0, 1, 0, 1}, NULL, BCOS_JOB_TEXT, NULL},
    {"flag", BCOS_JOB_BOOLEAN, "a flag", BCOS_JOB_NO_RANGE, NULL, BCOS_JOB_TEXT, "false"},
    {"mode", BCOS_JOB_STRING, "a mode", BCOS_JOB_NO_RANGE, "fast|exact", BCOS_JOB_TEXT, "\"exact\""},
    {"weights", BCOS_JOB_STRING, "a file", BCOS_JOB_NO_RANGE, NULL, BCOS_JOB_INPUT, NULL},
    {"note", BCOS_JOB_STRING, "free text", BCOS_JOB_NO_RANGE, NULL, BCOS_JOB_TEXT, NULL},
    {"log_every", BCOS_JOB_INTEGER, "steps between lines", {1, 100, 0, 0}, NULL, BCOS_JOB_TEXT, "1"},
};
static const bcos_job_spec SPEC = {"demo", "a demo kind", OPTIONS, (int)(sizeof OPTIONS / sizeof OPTIONS[0])};

/* Parses text; 0 or -1, the message in err. */
static int parse(bcos_job *job, const char *text, char *err) {
    return bcos_job_parse(job, &SPEC, text, strlen(text), err, BCOS_ERRLEN);
}

/* text is refused with a message holding every needle (up to three), on one line. */
static void expect_refused(const char *text, const char *a, const char *b, const char *c) {
    bcos_job job;
    char err[BCOS_ERRLEN] = "";
    int rc = parse(&job, text, err);
    CHECK_MSG(rc == -1, "accepted: %s", text);
    CHECK_MSG(strstr(err, a) && (!b || strstr(err, b)) && (!c || strstr(err, c)), "%s -> '%s'", text, err);
    CHECK_MSG(!strchr(err, '\n'), "one line: %s", err);
    CHECK(job.count == 0 && job.entries == NULL && job.canonical == NULL);
}

static void check_wrong_types(void) {
    expect_refused("{\"kind\": \"demo\", \"steps\": \"10\"}", "$.steps: expected a whole number in [1, 1000]",
                   "found \"10\"", NULL);
    expect_refused("{\"kind\": \"demo\", \"steps\": 1.5}", "$.steps", "found 1.5", NULL);
    expect_refused("{\"kind\": \"demo\", \"lr\": true}", "$.lr: expected a number greater than 0", "found true", NULL);
    expect_refused("{\"kind\": \"demo\", \"flag\": 1}", "$.flag: expected true or false", "found 1", NULL);
    expect_refused("{\"kind\": \"demo\", \"note\": [1]}", "$.note: expected a string", "found an array", NULL);
    expect_refused("{\"kind\": \"demo\", \"note\": null}", "$.note", "found null", NULL);
    expect_refused("{\"kind\": \"demo\", \"steps\": {}}", "$.steps", "found an object", NULL);
    expect_refused("[1, 2]", "$: expected a JSON object", "found an array", NULL);
    expect_refused("{\"kind\": ", "$: expected a JSON object", "not JSON", NULL);
}

static void check_keys_and_kind(void) {
    expect_refused("{\"kind\": \"demo\", \"stepz\": 3}", "$.stepz: expected an option of demo jobs (bcos jobs schema)",
                   "unknown key 'stepz'", NULL);
    expect_refused("{\"kind\": \"demo\", \"lr\": 0.1, \"lr\": 0.2}", "$.lr: key 'lr' is given twice", NULL, NULL);
    expect_refused("{\"kind\": \"demo\", \"log_every\": 1, \"log-every\": 2}", "key 'log-every' is given twice", NULL, NULL);
    expect_refused("{\"steps\": 3}", "$.kind: expected \"demo\", found nothing", NULL, NULL);
    expect_refused("{\"kind\": \"distill\"}", "$.kind: expected \"demo\", found \"distill\"", NULL, NULL);
    expect_refused("{\"kind\": 7}", "$.kind: expected \"demo\", found 7", NULL, NULL);
    /* a key with a line break is shown on one line */
    expect_refused("{\"kind\": \"demo\", \"a\\nb\": 1}", "$.a?b: ", NULL, NULL);
}

static void check_ranges_and_choices(void) {
    expect_refused("{\"kind\": \"demo\", \"steps\": 0}", "$.steps: expected a whole number in [1, 1000], found 0", NULL,
                   NULL);
    expect_refused("{\"kind\": \"demo\", \"steps\": 1001}", "found 1001", NULL, NULL);
    expect_refused("{\"kind\": \"demo\", \"lr\": 0}", "$.lr: expected a number greater than 0, found 0", NULL, NULL);
    expect_refused("{\"kind\": \"demo\", \"beta\": 1}", "$.beta: expected a number in [0, 1), found 1", NULL, NULL);
    expect_refused("{\"kind\": \"demo\", \"steps\": 1e400}", "$.steps", NULL, NULL);
    expect_refused("{\"kind\": \"demo\", \"mode\": \"slow\"}", "$.mode: expected one of fast|exact, found \"slow\"", NULL,
                   NULL);
    expect_refused("{\"kind\": \"demo\", \"mode\": \"fas\"}", "found \"fas\"", NULL, NULL);
}

static void check_variables(void) {
    setenv("BCOS_TEST_MODELS", "/models", 1);
    unsetenv("BCOS_TEST_UNSET");
    bcos_job job;
    char err[BCOS_ERRLEN];
    CHECK_MSG(parse(&job, "{\"kind\": \"demo\", \"weights\": \"${BCOS_TEST_MODELS}/a-${BCOS_TEST_MODELS}.st\","
                          " \"note\": \"${BCOS_TEST_MODELS}\"}", err) == 0, "%s", err);
    const bcos_job_entry *w = bcos_job_find(&job, "weights"), *note = bcos_job_find(&job, "note");
    CHECK(w && strcmp(w->value, "/models/a-/models.st") == 0);
    /* text options are taken as written: only paths and URLs name variables */
    CHECK(note && strcmp(note->value, "${BCOS_TEST_MODELS}") == 0);
    bcos_job_free(&job);
    expect_refused("{\"kind\": \"demo\", \"weights\": \"${BCOS_TEST_UNSET}/a.st\"}",
                   "$.weights: the environment variable BCOS_TEST_UNSET is not set", "${BCOS_TEST_UNSET}/a.st", NULL);
    expect_refused("{\"kind\": \"demo\", \"weights\": \"${BCOS_TEST_MODELS\"}", "$.weights: '${' starts no variable",
                   NULL, NULL);
    expect_refused("{\"kind\": \"demo\", \"weights\": \"${}\"}", "$.weights: '${' starts no variable", NULL, NULL);
    /* a lone '$' is no variable */
    CHECK_MSG(parse(&job, "{\"kind\": \"demo\", \"weights\": \"a$b$\"}", err) == 0, "%s", err);
    CHECK(strcmp(bcos_job_find(&job, "weights")->value, "a$b$") == 0);
    bcos_job_free(&job);
}

static void check_values_and_canonical(void) {
    bcos_job job;
    char err[BCOS_ERRLEN];
    const char *text = "{\"kind\": \"demo\", \"log-every\": 5, \"lr\": 0.1, \"flag\": true, \"mode\": \"fast\","
                       " \"steps\": 1000}";
    CHECK_MSG(parse(&job, text, err) == 0, "%s", err);
    CHECK(job.count == 5);
    CHECK(strcmp(job.entries[0].option->name, "log_every") == 0 && strcmp(job.entries[0].value, "5") == 0);
    CHECK(strtod(bcos_job_find(&job, "lr")->value, NULL) == 0.1);
    CHECK(strcmp(bcos_job_find(&job, "flag")->value, "true") == 0);
    CHECK(bcos_job_find(&job, "beta") == NULL);
    CHECK_MSG(strcmp(job.canonical, "{\"kind\":\"demo\",\"log_every\":5,\"lr\":0.10000000000000001,\"flag\":true,"
                                    "\"mode\":\"fast\",\"steps\":1000}") == 0, "%s", job.canonical);
    /* the canonical text reads back to itself */
    bcos_job again;
    CHECK(parse(&again, job.canonical, err) == 0 && strcmp(again.canonical, job.canonical) == 0);
    bcos_job_free(&again);
    bcos_job_free(&job);
}

static void check_helpers(void) {
    char why[128];
    bcos_job_range unit = {0, 1, 0, 1};
    CHECK(bcos_job_range_check(&unit, 0, why, sizeof why) == 0);
    CHECK(bcos_job_range_check(&unit, 1, why, sizeof why) == -1 && strcmp(why, "it must be in [0, 1)") == 0);
    CHECK(bcos_job_choice_ok("adamw|adam", "adam") && bcos_job_choice_ok("adamw|adam", "adamw"));
    CHECK(!bcos_job_choice_ok("adamw|adam", "ada") && !bcos_job_choice_ok("adamw|adam", "adamw|adam"));
    CHECK(bcos_job_choice_ok(NULL, "anything"));
    CHECK(bcos_job_option_named(&SPEC, "log-every") == &OPTIONS[7] && !bcos_job_option_named(&SPEC, "log"));
}

static void check_schema(void) {
    const bcos_job_spec *specs[] = {&SPEC, bcos_distill_job_spec()};
    char *text = bcos_job_schema(specs, 2);
    cJSON *root = cJSON_Parse(text);
    CHECK(root != NULL);
    const cJSON *demo = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "$defs"), "demo");
    const cJSON *props = cJSON_GetObjectItem(demo, "properties");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(demo, "additionalProperties")));
    CHECK(strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(props, "kind"), "const")->valuestring, "demo") == 0);
    const cJSON *steps = cJSON_GetObjectItem(props, "steps"), *lr = cJSON_GetObjectItem(props, "lr");
    CHECK(strcmp(cJSON_GetObjectItem(steps, "type")->valuestring, "integer") == 0);
    CHECK(cJSON_GetObjectItem(steps, "minimum")->valuedouble == 1 && cJSON_GetObjectItem(steps, "maximum")->valuedouble == 1000);
    CHECK(cJSON_GetObjectItem(lr, "exclusiveMinimum")->valuedouble == 0 && !cJSON_GetObjectItem(lr, "maximum"));
    CHECK(cJSON_GetObjectItem(lr, "default")->valuedouble == 0.001);
    const cJSON *mode = cJSON_GetObjectItem(props, "mode");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(mode, "enum")) == 2);
    CHECK(strcmp(cJSON_GetObjectItem(mode, "default")->valuestring, "exact") == 0);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(props, "beta"), "default") == NULL);
    /* distill's table: its defaults as bcos_distill_defaults sets them */
    const cJSON *distill = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "$defs"), "distill"),
                                               "properties");
    bcos_distill_config cfg;
    bcos_distill_defaults(&cfg);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(distill, "lr"), "default")->valuedouble == cfg.lr);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(distill, "teacher"), "default") == NULL);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(distill, "optimizer"), "enum")) == 2);
    cJSON_Delete(root);
    free(text);
}

/* The distill kind through the reader: its choices and ranges as the job reader states them. */
static void check_distill_kind(void) {
    const bcos_job_spec *spec = bcos_distill_job_spec();
    bcos_job job;
    char err[BCOS_ERRLEN];
    const char *text = "{\"kind\": \"distill\", \"optimizer\": \"sgd\"}";
    CHECK(bcos_job_parse(&job, spec, text, strlen(text), err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "$.optimizer: expected one of adamw|adam, found \"sgd\"") != NULL, "%s", err);
    text = "{\"kind\": \"distill\", \"workers\": 65}";
    CHECK(bcos_job_parse(&job, spec, text, strlen(text), err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "$.workers: expected a whole number in [1, 64], found 65") != NULL, "%s", err);
}

int main(void) {
    check_wrong_types();
    check_keys_and_kind();
    check_ranges_and_choices();
    check_variables();
    check_values_and_canonical();
    check_helpers();
    check_schema();
    check_distill_kind();
    return test_summary("test_job");
}
