/* The world of ranks over Open MPI: joining it only under a launcher, the abort of every rank on
 * an error, and the few collectives a data-parallel run needs, cut into chunks of at most
 * MPI_CHUNK elements since MPI counts are ints. Every collective is started nonblocking and waited
 * for in polls that sleep, up to a bound: a waiting rank does not spin a core, and one whose peer
 * stopped answering (SIGSTOP, a hung node) names it and aborts them all instead of waiting forever. */
#include "bcos/world.h"

#include "bcos/check.h"
#include "bcos/log.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Elements per MPI call: an int count, with room to spare. */
#define MPI_CHUNK ((size_t)1 << 28)
/* The bound on a wait in a collective, in seconds, and the variable that sets it: above the longest
 * time one rank may work alone (rank 0 writing a checkpoint, evaluating, counting shards). */
#define WAIT_LIMIT_ENV "BCOS_RANK_TIMEOUT"
#define WAIT_LIMIT_DEFAULT 600.0
/* Tests of a request before a wait starts sleeping, and the sleep between later tests. */
#define SPIN_TESTS 200
#define POLL_SLEEP_NS 1000000L
/* Longest the ranks that timed out listen for each other before naming the silent ones. */
#define ROLL_CALL_SECONDS 5.0
#define ROLL_CALL_TAG 7401

#define MPI_CHECK(call)                                                                                  \
    do {                                                                                                 \
        int mpi_rc_ = (call);                                                                            \
        if (mpi_rc_ != MPI_SUCCESS) mpi_die(__FILE__, __LINE__, #call, mpi_rc_);                       \
    } while (0)

static int g_rank, g_size = 1, g_joined;
static double g_wait_limit = WAIT_LIMIT_DEFAULT;

BCOS_NORETURN static void mpi_die(const char *file, int line, const char *call, int rc) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, text, &len);
    bcos_die_at(file, line, "an MPI call failed: a rank died, or the launcher's network is down", "%s: %s", call,
                text);
}

BCOS_NORETURN static void abort_world(int status) {
    MPI_Abort(MPI_COMM_WORLD, status);
    exit(status); /* MPI_Abort does not return; this keeps the promise to the compiler */
}

/* After a wait in `what` ran out: every rank that timed out tells the others so and listens a
 * while; the ranks not heard from are the ones named, then every rank is aborted. */
BCOS_NORETURN static void roll_call_and_abort(const char *what) {
    char *heard = xcalloc((size_t)g_size, 1);
    heard[g_rank] = 1;
    for (int r = 0; r < g_size; r++) {
        if (r == g_rank) continue;
        MPI_Request sent; /* never completed: the abort follows */
        MPI_Isend(&g_rank, 1, MPI_INT, r, ROLL_CALL_TAG, MPI_COMM_WORLD, &sent);
        MPI_Request_free(&sent);
    }
    double grace = g_wait_limit < ROLL_CALL_SECONDS ? g_wait_limit : ROLL_CALL_SECONDS;
    for (double t0 = MPI_Wtime(); MPI_Wtime() - t0 < grace;) {
        int arrived = 0, who;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, ROLL_CALL_TAG, MPI_COMM_WORLD, &arrived, &st);
        if (!arrived) {
            nanosleep(&(struct timespec){0, POLL_SLEEP_NS}, NULL);
            continue;
        }
        MPI_Recv(&who, 1, MPI_INT, st.MPI_SOURCE, ROLL_CALL_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        heard[st.MPI_SOURCE] = 1;
    }
    char silent[256] = "";
    int n = 0;
    for (int r = 0; r < g_size; r++) {
        if (heard[r]) continue;
        size_t used = strlen(silent);
        if (used + 16 < sizeof silent) snprintf(silent + used, sizeof silent - used, "%s%d", n ? ", " : "", r);
        n++;
    }
    free(heard);
    bcos_fail("%s %s stopped answering (%s waited %.0f s; %s sets the bound): aborting every rank",
              n == 1 ? "rank" : "ranks", n ? silent : "(none named: all timed out)", what, g_wait_limit, WAIT_LIMIT_ENV);
}

/* Completes a nonblocking collective: tests it, then tests and sleeps, up to the bound. */
static void complete(MPI_Request *req, const char *what) {
    double started = MPI_Wtime();
    for (long tests = 0;; tests++) {
        int done = 0;
        MPI_CHECK(MPI_Test(req, &done, MPI_STATUS_IGNORE));
        if (done) return;
        if (tests < SPIN_TESTS) continue;
        if (MPI_Wtime() - started > g_wait_limit) roll_call_and_abort(what);
        nanosleep(&(struct timespec){0, POLL_SLEEP_NS}, NULL);
    }
}

/* BCOS_RANK_TIMEOUT, when set: seconds, a positive number. */
static void read_wait_limit(void) {
    const char *text = getenv(WAIT_LIMIT_ENV);
    if (!text) return;
    char *end;
    double seconds = strtod(text, &end);
    if (end == text || *end || !(seconds > 0))
        bcos_fail("%s='%s': expected a positive number of seconds", WAIT_LIMIT_ENV, text);
    g_wait_limit = seconds;
}

/* Whether a launcher started this process as one of its ranks. */
static int launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("PMI_SIZE");
}

/* srun without an MPI plugin starts tasks that would each be a world of one and write the same run. */
static void refuse_lonely_slurm_tasks(void) {
    const char *tasks = getenv("SLURM_STEP_NUM_TASKS");
    if (tasks && atoi(tasks) > 1 && !launched())
        bcos_fail("Slurm started %s tasks without an MPI plugin, so each would run alone: launch with "
                  "'srun --mpi=pmix' or 'mpirun'",
                  tasks);
}

