#!/bin/sh
# CLIP image-tower forward on the CPU: bcos against PyTorch (open_clip) on the same machine, the
# same number of threads and the same batch; prints both and the ratio. Needs a build (build/) and
# the reference venv (.venv-ref, see docs/FIXTURES.md).
# Usage: bench/vit_forward.sh [MODEL=ViT-B-16] [BATCH=8] [ITERS=5] [THREADS=nproc]
exec sh "$(dirname "$0")/compare.sh" bench_vit_forward peer_vit_forward.py "${1:-ViT-B-16}" "${2:-8}" "${3:-5}" \
  "${4:-$(nproc)}"
