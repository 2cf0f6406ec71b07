#!/bin/sh
# Shared by the CPU benchmarks: runs one of our benchmark binaries and its Python peer with the same
# three arguments and the same threads, prints both lines and the ratio of their img/s (measured on
# the same cores, so also the ratio per core). With TARGET set, says whether the ratio reaches it.
# Our binary gets THREADS as a fourth argument and as OPENBLAS_NUM_THREADS; the model benchmarks
# take MODEL BATCH ITERS and leave THREADS to OpenBLAS, bench_preprocess takes TASK URLS PASSES.
# Usage: [TARGET=X] bench/compare.sh BENCH_BINARY PEER_SCRIPT ARG1 ARG2 ARG3 THREADS
set -eu
cd "$(dirname "$0")/.."
BIN=$1 PEER=$2 A1=$3 A2=$4 A3=$5 THREADS=$6
ours=$(OPENBLAS_NUM_THREADS=$THREADS "build/bench/$BIN" "$A1" "$A2" "$A3" "$THREADS")
peer=$(.venv-ref/bin/python "bench/$PEER" "$A1" "$A2" "$A3" "$THREADS" 2>/dev/null)
echo "$ours"
echo "$peer"
rate() { echo "$1" | sed -E 's/.* ([0-9.]+) img\/s.*/\1/'; }
ratio=$(echo "$(rate "$ours") $(rate "$peer")" | awk '{printf "%.2f", $1 / $2}')
verdict=""
if [ -n "${TARGET:-}" ]; then
  verdict=$(echo "$ratio $TARGET" | awk '{print ($1 >= $2 ? "; target >= " $2 "x: met" : "; target >= " $2 "x: MISSED")}')
fi
echo "ratio bcos/peer: ${ratio}x$verdict ($(date -u +%F), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
