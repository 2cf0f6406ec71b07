#!/bin/sh
# CLIP image-tower forward on the CPU: bcos against PyTorch (open_clip) on the same machine, the
# same number of threads and the same batch; prints both and the ratio. Needs a build (build/) and
# the reference venv (.venv-ref, see docs/FIXTURES.md).
# Usage: bench/vit_forward.sh [MODEL=ViT-B-16] [BATCH=8] [ITERS=5] [THREADS=nproc]
set -eu
cd "$(dirname "$0")/.."
MODEL=${1:-ViT-B-16} BATCH=${2:-8} ITERS=${3:-5} THREADS=${4:-$(nproc)}
ours=$(OPENBLAS_NUM_THREADS=$THREADS build/bench/bench_vit_forward "$MODEL" "$BATCH" "$ITERS")
peer=$(.venv-ref/bin/python bench/peer_vit_forward.py "$MODEL" "$BATCH" "$ITERS" "$THREADS" 2>/dev/null)
echo "$ours"
echo "$peer"
rate() { echo "$1" | sed -E 's/.* ([0-9.]+) img\/s.*/\1/'; }
echo "ratio bcos/torch: $(echo "$(rate "$ours") $(rate "$peer")" | awk '{printf "%.2f", $1 / $2}')x"
