/* Tar shards for tests, written with libarchive's writer (pax format, as Python's tarfile writes
 * by default), in memory or to a file. */
#ifndef BCOS_TEST_TAR_BUILD_H
#define BCOS_TEST_TAR_BUILD_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;
    const void *data; /* size bytes; NULL for an empty payload */
    size_t size;
    unsigned type;    /* an AE_IF* file type; 0 for a regular file */
    const char *link; /* target of an AE_IFLNK member */
} tb_member;

/* The tar holding members in order, in a heap buffer the caller frees. */
uint8_t *tb_build(const tb_member *members, int n, size_t *size);
/* Writes size bytes to path; 0 or -1. */
int tb_write_file(const char *path, const void *data, size_t size);
/* Offset of the 512-byte header of the first member named name, or -1. */
long tb_header_offset(const uint8_t *tar, size_t size, const char *name);

#endif
