#!/bin/sh
# slurm/distill.sbatch's preemption path, run by bash without Slurm (no SLURM_JOB_ID, so no requeue):
# USR1 to the script makes bcos checkpoint and exit 75, the script exits 75, and running the same
# command again resumes the run and finishes it; once with one task, once with SLURM_NTASKS=2
# (mpirun and 2 ranks). test_slurm_daemons.sh submits the script to real Slurm daemons.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
# ranks skip AddressSanitizer's leak check: see test_distill_mpi.sh
export MPIRUN="mpirun -x ASAN_OPTIONS=detect_leaks=0"

# preempt_and_resume TASKS: the script on TASKS tasks, preempted, then run again to the end
# (each run logs into its own files: a fresh log must not be read before its first line lands)
preempt_and_resume() {
  tasks=$1
  args="--steps 2000 --checkpoint-every 5000 --log-every 50 --db $TMP/bcos$tasks.db --out $TMP/student$tasks.safetensors"
  SLURM_NTASKS=$tasks BCOS=$BCOS bash slurm/distill.sbatch jobs/distill-tiny.json $args >"$TMP/first$tasks.log" 2>&1 &
  script=$!
  # wait until training runs, then play Slurm's time-limit signal
  for i in $(seq 1 200); do grep -q "step 50/2000" "$TMP/first$tasks.log" 2>/dev/null && break; sleep 0.1; done
  kill -USR1 "$script"
  wait "$script"
  status=$?
  [ "$status" -eq 75 ] && ok || bad "$tasks tasks: the script exits 75 after USR1 (got $status): $(tail -3 "$TMP/first$tasks.log")"
  grep -q "asking bcos to checkpoint" "$TMP/first$tasks.log" && ok || bad "$tasks tasks: the script forwards the signal"
  [ ! -e "$TMP/student$tasks.safetensors" ] && ok || bad "$tasks tasks: a preempted run does not write the final student"

  SLURM_NTASKS=$tasks BCOS=$BCOS bash slurm/distill.sbatch jobs/distill-tiny.json $args >"$TMP/second$tasks.log" 2>&1
  status=$?
  [ "$status" -eq 0 ] && ok || bad "$tasks tasks: the rerun finishes (got $status): $(tail -3 "$TMP/second$tasks.log")"
  grep -qi "resum" "$TMP/second$tasks.log" && ok || bad "$tasks tasks: the rerun resumes: $(head -5 "$TMP/second$tasks.log")"
  [ -s "$TMP/student$tasks.safetensors" ] && ok || bad "$tasks tasks: the rerun writes the student"
}
preempt_and_resume 1
preempt_and_resume 2
grep -q "rank 0: distill: 2 ranks" "$TMP/second2.log" && ok || bad "2 tasks run as 2 ranks"
summarize test_slurm_script
