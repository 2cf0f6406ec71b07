/* What a training checkpoint holds, written through the store and read back:
 *   weights      the kind's weights file (train_kind): "student" for distill, the student as
 *                bcos_student_save writes it (with the teacher's text tower), so a checkpoint's
 *                file is a usable student; "model" for pretrain, the CLIP in open_clip naming;
 *   "optimizer"  Adam's m and v as "exp_avg.<parameter>" and "exp_avg_sq.<parameter>" (torch's
 *                names, in the weights file's layout), its step counter and settings in metadata;
 *   the state    step, epoch, samples seen, the data cursor (a JSON array with one element per
 *                rank: the source's position, train_source_internal.h) and the RNG blob: the
 *                seed, the epoch and the samples seen (the streams the in-memory data order draws from).
 * The replicas are equal, so rank 0 writes the files and commits; the others only send it their
 * data positions. On a resume rank 0 reads the checkpoint and sends its state, weights and moments
 * to the other ranks, whose number may differ from the one that wrote it: the data source takes
 * that up (train_source_internal.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/world.h"
#include "train_internal.h"

#define M_PREFIX "exp_avg."
#define V_PREFIX "exp_avg_sq."
#define ADAM_STEP_KEY "adam_step"

/* The RNG blob: a tag, then little-endian u64s: the seed, the epoch-permutation stream (the
 * epoch of the next sample) and the flip stream (the next sample's index). */
#define RNG_TAG "bcosrng1"
enum { RNG_WORDS = 3, RNG_BYTES = 8 + 8 * RNG_WORDS };

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void rng_blob(const train_run *run, int64_t epoch, uint8_t blob[RNG_BYTES]) {
    memcpy(blob, RNG_TAG, 8);
    put_u64(blob + 8, (uint64_t)run->cfg->seed);
    put_u64(blob + 16, (uint64_t)epoch);
    put_u64(blob + 24, (uint64_t)run->samples_seen);
}

/* The optimizer file's entries (m then v) and metadata; free entries and the two tensor sets. */
typedef struct {
    train_file m, v;
    bcos_st_entry *entries;
    int count;
    char step[32], beta1[32], beta2[32], eps[32], weight_decay[32];
    bcos_st_meta meta[6];
} optimizer_file;

static void optimizer_file_make(optimizer_file *f, const train_run *run) {
    const bcos_adam_config *c = &run->opt.cfg;
    run->kind->tensors_make(run, &f->m, run->opt.m, M_PREFIX);
    run->kind->tensors_make(run, &f->v, run->opt.v, V_PREFIX);
    f->count = f->m.count + f->v.count;
    f->entries = xcalloc((size_t)f->count, sizeof *f->entries);
    memcpy(f->entries, f->m.entries, (size_t)f->m.count * sizeof *f->entries);
    memcpy(f->entries + f->m.count, f->v.entries, (size_t)f->v.count * sizeof *f->entries);
    snprintf(f->step, sizeof f->step, "%" PRId64, run->opt.step);
    snprintf(f->beta1, sizeof f->beta1, "%.17g", c->beta1);
    snprintf(f->beta2, sizeof f->beta2, "%.17g", c->beta2);
    snprintf(f->eps, sizeof f->eps, "%.17g", c->eps);
    snprintf(f->weight_decay, sizeof f->weight_decay, "%.17g", c->weight_decay);
    f->meta[0] = (bcos_st_meta){"optimizer", run->cfg->optimizer};
    f->meta[1] = (bcos_st_meta){ADAM_STEP_KEY, f->step};
    f->meta[2] = (bcos_st_meta){"beta1", f->beta1};
    f->meta[3] = (bcos_st_meta){"beta2", f->beta2};
    f->meta[4] = (bcos_st_meta){"eps", f->eps};
    f->meta[5] = (bcos_st_meta){"weight_decay", f->weight_decay};
}

static void optimizer_file_free(const train_run *run, optimizer_file *f) {
    free(f->entries);
    run->kind->tensors_free(&f->m);
    run->kind->tensors_free(&f->v);
}

/* The ranks' data positions as one JSON array, on rank 0 (NULL on the others). */
static char *gather_positions(const train_run *run, const char *position) {
    char **all = bcos_world_gather_text(position);
    if (!all) return NULL;
    size_t len = 3;
    for (int k = 0; k < run->world; k++) len += strlen(all[k]) + 1;
    char *cursors = xmalloc(len), *at = cursors;
    *at++ = '[';
    for (int k = 0; k < run->world; k++) {
        at += sprintf(at, "%s%s", k ? "," : "", all[k]);
        free(all[k]);
    }
    strcpy(at, "]");
    free(all);
    return cursors;
}

int train_checkpoint_commit(train_run *run, const char *position, int64_t epoch, char *err, size_t errlen) {
    char *cursors = gather_positions(run, position);
    if (run->rank != 0) return 0;
    if (bcos_params_check_finite(run->trained, err, errlen) != 0) {
        free(cursors);
        return -1; /* weights holding a NaN or an infinity are never saved */
    }
    train_file weights;
    optimizer_file optimizer;
    run->kind->weights_make(run, &weights);
    optimizer_file_make(&optimizer, run);
    bcos_ckpt_file files[2] = {{run->kind->weights_file, weights.entries, weights.count, weights.meta, weights.n_meta},
                               {"optimizer", optimizer.entries, optimizer.count, optimizer.meta, 6}};
    uint8_t blob[RNG_BYTES];
    rng_blob(run, epoch, blob);
    bcos_ckpt_state state = {run->step, epoch, run->samples_seen, run->world, cursors, blob, sizeof blob};
    bcos_ckpt_retention retention = {run->cfg->keep_last, run->cfg->keep_every};
    int rc = bcos_store_checkpoint_commit(run->store, run->run_id, &state, files, 2, &retention, NULL, err, errlen);
    free(cursors);
    optimizer_file_free(run, &optimizer);
    run->kind->weights_free(&weights);
    return rc;
}

