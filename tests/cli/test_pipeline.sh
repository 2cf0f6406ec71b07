#!/bin/sh
# `bcos pipeline` with the real binary: stages listed out of order run in dependency order (an
# inline job and a job file); the store's stages table records them; running again skips every
# stage; a stage interrupted by Ctrl-C (handed on to distill, which checkpoints) is recorded as
# interrupted and resumes from its checkpoint on the next run; a changed job is refused naming the
# stage, before any stage runs; bad pipeline files are refused with the JSON path.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh
FIX="$PWD/tests/fixtures"
mkdir -p "$TMP/images/landscape" "$TMP/images/other" "$TMP/jobs"
cp "$FIX/image/landscape_1200x800.jpg" "$FIX/image/progressive_400x267.jpg" "$TMP/images/landscape/"
cp "$FIX/image/grey_320x240.jpg" "$FIX/image/portrait_320x370.jpg" "$TMP/images/other/"

# distill_job STEPS LR: the distill stage's job file
distill_job() {
  cat >"$TMP/jobs/student.json" <<EOF
{"kind": "distill", "teacher": "$FIX/clip/tiny_openclip.safetensors", "teacher_model": "bcos-tiny",
 "images": "$FIX/image", "out": "$TMP/student.safetensors", "steps": $1, "warmup_steps": 1, "batch_size": 4,
 "lr": $2, "log_every": 10, "checkpoint_every": 1000}
EOF
}
distill_job 6 0.001
export JOBS="$TMP/jobs"
cat >"$TMP/p.json" <<EOF
{"name": "demo", "db": "$TMP/p.db", "stages": [
  {"name": "explain", "needs": ["student"], "job": {"kind": "explain", "weights": "$TMP/student.safetensors",
   "image": "$FIX/image/landscape_1200x800.jpg", "text": "a photo", "out": "$TMP/landscape"}},
  {"name": "student", "needs": ["shards"], "job": "\${JOBS}/student.json"},
  {"name": "shards", "job": {"kind": "shards", "folder": "$TMP/images", "out": "$TMP/ds", "max_samples": 2}}
]}
EOF

# ---- order, status before, a first run
expect_ok "$BCOS" pipeline stages "$TMP/p.json"
[ "$(cut -f1 "$TMP/out" | tr '\n' ' ')" = "shards student explain " ] && ok || bad "dependency order: $(cat "$TMP/out")"
expect_ok "$BCOS" pipeline status "$TMP/p.json"
[ "$(grep -c pending "$TMP/out")" -eq 3 ] && ok || bad "nothing ran yet: $(cat "$TMP/out")"
expect_ok "$BCOS" pipeline run "$TMP/p.json"
[ -s "$TMP/ds/test/0.tar" ] && [ -s "$TMP/student.safetensors" ] && [ -s "$TMP/landscape-explanation.png" ] && ok ||
  bad "every stage ran: $(cat "$TMP/out" "$TMP/err")"
[ "$(sql "$TMP/p.db" "SELECT stage, kind, status, run, exit_status FROM stages WHERE pipeline = 'demo' ORDER BY started_at")" = \
  "$(printf "'shards'|'shards'|'done'|None|0\n'student'|'distill'|'done'|'student'|0\n'explain'|'explain'|'done'|None|0")" ] &&
  ok || bad "the stages table: $(sql "$TMP/p.db" "SELECT * FROM stages")"
[ "$(sql "$TMP/p.db" "SELECT status FROM runs WHERE name = 'student'")" = "'done'" ] && ok || bad "the distill run is in the store"
expect_ok "$BCOS" pipeline status "$TMP/p.json"
[ "$(grep -c " done " "$TMP/out")" -eq 3 ] && grep -q "^student  *distill  *done  *student " "$TMP/out" && ok ||
  bad "status shows the stages done: $(cat "$TMP/out")"

# ---- again: every stage skipped, nothing rewritten
before=$(sha256sum "$TMP/student.safetensors" "$TMP/ds/test/0.tar")
sleep 1
touch -d '2000-01-01' "$TMP/landscape-explanation.png"
expect_ok "$BCOS" pipeline run "$TMP/p.json"
[ "$(grep -c "done with this job, skipped" "$TMP/out")" -eq 3 ] && ok || bad "a second run skips every stage: $(cat "$TMP/out")"
[ "$(sha256sum "$TMP/student.safetensors" "$TMP/ds/test/0.tar")" = "$before" ] && ok || bad "skipped stages rewrite nothing"
[ "$(date -r "$TMP/landscape-explanation.png" +%Y)" = 2000 ] && ok || bad "the explain stage did not run again"

# ---- a changed job: refused naming the stage, before any stage runs
distill_job 6 0.002
expect_fail "stage 'student': its job changed since it ran" "$BCOS" pipeline run "$TMP/p.json"
[ "$(date -r "$TMP/landscape-explanation.png" +%Y)" = 2000 ] && ok || bad "a refused pipeline runs no stage"
expect_ok "$BCOS" pipeline status "$TMP/p.json"
grep -q "^student .*done (job changed)" "$TMP/out" && ok || bad "status marks the changed job: $(cat "$TMP/out")"

