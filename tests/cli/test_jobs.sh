#!/bin/sh
# Job files with the real binary: schemas/job.schema.json is what `bcos jobs schema` writes; `bcos run`
# runs each kind (shards, distill, eval, explain) from job files whose paths use ${VAR}; and bad job
# files (wrong types, unknown keys, ranges, choices, a missing teacher, an unset variable, an
# unreachable URL, an unwritable store or output) are refused with one line naming the JSON path,
# what was expected and what was found, before any work: no store, no output is left behind.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

# ---- the committed schema is the generated one
"$BCOS" jobs schema >"$TMP/schema.json" && ok || bad "bcos jobs schema fails"
cmp -s "$TMP/schema.json" schemas/job.schema.json && ok ||
  bad "schemas/job.schema.json is out of date: run 'build/bcos jobs schema > schemas/job.schema.json'"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert {'distill','eval','explain','shards'} <= set(d['\$defs'])" \
  "$TMP/schema.json" && ok || bad "the schema describes every kind"

# ---- the committed job and pipeline files are valid (the variables of the ones a user points at
# their own weights and shards: fixtures here)
export RN50_WEIGHTS=tests/fixtures/clip/tiny_rn_openclip.safetensors TRAIN_SHARDS=tests/fixtures/webdataset/peer/ustar-000000.tar
export DATA="$TMP/data"
mkdir -p "$DATA/fashion-mnist/train"
for i in 0 1 2 3 4 5; do cp "$TRAIN_SHARDS" "$DATA/fashion-mnist/train/$i.tar"; done
for job in jobs/*.json; do expect_ok "$BCOS" jobs check "$job"; done
for pipeline in pipeline/*.json; do expect_ok "$BCOS" pipeline stages "$pipeline"; done

# ---- every kind through bcos run, paths through ${VAR}
export FIX="$PWD/tests/fixtures" OUT="$TMP/work"
mkdir -p "$TMP/images/landscape" "$TMP/images/other" "$OUT"
cp tests/fixtures/image/landscape_1200x800.jpg tests/fixtures/image/progressive_400x267.jpg "$TMP/images/landscape/"
cp tests/fixtures/image/grey_320x240.jpg tests/fixtures/image/portrait_320x370.jpg "$TMP/images/other/"
export IMAGES="$TMP/images"
cat >"$TMP/shards.json" <<'EOF'
{"kind": "shards", "folder": "${IMAGES}", "out": "${OUT}/ds", "max_samples": 4, "captions": true}
EOF
expect_ok "$BCOS" run "$TMP/shards.json"
[ -s "$OUT/ds/test/0.tar" ] && [ -s "$OUT/ds/classnames.txt" ] && ok || bad "the shards job writes the dataset"
cat >"$TMP/tiny.json" <<'EOF'
{"kind": "distill", "teacher": "${FIX}/clip/tiny_openclip.safetensors", "teacher_model": "bcos-tiny",
 "images": "${FIX}/image", "out": "${OUT}/student.safetensors", "db": "${OUT}/jobs.db", "steps": 4,
 "warmup_steps": 1, "batch_size": 4, "lr": 0.001, "log_every": 2}
EOF
expect_ok "$BCOS" jobs check "$TMP/tiny.json"
grep -qF "tiny.json: a valid distill job" "$TMP/out" && ok || bad "jobs check says the job is valid: $(cat "$TMP/out")"
expect_ok "$BCOS" run "$TMP/tiny.json"
grep -q "run 'tiny': steps 4" "$TMP/out" && ok || bad "the distill job runs under the job file's name: $(cat "$TMP/out")"
[ -s "$OUT/student.safetensors" ] && ok || bad "the distill job writes the student"
cat >"$TMP/eval.json" <<'EOF'
{"kind": "eval", "weights": "${FIX}/clip/tiny_openclip.safetensors", "model": "bcos-tiny", "datasets": "ds",
 "dataset_root": "${OUT}/{dataset}", "db": "${OUT}/jobs.db", "name": "teacher-eval", "batch_size": 2}
EOF
expect_ok "$BCOS" run "$TMP/eval.json"
[ "$(sql "$OUT/jobs.db" "SELECT count(*) FROM eval_results e JOIN runs r ON r.id = e.run_id WHERE r.name = 'teacher-eval'")" -gt 0 ] &&
  ok || bad "the eval job stores its results: $(cat "$TMP/err")"
cat >"$TMP/explain.json" <<'EOF'
{"kind": "explain", "weights": "${OUT}/student.safetensors", "image": "${FIX}/image/landscape_1200x800.jpg",
 "text": "a photo of a landscape", "out": "${OUT}/landscape"}
EOF
expect_ok "$BCOS" run "$TMP/explain.json"
[ -s "$OUT/landscape-explanation.png" ] && ok || bad "the explain job writes the pictures"
# flags still win over a job file given to the command itself
expect_ok "$BCOS" explain "$TMP/explain.json" --out "$OUT/flag"
[ -s "$OUT/flag-composite.png" ] && ok || bad "a flag wins over the job's option"

# ---- bad job files: refused before any work, nothing written
# refused NEEDLE JSON: the job file refused by bcos run with one line holding NEEDLE, no store made
refused() {
  printf '%s\n' "$2" >"$TMP/bad.json"
  rm -f "$TMP/bad.db" "$TMP/bad.safetensors"
  expect_fail "bad.json: $1" "$BCOS" run "$TMP/bad.json"
  [ ! -e "$TMP/bad.db" ] && [ ! -e "$TMP/bad.safetensors" ] && ok || bad "a refused job leaves files: $2"
}
T="\"teacher\": \"$FIX/clip/tiny_openclip.safetensors\", \"images\": \"$FIX/image\", \"db\": \"$TMP/bad.db\", \"out\": \"$TMP/bad.safetensors\""
refused '$.lr: expected a number greater than 0, found "0.1"' "{\"kind\": \"distill\", $T, \"lr\": \"0.1\"}"
refused '$.steps: expected a whole number in [1, 9007199254740992], found 2.5' "{\"kind\": \"distill\", $T, \"steps\": 2.5}"
refused '$.keep_biases: expected true or false, found "yes"' "{\"kind\": \"distill\", $T, \"keep_biases\": \"yes\"}"
refused "\$.stepz: expected an option of distill jobs (bcos jobs schema), found the unknown key 'stepz'" \
  "{\"kind\": \"distill\", $T, \"stepz\": 3}"
refused '$.beta2: expected a number in [0, 1), found 1' "{\"kind\": \"distill\", $T, \"beta2\": 1}"
refused '$.loss: expected one of cosine|siglip, found "l2"' "{\"kind\": \"distill\", $T, \"loss\": \"l2\"}"
refused '$.kind: expected one of distill, eval, pretrain, explain, shards, found "train"' '{"kind": "train"}'
refused '$: expected a JSON object, found an array' '[{"kind": "distill"}]'
refused "\$.teacher: expected an existing file or folder, found \"$TMP/missing.safetensors\" (No such file or directory)" \
  "{\"kind\": \"distill\", \"teacher\": \"$TMP/missing.safetensors\", \"images\": \"$FIX/image\", \"db\": \"$TMP/bad.db\"}"
unset BCOS_TEST_MODELS
refused '$.teacher: the environment variable BCOS_TEST_MODELS is not set (in "${BCOS_TEST_MODELS}/t.safetensors")' \
  '{"kind": "distill", "teacher": "${BCOS_TEST_MODELS}/t.safetensors"}'
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
start=$(date +%s)
refused "\$.shards: expected shards that answer, found \"http://127.0.0.1:$port/train-0.tar\"" \
  "{\"kind\": \"distill\", \"teacher\": \"$FIX/clip/tiny_openclip.safetensors\", \"shards\": \"http://127.0.0.1:$port/train-{0..3}.tar\", \"db\": \"$TMP/bad.db\"}"
[ $(($(date +%s) - start)) -le 10 ] && ok || bad "the probe of an unreachable URL is quick"
refused "\$.shards: expected an existing file or folder, found \"$TMP/train-0.tar\"" \
  "{\"kind\": \"distill\", \"teacher\": \"$FIX/clip/tiny_openclip.safetensors\", \"shards\": \"$TMP/train-{0..1}.tar\", \"db\": \"$TMP/bad.db\"}"
touch "$TMP/train-0.tar"
refused "\$.shards: expected an existing file or folder, found \"$TMP/train-1.tar\"" \
  "{\"kind\": \"distill\", \"teacher\": \"$FIX/clip/tiny_openclip.safetensors\", \"shards\": \"$TMP/train-{0..1}.tar\", \"db\": \"$TMP/bad.db\"}"
touch "$TMP/plain-file"
refused "\$.db: expected a store that can be written, found \"$TMP/plain-file/s.db\" ($TMP/plain-file is not a folder)" \
  "{\"kind\": \"distill\", \"teacher\": \"$FIX/clip/tiny_openclip.safetensors\", \"images\": \"$FIX/image\", \"db\": \"$TMP/plain-file/s.db\"}"
refused "\$.db: expected a store that can be written, found \"$TMP/no-folder/s.db\" (its folder $TMP/no-folder: No such file or directory)" \
  "{\"kind\": \"distill\", \"teacher\": \"$FIX/clip/tiny_openclip.safetensors\", \"images\": \"$FIX/image\", \"db\": \"$TMP/no-folder/s.db\"}"
refused "\$.out: expected a path that can be written, found \"$TMP/plain-file/ds\"" \
  "{\"kind\": \"shards\", \"folder\": \"$IMAGES\", \"out\": \"$TMP/plain-file/ds\"}"
# the default store ($BCOS_DB) is checked too when the job names none
printf '{"kind": "eval", "weights": "%s", "datasets": "ds", "dataset_root": "%s"}\n' "$FIX/clip/tiny_openclip.safetensors" \
  "$OUT/{dataset}" >"$TMP/eval-default.json"
expect_fail "\$.db: expected a store that can be written (the default one), found \"$TMP/plain-file/default.db\"" \
  env BCOS_DB="$TMP/plain-file/default.db" "$BCOS" run "$TMP/eval-default.json"
if [ "$(id -u)" = 0 ]; then
  mkdir "$TMP/ro"
  if mount -t tmpfs -o ro,size=1m tmpfs "$TMP/ro"; then
    refused "\$.db: expected a store that can be written, found \"$TMP/ro/s.db\" (its folder $TMP/ro: Read-only file system)" \
      "{\"kind\": \"distill\", \"teacher\": \"$FIX/clip/tiny_openclip.safetensors\", \"images\": \"$FIX/image\", \"db\": \"$TMP/ro/s.db\"}"
    umount "$TMP/ro"
  else
    bad "cannot mount a read-only tmpfs (needed as root)"
  fi
fi
expect_fail "usage" "$BCOS" run
summarize test_jobs
