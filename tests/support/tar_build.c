/* Tar shards for tests: libarchive's writer into a growing memory buffer. */
#include "support/tar_build.h"

#include "bcos/check.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t size, cap;
} growing;

static la_ssize_t append(struct archive *a, void *user, const void *buf, size_t n) {
    (void)a;
    growing *g = user;
    if (g->size + n > g->cap) {
        g->cap = (g->size + n) * 2;
        g->data = xrealloc(g->data, g->cap);
    }
    memcpy(g->data + g->size, buf, n);
    g->size += n;
    return (la_ssize_t)n;
}

uint8_t *tb_build(const tb_member *members, int n, size_t *size) {
    growing g = {0};
    struct archive *a = archive_write_new();
    BCOS_CHECK(a != NULL, "libarchive writer");
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1);
    BCOS_CHECK(archive_write_open(a, &g, NULL, append, NULL) == ARCHIVE_OK, archive_error_string(a));
    for (int i = 0; i < n; i++) {
        const tb_member *m = &members[i];
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m->name);
        archive_entry_set_filetype(e, m->type ? m->type : AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_mtime(e, 1700000000, 0);
        if (m->link) archive_entry_set_symlink(e, m->link);
        bool is_file = !m->type || m->type == AE_IFREG;
        archive_entry_set_size(e, is_file ? (la_int64_t)m->size : 0);
        BCOS_CHECK(archive_write_header(a, e) == ARCHIVE_OK, archive_error_string(a));
        if (is_file && m->size)
            BCOS_CHECK(archive_write_data(a, m->data, m->size) == (la_ssize_t)m->size, archive_error_string(a));
        archive_entry_free(e);
    }
    BCOS_CHECK(archive_write_close(a) == ARCHIVE_OK, archive_error_string(a));
    archive_write_free(a);
    *size = g.size;
    return g.data;
}

int tb_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t written = fwrite(data, 1, size, f);
    return fclose(f) == 0 && written == size ? 0 : -1;
}

long tb_header_offset(const uint8_t *tar, size_t size, const char *name) {
    if (strlen(name) >= 100) return -1;
    for (size_t off = 0; off + 512 <= size; off += 512)
        if (strncmp((const char *)tar + off, name, 100) == 0) return (long)off;
    return -1;
}
