#!/bin/sh
# Two `bcos eval` processes of the same weights file at once on one store, as the tasks of an
# evaluation array run: they share the eval run (found or created atomically, no writer's lease), and
# each adds its dataset's rows in short transactions. The first is held inside its run (its dataset's
# nshards.txt is a FIFO that the test opens later) while the second evaluates another dataset and
# ends; then the first ends too. Both datasets' rows are stored, in one run; a rerun with
# --skip-existing evaluates nothing (the rows keep their creation times). A task that fails while
# another runs leaves the run failed when the other ends well. Two evaluations of a distill run's
# checkpoint (one held the same way) store their rows while the run trains and holds its lease. Two
# processes started together on a store that does not exist yet both create, migrate and use it.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'kill -9 $(cat "$TMP"/*.pid 2>/dev/null) 2>/dev/null; rm -rf "$TMP"' EXIT
. tests/cli/lib.sh
EVAL="--weights tests/fixtures/clip/tiny_openclip.safetensors --model bcos-tiny --batch-size 8"

run_running() { [ "$(sql "$TMP/s.db" "SELECT status FROM runs WHERE name = 'tiny_openclip'" 2>/dev/null)" = "'running'" ]; }
rows_of() { sql "$1" "SELECT e.dataset, count(*) FROM eval_results e JOIN runs r ON r.id = e.run_id
  WHERE r.name = 'tiny_openclip' AND r.kind = 'eval' GROUP BY e.dataset ORDER BY e.dataset" | tr '\n' ' '; }
# held: the held process waits in the FIFO's open (its main thread sleeps in the kernel's wait_for_partner)
held() { [ "$(cat "/proc/$(cat "$TMP/a.pid")/wchan" 2>/dev/null)" = wait_for_partner ]; }
stamps() { sql "$TMP/s.db" "SELECT dataset, metric, created_at FROM eval_results ORDER BY dataset, metric"; }

# tiny8 under another name, its shard count behind a FIFO: the process that reads it waits for the test
mkdir -p "$TMP/held"
cp -r tests/fixtures/eval/tiny8/. "$TMP/held/"
rm "$TMP/held/test/nshards.txt"
mkfifo "$TMP/held/test/nshards.txt"
ln -s "$PWD/tests/fixtures/eval/tinycap" "$TMP/tinycap"

"$BCOS" eval $EVAL --datasets held --dataset-root "$TMP/{dataset}" --db "$TMP/s.db" >"$TMP/a.out" 2>"$TMP/a.err" &
echo $! >"$TMP/a.pid"
within 60 run_running && within 60 held && ok || bad "the first process is held inside the eval run: $(cat "$TMP/a.err")"
[ "$(sql "$TMP/s.db" "SELECT count(*) FROM run_leases")" = 0 ] && ok || bad "an evaluation holds no writer's lease"
expect_ok "$BCOS" eval $EVAL --datasets tinycap --dataset-root 'tests/fixtures/eval/{dataset}' --db "$TMP/s.db"
kill -0 "$(cat "$TMP/a.pid")" 2>/dev/null && ok || bad "the first process still runs while the second ends: $(cat "$TMP/a.err")"
cat tests/fixtures/eval/tiny8/test/nshards.txt >"$TMP/held/test/nshards.txt"
wait "$(cat "$TMP/a.pid")" && ok || bad "the first process ends well: $(cat "$TMP/a.err")"
[ "$(rows_of "$TMP/s.db")" = "'held'|3 'tinycap'|6 " ] && ok || bad "both datasets' rows in one run: $(rows_of "$TMP/s.db")"
[ "$(sql "$TMP/s.db" "SELECT count(*), min(status) FROM runs")" = "1|'done'" ] && ok \
  || bad "one eval run, done: $(sql "$TMP/s.db" "SELECT name, kind, status FROM runs")"

# the rerun of both: nothing evaluated, the rows as they were
stamps >"$TMP/stamps"
expect_ok "$BCOS" eval $EVAL --datasets held,tinycap --dataset-root "$TMP/{dataset}" --db "$TMP/s.db" --skip-existing
grep -q "dataset held: results in run tiny_openclip already, skipped" "$TMP/err" &&
  grep -q "dataset tinycap: results in run tiny_openclip already, skipped" "$TMP/err" && ok \
  || bad "the rerun skips both datasets: $(cat "$TMP/err")"
! grep -q "^held\|^tinycap" "$TMP/out" && ok || bad "the rerun prints no metrics line: $(cat "$TMP/out")"
[ "$(stamps)" = "$(cat "$TMP/stamps")" ] && ok || bad "the rerun leaves the rows alone"

# a task that fails while another runs: the one that then ends well leaves the run failed
mkfifo "$TMP/held/test/nshards.txt.2" && mv "$TMP/held/test/nshards.txt.2" "$TMP/held/test/nshards.txt"
sqlite3 "$TMP/s.db" "DELETE FROM eval_results"
"$BCOS" eval $EVAL --datasets held --dataset-root "$TMP/{dataset}" --db "$TMP/s.db" >"$TMP/a.out" 2>"$TMP/a.err" &
echo $! >"$TMP/a.pid"
within 60 run_running && ok || bad "the held process begins the run again: $(cat "$TMP/a.err")"
"$BCOS" eval $EVAL --datasets missing --dataset-root "$TMP/{dataset}" --db "$TMP/s.db" >"$TMP/out" 2>"$TMP/err" \
  && bad "a missing dataset fails" || ok
[ "$(sql "$TMP/s.db" "SELECT status FROM runs")" = "'failed'" ] && ok || bad "the failed task marks the run failed"
cat tests/fixtures/eval/tiny8/test/nshards.txt >"$TMP/held/test/nshards.txt"
wait "$(cat "$TMP/a.pid")" && ok || bad "the held process ends well: $(cat "$TMP/a.err")"
[ "$(sql "$TMP/s.db" "SELECT status FROM runs")" = "'failed'" ] && ok || bad "a task that ends well hides no failure"
[ "$(rows_of "$TMP/s.db")" = "'held'|3 " ] && ok || bad "the held dataset's rows: $(rows_of "$TMP/s.db")"

# two evaluations of a distill run's checkpoint at once, while the run trains (its writer's lease held)
mkfifo "$TMP/held/test/nshards.txt.2" && mv "$TMP/held/test/nshards.txt.2" "$TMP/held/test/nshards.txt"
"$BCOS" distill jobs/distill-tiny.json --db "$TMP/d.db" --run r --steps 1000000 --checkpoint-every 0 \
  --checkpoint-minutes 0 --log-every 1000000 --out "$TMP/student.safetensors" >"$TMP/d.log" 2>&1 &
echo $! >"$TMP/d.pid"
trains() { grep -q "begins in" "$TMP/d.log"; }
within 60 trains || bad "the distill run trains: $(tail -3 "$TMP/d.log")"
kill -USR1 "$(cat "$TMP/d.pid")"
checkpointed() { [ "$(sql "$TMP/d.db" "SELECT count(*) FROM checkpoints" 2>/dev/null)" = 1 ]; }
within 60 checkpointed && ok || bad "SIGUSR1 makes a checkpoint: $(tail -3 "$TMP/d.log")"
step=$(sql "$TMP/d.db" "SELECT step FROM checkpoints")
"$BCOS" eval --run r --checkpoint "$step" --datasets held --dataset-root "$TMP/{dataset}" --db "$TMP/d.db" \
  --batch-size 8 >"$TMP/a.out" 2>"$TMP/a.err" &
echo $! >"$TMP/a.pid"
within 60 held && ok || bad "the first evaluation of the run is held: $(cat "$TMP/a.err")"
expect_ok "$BCOS" eval --run r --checkpoint "$step" --datasets tinycap --dataset-root "$TMP/{dataset}" --db "$TMP/d.db" \
  --batch-size 8
cat tests/fixtures/eval/tiny8/test/nshards.txt >"$TMP/held/test/nshards.txt"
wait "$(cat "$TMP/a.pid")" && ok || bad "the held evaluation of the run ends well: $(cat "$TMP/a.err")"
[ "$(sql "$TMP/d.db" "SELECT e.dataset, count(*) FROM eval_results e JOIN checkpoints c ON c.id = e.checkpoint_id
  WHERE c.step = $step GROUP BY e.dataset ORDER BY e.dataset" | tr '\n' ' ')" = "'held'|3 'tinycap'|6 " ] && ok \
  || bad "both datasets' rows at the checkpoint"
[ "$(sql "$TMP/d.db" "SELECT r.status, count(l.run) FROM runs r LEFT JOIN run_leases l ON l.run = r.name")" = "'running'|1" ] \
  && ok || bad "the run still trains, its lease held by distill alone"
kill -TERM "$(cat "$TMP/d.pid")"
wait "$(cat "$TMP/d.pid")"
[ $? -eq 75 ] && ok || bad "the distill run stops with 75 after the evaluations"

# two processes on a store that does not exist yet
for d in tiny8 tinycap; do
  "$BCOS" eval $EVAL --datasets $d --dataset-root 'tests/fixtures/eval/{dataset}' --db "$TMP/new.db" \
    >"$TMP/$d.out" 2>"$TMP/$d.err" &
  echo $! >"$TMP/$d.pid"
done
for d in tiny8 tinycap; do
  wait "$(cat "$TMP/$d.pid")" && ok || bad "$d on a new store: $(cat "$TMP/$d.err")"
done
[ "$(rows_of "$TMP/new.db")" = "'tiny8'|3 'tinycap'|6 " ] && ok || bad "a new store: $(rows_of "$TMP/new.db")"

summarize test_eval_concurrent
