/* Opening and closing the store: refuse what is not a usable bcos database with one line naming
 * it (and without writing to it), choose the journal mode, wait for locks instead of failing,
 * and migrate an older schema. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bcos/check.h"
#include "bcos/log.h"

#define DEFAULT_BUSY_TIMEOUT_MS 30000
#define APPLICATION_ID 0x62636F73 /* "bcos", set by the first migration */
#define MIN_SQLITE_VERSION 3037000 /* STRICT tables, SQLITE_OPEN_EXRESCODE (RETURNING: 3.35) */

/* Detection of network file systems under the database. SQLite's WAL mode keeps its index in a
 * memory-mapped -shm file that every process must share, which a network file system cannot
 * provide across machines, and its POSIX locks are unreliable there; so the store falls back to
 * a rollback journal (journal_mode=DELETE) on the file systems listed here, told apart by the
 * f_type magic number statfs(2) reports. FUSE is not listed: it is as often local (overlays in
 * containers) as remote (sshfs), and the DELETE fallback would slow those down for nothing; pass
 * BCOS_JOURNAL_DELETE for a remote FUSE mount. */
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

const char *bcos_store_default_path(void) {
    const char *env = getenv(BCOS_STORE_DB_ENV);
    return env && *env ? env : BCOS_STORE_DEFAULT_PATH;
}

static char *folder_of(const char *path) {
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    return dir;
}

/* Why the file system refuses the database or its folder (a read-only mount, no permission), asked
 * of it directly: SQLite's last system error is often that of a later probe (ENOENT of a journal it
 * looked for). Returns 1 with the reason in why, or 0 when nothing is refused. */
static int access_problem(const char *path, int read_only, char *why, size_t len) {
    int mode = read_only ? R_OK : R_OK | W_OK;
    if (access(path, F_OK) == 0) {
        if (access(path, mode) != 0) return snprintf(why, len, "%s", strerror(errno)), 1;
        if (read_only) return 0;
    }
    /* a new database, or the journal files SQLite creates beside one */
    char *dir = folder_of(path);
    int refused = access(dir, W_OK | X_OK) != 0;
    if (refused) snprintf(why, len, "its folder %s: %s", dir, strerror(errno));
    free(dir);
    return refused;
}

/* A damaged database: the checkpoint files are kept, and recovery rebuilds what the store held. */
static int report_damaged(const char *path, const char *why, char *err, size_t errlen) {
    return bcos_error(err, errlen, path,
                      "the database is damaged (%s): move it away, then `bcos store recover --db %s` records the runs "
                      "and checkpoints again from the checkpoint files, which are kept (after restoring a backup, run "
                      "it too: it adds the checkpoints newer than the backup)", why, path);
}

/* What a failed open or first read means, for the user. */
static int describe_failure(sqlite3 *db, int rc, const char *path, int read_only, char *err, size_t errlen) {
    const char *message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_NOTADB: return bcos_error(err, errlen, path, "not an SQLite database (is it the right file?)");
    case SQLITE_CORRUPT:
        return report_damaged(path, message, err, errlen);
    case SQLITE_READONLY:
        if (rc == SQLITE_READONLY_DIRECTORY)
            return bcos_error(err, errlen, path,
                              "its folder is not writable, and SQLite needs to create %s-wal and -shm beside it "
                              "(make the folder writable, or only read it: `bcos results`)", path);
        return bcos_error(err, errlen, path, "the database is read-only (%s)", message);
    case SQLITE_CANTOPEN: {
        char why[600];
        int sys = db ? sqlite3_system_errno(db) : 0;
        if (!access_problem(path, read_only, why, sizeof why))
            snprintf(why, sizeof why, "%s", sys ? strerror(sys) : message);
        return bcos_error(err, errlen, path, "cannot %s the database: %s", read_only ? "open" : "open or create", why);
    }
    case SQLITE_BUSY: return bcos_error(err, errlen, path, "locked by another process past the busy timeout");
    default: return bcos_error(err, errlen, path, "cannot open the database: %s", message);
    }
}

