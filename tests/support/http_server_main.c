/* The test HTTP server on its own, for benchmarks: serves a folder on 127.0.0.1 until SIGINT or
 * SIGTERM. Usage: bcos_test_server ROOT [PORT]; prints "http://127.0.0.1:PORT/" once listening. */
#include "support/http_server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s ROOT [PORT]\n", argv[0]);
        return 2;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    hs_server *s = hs_start(argv[1], argc == 3 ? atoi(argv[2]) : 0, 0);
    printf("http://127.0.0.1:%d/\n", hs_port(s));
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    hs_stop(s);
    return 0;
}