# ---- an interrupted stage resumes from its checkpoint
cat >"$TMP/long-pipeline.json" <<EOF
{"name": "long", "db": "$TMP/p.db", "stages": [
  {"name": "long-student", "job": {"kind": "distill", "teacher": "$FIX/clip/tiny_openclip.safetensors",
   "teacher_model": "bcos-tiny", "images": "$FIX/image", "out": "$TMP/long.safetensors", "steps": 400,
   "warmup_steps": 1, "batch_size": 4, "lr": 0.001, "log_every": 10, "checkpoint_every": 5000}}
]}
EOF
# as a terminal's Ctrl-C: SIGINT to the pipeline's process group (setsid: the pipeline leads its own),
# handed on to the stage once (a second one would stop distill at once, without a checkpoint)
setsid "$BCOS" pipeline run "$TMP/long-pipeline.json" >"$TMP/long.log" 2>&1 &
pid=$!
for i in $(seq 1 300); do grep -q "step 30/400" "$TMP/long.log" && break; sleep 0.1; done
kill -INT "-$pid"
wait "$pid"
status=$?
[ "$status" -eq 75 ] && ok || bad "the pipeline exits 75 when its stage was stopped (got $status): $(tail -3 "$TMP/long.log")"
grep -q "stage 'long-student': interrupted (exit status 75): run the pipeline again to resume it" "$TMP/long.log" && ok ||
  bad "the pipeline says the stage was interrupted: $(tail -3 "$TMP/long.log")"
[ "$(sql "$TMP/p.db" "SELECT status, exit_status FROM stages WHERE stage = 'long-student'")" = "'interrupted'|75" ] && ok ||
  bad "the store records the interruption: $(sql "$TMP/p.db" "SELECT * FROM stages WHERE stage = 'long-student'")"
[ ! -e "$TMP/long.safetensors" ] && ok || bad "an interrupted distill writes no student"
expect_ok "$BCOS" pipeline run "$TMP/long-pipeline.json"
grep -q "run 'long-student': steps 400 (resumed at [1-9][0-9]*)" "$TMP/out" && ok ||
  bad "the second run resumes the distill run: $(grep "run '" "$TMP/out")"
[ "$(sql "$TMP/p.db" "SELECT status FROM stages WHERE stage = 'long-student'")" = "'done'" ] && ok || bad "then the stage is done"

# ---- one stage (what a Slurm job runs), and its needs
distill_job 6 0.001
expect_ok "$BCOS" pipeline run "$TMP/p.json" --stage explain
grep -q "stage 'explain' (explain): done with this job, skipped" "$TMP/out" && ok || bad "--stage skips a done stage: $(cat "$TMP/out")"
sed 's/"demo"/"fresh"/' "$TMP/p.json" >"$TMP/fresh.json"
expect_fail "stage 'explain' needs 'student', which is not done" "$BCOS" pipeline run "$TMP/fresh.json" --stage explain

# ---- bad pipeline files
# refused NEEDLE JSON
refused() {
  printf '%s\n' "$2" >"$TMP/bad.json"
  expect_fail "bad.json: $1" "$BCOS" pipeline run "$TMP/bad.json"
}
refused '$.stages[0].job.steps: expected a whole number in [1, 9007199254740992], found "2"' \
  '{"db": "'"$TMP"'/bad.db", "stages": [{"name": "a", "job": {"kind": "distill", "steps": "2"}}]}'
refused "\$.stages[0].nedds: expected one of name, job, needs, found the unknown key 'nedds'" \
  '{"stages": [{"name": "a", "nedds": [], "job": {"kind": "shards"}}]}'
refused "stage 'a' needs 'b', which is no stage of the pipeline" '{"stages": [{"name": "a", "needs": ["b"], "job": {"kind": "shards"}}]}'
refused "stage 'a' needs itself through a cycle of needs" \
  '{"stages": [{"name": "a", "needs": ["b"], "job": {"kind": "shards"}}, {"name": "b", "needs": ["a"], "job": {"kind": "shards"}}]}'
refused "\$.stages[1].name: stage 'a' is named twice" \
  '{"stages": [{"name": "a", "job": {"kind": "shards"}}, {"name": "a", "job": {"kind": "shards"}}]}'
refused '$.stages[0].job.kind: expected one of distill, eval, pretrain, explain, shards' '{"stages": [{"name": "a", "job": {"kind": "train"}}]}'
refused '$.stages: expected a list of stages' '{"stages": []}'
unset BCOS_TEST_UNSET
refused '$.db: the environment variable BCOS_TEST_UNSET is not set' '{"db": "${BCOS_TEST_UNSET}/p.db", "stages": [{"name": "a", "job": {"kind": "shards"}}]}'
refused '$.stages[0].job: the environment variable BCOS_TEST_UNSET is not set' \
  '{"stages": [{"name": "a", "job": "${BCOS_TEST_UNSET}/a.json"}]}'
[ ! -e "$TMP/bad.db" ] && ok || bad "a refused pipeline makes no store"
summarize test_pipeline
