/* The progress line: into a file, plain log lines only when the caller asks (with count, share,
 * rate and ETA; the ETA from the share of the work when the count is unknown; no repeated final
 * last line); on a terminal (a pseudo-terminal here) one line rewritten in place, cleared by a log line
 * and ended by the final one; durations for people. */
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/progress.h"
#include "test.h"

static int count(const char *text, const char *needle) {
    int n = 0;
    for (const char *c = text; (c = strstr(c, needle)) != NULL; c += strlen(needle)) n++;
    return n;
}

/* Run `work` with stderr going to fd; returns what was written when fd is a file (else NULL). */
static void with_stderr(int fd, void (*work)(void)) {
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    BCOS_CHECK(saved >= 0 && dup2(fd, STDERR_FILENO) >= 0, "cannot redirect stderr");
    work();
    fflush(stderr);
    BCOS_CHECK(dup2(saved, STDERR_FILENO) >= 0, "cannot restore stderr");
    close(saved);
}

static void logged_work(void) {
    bcos_progress p;
    bcos_progress_start_at(&p, "step", 2, 10);
    for (long step = 3; step <= 10; step++) bcos_progress_update(&p, step, "loss 0.5", step % 5 == 0);
    bcos_progress_finish(&p, "loss 0.5"); /* step 10's line said it already */
    bcos_progress_start(&p, "tiny8: images", 0);
    bcos_progress_set_fraction(&p, 0.25);
    bcos_progress_update(&p, 40, "(shard 2/4)", 1);
    bcos_progress_finish(&p, NULL); /* the last line said it already */
}

static void test_log_lines(void) {
    char path[] = "/tmp/bcos_test_progress_XXXXXX";
    int fd = mkstemp(path);
    BCOS_CHECK(fd >= 0, "cannot create a temporary file");
    with_stderr(fd, logged_work);
    close(fd);
    char *text = bcos_read_file(path, NULL);
    unlink(path);
    CHECK_MSG(count(text, "\n") == 3, "three lines: %s", text);
    CHECK(count(text, "\r") == 0 && count(text, "\033") == 0);
    CHECK(strstr(text, "[info] step 5/10 loss 0.5 (50%, ") != NULL);
    CHECK(strstr(text, "[info] step 10/10 loss 0.5 (100%, ") != NULL && strstr(text, "ETA 0s)\n") != NULL);
    CHECK(strstr(text, "step 9/10") == NULL);
    /* an unknown count: the rate, and the ETA from the share done */
    CHECK(strstr(text, "[info] tiny8: images 40 (shard 2/4) (") != NULL);
    CHECK(count(text, ", ETA ") == 3 && count(text, "took") == 0);
    free(text);
}

static void terminal_work(void) {
    bcos_progress p;
    bcos_progress_start(&p, "writing samples", 4);
    for (int i = 0; i < 4; i++) {
        usleep(220 * 1000); /* past the 0.2 s between refreshes */
        bcos_progress_step(&p, 1, "shard-000.tar");
        if (i == 1) bcos_info("a log line");
    }
    bcos_progress_finish(&p, NULL);
}

static void test_terminal(void) {
    int master, slave;
    BCOS_CHECK(openpty(&master, &slave, NULL, NULL, NULL) == 0, "openpty");
    with_stderr(slave, terminal_work);
    close(slave);
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(master, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)n;
    buf[len] = '\0';
    close(master);
    /* four refreshes, the log line's clearing, the final line: each starts by clearing the line */
    CHECK_MSG(count(buf, "\r\033[K") == 6, "%d clears: %s", count(buf, "\r\033[K"), buf);
    CHECK(strstr(buf, "\r\033[Kwriting samples 2/4 shard-000.tar (50%, ") != NULL);
    CHECK(strstr(buf, "\r\033[K[info] a log line") != NULL);
    CHECK(strstr(buf, "writing samples 4/4 (100%, ") != NULL && strstr(buf, "took 1s)") != NULL);
    /* lines end only after the log line and the final line (a terminal writes "\r\n") */
    CHECK_MSG(count(buf, "\n") == 2, "%s", buf);
}

static void test_durations(void) {
    char buf[32];
    bcos_format_duration(buf, sizeof buf, 3725);
    CHECK(strcmp(buf, "1h02m") == 0);
    bcos_format_duration(buf, sizeof buf, 185);
    CHECK(strcmp(buf, "3m05s") == 0);
    bcos_format_duration(buf, sizeof buf, 42.4);
    CHECK(strcmp(buf, "42s") == 0);
    bcos_format_duration(buf, sizeof buf, NAN);
    CHECK(strcmp(buf, "-") == 0);
    bcos_format_duration(buf, sizeof buf, -1);
    CHECK(strcmp(buf, "-") == 0);
}

int main(void) {
    test_log_lines();
    test_terminal();
    test_durations();
    return test_summary("test_progress");
}
