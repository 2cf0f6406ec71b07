/* How much memory this process can use, for estimates checked before allocating. */
#ifndef BCOS_MEMORY_H
#define BCOS_MEMORY_H

/* Bytes: the smallest of physical memory, the cgroup limit and RLIMIT_AS; *what names which one.
 * 0 when none is known. */
double bcos_memory_limit(const char **what);

#endif
