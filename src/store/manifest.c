/* The manifest of a checkpoint folder, "manifest.json": everything the store records about the
 * checkpoint (its run's name, job text and sha256, the checkpoint's row and each file's path, size
 * and sha256), written atomically as the folder's last file, inside the transaction that records
 * the checkpoint and before its commit. So a folder without a valid manifest provably never
 * committed, and one with a manifest holds a checkpoint that `bcos store recover` can record again
 * when the store lost it. JSON is made and read by SQLite's own json functions. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "bcos/paths.h"

#define MANIFEST_FORMAT "bcos-checkpoint-manifest"
#define MANIFEST_VERSION 1

char *store_manifest_json(bcos_store *s, int64_t ckpt_id) {
    sqlite3_stmt *st = store_prepare(
        s, "SELECT json_object('format', '" MANIFEST_FORMAT "', 'version', ?2, 'run', r.name, 'run_id', r.id,"
           " 'job_sha256', r.job_sha256, 'job_text', r.job_text, 'code_version', r.code_version,"
           " 'directory', c.directory, 'step', c.step, 'epoch', c.epoch, 'samples_seen', c.samples_seen,"
           " 'world_size', c.world_size, 'data_cursors', json(c.data_cursors), 'rng_state', hex(c.rng_state),"
           " 'files', (SELECT json_group_array(json_object('name', f.name, 'path', f.path, 'bytes', f.bytes,"
           " 'sha256', f.sha256)) FROM checkpoint_files f WHERE f.checkpoint_id = c.id))"
           " FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE c.id = ?1");
    store_bind_int64(s, st, 1, ckpt_id);
    store_bind_int64(s, st, 2, MANIFEST_VERSION);
    BCOS_CHECK(store_step(s, st), "no checkpoint with this id");
    char *json = store_column_strdup(st, 0);
    store_finalize(s, st);
    return json;
}

char *store_manifest_path(const bcos_store *s, const char *rel_folder) {
    return bcos_strfmt("%s/%s/%s", s->checkpoint_root, rel_folder, STORE_MANIFEST_NAME);
}

int store_manifest_write(bcos_store *s, int64_t ckpt_id, const char *rel_folder, char *err, size_t errlen) {
    char *json = store_manifest_json(s, ckpt_id), *path = store_manifest_path(s, rel_folder);
    int status = bcos_write_file_atomic(path, json, strlen(json), err, errlen);
    free(path);
    free(json);
    return status;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Hex text into m->c.rng_state; 0, or -1 when it is not hex. */
static int decode_rng(store_manifest *m, const char *hex) {
    size_t n = strlen(hex);
    if (n % 2) return -1;
    m->c.rng_bytes = n / 2;
    m->c.rng_state = xmalloc(m->c.rng_bytes + 1);
    for (size_t i = 0; i < m->c.rng_bytes; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        ((unsigned char *)m->c.rng_state)[i] = (unsigned char)(hi * 16 + lo);
    }
    return 0;
}

/* The top-level fields; 0, or -1 when one is missing or of the wrong type. */
static int read_fields(bcos_store *s, const char *json, store_manifest *m) {
    sqlite3_stmt *st = store_prepare(
        s, "SELECT json_extract(?1, '$.format') = '" MANIFEST_FORMAT "' AND json_extract(?1, '$.version') = ?2"
           " AND json_type(?1, '$.run') = 'text' AND json_type(?1, '$.run_id') = 'integer'"
           " AND json_type(?1, '$.job_sha256') = 'text' AND json_type(?1, '$.job_text') = 'text'"
           " AND json_type(?1, '$.code_version') = 'text' AND json_type(?1, '$.directory') = 'text'"
           " AND json_type(?1, '$.step') = 'integer' AND json_type(?1, '$.epoch') = 'integer'"
           " AND json_type(?1, '$.samples_seen') = 'integer' AND json_type(?1, '$.world_size') = 'integer'"
           " AND json_type(?1, '$.data_cursors') = 'array' AND json_type(?1, '$.rng_state') = 'text'"
           " AND json_type(?1, '$.files') = 'array' AND json_array_length(?1, '$.files') > 0,"
           " json_extract(?1, '$.run'), json_extract(?1, '$.run_id'), json_extract(?1, '$.job_sha256'),"
           " json_extract(?1, '$.job_text'), json_extract(?1, '$.code_version'), json_extract(?1, '$.directory'),"
           " json_extract(?1, '$.step'), json_extract(?1, '$.epoch'), json_extract(?1, '$.samples_seen'),"
           " json_extract(?1, '$.world_size'), json_extract(?1, '$.data_cursors'), json_extract(?1, '$.rng_state')");
    store_bind_text(s, st, 1, json);
    store_bind_int64(s, st, 2, MANIFEST_VERSION);
    store_step(s, st);
    int ok = sqlite3_column_int(st, 0);
    if (ok) {
        m->run = store_column_strdup(st, 1);
        m->c.run_id = sqlite3_column_int64(st, 2);
        m->job_sha256 = store_column_strdup(st, 3);
        m->job_text = store_column_strdup(st, 4);
        m->code_version = store_column_strdup(st, 5);
        m->directory = store_column_strdup(st, 6);
        m->c.step = sqlite3_column_int64(st, 7);
        m->c.epoch = sqlite3_column_int64(st, 8);
        m->c.samples_seen = sqlite3_column_int64(st, 9);
        m->c.world_size = sqlite3_column_int(st, 10);
        m->c.data_cursors = store_column_strdup(st, 11);
        ok = decode_rng(m, (const char *)sqlite3_column_text(st, 12)) == 0;
    }
    store_finalize(s, st);
    return ok ? 0 : -1;
}

