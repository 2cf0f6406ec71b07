#!/bin/sh
# `bcos distill` from the job file jobs/distill-tiny.json (overridden by flags) on the image fixtures,
# which include corrupt files that must be skipped, then `bcos explain` of the saved student for a
# prompt and for zero-shot classes: the three PNGs, a completeness error under 1e-4, the student's
# image embedding from `bcos encode-image`, and one-line errors for bad job files, a CLIP file given
# as a student, and bad options.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
IMG=tests/fixtures/image/landscape_1200x800.jpg
. tests/cli/lib.sh

S=$TMP/run/student.safetensors
if "$BCOS" distill jobs/distill-tiny.json --db "$TMP/bcos.db" --out "$S" --steps 12 --log-every 4 >"$TMP/out" 2>"$TMP/err"; then ok; else
  bad "distill failed: $(cat "$TMP/err")"; fi
grep -q "step 12/12 loss" "$TMP/err" && ok || bad "distill prints progress lines"
grep -q "skipping .*truncated" "$TMP/err" && ok || bad "distill skips the corrupt fixtures with a warning"
[ -s "$S" ] && [ -s "$TMP/run/student.json" ] && ok || bad "the student and its config JSON are saved"
"$BCOS" weights info "$S" >"$TMP/info" 2>&1 && grep -q "visual.conv1.weight *F32 *\[64, 6, 8, 8\]" "$TMP/info" \
  && ok || bad "the student's patch unit has six input channels"
"$BCOS" encode-image --weights "$S" "$IMG" >"$TMP/emb" 2>"$TMP/err" && [ "$(cut -f2 "$TMP/emb" | wc -w)" -eq 32 ] \
  && ok || bad "encode-image embeds with the student: $(cat "$TMP/err")"

if "$BCOS" explain --weights "$S" --image "$IMG" --text "a photo of a landscape" --out "$TMP/ex" >"$TMP/out" 2>"$TMP/err"
then ok; else bad "explain failed: $(cat "$TMP/err")"; fi
for f in explanation composite contributions; do
  [ "$(head -c 8 "$TMP/ex-$f.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] && ok || bad "ex-$f.png is a PNG"
done
err=$(sed -nE 's/.*completeness error ([0-9.e+-]+).*/\1/p' "$TMP/out")
awk -v e="$err" 'BEGIN { exit !(e != "" && e < 1e-4) }' && ok || bad "completeness error '$err' < 1e-4"
"$BCOS" explain --weights "$S" --image "$IMG" --classes "landscape,cat" --out "$TMP/cls" >"$TMP/out" 2>"$TMP/err" \
  && grep -q "top of 2" "$TMP/out" && ok || bad "explain --classes explains the top class: $(cat "$TMP/err")"

printf '{"kind": "distill", "stepz": 3}' >"$TMP/bad.json"
expect_fail "stepz" "$BCOS" distill "$TMP/bad.json"
printf '{"kind": "distill", ' >"$TMP/broken.json"
expect_fail "broken.json" "$BCOS" distill "$TMP/broken.json"
expect_fail "--batch-size" "$BCOS" distill jobs/distill-tiny.json --batch-size
expect_fail "not a B-cos student" "$BCOS" explain --weights tests/fixtures/clip/tiny_openclip.safetensors \
  --image "$IMG" --text x
expect_fail "--text" "$BCOS" explain --weights "$S" --image "$IMG"
expect_fail "missing.jpg" "$BCOS" explain --weights "$S" --image "$TMP/missing.jpg" --text x

summarize test_distill_explain