static int connect(const char *filename, int flags, int timeout_ms, sqlite3 **db) {
    int rc = sqlite3_open_v2(filename, db, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(*db, timeout_ms);
    return rc;
}

typedef struct {
    int version, application_id, objects;
} header_facts;

/* The first read: it is where SQLite finds a file that is no database, or a damaged one. */
static int read_header(sqlite3 *db, header_facts *h) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT (SELECT user_version FROM pragma_user_version),"
                                " (SELECT application_id FROM pragma_application_id),"
                                " (SELECT count(*) FROM sqlite_master)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        h->version = sqlite3_column_int(st, 0);
        h->application_id = sqlite3_column_int(st, 1);
        h->objects = sqlite3_column_int(st, 2);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* "file:PATH?immutable=1" with PATH percent-encoded, as SQLite's URI filenames want. */
static char *immutable_uri(const char *path) {
    static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-~";
    char *uri = xmalloc(strlen(path) * 3 + sizeof "file:?immutable=1");
    char *p = uri + sprintf(uri, "file:");
    for (const unsigned char *c = (const unsigned char *)path; *c; c++)
        p += *c && strchr(plain, *c) ? sprintf(p, "%c", *c) : sprintf(p, "%%%02X", *c);
    strcpy(p, "?immutable=1");
    return uri;
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* A read-only connection to a WAL database needs its -shm file, which SQLite cannot create in a
 * read-only folder. Without a -wal file nobody is writing (a writer would have created it), and
 * every committed page is in the database file, so it can be read as immutable. */
static int connect_read_only(const char *path, int timeout_ms, sqlite3 **db, header_facts *h) {
    int rc = connect(path, SQLITE_OPEN_READONLY, timeout_ms, db);
    if (rc == SQLITE_OK) rc = read_header(*db, h);
    char *wal = xmalloc(strlen(path) + sizeof "-wal");
    sprintf(wal, "%s-wal", path);
    int writer_present = file_exists(wal);
    free(wal);
    if ((rc == SQLITE_READONLY_DIRECTORY || (rc & 0xff) == SQLITE_CANTOPEN) && !writer_present) {
        sqlite3_close(*db);
        char *uri = immutable_uri(path);
        rc = connect(uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, timeout_ms, db);
        free(uri);
        if (rc == SQLITE_OK) rc = read_header(*db, h);
    }
    return rc;
}

/* Refuse databases this binary must not touch; all from the header, before any write. */
static int check_header(const header_facts *h, const char *path, int read_only, char *err, size_t errlen) {
    int current = bcos_store_schema_version();
    if (h->application_id != APPLICATION_ID && (h->version != 0 || h->objects != 0))
        return bcos_error(err, errlen, path, "an SQLite database, but not a bcos store (is it the right file?)");
    if (h->version > current)
        return bcos_error(err, errlen, path,
                          "schema version %d is newer than this bcos %s understands (%d): use the bcos that wrote it, "
                          "or a newer one", h->version, BCOS_VERSION, current);
    if (read_only && h->version == 0)
        return bcos_error(err, errlen, path, "an empty database: no run has written to it yet");
    if (read_only && h->version < current)
        return bcos_error(err, errlen, path,
                          "schema version %d is older than this bcos's (%d): open it read-write once (any `bcos "
                          "distill` or `bcos eval`) to migrate it", h->version, current);
    return 0;
}

/* A fast structural check (pages, freelist, record formats) of a database that has data. */
static int check_integrity(sqlite3 *db, const char *path, char *err, size_t errlen) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *verdict = (const char *)sqlite3_column_text(st, 0);
        int ok = verdict && strcmp(verdict, "ok") == 0;
        if (!ok)
            report_damaged(path, verdict ? verdict : "no verdict", err, errlen);
        sqlite3_finalize(st);
        return ok ? 0 : -1;
    }
    sqlite3_finalize(st);
    return describe_failure(db, rc, path, 0, err, errlen);
}

