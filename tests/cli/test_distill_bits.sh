#!/bin/sh
# The same job and seed give the same student and metrics, bit for bit, as when the fixture was written:
# a guard for changes that should not change behaviour (moving code between modules, renaming, merging
# files). Two jobs: the in-memory image folder, and Fashion-MNIST shards with captions, training crops
# and two loader workers. For each, the sha256 of the student's tensor bytes (its metadata left out, so
# that a new metadata field is not a numerical change) and every metrics row (loss, cosine, learning
# rate, gradient norm, skipped samples, in Python's exact float repr) are compared with
# tests/fixtures/train/distill_bits.txt.
#   sh tests/cli/test_distill_bits.sh build/bcos --write   rewrites the fixture (docs/FIXTURES.md says
# when that is right: only for a change that is meant to change the numbers).
# The bits depend on OpenBLAS's kernels for this CPU: the fixture records the kernel it was written
# with, and a different one fails with that reason rather than with a misleading mismatch.
set -u
BCOS=$1
MODE=${2:-check}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh
FIXTURE=tests/fixtures/train/distill_bits.txt

# tensor_sha FILE: sha256 of a safetensors file's data section (the bytes after its JSON header)
tensor_sha() { python3 -c "import hashlib,struct,sys
b=open(sys.argv[1],'rb').read(); n=struct.unpack('<Q',b[:8])[0]
print(hashlib.sha256(b[8+n:]).hexdigest())" "$1"; }
# metrics DB: every metrics row of the store's one run, exactly
metrics() { python3 -c "import sqlite3,sys
q='SELECT step, loss, cos, lr, grad_norm, skipped_samples FROM metrics ORDER BY step'
for row in sqlite3.connect(sys.argv[1]).execute(q): print(' '.join(map(repr, row)))" "$1"; }

TEACHER="--teacher tests/fixtures/clip/tiny_openclip.safetensors --teacher-model bcos-tiny"
"$BCOS" shards write --out "$TMP/fm" --fashion-mnist --split test --max-samples 240 --captions >/dev/null 2>"$TMP/err" \
  || { echo "Fashion-MNIST shards: $(cat "$TMP/err")"; exit 1; }

{
  echo "openblas $(python3 -c "import ctypes,ctypes.util
lib=ctypes.CDLL(ctypes.util.find_library('openblas') or 'libopenblas.so.0')
lib.openblas_get_corename.restype=ctypes.c_char_p; print(lib.openblas_get_corename().decode())")"
  for job in images shards; do
    case $job in
      images) DATA="--images tests/fixtures/image --batch-size 8" ;;
      shards) DATA="--shards $TMP/fm/test/{0..3}.tar --batch-size 6 --workers 2 --train-crops true --w-txt 0.5" ;;
    esac
    # shellcheck disable=SC2086
    if ! "$BCOS" distill $TEACHER $DATA --steps 12 --warmup-steps 3 --lr 0.001 --log-every 4 --seed 7 \
        --db "$TMP/$job.db" --run bits --out "$TMP/$job.safetensors" >"$TMP/out" 2>"$TMP/err"; then
      echo "distill on $job failed: $(cat "$TMP/err")" >&2
      exit 1
    fi
    echo "$job student $(tensor_sha "$TMP/$job.safetensors")"
    metrics "$TMP/$job.db" | sed "s/^/$job metrics /"
  done
} >"$TMP/bits.txt"

if [ "$MODE" = --write ]; then
  cp "$TMP/bits.txt" "$FIXTURE"
  echo "wrote $FIXTURE"
  exit 0
fi

if [ "$(head -1 "$TMP/bits.txt")" != "$(head -1 "$FIXTURE")" ]; then
  bad "the fixture was written with $(head -1 "$FIXTURE") and this machine runs $(head -1 "$TMP/bits.txt"):" \
      "bits differ between OpenBLAS kernels; rewrite it on this machine from the commit that wrote it (docs/FIXTURES.md)"
else
  ok
  for job in images shards; do
    grep "^$job student" "$FIXTURE" >"$TMP/want"
    grep "^$job student" "$TMP/bits.txt" >"$TMP/got"
    cmp -s "$TMP/want" "$TMP/got" && ok || bad "$job: the student's tensors differ from the fixture's"
    grep "^$job metrics" "$FIXTURE" >"$TMP/want"
    grep "^$job metrics" "$TMP/bits.txt" >"$TMP/got"
    [ -s "$TMP/got" ] && cmp -s "$TMP/want" "$TMP/got" && ok \
      || bad "$job: metrics differ from the fixture's: $(diff "$TMP/want" "$TMP/got" | head -4)"
  done
fi
summarize test_distill_bits
