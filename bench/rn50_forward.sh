#!/bin/sh
# CLIP ResNet image-tower forward on the CPU (default RN50): bcos against PyTorch (open_clip's
# ModifiedResNet) on the same machine, threads and batch; prints both and the ratio. Needs a build
# (build/) and the reference venv (.venv-ref, see docs/FIXTURES.md).
# Usage: bench/rn50_forward.sh [MODEL=RN50] [BATCH=8] [ITERS=5] [THREADS=nproc]
exec sh "$(dirname "$0")/compare.sh" bench_vit_forward peer_vit_forward.py "${1:-RN50}" "${2:-8}" "${3:-5}" \
  "${4:-$(nproc)}"
