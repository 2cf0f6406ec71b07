/* Reading checkpoints back: find one by step (or the newest), verify its files against their
 * recorded sha256, and choose where a resumed run goes on: the newest complete checkpoint whose
 * files verify, after deleting the debris of its folder; a damaged one is reported, marked and
 * skipped; the events of the steps to be trained again are dropped. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/log.h"
#include "bcos/sha256.h"

static void read_checkpoint_row(sqlite3_stmt *st, bcos_checkpoint *c) {
    c->id = sqlite3_column_int64(st, 0);
    c->run_id = sqlite3_column_int64(st, 1);
    c->step = sqlite3_column_int64(st, 2);
    c->epoch = sqlite3_column_int64(st, 3);
    c->samples_seen = sqlite3_column_int64(st, 4);
    c->world_size = sqlite3_column_int(st, 5);
    c->data_cursors = store_column_strdup(st, 6);
    c->rng_bytes = (size_t)sqlite3_column_bytes(st, 7);
    c->rng_state = xmalloc(c->rng_bytes);
    if (c->rng_bytes) memcpy(c->rng_state, sqlite3_column_blob(st, 7), c->rng_bytes);
}

static void read_files(const bcos_store *s, bcos_checkpoint *c) {
    sqlite3_stmt *st = store_prepare(s, "SELECT name, path, sha256 FROM checkpoint_files WHERE checkpoint_id = ?1"
                                        " ORDER BY name");
    store_bind_int64(s, st, 1, c->id);
    while (store_step(s, st)) {
        int i = c->n_files++;
        c->file_names = xrealloc(c->file_names, (size_t)c->n_files * sizeof *c->file_names);
        c->file_paths = xrealloc(c->file_paths, (size_t)c->n_files * sizeof *c->file_paths);
        c->file_sha256s = xrealloc(c->file_sha256s, (size_t)c->n_files * sizeof *c->file_sha256s);
        c->file_names[i] = store_column_strdup(st, 0);
        const char *rel = (const char *)sqlite3_column_text(st, 1);
        size_t n = strlen(s->checkpoint_root) + strlen(rel) + 2;
        c->file_paths[i] = xmalloc(n);
        snprintf(c->file_paths[i], n, "%s/%s", s->checkpoint_root, rel);
        c->file_sha256s[i] = store_column_strdup(st, 2);
    }
    store_finalize(s, st);
}

static char *run_name(const bcos_store *s, int64_t run_id) {
    sqlite3_stmt *st = store_prepare(s, "SELECT name FROM runs WHERE id = ?1");
    store_bind_int64(s, st, 1, run_id);
    char *name = store_step(s, st) ? store_column_strdup(st, 0) : xstrdup("(unknown)");
    store_finalize(s, st);
    return name;
}

int bcos_store_checkpoint_find(bcos_store *s, int64_t run_id, int64_t step, bcos_checkpoint *out, char *err,
                               size_t errlen) {
    memset(out, 0, sizeof *out);
    store_begin_read(s);
    sqlite3_stmt *st = store_prepare(
        s, "SELECT id, run_id, step, epoch, samples_seen, world_size, data_cursors, rng_state FROM checkpoints"
           " WHERE run_id = ?1 AND state = 'complete' AND (?2 < 0 OR step = ?2) ORDER BY step DESC LIMIT 1");
    store_bind_int64(s, st, 1, run_id);
    store_bind_int64(s, st, 2, step);
    int found = store_step(s, st);
    if (found) read_checkpoint_row(st, out);
    store_finalize(s, st);
    if (found) read_files(s, out);
    int status = 0;
    if (!found) {
        char *name = run_name(s, run_id);
        if (step < 0) status = bcos_error(err, errlen, s->path, "run '%s' has no complete checkpoint", name);
        else status = bcos_error(err, errlen, s->path, "run '%s' has no complete checkpoint at step %lld", name, (long long)step);
        free(name);
    }
    store_commit(s);
    return status;
}

int bcos_store_checkpoint_steps(bcos_store *s, int64_t run_id, int64_t **steps) {
    store_begin_read(s);
    sqlite3_stmt *st =
        store_prepare(s, "SELECT step FROM checkpoints WHERE run_id = ?1 AND state = 'complete' ORDER BY step");
    store_bind_int64(s, st, 1, run_id);
    int n = 0;
    *steps = NULL;
    while (store_step(s, st)) {
        *steps = xrealloc(*steps, (size_t)(n + 1) * sizeof **steps);
        (*steps)[n++] = sqlite3_column_int64(st, 0);
    }
    store_finalize(s, st);
    store_commit(s);
    return n;
}

int bcos_checkpoint_verify(const bcos_checkpoint *c, char *err, size_t errlen) {
    for (int i = 0; i < c->n_files; i++) {
        char sha[BCOS_SHA256_HEX];
        if (bcos_sha256_file(c->file_paths[i], sha) != 0)
            return bcos_error(err, errlen, c->file_paths[i], "cannot read the checkpoint file: %s", strerror(errno));
        if (strcmp(sha, c->file_sha256s[i]) != 0)
            return bcos_error(err, errlen, c->file_paths[i], "damaged: its sha256 is %s, the store recorded %s", sha,
                              c->file_sha256s[i]);
    }
    return 0;
}

const char *bcos_checkpoint_file(const bcos_checkpoint *c, const char *name) {
    for (int i = 0; i < c->n_files; i++)
        if (strcmp(c->file_names[i], name) == 0) return c->file_paths[i];
    return NULL;
}

#define CORRUPT_REASON "corrupt checkpoint"

/* Mark a checkpoint whose file failed verification and record why, then delete its files. */
static void mark_corrupt(bcos_store *s, const bcos_checkpoint *c, const char *why) {
    store_begin_write(s);
    sqlite3_stmt *st = store_prepare(s, "UPDATE checkpoints SET state = 'corrupt' WHERE id = ?1");
    store_bind_int64(s, st, 1, c->id);
    store_step(s, st);
    store_finalize(s, st);
    store_insert_event(s, c->run_id, c->step, BCOS_EVENT_FAULT, CORRUPT_REASON, 1, why);
    store_commit(s);
    store_remove_checkpoint_files(s, c->id);
}

