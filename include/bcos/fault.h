/* Named crash points for fault-injection tests: with BCOS_CRASH_AT=NAME in the environment, the
 * process kills itself with SIGKILL (no cleanup, no flush: as a power cut or an OOM kill would)
 * when it reaches the point NAME. Without the variable a point costs one getenv.
 *
 * The points:
 *   st_temp_written        bcos_st_write: the temporary file is written, not yet fsynced
 *   st_before_rename       bcos_st_write: the temporary file is fsynced and closed, not yet renamed
 *   checkpoint_files_written  every file of a checkpoint is in place, nothing recorded in SQLite yet
 *   checkpoint_commit      inside SQLite's COMMIT of the checkpoint (its commit hook)
 *   checkpoint_committed   the checkpoint is committed, retired checkpoints' files not yet deleted */
#ifndef BCOS_FAULT_H
#define BCOS_FAULT_H

#define BCOS_CRASH_ENV "BCOS_CRASH_AT"

/* Whether BCOS_CRASH_AT names this point. */
int bcos_fault_armed(const char *point);
/* SIGKILL the process when the point is armed; otherwise return. */
void bcos_fault_point(const char *point);

#endif
