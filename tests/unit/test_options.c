/* Option tables (bcos/options.h): a flag and a job key reach the same field through the same
 * setter, the flag after the job winning; unknown names, bad numbers, sizes, booleans, choices and
 * long strings refused in one line naming the option and the value; the job kind's description
 * (types, ranges, defaults; none for a number outside its range) written from the same table. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bcos/check.h"
#include "bcos/options.h"
#include "bcos/paths.h"
#include "test.h"

typedef struct {
    char mode[8], note[16];
    int batch_size, force;
    double lr;
    int64_t max_bytes, seed; /* seed: -1 when not given */
} demo;

#define F(field) OPTION_AT(demo, field)
static const option OPTIONS[] = {
    {"mode", OPT_STR, F(mode), JOB, "a mode", ONE_OF("fast|exact")},
    {"note", OPT_STR, F(note), JOB, "free text", TEXT},
    {"batch_size", OPT_INT, F(batch_size), JOB, "items per step", FROM_TO(1, 64)},
    {"force", OPT_BOOL, F(force), JOB, "replace", SWITCH},
    {"lr", OPT_F64, F(lr), JOB, "learning rate", ABOVE(0)},
    {"max_bytes", OPT_SIZE, F(max_bytes), JOB, "bytes per file", FROM_TO(1, 0x1p40)},
    {"seed", OPT_I64, F(seed), JOB, "a seed", FROM_TO(0, EXACT_MAX)},
};
#undef F
static const option_table TABLE = {"demo", OPTIONS, (int)(sizeof OPTIONS / sizeof OPTIONS[0])};

static void defaults(void *cfg) {
    *(demo *)cfg = (demo){.mode = "exact", .batch_size = 8, .lr = 1e-3, .max_bytes = 1024, .seed = -1};
}
static option_kind KIND = {.table = &TABLE, .kind = "demo", .size = sizeof(demo), .defaults = defaults,
                           .summary = "a demo kind"};

/* name = value is refused with a message holding both needles, on one line. */
static void expect_refused(const char *name, const char *value, const char *a, const char *b) {
    demo d;
    defaults(&d);
    char err[BCOS_ERRLEN] = "";
    CHECK_MSG(option_set(&TABLE, &d, name, value, err, sizeof err) == -1, "%s = %s accepted", name, value);
    CHECK_MSG(strstr(err, a) && (!b || strstr(err, b)) && !strchr(err, '\n'), "%s = %s -> '%s'", name, value, err);
}

static void test_set(void) {
    demo d;
    defaults(&d);
    char err[BCOS_ERRLEN];
    CHECK(option_set(&TABLE, &d, "batch-size", "16", err, sizeof err) == 0 && d.batch_size == 16);
    CHECK(option_set(&TABLE, &d, "batch_size", "32", err, sizeof err) == 0 && d.batch_size == 32);
    CHECK(option_set(&TABLE, &d, "max-bytes", "64K", err, sizeof err) == 0 && d.max_bytes == 65536);
    CHECK(option_set(&TABLE, &d, "max_bytes", "3", err, sizeof err) == 0 && d.max_bytes == 3);
    CHECK(option_set(&TABLE, &d, "force", "true", err, sizeof err) == 0 && d.force == 1);
    CHECK(option_set(&TABLE, &d, "mode", "fast", err, sizeof err) == 0 && strcmp(d.mode, "fast") == 0);
    CHECK(option_set(&TABLE, &d, "lr", "2.5e-4", err, sizeof err) == 0 && d.lr == 2.5e-4);
    CHECK(option_set(&TABLE, &d, "seed", "9007199254740992", err, sizeof err) == 0 && d.seed == 9007199254740992LL);
    CHECK(option_find(&TABLE, "batch-size") == &OPTIONS[2] && option_find(&TABLE, "batch") == NULL);
}

