# Sourced by the sbatch scripts (from the submit directory, as build/bcos is): run_requeueable TAG CMD...
# runs CMD in the background; when Slurm sends USR1 (#SBATCH --signal=B:USR1@120) it hands SIGUSR2 on
# to bcos, which commits a checkpoint, marks its work preempted and exits with 75; then the job is
# requeued, and the requeued job runs the same command, which resumes. Returns CMD's exit status.
PREEMPTED=75

run_requeueable() {
  local tag=$1 pid status
  shift
  "$@" &
  pid=$!
  trap 'echo "$tag: time is up, asking bcos to checkpoint"; kill -USR2 "$pid"' USR1
  # A trapped signal interrupts wait; wait again until bcos has really exited.
  wait "$pid"
  status=$?
  while kill -0 "$pid" 2>/dev/null; do
    wait "$pid"
    status=$?
  done
  if [ "$status" -eq "$PREEMPTED" ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    echo "$tag: checkpoint committed, requeueing job $SLURM_JOB_ID"
    scontrol requeue "$SLURM_JOB_ID"
  fi
  return "$status"
}
