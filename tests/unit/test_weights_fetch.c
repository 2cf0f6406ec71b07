/* `bcos weights fetch URL --sha256 HEX [--out FILE]` against the in-process test server: the file
 * arrives byte for byte and its path is printed; a connection dropped mid-body is resumed with Range;
 * a verified file already there is not downloaded again (no request), one that differs is replaced;
 * a wrong checksum or a 404 fails in one line and leaves nothing under the final name, nor a
 * temporary file; the default path is the cache's weights/HEX/NAME ($BCOS_CACHE_DIR,
 * $XDG_CACHE_HOME/bcos, ~/.cache/bcos); a bad --sha256 or URL is refused. */
#include "bcos/check.h"
#include "bcos/paths.h"
#include "bcos/sha256.h"
#include "support/http_server.h"
#include "support/temp_tree.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_BYTES (3L << 20) /* more than the stream's 1 MiB buffer */

static char g_dir[] = "/tmp/bcos_test_weights_fetch_XXXXXX";
static hs_server *g_server;
static char *g_bytes;
static char g_hex[BCOS_SHA256_HEX];
static char g_out[4096], g_err[4096]; /* the last command's stdout and stderr */

/* Runs `bcos weights fetch ARGS`; its exit status, its output in g_out and g_err. */
static int fetch(const char *args) {
    char cmd[2048], path[256];
    snprintf(cmd, sizeof cmd, "'%s' weights fetch %s > %s/out.txt 2> %s/err.txt", getenv("BCOS_BIN"), args, g_dir,
             g_dir);
    int status = system(cmd);
    const char *names[] = {"out.txt", "err.txt"};
    char *into[] = {g_out, g_err};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
        char *text = bcos_read_file(path, NULL);
        snprintf(into[i], sizeof g_out, "%s", text ? text : "");
        free(text);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Whether path holds the served file, byte for byte. */
static int holds_the_file(const char *path) {
    size_t size = 0;
    char *got = bcos_read_file(path, &size);
    int same = got && size == (size_t)FILE_BYTES && memcmp(got, g_bytes, size) == 0;
    free(got);
    return same;
}

static int one_line(const char *text) { return strchr(text, '\n') == text + strlen(text) - 1; }

static void test_download_and_resume(void) {
    char args[512], path[256], printed[300];
    snprintf(path, sizeof path, "%s/out/a/w.safetensors", g_dir);
    snprintf(args, sizeof args, "http://127.0.0.1:%d/w.safetensors --sha256 %s --out %s", hs_port(g_server), g_hex, path);
    snprintf(printed, sizeof printed, "%s\n", path);
    CHECK_MSG(fetch(args) == 0, "%s", g_err);
    CHECK(holds_the_file(path));
    CHECK_MSG(strcmp(g_out, printed) == 0, "stdout: %s", g_out);
    unlink(path);

    hs_add_fault(g_server, &(hs_fault){.kind = HS_DROP, .path = "/w.safetensors", .times = 1, .offset = FILE_BYTES / 2});
    long before = hs_requests(g_server);
    CHECK_MSG(fetch(args) == 0, "%s", g_err);
    hs_clear_faults(g_server);
    CHECK(holds_the_file(path));
    CHECK(hs_requests(g_server) - before == 2);
    CHECK_MSG(strstr(g_err, "1 resumed with Range"), "stderr: %s", g_err);

    before = hs_requests(g_server);
    CHECK_MSG(fetch(args) == 0 && strcmp(g_out, printed) == 0, "%s", g_err);
    CHECK(hs_requests(g_server) == before);
    CHECK_MSG(strstr(g_err, "not downloaded again"), "stderr: %s", g_err);

    FILE *f = xfopen(path, "wb");
    fputs("an older file", f);
    xfclose(f);
    CHECK_MSG(fetch(args) == 0, "%s", g_err);
    CHECK(holds_the_file(path));
    CHECK(hs_requests(g_server) == before + 1);
}

static void test_failures_leave_nothing(void) {
    char args[512], path[300], dir[256], wrong[BCOS_SHA256_HEX];
    snprintf(dir, sizeof dir, "%s/fail", g_dir);
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    bcos_sha256_hex("something else", 14, wrong);
    snprintf(args, sizeof args, "http://127.0.0.1:%d/w.safetensors --sha256 %s --out %s", hs_port(g_server), wrong, path);
    CHECK(fetch(args) != 0);
    CHECK_MSG(one_line(g_err) && strstr(g_err, g_hex) && strstr(g_err, wrong) && strstr(g_err, "/w.safetensors"),
              "stderr: %s", g_err);
    CHECK(access(path, F_OK) != 0);
    CHECK(tt_count_prefixed(dir, "w.safetensors") == 0);

    hs_add_fault(g_server, &(hs_fault){.kind = HS_STATUS, .path = "/w.safetensors", .status = 404});
    snprintf(args, sizeof args, "http://127.0.0.1:%d/w.safetensors --sha256 %s --out %s", hs_port(g_server), g_hex, path);
    CHECK(fetch(args) != 0);
    hs_clear_faults(g_server);
    CHECK_MSG(one_line(g_err) && strstr(g_err, "404") && strstr(g_err, "/w.safetensors"), "stderr: %s", g_err);
    CHECK(access(path, F_OK) != 0);
    CHECK(tt_count_prefixed(dir, "w.safetensors") == 0);

    CHECK(fetch("http://127.0.0.1:1/w.safetensors --sha256 abc") != 0);
    CHECK_MSG(one_line(g_err) && strstr(g_err, "--sha256 takes 64 hex digits, not 'abc'"), "stderr: %s", g_err);
    snprintf(args, sizeof args, "%s/w.safetensors --sha256 %s", g_dir, g_hex);
    CHECK(fetch(args) != 0);
    CHECK_MSG(one_line(g_err) && strstr(g_err, "is not an http:// or https:// URL"), "stderr: %s", g_err);
    snprintf(args, sizeof args, "http://127.0.0.1:%d/ --sha256 %s", hs_port(g_server), g_hex);
    CHECK(fetch(args) != 0);
    CHECK_MSG(one_line(g_err) && strstr(g_err, "has no file name at its end"), "stderr: %s", g_err);
}

/* Without --out: $XDG_CACHE_HOME/bcos/weights/HEX/w.safetensors, then ~/.cache/bcos/... */
static void test_default_path(void) {
    char args[512], xdg[256], home[256], want[512];
    snprintf(args, sizeof args, "'http://127.0.0.1:%d/w.safetensors?download=true' --sha256 %s", hs_port(g_server),
             g_hex);
    unsetenv("BCOS_CACHE_DIR");
    snprintf(xdg, sizeof xdg, "%s/xdg", g_dir);
    setenv("XDG_CACHE_HOME", xdg, 1);
    snprintf(want, sizeof want, "%s/bcos/weights/%s/w.safetensors\n", xdg, g_hex);
    CHECK_MSG(fetch(args) == 0 && strcmp(g_out, want) == 0, "stdout %s, stderr %s", g_out, g_err);
    want[strlen(want) - 1] = '\0';
    CHECK(holds_the_file(want));
    unsetenv("XDG_CACHE_HOME");
    snprintf(home, sizeof home, "%s/home", g_dir);
    setenv("HOME", home, 1);
    snprintf(want, sizeof want, "%s/.cache/bcos/weights/%s/w.safetensors\n", home, g_hex);
    CHECK_MSG(fetch(args) == 0 && strcmp(g_out, want) == 0, "stdout %s, stderr %s", g_out, g_err);
}

int main(void) {
    CHECK(mkdtemp(g_dir) != NULL);
    g_bytes = xmalloc(FILE_BYTES);
    for (long i = 0; i < FILE_BYTES; i++) g_bytes[i] = (char)((i * 2654435761u) >> 13);
    bcos_sha256_hex(g_bytes, FILE_BYTES, g_hex);
    char served[256], err[BCOS_ERRLEN];
    snprintf(served, sizeof served, "%s/srv/w.safetensors", g_dir);
    CHECK(bcos_make_parent_dirs(served, err, sizeof err) == 0 && bcos_write_file_atomic(served, g_bytes, FILE_BYTES, err, sizeof err) == 0);
    snprintf(served, sizeof served, "%s/srv", g_dir);
    g_server = hs_start(served, 0, 1);
    test_download_and_resume();
    test_failures_leave_nothing();
    test_default_path();
    hs_stop(g_server);
    tt_remove_tree(g_dir);
    free(g_bytes);
    return test_summary("test_weights_fetch");
}