/* $BCOS_JOURNAL in place of BCOS_JOURNAL_AUTO. 0, or -1 with err naming a value it does not know. */
static int journal_from_env(bcos_journal *journal, char *err, size_t errlen) {
    const char *env = getenv(BCOS_STORE_JOURNAL_ENV);
    if (*journal != BCOS_JOURNAL_AUTO || !env || !*env || strcmp(env, "auto") == 0) return 0;
    if (strcmp(env, "delete") == 0) *journal = BCOS_JOURNAL_DELETE;
    else if (strcmp(env, "wal") == 0) *journal = BCOS_JOURNAL_WAL;
    else return bcos_error(err, errlen, BCOS_STORE_JOURNAL_ENV, "'%s' is not delete, wal or auto", env);
    return 0;
}

/* Steps the journal_mode pragma, again while it is busy, up to timeout_ms: two processes that open a
 * new database at once (the tasks of an evaluation array) both hold it shared when they switch it to
 * WAL, and SQLite answers the one that cannot take it exclusively SQLITE_BUSY at once, without its
 * busy handler. */
static int step_journal_pragma(sqlite3_stmt *st, int timeout_ms) {
    int rc, waited = 0;
    while (((rc = sqlite3_step(st)) & 0xff) == SQLITE_BUSY && waited < timeout_ms) {
        sqlite3_reset(st);
        waited += sqlite3_sleep(10);
    }
    return rc;
}

/* WAL, or the rollback journal on a network file system (see the network file systems above). */
static int choose_journal(sqlite3 *db, const char *path, bcos_journal want, int timeout_ms, const char **mode,
                          char *err, size_t errlen) {
    const char *network = NULL;
    if (want == BCOS_JOURNAL_AUTO) {
        char *dir = folder_of(path);
        network = store_network_fs(dir);
        free(dir);
    }
    *mode = want == BCOS_JOURNAL_DELETE || network ? "delete" : "wal";
    if (network)
        bcos_warn("%s is on %s, a network file system: SQLite's WAL mode does not work there, so the store uses a "
                  "rollback journal (readers and the writer briefly wait for each other)", path, network);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, strcmp(*mode, "wal") == 0 ? "PRAGMA journal_mode = WAL" : "PRAGMA journal_mode = DELETE",
                                -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = step_journal_pragma(st, timeout_ms)) == SQLITE_ROW) {
        const char *got = (const char *)sqlite3_column_text(st, 0);
        int ok = got && strcmp(got, *mode) == 0;
        if (!ok)
            bcos_error(err, errlen, path, "cannot switch to journal_mode=%s (it stays %s): is another process using it?",
                       *mode, got ? got : "unknown");
        sqlite3_finalize(st);
        return ok ? 0 : -1;
    }
    sqlite3_finalize(st);
    return describe_failure(db, rc, path, 0, err, errlen);
}

/* SQLite calls this inside COMMIT, before the transaction is durable: the crash point there. */
static int crash_inside_commit(void *store) {
    if (((bcos_store *)store)->in_checkpoint_commit) bcos_fault_point("checkpoint_commit");
    return 0;
}

/* The mode a read-only connection finds: "wal" or "delete" (SQLite's other modes count as a
 * rollback journal too). */
static const char *read_journal_mode(const bcos_store *s) {
    sqlite3_stmt *st = store_prepare(s, "PRAGMA journal_mode");
    const char *mode = store_step(s, st) && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0 ? "wal" : "delete";
    store_finalize(s, st);
    return mode;
}

