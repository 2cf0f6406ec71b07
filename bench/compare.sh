#!/bin/sh
# Shared by the CPU benchmarks: runs one of our benchmark binaries and its PyTorch peer with the same
# arguments and threads, prints both lines and the ratio of their img/s.
# Usage: bench/compare.sh BENCH_BINARY PEER_SCRIPT MODEL BATCH ITERS THREADS
set -eu
cd "$(dirname "$0")/.."
BIN=$1 PEER=$2 MODEL=$3 BATCH=$4 ITERS=$5 THREADS=$6
ours=$(OPENBLAS_NUM_THREADS=$THREADS "build/bench/$BIN" "$MODEL" "$BATCH" "$ITERS")
peer=$(.venv-ref/bin/python "bench/$PEER" "$MODEL" "$BATCH" "$ITERS" "$THREADS" 2>/dev/null)
echo "$ours"
echo "$peer"
rate() { echo "$1" | sed -E 's/.* ([0-9.]+) img\/s.*/\1/'; }
echo "ratio bcos/torch: $(echo "$(rate "$ours") $(rate "$peer")" | awk '{printf "%.2f", $1 / $2}')x ($(date -u +%F), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
