#!/bin/sh
# `bcos distill` of a ResNet teacher (the tiny bcos-tiny-rn) into its B-cos student: 2 ranks follow the
# single process's loss curve within 1e-4 (relative), since uncentered BatchNorm takes its statistics over
# the global batch (the ranks sum them); with per_rank_bn each rank normalises with its own images'
# statistics (the reference's per-GPU BatchNorm) and the curve departs from the single process's. The
# reference's setting, jobs/distill-rn50-siglip.json, runs with its teacher and data overridden. The
# trained student is used by weights info, encode-image and explain (completeness reported). One thread and
# three train the same student, bit for bit.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

use_mpirun
losses() { sql "$1" "SELECT loss FROM metrics JOIN runs r ON r.id = run_id WHERE r.name = '$2' ORDER BY step"; }
# close A B TOL: the two files of numbers agree line by line within relative TOL, and have as many lines
close() { python3 -c "import sys
a=[float(x) for x in open(sys.argv[1])]; b=[float(x) for x in open(sys.argv[2])]
sys.exit(not (len(a)==len(b)>0 and all(abs(x-y)<=float(sys.argv[3])*max(abs(x),1e-12) for x,y in zip(a,b))))" "$1" "$2" "$3"; }

RN="jobs/distill-tiny.json --teacher tests/fixtures/clip/tiny_rn_openclip.safetensors --teacher-model bcos-tiny-rn"
RN="$RN --steps 12 --log-every 4"
for loss in cosine siglip; do
  "$BCOS" distill $RN --loss $loss --db "$TMP/one.db" --run $loss --out "$TMP/one-$loss.safetensors" \
    >/dev/null 2>"$TMP/err" && ok || bad "1 process, $loss: $(cat "$TMP/err")"
  $MPIRUN 2 "$BCOS" distill $RN --loss $loss --db "$TMP/two.db" --run $loss --out "$TMP/two-$loss.safetensors" \
    >/dev/null 2>"$TMP/err" && ok || bad "2 ranks, $loss: $(cat "$TMP/err")"
  losses "$TMP/one.db" $loss >"$TMP/one.loss"
  losses "$TMP/two.db" $loss >"$TMP/two.loss"
  close "$TMP/one.loss" "$TMP/two.loss" 1e-4 && ok || bad "$loss: 2 ranks follow the single process: $(paste "$TMP/one.loss" "$TMP/two.loss" | head -4)"
done
$MPIRUN 2 "$BCOS" distill $RN --per-rank-bn true --db "$TMP/two.db" --run per-rank --out "$TMP/per-rank.safetensors" \
  >/dev/null 2>"$TMP/err" && ok || bad "2 ranks, per-rank statistics: $(cat "$TMP/err")"
losses "$TMP/two.db" per-rank >"$TMP/per-rank.loss"
losses "$TMP/one.db" cosine >"$TMP/one.loss"
close "$TMP/one.loss" "$TMP/per-rank.loss" 1e-4 && bad "per-rank statistics give the global batch's losses" || ok

# the CPU's threads change no number: the convolutions' images and output channels go over threads only
# when there are enough of them, each element computed as one thread computes it
for threads in 1 3; do
  OPENBLAS_NUM_THREADS=$threads "$BCOS" distill $RN --steps 3 --db "$TMP/threads.db" --run "t$threads" \
    --out "$TMP/threads-$threads.safetensors" >/dev/null 2>"$TMP/err" && ok || bad "$threads threads: $(cat "$TMP/err")"
done
cmp -s "$TMP/threads-1.safetensors" "$TMP/threads-3.safetensors" && ok || bad "1 and 3 threads train the same student"

# the reference's job: siglip, Adam 1e-4, AGC 0.01, B 2, no biases (teacher and data overridden)
RN50_WEIGHTS=unused TRAIN_SHARDS=unused "$BCOS" distill jobs/distill-rn50-siglip.json --teacher tests/fixtures/clip/tiny_rn_openclip.safetensors \
  --teacher-model bcos-tiny-rn --shards "" --images tests/fixtures/image --steps 2 --batch-size 8 \
  --checkpoint-minutes 0 --db "$TMP/job.db" --out "$TMP/job.safetensors" >"$TMP/out" 2>"$TMP/err" \
  && ok || bad "jobs/distill-rn50-siglip.json: $(cat "$TMP/err")"
grep -q "^run 'distill-rn50-siglip': steps 2" "$TMP/out" && ok || bad "the job's run: $(cat "$TMP/out")"

S="$TMP/one-cosine.safetensors"
"$BCOS" weights info "$S" >"$TMP/out" 2>&1 && grep -q "B-cos ResNet student of config bcos-tiny-rn" "$TMP/out" \
  && ok || bad "weights info: $(cat "$TMP/out")"
"$BCOS" encode-image --weights "$S" tests/fixtures/image/cmyk_240x160.jpg >"$TMP/out" 2>&1 \
  && [ "$(awk '{print NF}' "$TMP/out")" -eq 33 ] && ok || bad "encode-image: $(cat "$TMP/out")"
"$BCOS" explain --weights "$S" --text "a photo of a dog" --image tests/fixtures/image/cmyk_240x160.jpg \
  --out "$TMP/x" >"$TMP/out" 2>&1 && ok || bad "explain: $(cat "$TMP/out")"
python3 -c "import re,sys
m=re.search(r'completeness error ([0-9.e+-]+)', open(sys.argv[1]).read()); sys.exit(not (m and float(m.group(1)) < 1e-4))" \
  "$TMP/out" && ok || bad "explain's completeness: $(cat "$TMP/out")"
[ -s "$TMP/x-explanation.png" ] && ok || bad "explain writes its picture"

summarize test_distill_rn
