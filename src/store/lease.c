/* One writer per run: a lease in the store (run_leases), taken before the run is begun and held
 * by a thread that renews it every third of its duration on a connection of its own (a SQLite
 * connection is used by one thread at a time), so that it is renewed also while the training loop
 * waits for data. A second process finds the lease held and is refused at once. A holder that was
 * killed blocks the run no longer than the lease lasts (BCOS_LEASE_SECONDS, default 30), and not at
 * all on its own host, where its pid is seen to be gone. The lease is released when the store is
 * closed. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bcos/log.h"

#define DEFAULT_LEASE_SECONDS 30.0

struct store_lease {
    sqlite3 *db; /* the renewing thread's own connection */
    char *run, *holder, *expiry;  /* expiry: the SQLite time modifier "+N seconds" */
    double seconds;
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    int stop;
    atomic_int lost;
};

/* $BCOS_LEASE_SECONDS, or the default; -1 with err when it is not a positive number. */
static int lease_seconds(double *seconds, char *err, size_t errlen) {
    const char *env = getenv(BCOS_LEASE_ENV);
    *seconds = DEFAULT_LEASE_SECONDS;
    if (!env || !*env) return 0;
    char *end;
    errno = 0;
    *seconds = strtod(env, &end);
    if (errno || *end || !(*seconds >= 0.1 && *seconds <= 86400))
        return bcos_error(err, errlen, BCOS_LEASE_ENV, "'%s' is not a lease duration in seconds (0.1 to 86400)", env);
    return 0;
}

/* Whether the holder is a process of this host that no longer exists (killed): its lease is void. */
static int holder_gone(const char *holder_host, int64_t pid, const char *host) {
    return strcmp(holder_host, host) == 0 && pid > 0 && pid != (int64_t)getpid() && kill((pid_t)pid, 0) != 0 &&
           errno == ESRCH;
}

/* Inside the write transaction: 0 when the run's lease is free (none, expired, or its holder on
 * this host is gone), else -1 with err naming its holder. */
static int check_free(bcos_store *s, const char *run, const char *host, char *err, size_t errlen) {
    sqlite3_stmt *st = store_prepare(
        s, "SELECT host, pid, renewed_at, expires_at, (julianday(expires_at) - julianday('now')) * 86400"
           " FROM run_leases WHERE run = ?1");
    store_bind_text(s, st, 1, run);
    int status = 0;
    if (store_step(s, st) && sqlite3_column_double(st, 4) > 0) {
        const char *holder_host = (const char *)sqlite3_column_text(st, 0);
        int64_t pid = sqlite3_column_int64(st, 1);
        if (holder_gone(holder_host, pid, host))
            bcos_info("run '%s': its lease was held by pid %lld of this host, which is gone: taken over", run, (long long)pid);
        else
            status = bcos_error(err, errlen, s->path,
                                "run '%s' is being written by pid %lld on host %s, which holds its lease (renewed %s, "
                                "expires %s, in %.0f s): wait for it to end, or, if it was killed, for its lease to "
                                "expire", run, (long long)pid, holder_host, (const char *)sqlite3_column_text(st, 2),
                                (const char *)sqlite3_column_text(st, 3), sqlite3_column_double(st, 4) + 0.5);
    }
    store_finalize(s, st);
    return status;
}

static void insert_lease(bcos_store *s, const struct store_lease *l, const char *host) {
    sqlite3_stmt *st = store_prepare(
        s, "INSERT OR REPLACE INTO run_leases (run, holder, host, pid, acquired_at, renewed_at, expires_at)"
           " VALUES (?1, ?2, ?3, ?4, " STORE_NOW ", " STORE_NOW ", strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?5))");
    store_bind_text(s, st, 1, l->run);
    store_bind_text(s, st, 2, l->holder);
    store_bind_text(s, st, 3, host);
    store_bind_int64(s, st, 4, (int64_t)getpid());
    store_bind_text(s, st, 5, l->expiry);
    store_step(s, st);
    store_finalize(s, st);
}

