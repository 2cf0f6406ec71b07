#!/bin/sh
# The embedded default, pipeline/fashion-mnist.json, run whole as the README's first command runs it
# (in a scratch folder): its numbers are read back from the store and must mean something. The
# teacher pretrained on Fashion-MNIST reaches >= 70% zero-shot top-1 on the test split; the B-cos
# student >= 90% of the teacher's; the student's pointing game beats chance; the ten explanations (one
# per class) decompose their scores with a completeness error < 1e-4, and their positive contribution
# falls on the garment (the image's non-black pixels) well above the garment's share of the image's
# area. Run again, the pipeline skips every stage. Labelled `default`: the sanitizer run (unit, golden
# and cli labels) leaves it out, its minutes being the same code that those labels cover.
set -u
BCOS=$1
REPO=$PWD
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh
P=$REPO/pipeline/fashion-mnist.json
DB=$TMP/out/default/bcos.db

(cd "$TMP" && "$BCOS" pipeline run "$P") >"$TMP/run.log" 2>&1 && ok || bad "the pipeline failed: $(tail -5 "$TMP/run.log")"
for stage in train-shards test-shards teacher student zero-shot pointing-game explain; do
  [ "$(sql "$DB" "SELECT status FROM stages WHERE pipeline = 'fashion-mnist' AND stage = '$stage'")" = "'done'" ] &&
    ok || bad "stage $stage is done in the store"
done

# ---- zero-shot top-1 of teacher and student, from the store
"$BCOS" results --db "$DB" --run student --format json >"$TMP/results.json" && ok || bad "bcos results --format json"
python3 - "$TMP/results.json" >"$TMP/acc" <<'PY' && ok || bad "the results hold both models' zero-shot top-1 and the pointing game"
import json, sys
rows = json.load(open(sys.argv[1]))
def metric(model, task, name):
    [v] = [r["metrics"][name] for r in rows if r["model"] == model and r["task"] == task and r["dataset"] == "fashion-mnist"]
    return v
print(metric("teacher", "zeroshot_classification", "acc1"), metric("student", "zeroshot_classification", "acc1"),
      metric("student", "gridpg", "gridpg_mean"))
PY
read -r teacher student gridpg <"$TMP/acc"
echo "teacher top-1 $teacher, student top-1 $student, student pointing game (2x2) $gridpg"
awk -v t="$teacher" 'BEGIN { exit !(t >= 0.70) }' && ok || bad "the teacher's top-1 $teacher >= 0.70"
awk -v t="$teacher" -v s="$student" 'BEGIN { exit !(s >= 0.9 * t) }' && ok || bad "the student's top-1 $student >= 0.9 x $teacher"
awk -v g="$gridpg" 'BEGIN { exit !(g > 0.25) }' && ok || bad "the pointing game $gridpg beats a 2x2 grid's chance, 0.25"

# ---- the explanations: one per class, in the store, complete
[ "$(sql "$DB" "SELECT count(*), count(DISTINCT prompt), max(completeness_error) < 1e-4, min(image LIKE '%test/0.tar#%')
                FROM explanations")" = "10|10|1|1" ] && ok ||
  bad "ten explanations of test images, one per class, completeness error < 1e-4: $(sql "$DB" "SELECT image, prompt, completeness_error FROM explanations")"
echo "largest completeness error: $(sql "$DB" "SELECT max(completeness_error) FROM explanations")"
[ "$(sql "$DB" "SELECT count(*) FROM explanations WHERE png IS NOT NULL AND length(png) > 1000")" = 10 ] && ok ||
  bad "the store holds the pictures"

# ---- they point at the garment
python3 tests/cli/contributions.py "$TMP"/out/default/explanations/*-contributions.safetensors >"$TMP/where" &&
  [ "$(grep -c contributions.safetensors "$TMP/where")" -eq 10 ] && ok || bad "ten contribution maps: $(cat "$TMP/where")"
share=$(awk '$1 == "mean" { print $5 }' "$TMP/where")
area=$(awk '$1 == "mean" { print $8 }' "$TMP/where")
echo "positive contribution on the garment: $share of it; the garment's share of the area: $area"
awk -v s="$share" -v a="$area" 'BEGIN { exit !(s >= 1.25 * a) }' && ok ||
  bad "the explanations point at the garment: $share of the positive contribution on it, >= 1.25 x its area $area"

# ---- again: every stage skipped
(cd "$TMP" && "$BCOS" pipeline run "$P") >"$TMP/again.log" 2>&1 &&
  [ "$(grep -c "done with this job, skipped" "$TMP/again.log")" -eq 7 ] && ok ||
  bad "a second run skips every stage: $(cat "$TMP/again.log")"

summarize test_default_pipeline
