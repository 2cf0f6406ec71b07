#!/bin/sh
# slurm/pipeline.sh under real Slurm daemons (tests/cli/slurm_daemons.sh): a pipeline of four stages
# (shards; a distill student; an explanation and a second explanation, which need the student and
# the shards) is submitted held, each stage a job chained with --dependency=afterok on the jobs of
# the stages it needs; released, the jobs run in that order and complete, and the store records
# every stage done. Submitted again, every job finds its stage done and skips it.
set -u
case $1 in /*) BCOS=$1 ;; *) BCOS=$PWD/$1 ;; esac
TMP=$(mktemp -d)
# munged wants its socket's directories open to every user
chmod 755 "$TMP"
. tests/cli/lib.sh
TEST_NAME=test_slurm_pipeline
. tests/cli/slurm_daemons.sh
FIX="$PWD/tests/fixtures"
mkdir -p "$TMP/images/landscape" "$TMP/images/other"
cp "$FIX/image/landscape_1200x800.jpg" "$TMP/images/landscape/"
cp "$FIX/image/grey_320x240.jpg" "$TMP/images/other/"
cat >"$TMP/p.json" <<EOF
{"name": "chain", "db": "$TMP/p.db", "stages": [
  {"name": "shards", "job": {"kind": "shards", "folder": "$TMP/images", "out": "$TMP/ds", "max_samples": 1}},
  {"name": "student", "needs": ["shards"], "job": {"kind": "distill", "teacher": "$FIX/clip/tiny_openclip.safetensors",
   "teacher_model": "bcos-tiny", "images": "$FIX/image", "out": "$TMP/student.safetensors", "steps": 4,
   "warmup_steps": 1, "batch_size": 4, "log_every": 2}},
  {"name": "explain", "needs": ["student", "shards"], "job": {"kind": "explain", "weights": "$TMP/student.safetensors",
   "image": "$FIX/image/landscape_1200x800.jpg", "text": "a photo", "out": "$TMP/landscape"}},
  {"name": "explain-grey", "needs": ["student"], "job": {"kind": "explain", "weights": "$TMP/student.safetensors",
   "image": "$FIX/image/grey_320x240.jpg", "text": "a photo", "out": "$TMP/grey"}}
]}
EOF

# submit: the stages' jobs (held), "STAGE JOBID" lines in $TMP/jobs.txt
submit() {
  BCOS="$BCOS" bash slurm/pipeline.sh "$TMP/p.json" --hold --chdir="$PWD" --cpus-per-task=1 \
    --output="$TMP/%x-%j.out" >"$TMP/jobs.txt" 2>"$TMP/submit.err" || give_up "slurm/pipeline.sh fails: $(cat "$TMP/submit.err")"
  for id in $(cut -d' ' -f2 "$TMP/jobs.txt"); do jobs="$jobs $id"; done
}
job_of() { sed -n "s/^$1 //p" "$TMP/jobs.txt"; }
# run_all: releases the held jobs and waits until every one is over
run_all() {
  ids=$(cut -d' ' -f2 "$TMP/jobs.txt" | tr '\n' ',')
  scontrol release "${ids%,}" || bad "scontrol cannot release the jobs"
  for id in $(cut -d' ' -f2 "$TMP/jobs.txt"); do
    within 120 job_over "$id" || give_up "job $id is not over within 120 s: $(cat "$TMP"/*-"$id".out)"
  done
}

start_daemons
submit
[ "$(cut -d' ' -f1 "$TMP/jobs.txt" | tr '\n' ' ')" = "shards student explain explain-grey " ] && ok ||
  bad "one job per stage, in dependency order: $(cat "$TMP/jobs.txt")"
shards=$(job_of shards) student=$(job_of student)
[ -z "$(job_field "$shards" Dependency | grep afterok)" ] && ok || bad "the first stage waits on nothing"
job_field "$student" Dependency | grep -q "^afterok:$shards" && ok ||
  bad "student waits on shards: $(job_field "$student" Dependency)"
dep=$(job_field "$(job_of explain)" Dependency)
echo "$dep" | grep -q "afterok:$student" && echo "$dep" | grep -q "afterok:$shards" && ok ||
  bad "explain waits on student and shards: $dep"
job_field "$(job_of explain-grey)" Dependency | grep -q "^afterok:$student" && ok || bad "explain-grey waits on student"
run_all
for id in $(cut -d' ' -f2 "$TMP/jobs.txt"); do
  [ "$(job_field "$id" JobState)" = COMPLETED ] && ok || bad "job $id completes: $(tail -3 "$TMP"/*-"$id".out)"
done
[ "$(sql "$TMP/p.db" "SELECT count(*) FROM stages WHERE pipeline = 'chain' AND status = 'done'")" = 4 ] && ok ||
  bad "the store has every stage done: $(sql "$TMP/p.db" "SELECT stage, status FROM stages")"
# afterok held each job back until the stages it needs were done
[ "$(sql "$TMP/p.db" "SELECT count(*) FROM stages a JOIN stages b ON b.pipeline = a.pipeline
     WHERE (a.stage, b.stage) IN (VALUES ('shards', 'student'), ('student', 'explain'), ('student', 'explain-grey'))
     AND a.finished_at <= b.started_at")" = 3 ] && ok || bad "each stage started after those it needs finished: $(sql "$TMP/p.db" "SELECT stage, started_at, finished_at FROM stages")"
[ -s "$TMP/landscape-explanation.png" ] && [ -s "$TMP/grey-explanation.png" ] && ok || bad "the explanations are written"

# again: every job finds its stage done
submit
run_all
for stage in shards student explain explain-grey; do
  grep -q "stage '$stage' ([a-z]*): done with this job, skipped" "$TMP"/*-"$(job_of "$stage")".out && ok ||
    bad "resubmitted, $stage is skipped: $(cat "$TMP"/*-"$(job_of "$stage")".out)"
done
summarize test_slurm_pipeline
