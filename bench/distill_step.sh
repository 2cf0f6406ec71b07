#!/bin/sh
# One distillation step on the CPU (teacher forward, B-cos student forward and backward, cosine loss,
# AdamW): bcos against PyTorch on the same machine, threads and batch; prints both and the ratio.
# Needs a build (build/) and the reference venv (.venv-ref, see docs/FIXTURES.md).
# Usage: bench/distill_step.sh [MODEL=bcos-tiny] [BATCH=32] [ITERS=5] [THREADS=nproc]
exec sh "$(dirname "$0")/compare.sh" bench_distill_step peer_distill_step.py "${1:-bcos-tiny}" "${2:-32}" "${3:-5}" \
  "${4:-$(nproc)}"
