/* The evaluation of a distill run's checkpoints (bcos/eval_run.h): rank 0 finds them in the store
 * and checks their files, every rank loads each checkpoint's student file, and the datasets are
 * evaluated as for a weights file, the rows going to the run at that checkpoint. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "bcos/eval_run.h"
#include "bcos/log.h"
#include "bcos/student.h"
#include "bcos/world.h"
#include "eval_internal.h"

/* The steps "latest", "all" or "STEP[,STEP...]" name (heap), or -1 with err. */
static int resolve_steps(bcos_store *s, int64_t run_id, const char *run, const char *spec, int64_t **steps,
                         char *err, size_t errlen) {
    int64_t *have;
    int n_have = bcos_store_checkpoint_steps(s, run_id, &have);
    int n = 0;
    *steps = NULL;
    if (strcmp(spec, "all") == 0 || strcmp(spec, "latest") == 0) {
        n = strcmp(spec, "all") == 0 ? n_have : n_have > 0;
        *steps = have;
        if (n == 1 && n_have > 1) (*steps)[0] = have[n_have - 1];
        if (n == 0) snprintf(err, errlen, "run '%s' has no complete checkpoint", run), n = -1;
        return n;
    }
    free(have);
    for (const char *at = spec; *at;) {
        char *end;
        errno = 0;
        long long step = strtoll(at, &end, 10);
        if (errno || end == at || step < 0 || (*end && (*end != ',' || !end[1]))) {
            free(*steps);
            snprintf(err, errlen, "--checkpoint takes latest, all or steps 'N[,N...]', not '%s'", spec);
            return -1;
        }
        *steps = xrealloc(*steps, (size_t)(n + 1) * sizeof **steps);
        (*steps)[n++] = step;
        at = *end ? end + 1 : end;
    }
    if (n == 0) snprintf(err, errlen, "--checkpoint takes latest, all or steps 'N[,N...]', not '%s'", spec);
    return n > 0 ? n : -1;
}

/* Rank 0: the path of the checkpoint's student file, its files verified (heap), or NULL with err. */
static char *student_file(bcos_store *s, int64_t run_id, int64_t step, int64_t *checkpoint_id, char *err,
                          size_t errlen) {
    bcos_checkpoint c;
    char *path = NULL;
    if (bcos_store_checkpoint_find(s, run_id, step, &c, err, errlen) != 0) return NULL;
    const char *file = bcos_checkpoint_file(&c, "student");
    if (!file) snprintf(err, errlen, "the checkpoint at step %lld has no student file", (long long)step);
    else if (bcos_checkpoint_verify(&c, err, errlen) == 0) path = xstrdup(file);
    *checkpoint_id = c.id;
    bcos_checkpoint_free(&c);
    return path;
}

/* Every rank: the student and its teacher's text tower from path; 0, or -1 (on any rank) with err. */
static int load_student(bcos_student *student, bcos_clip *text, const char *path, char *err, size_t errlen) {
    const bcos_backend *be = bcos_backend_get("auto");
    int ok = bcos_student_load_file(student, path, be, err, errlen) == 0;
    if (ok && bcos_student_load_text(text, path, be, err, errlen) != 0) {
        bcos_student_free(student);
        ok = 0;
    }
    if (eval_any_failed(!ok, err, errlen)) {
        if (ok) {
            bcos_student_free(student);
            bcos_clip_free(text);
        }
        return -1;
    }
    return 0;
}

/* One checkpoint on every dataset: the failures. */
static int eval_checkpoint(eval_target *t, const bcos_eval_job *job, const bcos_eval_options *opt) {
    char err[BCOS_ERRLEN] = "";
    char *path = t->store ? student_file(t->store, t->run_id, t->step, &t->checkpoint_id, err, sizeof err) : NULL;
    char *shared = bcos_world_bcast_text(path);
    bcos_student student;
    bcos_clip text;
    int failed = !shared || load_student(&student, &text, shared, err, sizeof err) != 0;
    if (failed) {
        if (t->store) bcos_log(BCOS_LOG_ERROR, "run %s, checkpoint at step %lld: %s", t->run, (long long)t->step, err);
    } else {
        bcos_eval_model m = {.clip = &text, .student = &student};
        t->model = &m;
        failed = eval_datasets(t, job, opt);
        t->model = NULL;
        bcos_student_free(&student);
        bcos_clip_free(&text);
    }
    free(shared);
    free(path);
    return failed;
}

