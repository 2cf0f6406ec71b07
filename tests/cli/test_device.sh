#!/bin/sh
# The distill step's --device (and job option "device"): cpu is the default; cuda is refused in one line
# that says why (no CUDA backend built in, no GPU here, or the step not on the GPU yet) and points to the
# cpu; auto runs on the cpu and logs why it did not take a GPU; anything else is refused by name. The
# auto run is a real two-step distillation of the tiny teacher, whose student must come out.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

TINY="--teacher tests/fixtures/clip/tiny_openclip.safetensors --teacher-model bcos-tiny --images tests/fixtures/image"
# shellcheck disable=SC2086
expect_fail "device cuda: " "$BCOS" distill $TINY --run dev --db "$TMP/a.db" --device cuda
grep -q "; use the cpu (--device cpu)" "$TMP/err" && ok || bad "device cuda: the refusal points to the cpu: $(cat "$TMP/err")"
# shellcheck disable=SC2086
expect_fail "option 'device': 'tpu' is not one of cpu|cuda|auto" "$BCOS" distill $TINY --run dev --db "$TMP/a.db" --device tpu
echo '{"kind": "distill", "device": "gpu"}' >"$TMP/job.json"
# shellcheck disable=SC2086
expect_fail '$.device: expected one of cpu|cuda|auto, found "gpu"' "$BCOS" distill "$TMP/job.json" $TINY --db "$TMP/a.db"

# shellcheck disable=SC2086
expect_ok "$BCOS" distill $TINY --steps 2 --warmup-steps 1 --batch-size 4 --run auto --db "$TMP/b.db" \
  --out "$TMP/auto.safetensors" --device auto
grep -q "device auto: running on the cpu: " "$TMP/err" && ok || bad "device auto logs its choice: $(cat "$TMP/err")"
[ -s "$TMP/auto.safetensors" ] && ok || bad "device auto: no student written"
"$BCOS" distill --help >"$TMP/help" && grep -q -- "device" "$TMP/help" && ok || bad "distill --help lists device"

summarize test_device
