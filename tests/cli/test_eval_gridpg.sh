#!/bin/sh
# `bcos eval --tasks auto,gridpg` on a tiny B-cos student: the grid pointing game's rows (mean and
# quartiles) are stored with the zero-shot ones, lie in [0, 1] with q1 <= median <= q3, count the
# cells scored, reach the CLIP_benchmark-style JSON and `bcos results`, and are the same on 2 ranks
# and for the distill run's checkpoint of the same student;
# --skip-existing leaves them alone; the closing table has a line averaging the datasets; a plain CLIP (as --weights, or as a run's --teacher) is refused,
# as are bad gridpg options; a set with too few classes classified right fails with a message.
#
# The student is distilled with B = 1 and its biases kept, so it computes its random teacher's
# function and tells solid colours apart (a B = 2 student of a random teacher sees them all alike).
# The set it is scored on is labelled with its own predictions (tests/cli/gridpg_sets.py), so that
# every image is classified right and the grids can be built.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh
use_mpirun
GRID="--datasets grid --dataset-root $TMP/{dataset} --gridpg-size 2 --gridpg-grids 3"
gridpg_rows() { sql "$1" "SELECT metric, value, samples FROM eval_results WHERE task = 'gridpg' ORDER BY metric"; }

expect_ok "$BCOS" distill jobs/distill-tiny.json --steps 1 --warmup-steps 1 --lr 1e-12 --b 1 --keep-biases true \
  --db "$TMP/s.db" --run r --out "$TMP/student.safetensors"
python3 tests/cli/gridpg_sets.py pool "$TMP/pool"
expect_ok "$BCOS" eval --weights "$TMP/student.safetensors" --db "$TMP/pool.db" --datasets pool \
  --dataset-root "$TMP/{dataset}" --predictions "$TMP/pool.csv"
python3 tests/cli/gridpg_sets.py relabel "$TMP/pool.csv" "$TMP/grid"
classes=$(wc -l <"$TMP/grid/classnames.txt")
[ "$classes" -gt 4 ] && ok || bad "the student tells more than 4 of the colours apart: $classes classes"

expect_ok "$BCOS" eval --weights "$TMP/student.safetensors" --db "$TMP/e.db" --tasks auto,gridpg $GRID \
  --output-dir "$TMP/json"
grep -q "^grid	test	acc1 1.000000" "$TMP/out" && ok || bad "every image classified right: $(cat "$TMP/out")"
grep -q "^grid	test	gridpg_mean .*samples 12	" "$TMP/out" && ok || bad "3 grids of 4 cells scored: $(cat "$TMP/out")"
gridpg_rows "$TMP/e.db" >"$TMP/rows"
[ "$(cut -d'|' -f1,3 "$TMP/rows" | tr '\n' ' ')" = "'gridpg_mean'|12 'gridpg_median'|12 'gridpg_q1'|12 'gridpg_q3'|12 " ] \
  && ok || bad "four gridpg rows of 12 cells: $(cat "$TMP/rows")"
