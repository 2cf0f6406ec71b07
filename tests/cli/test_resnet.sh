#!/bin/sh
# The real `bcos` binary on a CLIP ResNet (the tiny RN fixture, bcos-tiny-rn): weights info names it,
# encode-image finds its config from the file's shapes, zeroshot and eval run on it; bcosify makes its
# B-cos ResNet student (test_distill_rn.sh distills one).
set -u
BCOS=$1
W=tests/fixtures/clip/tiny_rn_openclip.safetensors
IMG=tests/fixtures/image/landscape_1200x800.jpg
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

expect_ok "$BCOS" weights info "$W"
grep -q "naming: open_clip" "$TMP/out" && ok || bad "weights info: open_clip naming"
grep -q "matches config: bcos-tiny-rn$" "$TMP/out" && ok || bad "weights info matches bcos-tiny-rn"
grep -q "visual.layer2.0.downsample.1.running_var *F16 *\[64\]" "$TMP/out" && ok || bad "weights info lists BatchNorm statistics"

# encode-image with no --model: 32 numbers per image, and two different images give different embeddings
expect_ok "$BCOS" encode-image --weights "$W" "$IMG" tests/fixtures/image/cmyk_240x160.jpg
[ "$(wc -l <"$TMP/out")" -eq 2 ] && ok || bad "encode-image prints 2 lines"
n=$(head -1 "$TMP/out" | cut -f2 | wc -w)
[ "$n" -eq 32 ] && ok || bad "encode-image prints 32 numbers, got $n"
[ "$(head -1 "$TMP/out" | cut -f2)" != "$(tail -1 "$TMP/out" | cut -f2)" ] && ok || bad "two images, two embeddings"

expect_ok "$BCOS" zeroshot --weights "$W" --classes "cat,dog,car" --top 2 "$IMG"
[ "$(grep -c '%' "$TMP/out")" -eq 2 ] && ok || bad "zeroshot prints the top 2"

expect_ok "$BCOS" eval --weights "$W" --datasets tiny8 --batch-size 4 --dataset-root 'tests/fixtures/eval/{dataset}' \
  --db "$TMP/eval.db"
grep -q "^tiny8	test	acc1" "$TMP/out" && ok || bad "eval prints tiny8's acc1: $(cat "$TMP/out")"

expect_ok "$BCOS" bcosify --teacher "$W" --out "$TMP/s.safetensors"
expect_ok "$BCOS" weights info "$TMP/s.safetensors"
grep -q "B-cos ResNet student of config bcos-tiny-rn" "$TMP/out" && ok || bad "bcosify writes a ResNet student"

summarize test_resnet
