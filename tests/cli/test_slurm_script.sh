#!/bin/sh
# slurm/distill.sbatch's preemption path, run by bash without Slurm (no SLURM_JOB_ID, so no requeue):
# USR1 to the script makes bcos checkpoint and exit 75, the script exits 75, and running the same
# command again resumes the run and finishes it. (A test under real Slurm daemons comes with the
# distributed work.)
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh
ARGS="--steps 400 --checkpoint-every 1000 --log-every 50 --db $TMP/bcos.db --out $TMP/student.safetensors"

BCOS=$BCOS bash slurm/distill.sbatch jobs/distill-tiny.json $ARGS >"$TMP/first.log" 2>&1 &
script=$!
# wait until training runs, then play Slurm's time-limit signal
for i in $(seq 1 100); do grep -q "step 50/400" "$TMP/first.log" 2>/dev/null && break; sleep 0.1; done
kill -USR1 "$script"
wait "$script"
status=$?
[ "$status" -eq 75 ] && ok || bad "the script exits 75 after USR1 (got $status): $(tail -3 "$TMP/first.log")"
grep -q "asking bcos to checkpoint" "$TMP/first.log" && ok || bad "the script forwards the signal"
[ ! -e "$TMP/student.safetensors" ] && ok || bad "a preempted run does not write the final student"

BCOS=$BCOS bash slurm/distill.sbatch jobs/distill-tiny.json $ARGS >"$TMP/second.log" 2>&1
status=$?
[ "$status" -eq 0 ] && ok || bad "the rerun finishes (got $status): $(tail -3 "$TMP/second.log")"
grep -qi "resum" "$TMP/second.log" && ok || bad "the rerun resumes: $(head -5 "$TMP/second.log")"
[ -s "$TMP/student.safetensors" ] && ok || bad "the rerun writes the student"
summarize test_slurm_script