void bcos_world_init(int *argc, char ***argv) {
    refuse_lonely_slurm_tasks();
    read_wait_limit();
    if (!launched() || g_joined) return;
    int provided;
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    /* errors come back as codes, for MPI_CHECK to report */
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    BCOS_CHECK(provided >= MPI_THREAD_FUNNELED, "this MPI library cannot run beside the loader's threads");
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &g_rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &g_size));
    g_joined = 1;
    if (g_size == 1) return;
    bcos_set_exit_hook(abort_world);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "rank %d: ", g_rank);
    bcos_log_set_prefix(prefix);
    if (g_rank > 0) bcos_log_set_level(BCOS_LOG_WARN);
}

void bcos_world_finalize(void) {
    if (!g_joined) return;
    /* every rank is done with what it prints before any leaves */
    MPI_Request req;
    MPI_CHECK(MPI_Ibarrier(MPI_COMM_WORLD, &req));
    complete(&req, "the final barrier");
    bcos_set_exit_hook(NULL);
    MPI_CHECK(MPI_Finalize());
    g_joined = 0;
    g_rank = 0;
    g_size = 1;
}

int bcos_world_rank(void) { return g_rank; }
int bcos_world_size(void) { return g_size; }

static void reduce_in_place(void *x, size_t n, size_t elem, MPI_Datatype type, MPI_Op op) {
    if (g_size == 1) return;
    for (size_t done = 0; done < n; done += MPI_CHUNK) {
        size_t count = n - done < MPI_CHUNK ? n - done : MPI_CHUNK;
        MPI_Request req;
        MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, (char *)x + done * elem, (int)count, type, op, MPI_COMM_WORLD, &req));
        complete(&req, "a reduction");
    }
}

void bcos_world_sum_f32(float *x, size_t n) { reduce_in_place(x, n, sizeof *x, MPI_FLOAT, MPI_SUM); }
void bcos_world_sum_f64(double *x, size_t n) { reduce_in_place(x, n, sizeof *x, MPI_DOUBLE, MPI_SUM); }
void bcos_world_sum_i64(int64_t *x, size_t n) { reduce_in_place(x, n, sizeof *x, MPI_INT64_T, MPI_SUM); }
void bcos_world_max_int(int *x, size_t n) { reduce_in_place(x, n, sizeof *x, MPI_INT, MPI_MAX); }

void bcos_world_bcast(void *x, size_t bytes) {
    if (g_size == 1) return;
    for (size_t done = 0; done < bytes; done += MPI_CHUNK) {
        size_t count = bytes - done < MPI_CHUNK ? bytes - done : MPI_CHUNK;
        MPI_Request req;
        MPI_CHECK(MPI_Ibcast((char *)x + done, (int)count, MPI_BYTE, 0, MPI_COMM_WORLD, &req));
        complete(&req, "a broadcast");
    }
}

char *bcos_world_bcast_text(const char *text) {
    int64_t len = text ? (int64_t)strlen(text) : -1;
    bcos_world_bcast(&len, sizeof len);
    if (len < 0) return NULL;
    char *copy = xmalloc((size_t)len + 1);
    if (g_rank == 0) memcpy(copy, text, (size_t)len);
    bcos_world_bcast(copy, (size_t)len);
    copy[len] = '\0';
    return copy;
}

void bcos_world_allgather_f32(float *all, const float *mine, size_t n) {
    if (g_size == 1) {
        memmove(all, mine, n * sizeof *all);
        return;
    }
    BCOS_CHECK(n <= MPI_CHUNK, "a gathered block fits one MPI call");
    MPI_Request req;
    MPI_CHECK(MPI_Iallgather(mine, (int)n, MPI_FLOAT, all, (int)n, MPI_FLOAT, MPI_COMM_WORLD, &req));
    complete(&req, "a gather");
}

char **bcos_world_gather_text(const char *text) {
    int len = (int)strlen(text);
    if (g_size == 1) {
        char **one = xmalloc(sizeof *one);
        one[0] = xstrdup(text);
        return one;
    }
    int *lens = g_rank == 0 ? xmalloc((size_t)g_size * sizeof *lens) : NULL;
    MPI_Request req;
    MPI_CHECK(MPI_Igather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD, &req));
    complete(&req, "a gather");
    int *offsets = NULL;
    char *joined = NULL;
    if (g_rank == 0) {
        offsets = xmalloc((size_t)g_size * sizeof *offsets);
        size_t total = 0;
        for (int r = 0; r < g_size; r++) {
            BCOS_CHECK(total + (size_t)lens[r] < (size_t)1 << 30, "gathered texts fit one MPI call");
            offsets[r] = (int)total;
            total += (size_t)lens[r];
        }
        joined = xmalloc(total + 1);
    }
    MPI_CHECK(MPI_Igatherv(text, len, MPI_CHAR, joined, lens, offsets, MPI_CHAR, 0, MPI_COMM_WORLD, &req));
    complete(&req, "a gather");
    char **texts = NULL;
    if (g_rank == 0) {
        texts = xmalloc((size_t)g_size * sizeof *texts);
        for (int r = 0; r < g_size; r++) {
            texts[r] = xmalloc((size_t)lens[r] + 1);
            memcpy(texts[r], joined + offsets[r], (size_t)lens[r]);
            texts[r][lens[r]] = '\0';
        }
    }
    free(joined);
    free(offsets);
    free(lens);
    return texts;
}