/* The state a checkpoint records must be one this run can go on from. */
static int check_state(const train_run *run, const bcos_checkpoint *c, char *err, size_t errlen) {
    const uint8_t *blob = c->rng_state;
    if (c->world_size < 1)
        snprintf(err, errlen, "the checkpoint at step %lld was written by %d ranks", (long long)c->step, c->world_size);
    else if (c->rng_bytes != RNG_BYTES || memcmp(blob, RNG_TAG, 8) != 0)
        snprintf(err, errlen, "the checkpoint at step %lld has no %s RNG state", (long long)c->step, run->kind->name);
    else if (get_u64(blob + 8) != (uint64_t)run->cfg->seed || get_u64(blob + 24) != (uint64_t)c->samples_seen ||
             c->step > run->cfg->steps)
        snprintf(err, errlen, "the checkpoint at step %lld does not fit this job (seed, samples seen or steps)",
                 (long long)c->step);
    else
        return 0;
    return -1;
}

/* The checkpoint's file `name` into the run: the weights file into the weights, "optimizer" into
 * Adam's m, v and step counter. Returns 0, or -1 with err naming the file. */
static int read_file(train_run *run, const bcos_checkpoint *c, const char *name, char *err, size_t errlen) {
    const char *path = bcos_checkpoint_file(c, name);
    if (!path) return bcos_error(err, errlen, run->cfg->run, "the checkpoint at step %lld has no '%s' file",
                                 (long long)c->step, name);
    bcos_safetensors st;
    if (bcos_st_open(&st, path, err, errlen) != 0) return -1;
    char why[BCOS_ERRLEN];
    int rc;
    if (strcmp(name, run->kind->weights_file) == 0) {
        rc = run->kind->tensors_read(run, &st, "", run->trained->data, why, sizeof why);
        if (rc == 0 && run->kind->kept_read) rc = run->kind->kept_read(run, &st, why, sizeof why);
    } else {
        const char *step = bcos_st_meta_get(&st, ADAM_STEP_KEY);
        rc = run->kind->tensors_read(run, &st, M_PREFIX, run->opt.m, why, sizeof why);
        if (rc == 0) rc = run->kind->tensors_read(run, &st, V_PREFIX, run->opt.v, why, sizeof why);
        if (rc == 0 && !step) rc = -1, snprintf(why, sizeof why, "no '%s' in the metadata", ADAM_STEP_KEY);
        if (rc == 0) run->opt.step = strtoll(step, NULL, 10);
    }
    if (rc != 0) bcos_error(err, errlen, path, "%s", why);
    bcos_st_close(&st);
    return rc;
}

/* Rank 0's checkpoint record to every rank: the state on all; the files stay rank 0's. */
static void share_record(train_run *run, bcos_checkpoint *c) {
    int64_t fields[5] = {c->id, c->step, c->epoch, c->samples_seen, c->world_size};
    bcos_world_bcast(fields, sizeof fields);
    char *cursors = bcos_world_bcast_text(c->data_cursors);
    int64_t rng_bytes = (int64_t)c->rng_bytes;
    bcos_world_bcast(&rng_bytes, sizeof rng_bytes);
    if (run->rank == 0) {
        free(cursors);
    } else {
        *c = (bcos_checkpoint){.id = fields[0], .step = fields[1], .epoch = fields[2], .samples_seen = fields[3],
                               .world_size = (int)fields[4], .data_cursors = cursors,
                               .rng_state = xmalloc((size_t)rng_bytes + 1), .rng_bytes = (size_t)rng_bytes};
    }
    bcos_world_bcast(c->rng_state, (size_t)rng_bytes);
}

/* Rank 0's weights (and what is kept with them), Adam moments and step counter to the other ranks. */
static void share_tensors(train_run *run) {
    size_t n = run->trained->total;
    bcos_world_bcast(run->trained->data, n * sizeof(float));
    if (run->kept && run->kept->total) bcos_world_bcast(run->kept->data, run->kept->total * sizeof(float));
    bcos_world_bcast(run->opt.m, n * sizeof(float));
    bcos_world_bcast(run->opt.v, n * sizeof(float));
    bcos_world_bcast(&run->opt.step, sizeof run->opt.step);
}

int train_checkpoint_restore(train_run *run, bcos_checkpoint *c, char *err, size_t errlen) {
    share_record(run, c);
    if (check_state(run, c, err, errlen) != 0) return -1;
    int read = run->rank != 0 || (read_file(run, c, run->kind->weights_file, err, errlen) == 0 &&
                                read_file(run, c, "optimizer", err, errlen) == 0);
    if (!read) return -1; /* rank 0 alone: the caller aborts the world */
    share_tensors(run);
    run->step = c->step;
    run->samples_seen = c->samples_seen;
    /* Adam counts the steps it applied: the others were skipped */
    run->skipped_steps = c->step - run->opt.step;
    return 0;
}
