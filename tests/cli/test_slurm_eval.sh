#!/bin/sh
# slurm/eval.sbatch, the evaluation array: first under plain bash (no array: every dataset of the
# list in one process; a task number past the list, or an empty list, refused), then submitted to
# real Slurm daemons (tests/cli/slurm_daemons.sh) as an array of two tasks, one per dataset, both
# writing one store at once: task 0 is held inside the eval run (its dataset's nshards.txt is a FIFO
# the test opens later) while task 1 evaluates its dataset and completes; then task 0 completes. Both
# datasets' rows are stored in the one eval run, and the array submitted again recomputes nothing
# (--skip-existing: each task says so, and the rows keep their creation times). With --ntasks=2 each
# task runs 2 ranks under mpirun and stores the same rows.
set -u
case $1 in /*) BCOS=$1 ;; *) BCOS=$PWD/$1 ;; esac
TMP=$(mktemp -d)
# munged wants its socket's directories open to every user
chmod 755 "$TMP"
. tests/cli/lib.sh
EVAL="--weights $PWD/tests/fixtures/clip/tiny_openclip.safetensors --model bcos-tiny --batch-size 8"
rows() { sql "$1" "SELECT e.dataset, count(*) FROM eval_results e JOIN runs r ON r.id = e.run_id
  WHERE r.name = 'tiny_openclip' AND r.kind = 'eval' GROUP BY e.dataset ORDER BY e.dataset" | tr '\n' ' '; }
stamps() { sql "$TMP/s.db" "SELECT dataset, metric, created_at FROM eval_results ORDER BY dataset, metric"; }

printf '# the array: one task per line\n tiny8\n\ntinycap \n' >"$TMP/plain.list"
expect_ok env BCOS="$BCOS" bash slurm/eval.sbatch "$TMP/plain.list" $EVAL --dataset-root 'tests/fixtures/eval/{dataset}' \
  --db "$TMP/plain.db"
[ "$(rows "$TMP/plain.db")" = "'tiny8'|3 'tinycap'|6 " ] && ok || bad "without an array, every dataset: $(cat "$TMP/err")"
grep -q "evaluates tiny8,tinycap" "$TMP/out" && ok || bad "the script names its datasets: $(cat "$TMP/out")"
expect_fail "task 2, but $TMP/plain.list has 2 datasets" env SLURM_ARRAY_TASK_ID=2 BCOS="$BCOS" bash slurm/eval.sbatch \
  "$TMP/plain.list" $EVAL --db "$TMP/plain.db"
printf '# nothing\n\n' >"$TMP/empty.list"
expect_fail "no dataset in the list" env BCOS="$BCOS" bash slurm/eval.sbatch "$TMP/empty.list" $EVAL

TEST_NAME=test_slurm_eval
. tests/cli/slurm_daemons.sh
task_state() { job_field "${job}_$1" JobState; }
task_running() { [ "$(task_state "$1")" = RUNNING ]; }
task_over() { job_over "${job}_$1"; }

# the datasets: tiny8 as "held", its shard count behind a FIFO, and tinycap
mkdir -p "$TMP/held"
cp -r tests/fixtures/eval/tiny8/. "$TMP/held/"
rm "$TMP/held/test/nshards.txt"
mkfifo "$TMP/held/test/nshards.txt"
ln -s "$PWD/tests/fixtures/eval/tinycap" "$TMP/tinycap"
printf 'held\ntinycap\n' >"$TMP/datasets.list"

# submit [DB [TASKS]]: the array of two tasks (of TASKS ranks, default 1) of one CPU each (its 16 CPUs
# per task are more than this node has), writing DB (default s.db)
submit() {
  job=$(sbatch --parsable --array=0-1 --ntasks="${2:-1}" --cpus-per-task=1 --chdir="$PWD" \
    --output="$TMP/eval-%A_%a.out" --export=ALL,BCOS="$BCOS" slurm/eval.sbatch "$TMP/datasets.list" $EVAL \
    --dataset-root "$TMP/{dataset}" --db "$TMP/${1:-s.db}")
  [ -n "$job" ] || give_up "sbatch refuses the script"
  jobs="$jobs $job"
}

start_daemons
submit
within 60 task_running 0 || give_up "task 0 does not run within 60 s: $(task_state 0)"
within 60 task_over 1 || give_up "task 1 is not over within 60 s while task 0 runs"
[ "$(task_state 1)" = COMPLETED ] && ok || bad "task 1 completes: $(cat "$TMP/eval-${job}_1.out")"
[ "$(task_state 0)" = RUNNING ] && ok || bad "task 0 still runs when task 1 ends (both at once): $(task_state 0)"
cat tests/fixtures/eval/tiny8/test/nshards.txt >"$TMP/held/test/nshards.txt"
within 60 task_over 0 || give_up "task 0 is not over within 60 s once its dataset is readable"
[ "$(task_state 0)" = COMPLETED ] && ok || bad "task 0 completes: $(cat "$TMP/eval-${job}_0.out")"
logged "$TMP/eval-${job}_0.out" "evaluates held" && logged "$TMP/eval-${job}_1.out" "evaluates tinycap" && ok \
  || bad "task N evaluates the list's Nth dataset"
[ "$(rows "$TMP/s.db")" = "'held'|3 'tinycap'|6 " ] && ok || bad "both datasets' rows in one run: $(rows "$TMP/s.db")"
[ "$(sql "$TMP/s.db" "SELECT count(*), min(status) FROM runs")" = "1|'done'" ] && ok || bad "one eval run, done"

stamps >"$TMP/stamps"
first=$job
submit
within 60 task_over 0 && within 60 task_over 1 || give_up "the resubmitted array is not over within 60 s"
[ "$(task_state 0) $(task_state 1)" = "COMPLETED COMPLETED" ] && ok || bad "the rerun completes"
logged "$TMP/eval-${job}_0.out" "dataset held: results in run tiny_openclip already, skipped" &&
  logged "$TMP/eval-${job}_1.out" "dataset tinycap: results in run tiny_openclip already, skipped" && ok \
  || bad "the rerun recomputes nothing: $(cat "$TMP/eval-${job}_0.out" "$TMP/eval-${job}_1.out")"
[ "$(stamps)" = "$(cat "$TMP/stamps")" ] && ok || bad "the rerun leaves the rows alone"
[ "$job" != "$first" ] && ok || bad "two submissions"

# each task on 2 ranks (mpirun inside the allocation): the same rows (held's shard count now a file)
cp --remove-destination tests/fixtures/eval/tiny8/test/nshards.txt "$TMP/held/test/nshards.txt"
values() { sql "$1" "SELECT dataset, metric, value, samples FROM eval_results ORDER BY dataset, metric"; }
submit mpi.db 2
within 120 task_over 0 && within 120 task_over 1 || give_up "the array on 2 ranks is not over within 120 s"
[ "$(task_state 0) $(task_state 1)" = "COMPLETED COMPLETED" ] && ok \
  || bad "the array on 2 ranks completes: $(cat "$TMP/eval-${job}_0.out" "$TMP/eval-${job}_1.out")"
[ "$(sql "$TMP/mpi.db" "SELECT world_size FROM runs")" = 2 ] && ok || bad "each task runs 2 ranks"
[ "$(values "$TMP/mpi.db")" = "$(values "$TMP/s.db")" ] && ok || bad "2 ranks store what 1 process does"
summarize test_slurm_eval
