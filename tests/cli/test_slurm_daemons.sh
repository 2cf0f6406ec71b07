#!/bin/sh
# slurm/distill.sbatch under real Slurm daemons: the test starts munged, slurmctld and slurmd on one
# node (this machine, in a temporary directory, on free ports, no cgroups, MpiDefault=none), submits
# the script with sbatch and plays the time limit's warning as Slurm sends it (USR1 to the batch
# shell only). The script must ask bcos to checkpoint, see it exit 75, `scontrol requeue` the job;
# the requeued job (same id, one restart) resumes from the checkpoint, completes and writes the
# student, and both runs log into the one file (--open-mode=append). Once with one task, once with
# --ntasks=2 (mpirun inside the allocation, 2 ranks). Needs root (slurmd starts the job's
# processes) and Debian's slurmctld, slurmd, slurm-client and munge (tools/install-deps.sh).
set -u
case $1 in /*) BCOS=$1 ;; *) BCOS=$PWD/$1 ;; esac
TMP=$(mktemp -d)
# munged wants its socket's directories open to every user
chmod 755 "$TMP"
. tests/cli/lib.sh
TEST_NAME=test_slurm_daemons
. tests/cli/slurm_daemons.sh

# preempt_and_requeue TASKS: the script on TASKS tasks of one CPU each (its 16 CPUs per task are more
# than this node has), warned of its time limit once training runs; then the requeued job to its end
preempt_and_requeue() {
  tasks=$1
  log="$TMP/distill$tasks.out"
  job=$(sbatch --parsable --ntasks="$tasks" --cpus-per-task=1 --chdir="$PWD" --output="$log" \
    --export=ALL,BCOS="$BCOS" slurm/distill.sbatch jobs/distill-tiny.json --steps 1000 \
    --checkpoint-every 5000 --log-every 50 --db "$TMP/bcos$tasks.db" --out "$TMP/student$tasks.safetensors")
  [ -n "$job" ] || give_up "$tasks tasks: sbatch refuses the script"
  jobs="$jobs $job"
  within 60 logged "$log" "step 50/1000" || give_up "$tasks tasks: training does not start within 60 s"
  scancel --batch --signal=USR1 "$job" || bad "$tasks tasks: scancel cannot signal the batch shell"
  within 30 job_restarted "$job" || give_up "$tasks tasks: job $job is not requeued within 30 s: $(tail -3 "$log")"
  within 60 job_over "$job" || give_up "$tasks tasks: the requeued job $job is not over within 60 s"

  [ "$(job_field "$job" Restarts)" = 1 ] && ok || bad "$tasks tasks: job $job runs twice, not $(job_field "$job" Restarts) restarts"
  [ "$(job_field "$job" JobState)" = COMPLETED ] && ok || bad "$tasks tasks: the requeued job completes: $(tail -3 "$log")"
  logged "$log" "asking bcos to checkpoint" && ok || bad "$tasks tasks: the script forwards the time-limit warning"
  logged "$log" "SIGUSR2: checkpointed and stopped" && ok || bad "$tasks tasks: bcos checkpoints and stops"
  # the script says this only when bcos exited 75
  logged "$log" "checkpoint committed, requeueing job $job" && ok || bad "$tasks tasks: the script requeues on exit 75"
  stopped=$(sed -n 's/.*SIGUSR2: checkpointed and stopped at step \([0-9]*\).*/\1/p' "$log" | head -1)
  logged "$log" "resumes from its checkpoint at step ${stopped:-?} of" && ok ||
    bad "$tasks tasks: the requeued job resumes from the checkpoint at step ${stopped:-?}"
  [ "$(grep -c "distill: teacher" "$log")" -eq 2 ] && ok || bad "$tasks tasks: both runs log into one file"
  [ -s "$TMP/student$tasks.safetensors" ] && ok || bad "$tasks tasks: the requeued job writes the student"
}

start_daemons
preempt_and_requeue 1
preempt_and_requeue 2
logged "$TMP/distill2.out" "rank 0: distill: 2 ranks" && ok || bad "2 tasks run as 2 ranks: $(head -5 "$TMP/distill2.out")"
summarize test_slurm_daemons
