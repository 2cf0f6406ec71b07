#!/bin/sh
# bench/gpu_check.sh, the check a lent GPU machine runs, on this machine without a GPU, with this build
# (GPU_CHECK_BIN): it must finish, leave at most the eight files the device tool brings back under $OUT
# (named as it allows), and report the CUDA checks as NOT RUN, never as passed. Needs a build with the
# CUDA backend; without one it says so and checks nothing.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

BIN=$(cd "$(dirname "$BCOS")" && pwd)
if "$BCOS" distill --teacher x --images y --run r --device cuda 2>&1 | grep -q "has no CUDA backend"; then
  echo "test_gpu_check: this build has no CUDA backend: nothing checked"
  summarize test_gpu_check
  exit
fi
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  echo "test_gpu_check: a GPU is present: bench/gpu_check.sh is run by hand here, not by this test"
  summarize test_gpu_check
  exit
fi

# The peer is left out (GPU_CHECK_MODES=fp32 with no GPU for torch stops at once, torch or not).
if env OUT="$TMP/out" GPU_CHECK_BIN="$BIN" GPU_CHECK_MODES=fp32 sh bench/gpu_check.sh >"$TMP/log" 2>&1; then ok; else
  bad "gpu_check.sh failed: $(cat "$TMP/log")"; fi
n=$(find "$TMP/out" -type f | wc -l)
[ "$n" -ge 4 ] && [ "$n" -le 8 ] && ok || bad "gpu_check.sh left $n files under OUT (4 to 8 expected)"
find "$TMP/out" -type f | sed 's|.*/||' | grep -v -E '^[A-Za-z0-9._-]+$' && bad "a file name the device tool does not bring back" || ok
for line in "op test cuda: NOT RUN" "op test cuda-bf16: NOT RUN" "nccl sum (one rank): NOT RUN" \
  "bench_cuda_block cuda: NOT RUN" "distill step on the GPU: not run"; do
  grep -qF "$line" "$TMP/out/summary.txt" && ok || bad "summary lacks '$line': $(cat "$TMP/out/summary.txt")"
done
grep -q "PASS" "$TMP/out/summary.txt" && bad "a check passed without a GPU: $(cat "$TMP/out/summary.txt")" || ok
tail -n +2 "$TMP/log" | grep -qF -- "--- summary" && ok || bad "the summary comes last: $(cat "$TMP/log")"

summarize test_gpu_check
