/* Detection of network file systems under the database. SQLite's WAL mode keeps its index in a
 * memory-mapped -shm file that every process must share, which a network file system cannot
 * provide across machines, and its POSIX locks are unreliable there; so the store falls back to
 * a rollback journal (journal_mode=DELETE) on the file systems listed here, told apart by the
 * f_type magic number statfs(2) reports. FUSE is not listed: it is as often local (overlays in
 * containers) as remote (sshfs), and the DELETE fallback would slow those down for nothing; pass
 * BCOS_JOURNAL_DELETE for a remote FUSE mount. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>

typedef struct {
    unsigned long magic;
    const char *name;
} network_fs;

/* From linux/magic.h where the kernel defines them; the out-of-tree ones (Lustre, GPFS, BeeGFS,
 * PanFS, GFS2's on-disk magic) as coreutils' stat(1) lists them. */
static const network_fs NETWORK_FILE_SYSTEMS[] = {
    {0x6969, "NFS"},
    {0x517B, "SMB"},
    {0xFF534D42, "CIFS"},
    {0xFE534D42, "SMB2"},
    {0x0BD00BD0, "Lustre"},
    {0x47504653, "GPFS"},
    {0x19830326, "BeeGFS"},
    {0x00C36400, "CephFS"},
    {0x5346414F, "AFS"},
    {0x6B414653, "kAFS"},
    {0x01021997, "9P"},
    {0x73757245, "Coda"},
    {0x01161970, "GFS2"},
    {0x7461636F, "OCFS2"},
    {0xAAD7AAEA, "PanFS"},
};

const char *store_network_fs_name(unsigned long magic) {
    for (size_t i = 0; i < sizeof NETWORK_FILE_SYSTEMS / sizeof NETWORK_FILE_SYSTEMS[0]; i++)
        if (NETWORK_FILE_SYSTEMS[i].magic == (magic & 0xFFFFFFFFul)) return NETWORK_FILE_SYSTEMS[i].name;
    return NULL;
}

const char *store_network_fs(const char *dir) {
    struct statfs info;
    if (statfs(dir, &info) != 0) return NULL;
    return store_network_fs_name((unsigned long)info.f_type);
}
