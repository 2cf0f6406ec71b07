#!/bin/sh
# `bcos eval --run R --checkpoint ...` on a distill run's checkpoints: each one's student is evaluated
# (the metrics of its student file evaluated as a weights file) and its rows stored in R at that
# checkpoint, `bcos results` showing both steps; latest takes the newest; --teacher true adds the
# run's teacher once, without a checkpoint, with CLIP_benchmark's metrics for it (the tiny CLIP); on 2 ranks the stored rows
# are the same; a checkpoint whose file is damaged fails (exit 1, a message naming the file, no rows
# for it) while the others are stored; a step without a checkpoint, or a bad --checkpoint, fails.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh
use_mpirun
DATA="--datasets tiny8 --dataset-root tests/fixtures/eval/{dataset} --batch-size 8"
rows() { sql "$1" "SELECT c.step, e.model, e.metric, e.value, e.samples FROM eval_results e
  JOIN checkpoints c ON c.id = e.checkpoint_id ORDER BY c.step, e.metric"; }

expect_ok "$BCOS" distill jobs/distill-tiny.json --steps 4 --checkpoint-every 2 --db "$TMP/s.db" --run r \
  --out "$TMP/final.safetensors"
expect_ok "$BCOS" eval --run r --checkpoint all --db "$TMP/s.db" $DATA
[ "$(grep -c "^tiny8" "$TMP/out")" -eq 2 ] && ok || bad "two checkpoints evaluated: $(cat "$TMP/out")"
rows "$TMP/s.db" >"$TMP/rows"
[ "$(cut -d'|' -f1,2 "$TMP/rows" | sort -u | tr '\n' ' ')" = "2|'student' 4|'student' " ] && ok \
  || bad "rows at steps 2 and 4, as the student: $(cat "$TMP/rows")"
step4=$(sql "$TMP/s.db" "SELECT directory FROM checkpoints WHERE step = 4")
expect_ok "$BCOS" eval --weights "$TMP/s.db-checkpoints/$(echo $step4 | tr -d "'")/student.safetensors" \
  --db "$TMP/other.db" $DATA
grep "^tiny8" "$TMP/out" >"$TMP/file.out"
expect_ok "$BCOS" eval --run r --db "$TMP/s.db" $DATA
grep "^tiny8" "$TMP/out" | cmp -s - "$TMP/file.out" && ok || bad "latest is step 4, as its student file: $(cat "$TMP/out" "$TMP/file.out")"
expect_ok "$BCOS" results --db "$TMP/s.db" --run r --format csv
[ "$(grep -c "tiny8" "$TMP/out")" -eq 6 ] && ok || bad "bcos results: $(cat "$TMP/out")"

expect_ok "$BCOS" eval --run r --teacher true --checkpoint 4 --db "$TMP/s.db" $DATA
teacher=$(sql "$TMP/s.db" "SELECT metric, round(value, 12), samples FROM eval_results WHERE model = 'teacher'
  AND checkpoint_id IS NULL ORDER BY metric" | tr '\n' ' ')
expected=$(python3 -c "import json; e=json.load(open('tests/fixtures/eval/tiny8_expected.json'))
print(' '.join(\"'%s'|%r|20\" % (m, round(e[m], 12)) for m in ['acc1', 'acc5', 'mean_per_class_recall']))")
[ "$teacher" = "$expected " ] && ok || bad "the teacher's rows, CLIP_benchmark's values: '$teacher' vs '$expected'"

sqlite3 "$TMP/s.db" "DELETE FROM eval_results"
$MPIRUN 2 "$BCOS" eval --run r --checkpoint 2,4 --db "$TMP/s.db" $DATA >/dev/null 2>"$TMP/err" && ok \
  || bad "2 ranks: $(cat "$TMP/err")"
[ "$(rows "$TMP/s.db")" = "$(cat "$TMP/rows")" ] && ok || bad "2 ranks store what 1 process does"

# step 2's student file damaged: step 4 is still evaluated
step2=$(sql "$TMP/s.db" "SELECT directory FROM checkpoints WHERE step = 2" | tr -d "'")
printf 'X' | dd of="$TMP/s.db-checkpoints/$step2/student.safetensors" bs=1 seek=5000 conv=notrunc 2>/dev/null
sqlite3 "$TMP/s.db" "DELETE FROM eval_results"
"$BCOS" eval --run r --checkpoint all --db "$TMP/s.db" $DATA >"$TMP/out" 2>"$TMP/err" && bad "a damaged checkpoint fails" || ok
grep -q "step 2: .*student.safetensors.*damaged" "$TMP/err" && ok || bad "the message names the file: $(cat "$TMP/err")"
[ "$(rows "$TMP/s.db" | cut -d'|' -f1 | sort -u)" = 4 ] && ok || bad "rows for step 4 only: $(rows "$TMP/s.db")"

expect_fail "no complete checkpoint at step 9" "$BCOS" eval --run r --checkpoint 9 --db "$TMP/s.db" $DATA
expect_fail "--checkpoint takes latest, all or steps" "$BCOS" eval --run r --checkpoint 2, --db "$TMP/s.db" $DATA
expect_fail "--predictions with --run takes one --checkpoint STEP" "$BCOS" eval --run r --checkpoint all \
  --predictions "$TMP/p.csv" --db "$TMP/s.db" $DATA
expect_ok "$BCOS" eval --run r --checkpoint 4 --predictions "$TMP/p.csv" --db "$TMP/s.db" $DATA
[ "$(wc -l <"$TMP/p.csv")" -eq 21 ] && ok || bad "one checkpoint's predictions: $(head -3 "$TMP/p.csv")"
expect_fail "exactly one of --weights FILE and --run NAME" "$BCOS" eval --db "$TMP/s.db" $DATA

summarize test_eval_checkpoints