/* Renew on the thread's connection: 0, or an SQLite result code; *lost when another holder has it. */
static int renew(struct store_lease *l, int *lost) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(l->db,
                                "UPDATE run_leases SET renewed_at = " STORE_NOW ", expires_at = strftime("
                                "'%Y-%m-%dT%H:%M:%fZ', 'now', ?3) WHERE run = ?1 AND holder = ?2",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_text(st, 1, l->run, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, l->holder, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, l->expiry, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return rc;
    *lost = sqlite3_changes(l->db) == 0;
    return SQLITE_OK;
}

static void *renew_loop(void *arg) {
    struct store_lease *l = arg;
    int warned = 0;
    pthread_mutex_lock(&l->mutex);
    while (!l->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double wait = l->seconds / 3;
        until.tv_sec += (time_t)wait;
        until.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        while (!l->stop && pthread_cond_timedwait(&l->wake, &l->mutex, &until) != ETIMEDOUT) {}
        if (l->stop) break;
        int lost = 0, rc = renew(l, &lost);
        if (rc != SQLITE_OK && !warned++)
            bcos_warn("cannot renew the lease of run '%s': %s (it expires unless a later try succeeds)", l->run,
                      sqlite3_errmsg(l->db));
        if (lost && !atomic_exchange(&l->lost, 1))
            bcos_warn("run '%s': its lease expired and another process took it: this one writes nothing more to the run",
                      l->run);
    }
    pthread_mutex_unlock(&l->mutex);
    return NULL;
}

static void lease_free(struct store_lease *l) {
    if (l->db) sqlite3_close(l->db);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->mutex);
    free(l->expiry);
    free(l->holder);
    free(l->run);
    free(l);
}

int bcos_store_lease_take(bcos_store *s, const char *run, char *err, size_t errlen) {
    BCOS_CHECK(!s->read_only && !s->lease && run, "bcos_store_lease_take: a read-write store without a lease");
    struct store_lease *l = xcalloc(1, sizeof *l);
    if (lease_seconds(&l->seconds, err, errlen) != 0) {
        free(l);
        return -1;
    }
    char host[256] = "unknown";
    gethostname(host, sizeof host - 1);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    l->run = xstrdup(run);
    l->holder = bcos_strfmt("%s:%ld:%lld.%09ld", host, (long)getpid(), (long long)now.tv_sec, now.tv_nsec);
    l->expiry = bcos_strfmt("+%.3f seconds", l->seconds);
    pthread_mutex_init(&l->mutex, NULL);
    pthread_cond_init(&l->wake, NULL);
    store_begin_write(s);
    if (check_free(s, run, host, err, errlen) != 0) {
        store_rollback(s);
        lease_free(l);
        return -1;
    }
    insert_lease(s, l, host);
    store_commit(s);
    int rc = sqlite3_open_v2(s->path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(l->db, (int)(l->seconds * 1000 / 3));
    if (rc != SQLITE_OK) store_sql_die_at(s, rc, "open the lease's connection", __FILE__, __LINE__);
    BCOS_CHECK(pthread_create(&l->thread, NULL, renew_loop, l) == 0, "cannot start the lease's thread");
    s->lease = l;
    return 0;
}

int store_lease_lost(const bcos_store *s) { return s->lease && atomic_load(&s->lease->lost); }

int store_lease_confirm(bcos_store *s) {
    struct store_lease *l = s->lease;
    if (!l) return 1;
    sqlite3_stmt *st = store_prepare(s, "UPDATE run_leases SET renewed_at = " STORE_NOW ", expires_at = strftime("
                                        "'%Y-%m-%dT%H:%M:%fZ', 'now', ?3) WHERE run = ?1 AND holder = ?2");
    store_bind_text(s, st, 1, l->run);
    store_bind_text(s, st, 2, l->holder);
    store_bind_text(s, st, 3, l->expiry);
    store_step(s, st);
    store_finalize(s, st);
    if (sqlite3_changes(s->db) == 1) return 1;
    atomic_store(&l->lost, 1);
    return 0;
}

void store_lease_release(bcos_store *s) {
    struct store_lease *l = s->lease;
    if (!l) return;
    pthread_mutex_lock(&l->mutex);
    l->stop = 1;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mutex);
    pthread_join(l->thread, NULL);
    s->lease = NULL;
    /* Best effort: a lease left behind only expires. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "DELETE FROM run_leases WHERE run = ?1 AND holder = ?2", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, l->run, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, l->holder, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) bcos_warn("cannot release the lease of run '%s': %s", l->run, sqlite3_errmsg(l->db));
        sqlite3_finalize(st);
    }
    lease_free(l);
}
