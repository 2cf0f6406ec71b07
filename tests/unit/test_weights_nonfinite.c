/* Non-finite weights, with the real `bcos` ($BCOS_BIN, set by ctest) on copies of the tiny teacher
 * written here with one bad value:
 *  - a NaN in an F32 tensor, and an infinity in a tensor stored as F16 (found after conversion),
 *    are refused at load: by the library, by `bcos encode-image` and by `bcos distill`, in one line
 *    that names the file and the tensor, with a non-zero exit;
 *  - a teacher whose weights are finite but overflow every embedding makes every step non-finite:
 *    the run ends failed (non-zero exit, 'failed' in the store) and saves no student. */
#include "distill_helpers.h"

#include "bcos/clip.h"
#include "test.h"

#define TEACHER "tests/fixtures/clip/tiny_openclip.safetensors"
#define IMAGE "tests/fixtures/image/landscape_1200x800.jpg"

static char g_dir[] = "/tmp/bcos_test_nonfinite_XXXXXX";
static const char *g_bin;

/* A copy of the tiny teacher at dir/file with tensor `name` stored as `dtype`, and `value` written
 * over its element 3 (or every element, when all is set). */
static const char *write_copy(const char *file, const char *name, bcos_dtype dtype, float value, int all) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, file);
    bcos_safetensors st;
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_st_open(&st, TEACHER, err, sizeof err) == 0, err);
    bcos_st_entry *entries = xcalloc((size_t)st.count, sizeof *entries);
    float **data = xcalloc((size_t)st.count, sizeof *data);
    for (int i = 0; i < st.count; i++) {
        const bcos_st_tensor *t = &st.tensors[i];
        data[i] = xmalloc(t->numel * sizeof(float));
        BCOS_CHECK(bcos_st_to_f32(t, data[i], err, sizeof err) == 0, err);
        entries[i] = (bcos_st_entry){t->name, BCOS_F32, t->ndim, t->shape, data[i]};
        if (strcmp(t->name, name) != 0) continue;
        entries[i].dtype = dtype;
        for (size_t k = all ? 0 : 3; k < (all ? t->numel : 4); k++) data[i][k] = value;
    }
    BCOS_CHECK(bcos_st_write(path, entries, st.count, NULL, 0, err, sizeof err) == 0, err);
    for (int i = 0; i < st.count; i++) free(data[i]);
    free(data);
    free(entries);
    bcos_st_close(&st);
    return path;
}

/* Runs `bcos args...`; its exit status, its stderr in *log_text (heap). */
static int run_bcos(const char *const *args, char **log_text) {
    const char *argv[32] = {g_bin};
    int n = 1;
    for (; args[n - 1]; n++) argv[n] = args[n - 1];
    argv[n] = NULL;
    char log[300];
    snprintf(log, sizeof log, "%s/log", g_dir);
    int status = helper_wait(helper_spawn(argv, NULL, log));
    *log_text = helper_read(log, NULL);
    return status;
}

/* The library, encode-image and distill refuse the file in one line naming it and the tensor. */
static void expect_refused(const char *path, const char *tensor, const char *what) {
    bcos_clip m;
    char err[BCOS_ERRLEN] = "";
    int rc = bcos_clip_load_file(&m, path, "bcos-tiny", bcos_backend_cpu(), err, sizeof err);
    if (rc == 0) bcos_clip_free(&m);
    CHECK_MSG(rc == -1 && strstr(err, path) && strstr(err, tensor) && strstr(err, what), "load: %s", err);
    char *log;
    const char *encode[] = {"encode-image", "--weights", path, "--model", "bcos-tiny", IMAGE, NULL};
    int status = run_bcos(encode, &log);
    CHECK_MSG(!helper_exited_with(status, 0) && strstr(log, path) && strstr(log, tensor) && strstr(log, what) &&
                  strchr(log, '\n') == strrchr(log, '\n'),
              "encode-image: %s", log);
    free(log);
    char db[300];
    snprintf(db, sizeof db, "%s/nan.db", g_dir);
    const char *distill[] = {"distill", "jobs/distill-tiny.json", "--teacher", path, "--steps", "2",
                             "--db", db, "--run", "nan", "--out", "", NULL};
    status = run_bcos(distill, &log);
    CHECK_MSG(!helper_exited_with(status, 0) && strstr(log, tensor) && strstr(log, what), "distill: %s", log);
    free(log);
}

static void check_every_step_skipped(void) {
    /* finite, but every embedding overflows: nothing can be trained */
    const char *path = write_copy("huge.safetensors", "visual.proj", BCOS_F32, 3e38f, 1);
    char db[300], out[300], *log;
    snprintf(db, sizeof db, "%s/skip.db", g_dir);
    snprintf(out, sizeof out, "%s/student.safetensors", g_dir);
    const char *distill[] = {"distill", "jobs/distill-tiny.json", "--teacher", path, "--steps", "3", "--holdout", "0",
                             "--db", db, "--run", "skipped", "--out", out, NULL};
    int status = run_bcos(distill, &log);
    CHECK_MSG(!helper_exited_with(status, 0) && strstr(log, "all 3 steps were skipped"), "distill: %s", log);
    free(log);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM runs WHERE name = 'skipped' AND status = 'failed'") == 1);
    CHECK_MSG(access(out, F_OK) != 0, "no student saved");
}

int main(void) {
    g_bin = getenv("BCOS_BIN");
    CHECK_MSG(g_bin != NULL, "BCOS_BIN is not set: run this test through ctest");
    BCOS_CHECK(mkdtemp(g_dir) != NULL, "/tmp is writable");
    if (g_bin) {
        expect_refused(write_copy("nan.safetensors", "visual.transformer.resblocks.1.mlp.c_fc.weight", BCOS_F32, NAN,
                                  0),
                       "visual.transformer.resblocks.1.mlp.c_fc.weight", "a NaN");
        expect_refused(write_copy("inf16.safetensors", "visual.ln_post.weight", BCOS_F16, INFINITY, 0),
                       "visual.ln_post.weight", "an infinity");
        check_every_step_skipped();
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    CHECK(system(cmd) == 0);
    return test_summary("test_weights_nonfinite");
}
