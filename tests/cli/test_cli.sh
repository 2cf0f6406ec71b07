#!/bin/sh
# The real `bcos` binary on good and bad input: help, encode-text/encode-image/zeroshot on the tiny
# fixture model, weights info, and one-line errors with a non-zero exit for bad files and options.
set -u
BCOS=$1
W=tests/fixtures/clip/tiny_openclip.safetensors
IMG=tests/fixtures/image/landscape_1200x800.jpg
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

expect_ok "$BCOS" --help
grep -q "encode-image" "$TMP/out" && ok || bad "--help lists encode-image"
expect_fail "unknown command 'frobnicate'" "$BCOS" frobnicate

# encode-text: one line per prompt, embed_dim (32) numbers each; --normalize gives unit vectors
expect_ok "$BCOS" encode-text --weights "$W" --model bcos-tiny --normalize "a photo of a cat" "a dog"
[ "$(wc -l <"$TMP/out")" -eq 2 ] && ok || bad "encode-text prints 2 lines"
n=$(head -1 "$TMP/out" | cut -f2 | wc -w)
[ "$n" -eq 32 ] && ok || bad "encode-text prints 32 numbers, got $n"
head -1 "$TMP/out" | cut -f2 | awk '{s=0; for(i=1;i<=NF;i++) s+=$i*$i; exit !(s>0.9999 && s<1.0001)}' \
  && ok || bad "--normalize gives a unit vector"

# encode-image --out writes a safetensors file that weights info can read
expect_ok "$BCOS" encode-image --weights "$W" --model bcos-tiny --out "$TMP/e.safetensors" "$IMG" "$IMG"
expect_ok "$BCOS" weights info "$TMP/e.safetensors"
grep -q "image_embeddings *F32 *\[2, 32\]" "$TMP/out" && ok || bad "saved embeddings are [2, 32]"

# zeroshot: the top-K lines are printed
expect_ok "$BCOS" zeroshot --weights "$W" --model bcos-tiny --classes "cat,dog,car" --top 2 "$IMG"
[ "$(grep -c '%' "$TMP/out")" -eq 2 ] && ok || bad "zeroshot prints the top 2"

# weights info: naming and matching configs
expect_ok "$BCOS" weights info tests/fixtures/clip/tiny_hf.safetensors
grep -q "naming: transformers" "$TMP/out" && ok || bad "weights info detects transformers naming"
grep -q "matches config: bcos-tiny$" "$TMP/out" && ok || bad "weights info matches bcos-tiny"

# bad weights: missing, truncated, garbage, mismatched config, ambiguous config
expect_fail "no-such.safetensors" "$BCOS" encode-text --weights "$TMP/no-such.safetensors" --model bcos-tiny x
head -c 100000 "$W" >"$TMP/trunc.safetensors"
expect_fail "trunc.safetensors" "$BCOS" encode-text --weights "$TMP/trunc.safetensors" --model bcos-tiny x
head -c 4096 /dev/urandom >"$TMP/garbage.safetensors"
expect_fail "garbage.safetensors" "$BCOS" weights info "$TMP/garbage.safetensors"
expect_fail "expected [" "$BCOS" encode-text --weights "$W" --model ViT-B-32 x
expect_fail "--model" "$BCOS" encode-text --weights "$W" x
expect_fail "no-such-config" "$BCOS" encode-text --weights "$W" --model no-such-config x

# bad images and options
printf 'not an image' >"$TMP/fake.jpg"
expect_fail "fake.jpg" "$BCOS" encode-image --weights "$W" --model bcos-tiny "$TMP/fake.jpg"
expect_fail "missing.png" "$BCOS" encode-image --weights "$W" --model bcos-tiny "$TMP/missing.png"
expect_fail "--classes" "$BCOS" zeroshot --weights "$W" --model bcos-tiny "$IMG"
printf 'a photo of a thing\n' >"$TMP/templates.txt"
expect_fail "{c}" "$BCOS" zeroshot --weights "$W" --model bcos-tiny --classes a,b --templates-file "$TMP/templates.txt" "$IMG"

summarize test_cli