/* The files, each with its name, root-relative path inside the manifest's folder, size and sha256. */
static int read_files(bcos_store *s, const char *json, store_manifest *m) {
    sqlite3_stmt *st = store_prepare(
        s, "SELECT json_type(value, '$.name') = 'text' AND json_type(value, '$.path') = 'text'"
           " AND json_type(value, '$.bytes') = 'integer' AND length(json_extract(value, '$.sha256')) = 64,"
           " json_extract(value, '$.name'), json_extract(value, '$.path'), json_extract(value, '$.bytes'),"
           " json_extract(value, '$.sha256') FROM json_each(?1, '$.files')");
    store_bind_text(s, st, 1, json);
    int ok = 1;
    size_t prefix = strlen(m->directory);
    while (store_step(s, st)) {
        const char *path = (const char *)sqlite3_column_text(st, 2);
        if (!sqlite3_column_int(st, 0) || strncmp(path, m->directory, prefix) != 0 || path[prefix] != '/' ||
            strchr(path + prefix + 1, '/')) {
            ok = 0;
            continue;
        }
        int i = m->c.n_files++;
        m->c.file_names = xrealloc(m->c.file_names, (size_t)m->c.n_files * sizeof *m->c.file_names);
        m->c.file_paths = xrealloc(m->c.file_paths, (size_t)m->c.n_files * sizeof *m->c.file_paths);
        m->c.file_sha256s = xrealloc(m->c.file_sha256s, (size_t)m->c.n_files * sizeof *m->c.file_sha256s);
        m->file_rel_paths = xrealloc(m->file_rel_paths, (size_t)m->c.n_files * sizeof *m->file_rel_paths);
        m->file_bytes = xrealloc(m->file_bytes, (size_t)m->c.n_files * sizeof *m->file_bytes);
        m->c.file_names[i] = store_column_strdup(st, 1);
        m->file_rel_paths[i] = xstrdup(path);
        m->c.file_paths[i] = bcos_strfmt("%s/%s", s->checkpoint_root, path);
        m->file_bytes[i] = sqlite3_column_int64(st, 3);
        m->c.file_sha256s[i] = store_column_strdup(st, 4);
    }
    store_finalize(s, st);
    return ok ? 0 : -1;
}

int store_manifest_read(bcos_store *s, const char *rel_folder, store_manifest *m) {
    memset(m, 0, sizeof *m);
    char *path = store_manifest_path(s, rel_folder);
    size_t len;
    char *json = bcos_read_file(path, &len);
    free(path);
    if (!json) return -1;
    sqlite3_stmt *st = store_prepare(s, "SELECT json_valid(?1)");
    store_bind_text(s, st, 1, json);
    store_step(s, st);
    int valid = sqlite3_column_int(st, 0) && strlen(json) == len;
    store_finalize(s, st);
    int status = valid && read_fields(s, json, m) == 0 && strcmp(m->directory, rel_folder) == 0 &&
                         read_files(s, json, m) == 0 ? 0 : -1;
    free(json);
    if (status != 0) store_manifest_free(m);
    return status;
}

int store_manifest_recorded(bcos_store *s, const store_manifest *m) {
    sqlite3_stmt *st = store_prepare(
        s, "SELECT EXISTS (SELECT 1 FROM checkpoints c JOIN runs r ON r.id = c.run_id"
           " WHERE c.run_id = ?1 AND c.directory = ?2 AND r.name = ?3)"
           " OR EXISTS (SELECT 1 FROM checkpoint_attempts a JOIN runs r ON r.id = a.run_id"
           " WHERE a.run_id = ?1 AND a.directory = ?2 AND r.name = ?3)");
    store_bind_int64(s, st, 1, m->c.run_id);
    store_bind_text(s, st, 2, m->directory);
    store_bind_text(s, st, 3, m->run);
    store_step(s, st);
    int known = sqlite3_column_int(st, 0);
    store_finalize(s, st);
    return known;
}

/* A bcos_checkpoint (store.h) is what a manifest describes: its destructor lives with it. */
void bcos_checkpoint_free(bcos_checkpoint *c) {
    for (int i = 0; i < c->n_files; i++) {
        free(c->file_names[i]);
        free(c->file_paths[i]);
        free(c->file_sha256s[i]);
    }
    free(c->file_names);
    free(c->file_paths);
    free(c->file_sha256s);
    free(c->data_cursors);
    free(c->rng_state);
    memset(c, 0, sizeof *c);
}

void store_manifest_free(store_manifest *m) {
    for (int i = 0; i < m->c.n_files; i++) free(m->file_rel_paths[i]);
    free(m->file_rel_paths);
    free(m->file_bytes);
    free(m->run);
    free(m->job_sha256);
    free(m->job_text);
    free(m->code_version);
    free(m->directory);
    bcos_checkpoint_free(&m->c);
    memset(m, 0, sizeof *m);
}
