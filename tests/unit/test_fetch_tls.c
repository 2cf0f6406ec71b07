/* HTTPS shards: a local CA and a server certificate for 127.0.0.1 are made with the openssl
 * command at test time, `openssl s_server -WWW` serves a shard with them, and the fetch must
 * deliver the same samples as the file on disk when given the CA, and refuse the server, without
 * retrying, when not given it or given another CA. */
#include "bcos/samples.h"

#include "bcos/log.h"
#include "support/sample_list.h"
#include "support/tar_build.h"
#include "test.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char g_dir[] = "/tmp/bcos_test_tls_XXXXXX";

/* Runs an openssl command line inside the temporary folder; true when it succeeded. */
static bool openssl(const char *args) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd %s && openssl %s > /dev/null 2>&1", g_dir, args);
    return system(cmd) == 0;
}

/* A CA, a second unrelated CA, and a server certificate for IP 127.0.0.1 signed by the first. */
static bool make_certificates(void) {
    static const char *const steps[] = {
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 "
        "-subj /CN=bcos-test-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other.key -out other.pem -days 2 "
        "-subj /CN=bcos-other-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
        "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr "
        "-subj /CN=127.0.0.1",
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf",
    };
    char path[256];
    snprintf(path, sizeof path, "%s/ext.cnf", g_dir);
    static const char ext[] = "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n";
    if (tb_write_file(path, ext, sizeof ext - 1)) return false;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (!openssl(steps[i])) return false;
    return true;
}

/* Starts `openssl s_server -WWW` on an ephemeral port of 127.0.0.1; returns its pid and sets *port
 * from the "ACCEPT 127.0.0.1:PORT" line it prints. */
static pid_t start_server(int *port) {
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(g_dir) != 0 || !freopen("server.log", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
        execlp("openssl", "openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", "server.pem", "-key", "server.key",
               "-WWW", (char *)NULL);
        _exit(127);
    }
    char log_path[256];
    snprintf(log_path, sizeof log_path, "%s/server.log", g_dir);
    *port = 0;
    for (int tries = 0; tries < 500 && *port == 0; tries++) {
        struct timespec wait = {0, 10 * 1000000L};
        nanosleep(&wait, NULL);
        FILE *f = fopen(log_path, "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "ACCEPT 127.0.0.1:%d", port) == 1) break;
        if (f) fclose(f);
    }
    return pid;
}

int main(void) {
    if (!mkdtemp(g_dir)) return 1;
    bcos_log_set_level(BCOS_LOG_ERROR);
    CHECK_MSG(make_certificates(), "the openssl command failed (tools/install-deps.sh installs it)");
    char payload[3][64];
    tb_member members[6];
    static const char *const names[] = {"x0.jpg", "x0.txt", "x1.png", "x1.cls", "x2.webp", "x2.json"};
    for (int i = 0; i < 6; i++) {
        snprintf(payload[i / 2], sizeof payload[0], "payload of sample %d", i / 2);
        members[i] = (tb_member){names[i], payload[i / 2], strlen(payload[i / 2]), 0, NULL};
    }
    size_t size;
    uint8_t *tar = tb_build(members, 6, &size);
    char path[256];
    snprintf(path, sizeof path, "%s/shard.tar", g_dir);
    CHECK(tb_write_file(path, tar, size) == 0);
    free(tar);

    bcos_fetch_options opt;
    bcos_fetch_options_default(&opt);
    opt.backoff_ms = 10;
    opt.connect_timeout_ms = 2000;
    bcos_data_counters c = {0};
    sl_list want, got;
    sl_read(&want, path, &opt, &c);
    CHECK(want.status == 0 && want.count == 3);

    int port;
    pid_t server = start_server(&port);
    CHECK_MSG(port > 0, "openssl s_server did not start");
    char url[128], ca[256], other[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/shard.tar", port);
    snprintf(ca, sizeof ca, "%s/ca.pem", g_dir);
    snprintf(other, sizeof other, "%s/other.pem", g_dir);

    opt.ca_file = ca;
    memset(&c, 0, sizeof c);
    sl_read(&got, url, &opt, &c);
    char why[256] = "";
    CHECK_MSG(got.status == 0, "with the CA: %s", got.error);
    CHECK_MSG(sl_equal(&got, &want, want.count, -1, why, sizeof why), "with the CA: %s", why);
    CHECK(c.http.attempts == 1);
    sl_free(&got);

    const char *refusing[] = {NULL, other};
    for (int i = 0; i < 2; i++) {
        opt.ca_file = refusing[i];
        memset(&c, 0, sizeof c);
        sl_read(&got, url, &opt, &c);
        CHECK_MSG(got.status == -1 && got.count == 0, "%s: the server was trusted", refusing[i] ? "other CA" : "no CA");
        CHECK_MSG(strstr(got.error, "not retried") && strstr(got.error, "certificate"), "error '%s'", got.error);
        CHECK(c.http.attempts == 1 && c.shards_failed == 1);
        sl_free(&got);
    }

    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    sl_free(&want);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    CHECK(system(cmd) == 0);
    return test_summary("test_fetch_tls");
}
