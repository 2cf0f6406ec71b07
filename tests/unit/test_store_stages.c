/* The stages table of pipelines (store.h): a stage never started has no row; begin records the job
 * and the run as running, end how it ended; beginning again (a resume, or a job run anew) replaces
 * the row; stages of other pipelines are apart; the rows survive closing and reopening the store, and
 * a reader sees them while the writer is open. */
#include "store_helpers.h"

static void test_stage_rows(const char *dir) {
    char *db = helper_path(dir, "stages.db");
    const char *sha1 = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *sha2 = "2222222222222222222222222222222222222222222222222222222222222222";
    bcos_store *s = helper_open(db);
    bcos_stage_record r;
    CHECK(bcos_store_stage_get(s, "p", "student", &r) == 0);
    bcos_store_stage_begin(s, "p", "student", "distill", sha1, "student");
    CHECK(bcos_store_stage_get(s, "p", "student", &r) == 1);
    CHECK(r.status == BCOS_STAGE_RUNNING && r.exit_status == -1 && r.finished[0] == '\0' && r.started[0] != '\0');
    CHECK(strcmp(r.kind, "distill") == 0 && strcmp(r.job_sha256, sha1) == 0 && strcmp(r.run, "student") == 0);
    bcos_store_stage_end(s, "p", "student", BCOS_STAGE_INTERRUPTED, 75);
    CHECK(bcos_store_stage_get(s, "p", "student", &r) == 1 && r.status == BCOS_STAGE_INTERRUPTED && r.exit_status == 75);
    CHECK(r.finished[0] != '\0' && strcmp(r.finished, r.started) >= 0);
    /* another pipeline's stage of the same name is its own */
    bcos_store_stage_begin(s, "q", "student", "explain", sha2, NULL);
    CHECK(bcos_store_stage_get(s, "q", "student", &r) == 1 && r.run[0] == '\0' && strcmp(r.kind, "explain") == 0);
    CHECK(bcos_store_stage_get(s, "p", "student", &r) == 1 && r.status == BCOS_STAGE_INTERRUPTED);
    /* a reader sees the rows while the writer is open */
    bcos_store_options ro = {.read_only = 1};
    bcos_store *reader;
    char err[BCOS_ERRLEN];
    CHECK(bcos_store_open(db, &ro, &reader, err, sizeof err) == 0);
    CHECK(bcos_store_stage_get(reader, "p", "student", &r) == 1 && r.exit_status == 75);
    bcos_store_close(reader);
    /* resumed: running again, then done */
    bcos_store_stage_begin(s, "p", "student", "distill", sha1, "student");
    CHECK(bcos_store_stage_get(s, "p", "student", &r) == 1 && r.status == BCOS_STAGE_RUNNING && r.exit_status == -1);
    bcos_store_stage_end(s, "p", "student", BCOS_STAGE_DONE, 0);
    bcos_store_close(s);
    s = helper_open(db);
    CHECK(bcos_store_stage_get(s, "p", "student", &r) == 1 && r.status == BCOS_STAGE_DONE && r.exit_status == 0);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM stages") == 2);
    CHECK(strcmp(bcos_stage_status_name(BCOS_STAGE_INTERRUPTED), "interrupted") == 0);
    bcos_store_close(s);
    free(db);
}

int main(void) {
    char *dir = helper_temp_dir();
    test_stage_rows(dir);
    helper_remove_tree(dir);
    free(dir);
    return test_summary("test_store_stages");
}