static void test_refused(void) {
    expect_refused("bogus", "1", "unknown option 'bogus'", "'bcos demo --help'");
    expect_refused("batch-size", "x", "option 'batch_size'", "'x' is not a whole number");
    expect_refused("batch_size", "2.5", "option 'batch_size'", "'2.5' is not a whole number");
    expect_refused("batch_size", "65", "option 'batch_size': 65 is out of range", "[1, 64]");
    expect_refused("lr", "0", "option 'lr': 0 is out of range", "greater than 0");
    expect_refused("lr", "nan", "option 'lr'", "'nan' is not a finite number");
    expect_refused("max_bytes", "12Q", "option 'max_bytes'", "'12Q' is not a positive size");
    expect_refused("max_bytes", "0", "option 'max_bytes': 0 is out of range", NULL);
    expect_refused("force", "maybe", "option 'force'", "'maybe' is not true or false");
    expect_refused("mode", "slow", "option 'mode'", "'slow' is not one of fast|exact");
    expect_refused("note", "a note of more than sixteen bytes", "option 'note'", "longer than its limit of 15 bytes");
    expect_refused("seed", "-1", "option 'seed': -1 is out of range", NULL);
}

static void test_spec(void) {
    const bcos_job_spec *s = option_kind_spec(&KIND);
    CHECK(option_kind_spec(&KIND) == s); /* built once */
    CHECK(s->n_options == TABLE.count && strcmp(s->kind, "demo") == 0);
    const bcos_job_option *mode = bcos_job_option_named(s, "mode"), *note = bcos_job_option_named(s, "note");
    const bcos_job_option *size = bcos_job_option_named(s, "max_bytes"), *seed = bcos_job_option_named(s, "seed");
    const bcos_job_option *force = bcos_job_option_named(s, "force"), *lr = bcos_job_option_named(s, "lr");
    CHECK(mode && strcmp(mode->fallback, "\"exact\"") == 0 && strcmp(mode->choices, "fast|exact") == 0);
    CHECK(note && note->fallback == NULL); /* an empty string: no default */
    CHECK(size && size->type == BCOS_JOB_INTEGER && strcmp(size->fallback, "1024") == 0 && size->range.hi == 0x1p40);
    CHECK(seed && seed->fallback == NULL); /* -1, outside the range: "not given" */
    CHECK(force && force->type == BCOS_JOB_BOOLEAN && strcmp(force->fallback, "false") == 0);
    CHECK(lr && lr->type == BCOS_JOB_NUMBER && strcmp(lr->fallback, "0.001") == 0 && lr->range.lo_open);
}

/* A job file through the table: its keys reach the fields the flags reach; a flag set after wins. */
static void test_job_file(void) {
    char dir[] = "/tmp/test_options_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *path = bcos_strfmt("%s/demo.json", dir), err[BCOS_ERRLEN];
    const char *text = "{\"kind\": \"demo\", \"batch_size\": 4, \"max_bytes\": 2048, \"force\": true, \"seed\": 7}";
    CHECK(bcos_write_file_atomic(path, text, strlen(text), err, sizeof err) == 0);
    demo d;
    defaults(&d);
    CHECK_MSG(option_load_job(&KIND, &d, path, err, sizeof err) == 0, "%s", err);
    CHECK(d.batch_size == 4 && d.max_bytes == 2048 && d.force == 1 && d.seed == 7 && strcmp(d.mode, "exact") == 0);
    CHECK(option_set(&TABLE, &d, "batch-size", "5", err, sizeof err) == 0 && d.batch_size == 5);
    CHECK(option_check_ranges(&TABLE, &d, err, sizeof err) == 0);
    const char *bad = "{\"kind\": \"demo\", \"bogus\": 1}";
    CHECK(bcos_write_file_atomic(path, bad, strlen(bad), err, sizeof err) == 0);
    CHECK(option_load_job(&KIND, &d, path, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, path) && strstr(err, "$.bogus"), "%s", err);
    const char *range = "{\"kind\": \"demo\", \"batch_size\": 100}";
    CHECK(bcos_write_file_atomic(path, range, strlen(range), err, sizeof err) == 0);
    CHECK(option_load_job(&KIND, &d, path, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "$.batch_size") && strstr(err, "100"), "%s", err);
    d.batch_size = 0;
    CHECK(option_check_ranges(&TABLE, &d, err, sizeof err) == -1 && strstr(err, "'batch_size': 0 is out of range"));
    unlink(path);
    rmdir(dir);
    free(path);
}

int main(void) {
    test_set();
    test_refused();
    test_spec();
    test_job_file();
    return test_summary("test_options");
}
