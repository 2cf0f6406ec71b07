#!/bin/sh
# The CUDA backend's check on a lent H100 or H200, in one call of about 5 minutes: it builds, runs the op
# test on both CUDA backends against the float64 oracle (and the NCCL sum), times a ViT-B/16 block pair on
# our kernels, then the PyTorch peer of the distill step (eager fp32, eager bf16, torch.compile, and
# torch.compile with the teacher cached). Each result goes under $OUT as soon as it is known, so a call cut
# short still returns what it got; a summary comes last. Files (six, within the device tool's eight):
#   build.log    the machine (nvidia-smi, nvcc, torch) and the build, or why the carried binaries were used
#   tests.txt    test_backend_ops cuda, cuda-bf16 and test_nccl_world
#   blocks.txt   bench_cuda_block on cuda and cuda-bf16 at batch 256
#   peer.jsonl   one JSON line per peer mode; peer.log its output
#   summary.txt  the table printed last
# The GPU machine may lack this project's libraries (OpenBLAS, libcurl, ...; nothing can be installed
# there). Then it runs binaries built here instead: `sh bench/gpu_check.sh --prepare` builds them (CUDA on,
# sm_90) and packs them with the libraries they need, except glibc and CUDA's, into .gpucarry/ (ignored by
# git), which the device call must carry. The call, from the repository root:
#   run(command="sh bench/gpu_check.sh", carry=[".gpucarry"], timeout_s=480)
# Knobs: GPU_CHECK_BATCH (256), GPU_CHECK_ITERS (8), GPU_CHECK_MODES (the peer's modes), GPU_CHECK_CARRIED=1
# (use the carried binaries even where a build could be tried), GPU_CHECK_BIN=DIR (use the build in DIR:
# tests/cli/test_gpu_check.sh runs the script so on a machine without a GPU).
set -u
CARRY=.gpucarry
BATCH=${GPU_CHECK_BATCH:-256}
ITERS=${GPU_CHECK_ITERS:-8}
MODES=${GPU_CHECK_MODES:-fp32,bf16,compile,compile-student}
TARGETS="test_backend_ops test_nccl_world bench_cuda_block"

# --prepare (here): the fallback binaries and their non-system, non-CUDA libraries, packed.
if [ "${1:-}" = --prepare ]; then
  set -e
  cmake -S . -B build-gpucarry -DBCOS_CUDA=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
  # shellcheck disable=SC2086 # the targets are words
  cmake --build build-gpucarry -j2 --target $TARGETS >/dev/null
  rm -rf "$CARRY" && mkdir -p "$CARRY/pack/bin" "$CARRY/pack/lib"
  for t in $TARGETS; do cp "$(find build-gpucarry -name "$t" -type f -perm -u+x | head -1)" "$CARRY/pack/bin/"; done
  for b in "$CARRY"/pack/bin/*; do ldd "$b"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libdl|libpthread|librt|ld-linux-x86-64|libgcc_s|libstdc\+\+)\.so|cuda|cublas|nccl' |
    while read -r lib; do cp -L "$lib" "$CARRY/pack/lib/"; done
  tar -C "$CARRY/pack" -czf "$CARRY/bundle.tar.gz" bin lib && rm -rf "$CARRY/pack"
  echo "gpu_check: packed $(du -h "$CARRY/bundle.tar.gz" | cut -f1) into $CARRY/bundle.tar.gz: carry $CARRY"
  exit 0
fi

OUT=${OUT:-gpu_out}
# The toolkit's nvcc, where an image leaves it off PATH.
for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do [ -x "$d/nvcc" ] && PATH="$PATH:$d" && break; done
export PATH
mkdir -p "$OUT"
: >"$OUT/summary.txt"
note() { echo "$*" | tee -a "$OUT/summary.txt"; }

# --- the machine, and the build (here, or the carried binaries)
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv 2>&1
  nvcc --version 2>&1 | tail -1
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" 2>&1
} >"$OUT/build.log"
CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
note "card: ${CARD:-none found}; $(date -u +%Y-%m-%dT%H:%MZ)"

# The CUDA libraries the binaries load: the toolkit's, else the ones PyTorch's wheels bring.
SITE=$(python3 -c "import site; print(*site.getsitepackages())" 2>/dev/null)
for lib in libcublasLt.so.13 libnccl.so.2; do
  # shellcheck disable=SC2086 # SITE is a list of folders
  dir=$(find /usr/local/cuda*/ /usr/lib/x86_64-linux-gnu $SITE -name "$lib" 2>/dev/null | head -1 | xargs -r dirname)
  [ -n "$dir" ] && LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"

