#!/bin/sh
# `bcos explain --dataset`: the first samples of each class of a dataset in CLIP_benchmark's layout
# (written by `bcos shards write`), each explained for its own class and recorded in the store; the
# pictures enlarged by --upscale; PREFIX-contributions.safetensors holds the contribution map, whose
# sum plus the constants' contribution is the score, and the pixels the student saw. Bad options are
# refused in one line.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh
FIX=tests/fixtures/image
mkdir -p "$TMP/images/landscape" "$TMP/images/other"
cp "$FIX/landscape_1200x800.jpg" "$FIX/progressive_400x267.jpg" "$TMP/images/landscape/"
cp "$FIX/grey_320x240.jpg" "$FIX/portrait_320x370.jpg" "$TMP/images/other/"
expect_ok "$BCOS" shards write --folder "$TMP/images" --out "$TMP/ds"
S=$TMP/student.safetensors
expect_ok "$BCOS" distill jobs/distill-tiny.json --db "$TMP/bcos.db" --out "$S" --steps 3 --run tiny

# png_width FILE: the width in the PNG's IHDR chunk
png_width() { od -An -tu1 -j16 -N4 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }'; }

expect_ok "$BCOS" explain --weights "$S" --dataset "$TMP/ds" --out "$TMP/ex/ds" --upscale 4 \
  --run tiny --db "$TMP/bcos.db"
[ "$(grep -c "completeness error" "$TMP/out")" -eq 2 ] && ok || bad "one explanation per class: $(cat "$TMP/out")"
for class in landscape other; do
  set -- "$TMP"/ex/ds-"$class"-*-composite.png
  [ $# -eq 1 ] && [ -s "$1" ] && ok || bad "the $class picture: $(ls "$TMP/ex")"
  [ "$(png_width "$1")" = 128 ] && ok || bad "--upscale 4 enlarges the 32-pixel picture to 128: $(png_width "$1")"
  prefix=${1%-composite.png}
  for f in explanation contributions; do [ "$(png_width "$prefix-$f.png")" = 128 ] && ok || bad "$prefix-$f.png"; done
  python3 tests/cli/contributions.py "$prefix-contributions.safetensors" >"$TMP/where" && ok || bad "contributions.py"
  sum=$(head -1 "$TMP/where" | cut -f2 | cut -d' ' -f2)
  key=${prefix##*-}
  line=$(grep "#$key: score" "$TMP/out")
  score=$(echo "$line" | sed -E 's/.*: score ([-0-9.e+]+) .*/\1/')
  constants=$(echo "$line" | sed -E "s/.*constants' share ([-0-9.e+]+);.*/\1/")
  echo "$line" | grep -q "for class '$class'" && ok || bad "the sample is explained for its class: $line"
  awk -v s="$sum" -v c="$constants" -v x="$score" \
    'BEGIN { d = s + c - x; exit !(s != "" && d < 1e-4 && d > -1e-4) }' &&
    ok || bad "the contribution map ($sum) and the constants ($constants) add up to the score ($score)"
  awk '$1 != "mean" { exit !($NF > 0 && $NF <= 1) }' FS='\t| ' "$TMP/where" && ok || bad "the pixels are the image's"
done
[ "$(sql "$TMP/bcos.db" "SELECT count(*), count(DISTINCT prompt), min(image LIKE '%/ds/test/0.tar#%'),
                                max(completeness_error) < 1e-4 FROM explanations")" = "2|2|1|1" ] && ok ||
  bad "the store records both: $(sql "$TMP/bcos.db" "SELECT image, prompt, completeness_error FROM explanations")"

expect_ok "$BCOS" explain --weights "$S" --dataset "$TMP/ds" --out "$TMP/ex3/ds" --per-class 3
grep -q "2 of the wanted samples are not in its 'test' split" "$TMP/err" && ok || bad "a short split is said: $(cat "$TMP/err")"
[ "$(grep -c "completeness error" "$TMP/out")" -eq 4 ] && ok || bad "--per-class 3 explains the four samples there are"

expect_fail "--text" "$BCOS" explain --weights "$S" --dataset "$TMP/ds" --out "$TMP/x" --text "a photo"
expect_fail "--out PREFIX" "$BCOS" explain --weights "$S" --dataset "$TMP/ds"
expect_fail "option 'upscale': 0 is out of range: it must be in [1, 64]" "$BCOS" explain --weights "$S" --dataset "$TMP/ds" --out "$TMP/x" --upscale 0
expect_fail "$TMP/missing" "$BCOS" explain --weights "$S" --dataset "$TMP/missing" --out "$TMP/x"
expect_fail "ds/train/nshards.txt" "$BCOS" explain --weights "$S" --dataset "$TMP/ds" --out "$TMP/x" --split train

summarize test_explain_dataset
