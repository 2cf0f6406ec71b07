/* `bcos weights fetch URL --sha256 HEX [--out FILE]` against the in-process test server: the file
 * arrives byte for byte and its path is printed; a connection dropped mid-body is resumed with Range;
 * a verified file already there is not downloaded again (no request), one that differs is replaced;
 * a wrong checksum or a 404 fails in one line and leaves nothing under the final name, nor a
 * partial file; a download that gives up, or a process killed mid-body, keeps FILE.part, and the
 * next command fetches only the rest (a FILE.part longer than the file starts afresh); two commands
 * of one file at once fetch it once; the default path is the cache's weights/HEX/NAME
 * ($BCOS_CACHE_DIR, $XDG_CACHE_HOME/bcos, ~/.cache/bcos); a bad --sha256 or URL is refused. */
#include "bcos/check.h"
#include "bcos/paths.h"
#include "bcos/sha256.h"
#include "support/http_server.h"
#include "support/temp_tree.h"
#include "test.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* "N kept from an earlier try" and "M bytes fetched" in the last command's log. */
static int reported(long kept, long fetched) {
    char a[64], b[64];
    snprintf(a, sizeof a, "%ld kept from an earlier try", kept);
    snprintf(b, sizeof b, "; %ld bytes fetched", fetched);
    return strstr(g_err, a) && strstr(g_err, b);
}

static void test_resume_across_commands(void) {
    char args[512], path[300], part[310];
    snprintf(path, sizeof path, "%s/resume/w.safetensors", g_dir);
    snprintf(part, sizeof part, "%s.part", path);
    snprintf(args, sizeof args, "http://127.0.0.1:%d/w.safetensors --sha256 %s --out %s", hs_port(g_server), g_hex, path);
    long half = FILE_BYTES / 2;

    /* dropped at half, then 404: it gives up with the first half kept */
    hs_add_fault(g_server, &(hs_fault){.kind = HS_DROP, .path = "/w.safetensors", .times = 1, .offset = half});
    hs_add_fault(g_server, &(hs_fault){.kind = HS_STATUS, .path = "/w.safetensors", .after = 1, .status = 404});
    CHECK(fetch(args) != 0);
    hs_clear_faults(g_server);
    CHECK_MSG(strstr(g_err, "404 (not retried") && strstr(g_err, "kept in") && strstr(g_err, part),
              "stderr: %s", g_err);
    CHECK(access(path, F_OK) != 0 && file_size(part) == half);
    CHECK_MSG(fetch(args) == 0 && reported(half, FILE_BYTES - half), "stderr: %s", g_err);
    CHECK(holds_the_file(path) && access(part, F_OK) != 0);
    unlink(path);

    /* killed while the server stalls at half */
    hs_add_fault(g_server, &(hs_fault){.kind = HS_STALL, .path = "/w.safetensors", .times = 1, .offset = half,
                                       .stall_ms = 30000});
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execl(getenv("BCOS_BIN"), "bcos", "weights", "fetch", strtok(args, " "), "--sha256", g_hex, "--out", path,
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600 && file_size(part) < half; i++) usleep(50000);
    CHECK(file_size(part) == half);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    hs_clear_faults(g_server);
    snprintf(args, sizeof args, "http://127.0.0.1:%d/w.safetensors --sha256 %s --out %s", hs_port(g_server), g_hex, path);
    CHECK_MSG(fetch(args) == 0 && reported(half, FILE_BYTES - half), "stderr: %s", g_err);
    CHECK(holds_the_file(path) && access(part, F_OK) != 0);
    unlink(path);

    /* a FILE.part longer than the file (another file was at the URL): the server answers 416 to its
     * Range, and the download starts afresh */
    char *longer = xcalloc(1, FILE_BYTES + 100);
    FILE *f = xfopen(part, "wb");
    fwrite(longer, 1, FILE_BYTES + 100, f);
    xfclose(f);
    free(longer);
    CHECK_MSG(fetch(args) == 0 && reported(0, FILE_BYTES), "stderr: %s", g_err);
    CHECK(holds_the_file(path) && access(part, F_OK) != 0);
}

/* Two commands of one file at once: one fetches it (the server stalls it a moment), the other waits
 * for its lock and finds it in place; both print the path. */
static void test_two_at_once(void) {
    char cmd[2048], path[300], out[2][320];
    snprintf(path, sizeof path, "%s/twice/w.safetensors", g_dir);
    hs_add_fault(g_server, &(hs_fault){.kind = HS_STALL, .path = "/w.safetensors", .times = 1, .offset = FILE_BYTES / 3,
                                       .stall_ms = 1000});
    long before = hs_requests(g_server);
    for (int i = 0; i < 2; i++) snprintf(out[i], sizeof out[i], "%s/twice%d.txt", g_dir, i);
    snprintf(cmd, sizeof cmd,
             "B='%s'; U=http://127.0.0.1:%d/w.safetensors; $B weights fetch $U --sha256 %s --out %s > %s 2>&1 &"
             " $B weights fetch $U --sha256 %s --out %s > %s 2>&1; a=$?; wait $!; exit $((a + $?))",
             getenv("BCOS_BIN"), hs_port(g_server), g_hex, path, out[0], g_hex, path, out[1]);
    int status = system(cmd);
    hs_clear_faults(g_server);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(holds_the_file(path));
    CHECK_MSG(hs_requests(g_server) - before == 2, "%ld requests", hs_requests(g_server) - before);
    char *logs[2] = {bcos_read_file(out[0], NULL), bcos_read_file(out[1], NULL)};
    CHECK(logs[0] && logs[1] && strstr(logs[0], path) && strstr(logs[1], path));
    CHECK_MSG(logs[0] && logs[1] && (strstr(logs[0], "not downloaded again") != NULL) + (strstr(logs[1], "not downloaded again") != NULL) == 1,
              "%s---\n%s", logs[0], logs[1]);
    free(logs[0]);
    free(logs[1]);
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
    test_resume_across_commands();
    test_two_at_once();
    test_default_path();
    hs_stop(g_server);
    tt_remove_tree(g_dir);
    free(g_bytes);
    return test_summary("test_weights_fetch");
}