static bcos_store *new_store(sqlite3 *db, const char *path, int read_only, const char *journal) {
    bcos_store *s = xcalloc(1, sizeof *s);
    s->db = db;
    s->path = xstrdup(path);
    s->checkpoint_root = xmalloc(strlen(path) + sizeof "-checkpoints");
    sprintf(s->checkpoint_root, "%s-checkpoints", path);
    s->read_only = read_only;
    s->journal = journal ? journal : read_journal_mode(s);
    store_exec(s, "PRAGMA foreign_keys = ON");
    /* Durable commits: retention deletes old checkpoint files right after a commit, which must
     * not be lost to a power cut (WAL's default, NORMAL, may lose the last commits). */
    if (!read_only) store_exec(s, "PRAGMA synchronous = FULL");
    if (bcos_fault_armed("checkpoint_commit")) sqlite3_commit_hook(db, crash_inside_commit, s);
    return s;
}

/* Read-write: check, choose the journal, migrate. 0, or -1 with err set. */
static int prepare_for_writing(sqlite3 *db, const char *path, const header_facts *h, bcos_journal journal,
                               int timeout_ms, const char **mode, char *err, size_t errlen) {
    if (sqlite3_db_readonly(db, "main") == 1)
        return bcos_error(err, errlen, path, "the file is read-only (make it writable, or only read it: `bcos results`)");
    if (h->version > 0 && check_integrity(db, path, err, errlen) != 0) return -1;
    if (choose_journal(db, path, journal, timeout_ms, mode, err, errlen) != 0) return -1;
    int n;
    const char *const *migrations = store_embedded_migrations(&n);
    return h->version < n ? store_migrate(db, path, migrations, n, err, errlen) : 0;
}

int bcos_store_open(const char *path, const bcos_store_options *opt, bcos_store **out, char *err, size_t errlen) {
    BCOS_CHECK(out, "bcos_store_open needs an output");
    if (!path || !*path) path = bcos_store_default_path();
    bcos_store_options o = opt ? *opt : (bcos_store_options){0};
    if (sqlite3_libversion_number() < MIN_SQLITE_VERSION)
        return bcos_error(err, errlen, path, "SQLite %s is too old: the store needs 3.37 or newer (STRICT tables)",
                          sqlite3_libversion());
    int timeout = o.busy_timeout_ms > 0 ? o.busy_timeout_ms : DEFAULT_BUSY_TIMEOUT_MS;
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) return bcos_error(err, errlen, path, "not a regular file");
    if (journal_from_env(&o.journal, err, errlen) != 0) return -1;
    if (o.read_only && !file_exists(path))
        return bcos_error(err, errlen, path, "no such database (choose one with --db PATH or $%s)", BCOS_STORE_DB_ENV);
    sqlite3 *db = NULL;
    header_facts h = {0, 0, 0};
    int rc = o.read_only ? connect_read_only(path, timeout, &db, &h)
                         : connect(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, timeout, &db);
    if (rc == SQLITE_OK && !o.read_only) rc = read_header(db, &h);
    int status = rc != SQLITE_OK ? describe_failure(db, rc, path, o.read_only, err, errlen)
                                 : check_header(&h, path, o.read_only, err, errlen);
    const char *mode = NULL;
    if (status == 0 && o.read_only && h.version > 0) status = check_integrity(db, path, err, errlen);
    if (status == 0 && !o.read_only) status = prepare_for_writing(db, path, &h, o.journal, timeout, &mode, err, errlen);
    if (status != 0) {
        /* Nothing is open inside it (every statement is finalized), so this cannot fail. */
        sqlite3_close(db);
        return -1;
    }
    *out = new_store(db, path, o.read_only, mode);
    return 0;
}

void bcos_store_close(bcos_store *s) {
    if (!s) return;
    store_lease_release(s);
    store_check(s, sqlite3_close(s->db));
    free(s->checkpoint_root);
    free(s->path);
    free(s);
}

const char *bcos_store_path(const bcos_store *s) { return s->path; }
const char *bcos_store_journal_mode(const bcos_store *s) { return s->journal; }