python3 -c "import sqlite3, sys
v = dict(sqlite3.connect(sys.argv[1]).execute(\"SELECT metric, value FROM eval_results WHERE task = 'gridpg'\"))
assert all(0 <= x <= 1 for x in v.values()), v
assert v['gridpg_q1'] <= v['gridpg_median'] <= v['gridpg_q3'], v" "$TMP/e.db" && ok \
  || bad "scores in [0, 1], quartiles in order"
grep -q "gridpg_median" "$TMP/out" && ok || bad "the closing table shows the gridpg rows: $(cat "$TMP/out")"
python3 -c "import json, sys
o = json.load(open(sys.argv[1]))
assert o['task'] == 'gridpg' and o['samples'] == 12 and sorted(o['metrics']) == ['gridpg_mean', 'gridpg_median', 'gridpg_q1', 'gridpg_q3'], o" \
  "$TMP/json/grid_student_student_en_gridpg.json" && ok || bad "the gridpg JSON: $(ls "$TMP/json")"
[ -f "$TMP/json/grid_student_student_en_zeroshot_classification.json" ] && ok || bad "the classification JSON too"

# a distill run's checkpoint: the same rows, stored at its step
expect_ok "$BCOS" eval --run r --db "$TMP/s.db" --tasks gridpg $GRID
[ "$(sql "$TMP/s.db" "SELECT e.metric, e.value, e.samples FROM eval_results e JOIN checkpoints c ON c.id = e.checkpoint_id
  WHERE e.task = 'gridpg' AND c.step = 1 AND e.model = 'student' ORDER BY e.metric")" = "$(cat "$TMP/rows")" ] && ok \
  || bad "the run's checkpoint scores as its student file: $(sql "$TMP/s.db" "SELECT * FROM eval_results")"

# the closing table averages the datasets: grid's acc1 1 and pool's 0
expect_ok "$BCOS" eval --weights "$TMP/student.safetensors" --db "$TMP/avg.db" --datasets grid,pool \
  --dataset-root "$TMP/{dataset}"
tr -s ' ' <"$TMP/out" | grep -q "^student - average test acc1 - 0.5000 -$" && ok || bad "the average line: $(cat "$TMP/out")"

# the same rows on 2 ranks (a shard each for the confidence pass; each grid explained by one rank)
$MPIRUN 2 "$BCOS" eval --weights "$TMP/student.safetensors" --db "$TMP/mpi.db" --tasks gridpg $GRID \
  >/dev/null 2>"$TMP/err" && ok || bad "2 ranks: $(cat "$TMP/err")"
[ "$(gridpg_rows "$TMP/mpi.db")" = "$(cat "$TMP/rows")" ] && ok || bad "2 ranks store what 1 process does: $(gridpg_rows "$TMP/mpi.db")"

# --skip-existing: the gridpg rows stay; smoothing gives other scores, still in [0, 1]
expect_ok "$BCOS" eval --weights "$TMP/student.safetensors" --db "$TMP/e.db" --tasks gridpg $GRID --skip-existing \
  --gridpg-smooth 15
grep -q "gridpg results in run student already" "$TMP/err" && ok || bad "skipped: $(cat "$TMP/err")"
[ "$(gridpg_rows "$TMP/e.db")" = "$(cat "$TMP/rows")" ] && ok || bad "rows unchanged by --skip-existing"
expect_ok "$BCOS" eval --weights "$TMP/student.safetensors" --db "$TMP/smooth.db" --tasks gridpg $GRID --gridpg-smooth 15
[ "$(gridpg_rows "$TMP/smooth.db")" != "$(cat "$TMP/rows")" ] && ok || bad "smoothing changes the scores"
python3 -c "import sqlite3, sys
v = [x for (x,) in sqlite3.connect(sys.argv[1]).execute(\"SELECT value FROM eval_results WHERE task = 'gridpg'\")]
assert len(v) == 4 and all(0 <= x <= 1 for x in v), v" "$TMP/smooth.db" && ok || bad "smoothed scores in [0, 1]"

# refusals
expect_fail "tiny_openclip.safetensors is a plain CLIP" "$BCOS" eval --weights tests/fixtures/clip/tiny_openclip.safetensors \
  --model bcos-tiny --db "$TMP/clip.db" --tasks gridpg $GRID
[ ! -e "$TMP/clip.db" ] && ok || bad "a refused CLIP makes no store"
expect_fail "run's plain CLIP teacher" "$BCOS" eval --run r --teacher true --db "$TMP/s.db" --tasks auto,gridpg $GRID
expect_fail "--gridpg-smooth takes an odd window" "$BCOS" eval --weights "$TMP/student.safetensors" --db "$TMP/x.db" \
  --tasks gridpg $GRID --gridpg-smooth 4
expect_fail "option 'gridpg_size': 1 is out of range: it must be in [2, 8]" "$BCOS" eval --weights "$TMP/student.safetensors" \
  --db "$TMP/x.db" --tasks gridpg --datasets grid --dataset-root "$TMP/{dataset}" --gridpg-size 1
expect_fail "unknown task 'gridgp'" "$BCOS" eval --weights "$TMP/student.safetensors" --db "$TMP/x.db" \
  --tasks gridgp $GRID

# the pool: every image of class 0, too few classes classified right for a grid; the dataset fails
"$BCOS" eval --weights "$TMP/student.safetensors" --db "$TMP/pool.db" --datasets pool --dataset-root "$TMP/{dataset}" \
  --tasks gridpg --gridpg-size 2 >"$TMP/out" 2>"$TMP/err" && bad "no grid can be formed: exit 1" || ok
grep -q "dataset pool gridpg failed: .*needs more than 4 classes" "$TMP/err" && ok || bad "the message: $(cat "$TMP/err")"
[ "$(sql "$TMP/pool.db" "SELECT count(*) FROM eval_results WHERE task = 'gridpg'")" = 0 ] && ok || bad "no gridpg rows"

summarize test_eval_gridpg
