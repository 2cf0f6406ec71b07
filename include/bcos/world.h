/* The ranks of a run. A process started by a launcher (mpirun, or srun with an MPI plugin) joins
 * Open MPI's world; any other process is a world of one and makes no MPI call at all, so the same
 * binary runs on a laptop without a launcher. The collectives below are plain copies or no-ops in
 * a world of one, and are called from the main thread only (MPI_THREAD_FUNNELED). Once a world of
 * several ranks runs, bcos_fail and BCOS_DIE on any rank abort them all (MPI_Abort) instead of
 * leaving the others waiting in a collective; logs carry the rank, and ranks other than 0 log
 * warnings and errors only. A rank waits in a collective in polls that sleep (no core spun) for at
 * most BCOS_RANK_TIMEOUT seconds (default 600): then it names the ranks that stopped answering in
 * a one-line error and aborts them all. */
#ifndef BCOS_WORLD_H
#define BCOS_WORLD_H

#include <stddef.h>
#include <stdint.h>

/* Joins the launcher's world when there is one. Stops with a one-line error when Slurm started
 * several tasks with no MPI plugin (they would each run alone). */
void bcos_world_init(int *argc, char ***argv);
/* Leaves the world once every rank has come here (a barrier, then MPI_Finalize); a world of one
 * has nothing to do. */
void bcos_world_finalize(void);
int bcos_world_rank(void);
int bcos_world_size(void);

/* Element-wise sums over the ranks, in place; every rank gets the same bits. */
void bcos_world_sum_f32(float *x, size_t n);
void bcos_world_sum_f64(double *x, size_t n);
void bcos_world_sum_i64(int64_t *x, size_t n);
/* Element-wise maximum over the ranks, in place. */
void bcos_world_max_int(int *x, size_t n);
/* Rank 0's bytes to every rank. */
void bcos_world_bcast(void *x, size_t bytes);
/* Rank 0's text (NULL there: none) as a heap copy on every rank (NULL everywhere when none). */
char *bcos_world_bcast_text(const char *text);
/* Every rank's n floats, concatenated in rank order, into all (size x n floats) on every rank. */
void bcos_world_allgather_f32(float *all, const float *mine, size_t n);
/* Every rank's text to rank 0: there a heap array of size heap strings in rank order, NULL on the
 * others. */
char **bcos_world_gather_text(const char *text);

#endif
