#!/bin/sh
# One distillation step of a CLIP ResNet (default RN50) on the CPU: teacher forward, the B-cos ResNet
# student's forward and backward in training mode (batch statistics), cosine loss, AdamW; bcos against
# PyTorch eager on the same machine, threads and batch; prints both and the ratio. Needs a build (build/)
# and the reference venv (.venv-ref, see docs/FIXTURES.md).
# Usage: bench/rn50_distill_step.sh [MODEL=RN50] [BATCH=8] [ITERS=3] [THREADS=nproc]
exec sh "$(dirname "$0")/compare.sh" bench_distill_step peer_rn_distill_step.py "${1:-RN50}" "${2:-8}" "${3:-3}" \
  "${4:-$(nproc)}"
