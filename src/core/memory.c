/* The memory this process can use: the smallest of the machine's physical memory, the cgroup's limit
 * (v2 memory.max, else v1 memory.limit_in_bytes) and the address-space limit (RLIMIT_AS), so that a
 * run can refuse a setting that cannot fit before it allocates. */
#include "bcos/memory.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The number in a cgroup file, or 0 when there is none ("max", missing, unreadable). */
static unsigned long long cgroup_limit(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long long v = 0;
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
    return v;
}

double bcos_memory_limit(const char **what) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    double limit = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
    *what = "physical memory";
    const char *cgroups[] = {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (int i = 0; i < 2; i++) {
        double v = (double)cgroup_limit(cgroups[i]);
        if (v > 0 && (limit == 0 || v < limit)) limit = v, *what = "the cgroup's memory limit";
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (limit == 0 || (double)rl.rlim_cur < limit))
        limit = (double)rl.rlim_cur, *what = "the address-space limit (ulimit -v)";
    return limit;
}