/* Rank 0: the teacher's weights and config (NULL: from the file) from the run's job text, as
 * "weights\nconfig" (heap), or NULL with err. */
static char *teacher_of_run(bcos_store *s, int64_t run_id, const char *run, char *err, size_t errlen) {
    char *text = bcos_store_run_job_text(s, run_id), *out = NULL;
    cJSON *job = cJSON_Parse(text);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(job, "teacher"),
                *m = cJSON_GetObjectItemCaseSensitive(job, "teacher_model");
    if (!cJSON_IsString(w) || !w->valuestring[0]) {
        snprintf(err, errlen, "run '%s': its job names no teacher", run);
    } else {
        const char *model = cJSON_IsString(m) ? m->valuestring : "";
        out = xmalloc(strlen(w->valuestring) + strlen(model) + 2);
        sprintf(out, "%s\n%s", w->valuestring, model);
    }
    cJSON_Delete(job);
    free(text);
    return out;
}

/* The run's frozen teacher on every dataset, its rows without a checkpoint: the failures. */
static int eval_teacher(eval_target *t, const bcos_eval_job *job, const bcos_eval_options *opt) {
    char err[BCOS_ERRLEN] = "";
    char *mine = t->store ? teacher_of_run(t->store, t->run_id, t->run, err, sizeof err) : NULL;
    char *shared = bcos_world_bcast_text(mine);
    bcos_clip clip;
    int loaded = 0;
    if (shared) {
        char *model = strchr(shared, '\n');
        *model++ = '\0';
        loaded = bcos_clip_load_file(&clip, shared, *model ? model : NULL, bcos_backend_get("auto"), err,
                                     sizeof err) == 0;
    }
    int failed = eval_any_failed(!loaded, err, sizeof err);
    if (failed && t->store) bcos_log(BCOS_LOG_ERROR, "run %s, teacher: %s", t->run, err);
    if (!failed) {
        bcos_eval_model m = {.clip = &clip};
        t->model = &m;
        t->checkpoint_id = 0;
        t->step = -1;
        failed = eval_datasets(t, job, opt);
        t->model = NULL;
    }
    if (loaded) bcos_clip_free(&clip);
    free(shared);
    free(mine);
    return failed;
}

int bcos_eval_checkpoints(const bcos_eval_job *job, const bcos_eval_options *opt, char *err, size_t errlen) {
    eval_target t = {.run = job->run};
    int64_t *steps = NULL, n = 0;
    if (bcos_world_rank() == 0) {
        if (bcos_store_open(job->db, NULL, &t.store, err, errlen) != 0) return -1;
        if (bcos_store_run_find(t.store, job->run, &t.run_id, err, errlen) != 0 ||
            (n = resolve_steps(t.store, t.run_id, job->run, job->checkpoints, &steps, err, errlen)) < 0) {
            bcos_store_close(t.store);
            return -1;
        }
    }
    bcos_world_bcast(&n, sizeof n);
    if (bcos_world_rank() != 0) steps = xcalloc((size_t)n, sizeof *steps);
    bcos_world_bcast(steps, (size_t)n * sizeof *steps);
    int failed = job->teacher ? eval_teacher(&t, job, opt) : 0;
    for (int64_t i = 0; i < n; i++) {
        t.step = steps[i];
        failed += eval_checkpoint(&t, job, opt);
    }
    free(steps);
    if (t.store) {
        eval_print_results(t.store, t.run);
        bcos_store_close(t.store);
    }
    return failed;
}
