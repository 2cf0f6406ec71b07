/* The `bcos runs` and `bcos checkpoints` listings: each one read transaction, so a run that
 * writes meanwhile is seen at one instant. */
#include "internal.h"

#include <stdlib.h>

/* A column that may be NULL, as text ("-" for NULL). */
static const char *text_or_dash(sqlite3_stmt *st, int col) {
    const unsigned char *text = sqlite3_column_text(st, col);
    return text ? (const char *)text : "-";
}

static void human_bytes(char *buf, size_t len, double bytes) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    for (; bytes >= 1024 && u < 4; u++) bytes /= 1024;
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

void bcos_store_print_runs(bcos_store *s, FILE *out) {
    static const char *const headers[] = {"run", "status", "world", "last step", "checkpoints", "latest checkpoint",
                                          "version", "updated"};
    store_table t;
    store_table_init(&t, 8, headers, "llrrrrll");
    store_begin_read(s);
    sqlite3_stmt *st = store_prepare(
        s, "SELECT r.name, r.status, r.world_size,"
           " (SELECT max(step) FROM metrics m WHERE m.run_id = r.id),"
           " (SELECT count(*) FROM checkpoints c WHERE c.run_id = r.id AND c.state = 'complete'),"
           " (SELECT max(step) FROM checkpoints c WHERE c.run_id = r.id AND c.state = 'complete'),"
           " r.code_version, r.updated_at FROM runs r ORDER BY r.id");
    while (store_step(s, st))
        for (int c = 0; c < 8; c++) store_table_cell(&t, "%s", text_or_dash(st, c));
    store_finalize(s, st);
    store_commit(s);
    if (t.n_cells == 0) fprintf(out, "no runs in %s\n", s->path);
    else store_table_print(&t, out);
    store_table_free(&t);
}

int bcos_store_print_checkpoints(bcos_store *s, const char *run, FILE *out, char *err, size_t errlen) {
    static const char *const headers[] = {"step", "epoch", "samples", "world", "state", "files", "size", "created",
                                          "folder"};
    store_begin_read(s);
    int64_t run_id;
    if (bcos_store_run_find(s, run, &run_id, err, errlen) != 0) {
        store_commit(s);
        return -1;
    }
    store_table t;
    store_table_init(&t, 9, headers, "rrrrlrrll");
    sqlite3_stmt *st = store_prepare(
        s, "SELECT c.step, c.epoch, c.samples_seen, c.world_size, c.state,"
           " (SELECT count(*) FROM checkpoint_files f WHERE f.checkpoint_id = c.id),"
           " (SELECT total(bytes) FROM checkpoint_files f WHERE f.checkpoint_id = c.id),"
           " c.created_at, c.directory FROM checkpoints c WHERE c.run_id = ?1 ORDER BY c.step, c.id");
    store_bind_int64(s, st, 1, run_id);
    while (store_step(s, st)) {
        for (int c = 0; c < 6; c++) store_table_cell(&t, "%s", text_or_dash(st, c));
        char size[32];
        human_bytes(size, sizeof size, sqlite3_column_double(st, 6));
        store_table_cell(&t, "%s", size);
        store_table_cell(&t, "%s", text_or_dash(st, 7));
        store_table_cell(&t, "%s/%s", s->checkpoint_root, text_or_dash(st, 8));
    }
    store_finalize(s, st);
    store_commit(s);
    if (t.n_cells == 0) fprintf(out, "run '%s' has no checkpoints\n", run);
    else store_table_print(&t, out);
    store_table_free(&t);
    return 0;
}
