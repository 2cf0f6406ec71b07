/* `bcos bcosify`: the untrained B-cos student of a CLIP teacher, as `bcos distill` starts from it
 * (its step 0): the image tower B-cosified, the teacher's text tower beside it. Its settings are
 * distill's (a job file, then flags), of which only the teacher, the output and the student's
 * options count. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bcos/student.h"
#include "bcos/check.h"
#include "bcos/distill.h"
#include "bcos/paths.h"
#include "cli.h"

static const char *const USAGE =
    "usage: bcos bcosify [[--] JOB.json] [--teacher W.safetensors] [--teacher-model CONFIG] --out S.safetensors\n"
    "                    [--b B] [--b-ramp-steps N] [--keep-biases true|false] [--bias-decay-steps N]\n"
    "                    [--plain-proj true|false] [--bcos-c-proj true|false] [--keep-pos true|false]\n"
    "Writes the untrained B-cos student of the teacher: what 'bcos distill' trains, at its step 0 (B 1 when\n"
    "B ramps up, biases at scale 1 when they decay). A distill job file gives these settings (its training\n"
    "settings and its 'out' are not used); flags override it. The student is used like a trained one (encode-image,\n"
    "encode-text, zeroshot, explain, weights info).\n";

/* The distill options that make the untrained student. */
static const char *const STUDENT_OPTIONS[] = {"teacher", "teacher_model", "out", "b", "b_ramp_steps", "keep_biases",
                                              "bias_decay_steps", "plain_proj", "bcos_c_proj", "keep_pos", NULL};

static int is_student_option(const char *name) {
    char key[64];
    snprintf(key, sizeof key, "%s", name);
    for (char *c = key; *c; c++)
        if (*c == '-') *c = '_';
    for (int i = 0; STUDENT_OPTIONS[i]; i++)
        if (strcmp(key, STUDENT_OPTIONS[i]) == 0) return 1;
    return 0;
}

static void parse(bcos_distill_config *cfg, int argc, char **argv) {
    char err[BCOS_ERRLEN];
    bcos_distill_defaults(cfg);
    int i = 1, job_follows = i < argc && strcmp(argv[i], "--") == 0;
    i += job_follows;
    if (i < argc && (job_follows || argv[i][0] != '-'))
        if (bcos_distill_load_job(cfg, argv[i++], err, sizeof err) != 0) bcos_fail("%s", err);
    cfg->out[0] = '\0'; /* a job's 'out' is its trained student's: never overwritten from here */
    for (; i < argc; i += 2) {
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc)
            bcos_fail("bcosify: expected '--option value', got '%s' (see 'bcos bcosify --help')", argv[i]);
        if (!is_student_option(argv[i] + 2))
            bcos_fail("bcosify: unknown option '%s' (see 'bcos bcosify --help')", argv[i]);
        if (bcos_distill_set(cfg, argv[i] + 2, argv[i + 1], err, sizeof err) != 0) bcos_fail("bcosify: %s", err);
    }
    const bcos_student_options *o = &cfg->student;
    if (!cfg->teacher[0]) bcos_fail("bcosify: no teacher weights (--teacher W.safetensors)");
    if (!cfg->out[0]) bcos_fail("bcosify: no output file (--out S.safetensors)");
    if (!(o->b >= 1) || !isfinite(o->b)) bcos_fail("bcosify: 'b' must be a number of at least 1");
    if (o->b_ramp_steps < 0 || o->bias_decay_steps < 0)
        bcos_fail("bcosify: 'b_ramp_steps' and 'bias_decay_steps' must not be negative");
}

int cmd_bcosify(int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (cli_is_help(argv[i])) {
            fputs(USAGE, stdout);
            return 0;
        }
    bcos_distill_config cfg;
    parse(&cfg, argc, argv);
    bcos_clip teacher;
    cli_load_clip(&teacher, cfg.teacher, cfg.teacher_model[0] ? cfg.teacher_model : NULL);
    bcos_student s;
    bcos_student_init(&s, &teacher.cfg, &cfg.student, teacher.backend);
    bcos_student_from_clip(&s, &teacher);
    char err[BCOS_ERRLEN];
    if (bcos_make_parent_dirs(cfg.out, err, sizeof err) != 0 ||
        bcos_student_save(&s, &teacher, 0, cfg.out, NULL, err, sizeof err) != 0)
        bcos_fail("%s", err);
    printf("wrote the untrained B-cos student of %s (config %s, B %g at step 0) to %s\n", cfg.teacher,
           teacher.cfg.name, bcos_student_b_at(&s, 0), cfg.out);
    bcos_student_free(&s);
    bcos_clip_free(&teacher);
    return 0;
}
