/* The test HTTP server on its own, for benchmarks and command-line tests: serves a folder on
 * 127.0.0.1 (or ADDRESS, "::1" for IPv6) until SIGINT or SIGTERM. Usage: bcos_test_server ROOT [PORT
 * [ADDRESS]] (PORT 0: any); prints "http://127.0.0.1:PORT/" or "http://[::1]:PORT/" once listening. */
#include "support/http_server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s ROOT [PORT [ADDRESS]]\n", argv[0]);
        return 2;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    const char *address = argc == 4 ? argv[3] : "127.0.0.1";
    hs_server *s = hs_start_at(argv[1], address, argc >= 3 ? atoi(argv[2]) : 0, 0);
    int v6 = strchr(address, ':') != NULL;
    printf("http://%s%s%s:%d/\n", v6 ? "[" : "", address, v6 ? "]" : "", hs_port(s));
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    hs_stop(s);
    return 0;
}