static int64_t last_event_id(bcos_store *s) {
    sqlite3_stmt *st = store_prepare(s, "SELECT ifnull(max(id), 0) FROM events");
    store_step(s, st);
    int64_t id = sqlite3_column_int64(st, 0);
    store_finalize(s, st);
    return id;
}

/* The steps after the resumed one are trained again, and record their skips, retries and faults
 * again: drop those recorded before this resume (ids up to before), as their metrics rows are
 * replaced. A corrupt checkpoint's fault stays: it is about the checkpoint, not a step. */
static void forget_retrained_events(bcos_store *s, int64_t run_id, int64_t step, int64_t before) {
    store_begin_write(s);
    sqlite3_stmt *st = store_prepare(
        s, "DELETE FROM events WHERE run_id = ?1 AND step > ?2 AND id <= ?3 AND kind IN ('skip', 'retry', 'fault')"
           " AND NOT (kind = 'fault' AND reason = '" CORRUPT_REASON "')");
    store_bind_int64(s, st, 1, run_id);
    store_bind_int64(s, st, 2, step);
    store_bind_int64(s, st, 3, before);
    store_step(s, st);
    store_finalize(s, st);
    store_commit(s);
}

/* The run is taken up again from step (0: afresh), at the world size bcos_store_run_begin recorded. */
static void record_resume(bcos_store *s, int64_t run_id, int64_t step) {
    store_begin_write(s);
    sqlite3_stmt *st = store_prepare(
        s, "INSERT INTO resumes (run_id, step, world_size) SELECT id, ?2, world_size FROM runs WHERE id = ?1");
    store_bind_int64(s, st, 1, run_id);
    store_bind_int64(s, st, 2, step);
    store_step(s, st);
    store_finalize(s, st);
    store_commit(s);
}

int bcos_store_checkpoint_resume(bcos_store *s, int64_t run_id, bcos_checkpoint *out) {
    BCOS_CHECK(!s->read_only, "resuming needs a read-write store");
    int64_t before = last_event_id(s);
    store_tidy_run_folder(s, run_id);
    char err[BCOS_ERRLEN];
    while (bcos_store_checkpoint_find(s, run_id, BCOS_CKPT_LATEST, out, err, sizeof err) == 0) {
        char why[BCOS_ERRLEN];
        if (bcos_checkpoint_verify(out, why, sizeof why) == 0) {
            forget_retrained_events(s, run_id, out->step, before);
            record_resume(s, run_id, out->step);
            return 1;
        }
        bcos_warn("%s; the checkpoint at step %lld is unusable, trying the one before it", why, (long long)out->step);
        mark_corrupt(s, out, why);
        bcos_checkpoint_free(out);
    }
    forget_retrained_events(s, run_id, 0, before);
    record_resume(s, run_id, 0);
    return 0;
}
