#!/bin/sh
# Decoding and preprocessing of real photos from WebDataset shards on the CPU, as the data path feeds
# a 224-pixel model: bcos against Python (PIL, open_clip, torchvision, webdataset) on the same cores
# (bench/compare.sh), the exact output checked against PIL's image by image, the fast decoding mode's
# speed and its difference from the exact one, and the loader against itself (1 and 2 worker
# threads, HTTP from the local test server against disk). Each measurement runs twice, to show the
# spread on a shared machine. Needs a Release build (build/) and the reference venv (.venv-ref).
# Usage: bench/preprocess.sh SHARD_DIR [SHARDS=4] [PASSES=3]
# SHARD_DIR holds WebDataset shards {0..SHARDS-1}.tar of photos (docs/PERF.md says which we measure).
set -eu
cd "$(dirname "$0")/.."
DIR=${1:?usage: bench/preprocess.sh SHARD_DIR [SHARDS] [PASSES]} SHARDS=${2:-4} PASSES=${3:-3}
URLS="$DIR/{0..$((SHARDS - 1))}.tar"
BENCH=build/bench/bench_preprocess

twice() { "$@"; "$@"; }
compare() { # TARGET TASK THREADS
  twice env TARGET="$1" sh bench/compare.sh bench_preprocess peer_preprocess.py "$2" "$URLS" "$PASSES" "$3"
}
rate() { echo "$1" | sed -E 's/.* ([0-9.]+) img\/s.*/\1/'; }
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }

echo "== a) decoding alone: TurboJPEG against PIL's Image.open(f).convert(\"RGB\"), images in memory"
for threads in 1 2; do compare "" decode $threads; done

echo "== b) decoding + evaluation preprocessing (224, PIL-exact) against PIL + open_clip's image_transform"
for threads in 1 2; do compare 2 eval $threads; done
echo "   the same through the loaders: ours reading the shards, webdataset + torch DataLoader"
for threads in 1 2; do compare 2 loader $threads; done
"$BENCH" digest "$URLS" 1 1 > /tmp/bcos_digest_ours.txt
.venv-ref/bin/python bench/peer_preprocess.py digest "$URLS" 1 1 > /tmp/bcos_digest_pil.txt 2>/dev/null
echo "   PIL-exact: $(diff /tmp/bcos_digest_ours.txt /tmp/bcos_digest_pil.txt | grep -c '^<' || true) of" \
  "$(wc -l < /tmp/bcos_digest_pil.txt) centre crops differ from PIL's"

echo "== c) fast decoding (JPEG DCT scaling to 1/2, 1/4, 1/8 where the image stays >= 168, 3/4 of 224) against the same peers"
for threads in 1 2; do compare 3 eval-fast $threads; done
for threads in 1 2; do compare 3 loader-fast $threads; done
"$BENCH" diff "$URLS" 1 1

echo "== training crops (random resized crop + flip, B-cos input and CLIP tensor) against torchvision's"
for threads in 1 2; do compare "" train $threads; done

# Two loader runs (URLS_A on THREADS_A workers, then B) and B's rate over A's, twice.
loader_ratio() { # WHAT URLS_A THREADS_A URLS_B THREADS_B
  for run in 1 2; do
    a=$("$BENCH" loader "$2" "$PASSES" "$3")
    b=$("$BENCH" loader "$4" "$PASSES" "$5")
    echo "$a"
    echo "$b"
    echo "$1: $(ratio "$(rate "$b")" "$(rate "$a")")x"
  done
}

echo "== d) the loader: 2 worker threads against 1, reading from disk"
loader_ratio "2 threads / 1 thread" "$URLS" 1 "$URLS" 2
echo "   over HTTP from the local test server (second line) against disk, 2 worker threads"
build/bcos_test_server "$DIR" > /tmp/bcos_bench_server.txt &
server=$!
trap 'kill $server 2>/dev/null' EXIT
while [ ! -s /tmp/bcos_bench_server.txt ]; do sleep 0.1; done
loader_ratio "HTTP / disk" "$URLS" 2 "$(head -1 /tmp/bcos_bench_server.txt){0..$((SHARDS - 1))}.tar" 2
