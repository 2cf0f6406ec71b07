/* The world of ranks over Open MPI: joining it only under a launcher, the abort of every rank on
 * an error, and the few collectives a data-parallel run needs, cut into chunks of at most
 * MPI_CHUNK elements since MPI counts are ints. */
#include "bcos/world.h"

#include "bcos/check.h"
#include "bcos/log.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

/* Elements per MPI call: an int count, with room to spare. */
#define MPI_CHUNK ((size_t)1 << 28)

#define MPI_CHECK(call)                                                                                  \
    do {                                                                                                 \
        int mpi_rc_ = (call);                                                                            \
        if (mpi_rc_ != MPI_SUCCESS) mpi_die(__FILE__, __LINE__, #call, mpi_rc_);                       \
    } while (0)

static int g_rank, g_size = 1, g_joined;

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
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
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
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, (char *)x + done * elem, (int)count, type, op, MPI_COMM_WORLD));
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
        MPI_CHECK(MPI_Bcast((char *)x + done, (int)count, MPI_BYTE, 0, MPI_COMM_WORLD));
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
    MPI_CHECK(MPI_Allgather(mine, (int)n, MPI_FLOAT, all, (int)n, MPI_FLOAT, MPI_COMM_WORLD));
}

char **bcos_world_gather_text(const char *text) {
    int len = (int)strlen(text);
    if (g_size == 1) {
        char **one = xmalloc(sizeof *one);
        one[0] = xstrdup(text);
        return one;
    }
    int *lens = g_rank == 0 ? xmalloc((size_t)g_size * sizeof *lens) : NULL;
    MPI_CHECK(MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD));
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
    MPI_CHECK(MPI_Gatherv(text, len, MPI_CHAR, joined, lens, offsets, MPI_CHAR, 0, MPI_COMM_WORLD));
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
