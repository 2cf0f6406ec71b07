#!/bin/sh
# Zero-shot evaluation end to end on the CPU: `bcos eval` against CLIP_benchmark's own CLI (bench/peer_eval.py
# runs clip_benchmark.cli.main after registering our configs with open_clip, since the `clip_benchmark`
# command cannot name a local config such as bcos-tiny) on the same weights, shards, batch and threads;
# each side timed from start to end (model load, classifier, every image), img/s and the ratio printed,
# and both acc1 printed as the check that the two computed the same thing.
#   a) the tiny CLIP (tests/fixtures/clip/tiny_openclip.safetensors) on the first SHARDS shards of
#      DATA_DIR/cifar10-jpeg, where the data path dominates: target 2x;
#   b) ViT-B-32 with random weights (open_clip's init, seed 0, written once to a temporary file) on
#      DATA_DIR/imagenet-sample with its first TEMPLATES templates, where the GEMMs dominate: target 1x.
# Our side reads the shards over HTTP from build/bcos_test_server instead with HTTP=1.
# Needs a Release build (build/) and the reference venv (.venv-ref).
# Usage: [HTTP=1] bench/eval.sh DATA_DIR [SHARDS=10] [TEMPLATES=80] [THREADS=nproc] [BATCH=64]
set -eu
cd "$(dirname "$0")/.."
DATA=${1:?usage: bench/eval.sh DATA_DIR [SHARDS] [TEMPLATES] [THREADS] [BATCH]}
SHARDS=${2:-10} TEMPLATES=${3:-80} THREADS=${4:-$(nproc)} BATCH=${5:-64}
DATA=$(cd "$DATA" && pwd)
TMP=$(mktemp -d)
server=""
trap '[ -z "$server" ] || kill $server 2>/dev/null; rm -rf "$TMP"' EXIT
PY=.venv-ref/bin/python

# A dataset NAME in TMP/data: SRC's metadata, its first N shards and its first T templates.
subset() { # NAME SRC N T
  mkdir -p "$TMP/data/$1/test"
  cp "$2/classnames.txt" "$TMP/data/$1/"
  head -n "$4" "$2/zeroshot_classification_templates.txt" > "$TMP/data/$1/zeroshot_classification_templates.txt"
  echo "$3" > "$TMP/data/$1/test/nshards.txt"
  i=0
  while [ "$i" -lt "$3" ]; do ln -s "$2/test/$i.tar" "$TMP/data/$1/test/$i.tar"; i=$((i + 1)); done
}

ROOT="$TMP/data/{dataset}"
if [ "${HTTP:-}" = 1 ]; then
  build/bcos_test_server "$TMP/data" > "$TMP/server.txt" &
  server=$!
  while [ ! -s "$TMP/server.txt" ]; do sleep 0.1; done
  ROOT="$(head -n1 "$TMP/server.txt" | grep -o 'http://[^ ]*')/{dataset}"
fi

now() { date +%s.%N; }
field() { "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["samples"] if sys.argv[2] == "samples" else "%.4f" % r["metrics"]["acc1"])' "$1" "$2"; }
rate() { echo "$1" | sed -E 's/.* ([0-9.]+) img\/s.*/\1/'; }

compare() { # NAME MODEL WEIGHTS TARGET
  mkdir -p "$TMP/$1"
  t0=$(now)
  OPENBLAS_NUM_THREADS=$THREADS build/bcos eval --weights "$3" --model "$2" --datasets "$1" --dataset-root "$ROOT" \
    --batch-size "$BATCH" --db "$TMP/$1/bcos.db" --output-dir "$TMP/$1" > "$TMP/$1/ours.log" 2>&1
  t1=$(now)
  result=$(ls "$TMP/$1"/*.json)
  images=$(field "$result" samples)
  ours_acc1=$(field "$result" acc1)
  ours=$(echo "$t0 $t1 $images" | awk '{printf "%d images in %.1f s, %.2f img/s", $3, $2 - $1, $3 / ($2 - $1)}')
  echo "bcos eval $2: $ours, acc1 $ours_acc1 (OpenBLAS, $THREADS threads${server:+, shards over HTTP})"
  peer=$("$PY" bench/peer_eval.py run "$2" "$3" "$TMP/data/$1" "$BATCH" "$THREADS" "$TMP/$1" 2>/dev/null)
  echo "$peer"
  peer_acc1=$(echo "$peer" | sed -E 's/.*acc1 ([0-9.]+).*/\1/')
  agree=$([ "$ours_acc1" = "$peer_acc1" ] && echo "acc1 agrees" || echo "acc1 DIFFERS")
  ratio=$(echo "$(rate "$ours") $(rate "$peer")" | awk '{printf "%.2f", $1 / $2}')
  verdict=$(echo "$ratio $4" | awk '{print ($1 >= $2 ? "target >= " $2 "x: met" : "target >= " $2 "x: MISSED")}')
  echo "ratio bcos/peer: ${ratio}x; $verdict; $agree ($(date -u +%F), $(nproc) cores," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
}

subset cifar10 "$DATA/cifar10-jpeg" "$SHARDS" 1000
echo "== a) tiny CLIP (bcos-tiny) on cifar10-jpeg, shards 0..$((SHARDS - 1)), batch $BATCH"
compare cifar10 bcos-tiny tests/fixtures/clip/tiny_openclip.safetensors 2

subset imagenet "$DATA/imagenet-sample" "$(cat "$DATA/imagenet-sample/test/nshards.txt")" "$TEMPLATES"
"$PY" bench/peer_eval.py init ViT-B-32 "$TMP/vit-b-32.safetensors" 2>/dev/null
echo "== b) ViT-B-32, random weights, on imagenet-sample ($TEMPLATES templates), batch $BATCH"
compare imagenet ViT-B-32 "$TMP/vit-b-32.safetensors" 1
