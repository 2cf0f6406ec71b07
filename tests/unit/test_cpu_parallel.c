/* The CPU kernels' parallel loops (src/cpu/parallel.c): every item done exactly once, on 3 threads and
 * nested; a child of fork() runs its loops alone instead of waiting for workers it does not have; and
 * a kernel on threads gives the bits of the same loop on one. */
#include <cblas.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/cpu/parallel.h"
#include "bcos/backend.h"
#include "bcos/check.h"
#include "bcos/rng.h"
#include "test.h"

enum { ITEMS = 100003 };

static void count_items(void *ctx, size_t begin, size_t end) {
    int *seen = ctx;
    for (size_t i = begin; i < end; i++) __atomic_add_fetch(&seen[i], 1, __ATOMIC_RELAXED);
}

/* Each item of the outer loop runs an inner parallel loop, which must run in its caller. */
static void nested_items(void *ctx, size_t begin, size_t end) {
    int *seen = ctx;
    for (size_t i = begin; i < end; i++) cpu_parallel_for(4, 1, count_items, seen + 4 * i);
}

static int each_once(const int *seen, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (seen[i] != 1) return 0;
    return 1;
}

static void check_every_item_once(void) {
    int *seen = xcalloc(ITEMS, sizeof(int));
    cpu_parallel_for(ITEMS, 1, count_items, seen);
    CHECK_MSG(each_once(seen, ITEMS), "every item of a loop is done exactly once");
    memset(seen, 0, ITEMS * sizeof(int));
    cpu_parallel_for(5, 1, count_items, seen); /* fewer items than threads */
    CHECK(each_once(seen, 5) && seen[5] == 0);
    memset(seen, 0, ITEMS * sizeof(int));
    cpu_parallel_for(1000, 1, nested_items, seen);
    CHECK_MSG(each_once(seen, 4000), "nested loops do every item exactly once");
    free(seen);
}

static void check_fork_child_runs_alone(void) {
    pid_t pid = fork();
    BCOS_CHECK(pid >= 0, "fork works");
    if (pid == 0) {
        alarm(20); /* a child waiting for the parent's workers would hang: fail instead */
        int *seen = xcalloc(ITEMS, sizeof(int));
        cpu_parallel_for(ITEMS, 1, count_items, seen);
        _exit(each_once(seen, ITEMS) ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a child of fork() runs its loops (status %d)", status);
}

/* GELU on threads (past its grain) against the same loop on one thread: the same bits. */
static void check_kernel_bits(void) {
    enum { N = 200000 };
    float *x = xmalloc(N * sizeof(float)), *threads = xmalloc(N * sizeof(float)), *one = xmalloc(N * sizeof(float));
    bcos_rng rng;
    bcos_rng_seed(&rng, 3);
    bcos_rng_fill_normal(&rng, x, N, 0, 2);
    const bcos_backend *be = bcos_backend_cpu();
    be->gelu_forward(threads, x, N);
    for (int i = 0; i < N; i += 1000) be->gelu_forward(one + i, x + i, 1000); /* under the grain: one thread */
    CHECK(memcmp(threads, one, N * sizeof(float)) == 0);
    free(one);
    free(threads);
    free(x);
}

int main(void) {
    openblas_set_num_threads(3); /* the pool takes OpenBLAS's count at its first loop */
    check_every_item_once();
    check_kernel_bits();
    check_fork_child_runs_alone();
    return test_summary("test_cpu_parallel");
}