BIN=${GPU_CHECK_BIN:-}
[ -n "$BIN" ] && echo "the build in $BIN (GPU_CHECK_BIN)" >>"$OUT/build.log"
DEPS="openblas libcjson libpcre2-8 libutf8proc libturbojpeg libpng zlib libwebp libwebpdemux libcurl libarchive sqlite3"
# shellcheck disable=SC2086 # DEPS is a list of packages
if [ -z "$BIN" ] && [ "${GPU_CHECK_CARRIED:-0}" != 1 ] && pkg-config --exists $DEPS 2>>"$OUT/build.log" && command -v mpicc >/dev/null; then
  echo "building here" >>"$OUT/build.log"
  if timeout 240 sh -c "cmake -S . -B build-gpu -DBCOS_CUDA=ON -DCMAKE_BUILD_TYPE=Release &&
       cmake --build build-gpu -j\$(nproc) --target $TARGETS" >>"$OUT/build.log" 2>&1; then
    BIN=$(pwd)/build-gpu
  fi
fi
if [ -z "$BIN" ] && [ -f "$CARRY/bundle.tar.gz" ]; then
  echo "this project's libraries are missing here: the carried binaries ($CARRY)" >>"$OUT/build.log"
  mkdir -p /tmp/gpucarry && tar -C /tmp/gpucarry -xzf "$CARRY/bundle.tar.gz"
  BIN=/tmp/gpucarry/bin
  export LD_LIBRARY_PATH="/tmp/gpucarry/lib:$LD_LIBRARY_PATH"
fi
exe() { find "$BIN" -name "$1" -type f | head -1; }
if [ -z "$BIN" ] || [ -z "$(exe test_backend_ops)" ]; then
  note "build: FAILED, no binaries (build.log); run 'sh bench/gpu_check.sh --prepare' here and carry $CARRY"
else
  note "build: binaries in $BIN"
  # --- the kernels against the float64 oracle, and NCCL
  for be in cuda cuda-bf16; do
    timeout 120 "$(exe test_backend_ops)" "$be" >>"$OUT/tests.txt" 2>&1
    rc=$?
    case $rc in 0) r=PASS ;; 77) r="NOT RUN (no usable GPU)" ;; *) r="FAIL (exit $rc)" ;; esac
    note "op test $be: $r"
  done
  timeout 60 "$(exe test_nccl_world)" >>"$OUT/tests.txt" 2>&1
  rc=$?
  case $rc in 0) r=PASS ;; 77) r="NOT RUN" ;; *) r="FAIL (exit $rc)" ;; esac
  note "nccl sum (one rank): $r"
  # --- our kernels on a ViT-B/16 block pair
  for be in cuda cuda-bf16; do
    timeout 120 "$(exe bench_cuda_block)" "$be" "$BATCH" 5 >>"$OUT/blocks.txt" 2>&1 || echo "bench_cuda_block $be: exit $?" >>"$OUT/blocks.txt"
  done
  grep -E "step estimate|NOT RUN|exit" "$OUT/blocks.txt" | tee -a "$OUT/summary.txt"
fi
note "distill step on the GPU: not run, the model is not on device memory yet (docs/CUDA.md)"

# --- the PyTorch peer
PYTHONUNBUFFERED=1 timeout 300 python3 bench/peer_gpu_distill.py --batch "$BATCH" --iters "$ITERS" --warmup 2 \
  --modes "$MODES" --out "$OUT" >"$OUT/peer.log" 2>&1 || echo "peer: exit $? (peer.log)" >>"$OUT/peer.log"
grep "^peer" "$OUT/peer.log" | tee -a "$OUT/summary.txt"
echo "--- summary"
cat "$OUT/summary.txt"
