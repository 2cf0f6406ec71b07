#!/bin/sh
# --pixel-order on the commands that take image files: by default a palette, RGBA, 16-bit grey or CMYK file
# embeds exactly as open_clip's preprocess(Image.open(f)) crop of it does (the crops PIL computed in
# tests/fixtures/bare_file, saved as RGB PNGs of the tiny model's 32 pixels, which the preprocessing
# leaves alone); with --pixel-order convert-first as the convert-first crop does; an RGB file the same
# either way; a bad order refused in one line.
set -u
BCOS=$1
W=tests/fixtures/clip/tiny_openclip.safetensors
F=tests/fixtures/bare_file
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

# embedding FILE [OPTION...]: the embedding encode-image prints for FILE, without its path
embedding() {
  file=$1; shift
  "$BCOS" encode-image --weights "$W" --model bcos-tiny "$@" "$file" | cut -f2
}

for stem in palette_150x100 bilevel_61x45 rgba_120x90 la_120x90 grey16_64x48 lossless_alpha_97x65 ycck_90x60; do
  file=$(ls "$F/$stem".png "$F/$stem".webp "$F/$stem".jpg 2>/dev/null | head -1)
  bare=$(embedding "$file")
  first=$(embedding "$file" --pixel-order convert-first)
  [ -n "$bare" ] && [ "$bare" = "$(embedding "$F/$stem.open_clip32.png")" ] && ok ||
    bad "$stem: the default is not open_clip's crop"
  [ "$bare" = "$(embedding "$file" --pixel-order open-clip)" ] && ok || bad "$stem: --pixel-order open-clip"
  [ -n "$first" ] && [ "$first" = "$(embedding "$F/$stem.convert_first32.png")" ] && ok ||
    bad "$stem: convert-first is not the convert-first crop"
  [ "$bare" != "$first" ] && ok || bad "$stem: the orders give the same embedding"
done
[ "$(embedding "$F/rgb_70x50.png")" = "$(embedding "$F/rgb_70x50.png" --pixel-order convert-first)" ] && ok ||
  bad "an RGB file embeds differently in the two orders"

# zeroshot takes the option too: its probabilities follow the order
expect_ok "$BCOS" zeroshot --weights "$W" --model bcos-tiny --classes "cat,dog,car" "$F/palette_150x100.png"
cp "$TMP/out" "$TMP/bare"
expect_ok "$BCOS" zeroshot --weights "$W" --model bcos-tiny --classes "cat,dog,car" "$F/palette_150x100.open_clip32.png"
[ "$(tail -n +2 "$TMP/out")" = "$(tail -n +2 "$TMP/bare")" ] && ok || bad "zeroshot's default is not open_clip's crop"
expect_ok "$BCOS" zeroshot --weights "$W" --model bcos-tiny --classes "cat,dog,car" --pixel-order convert-first \
  "$F/palette_150x100.png"
[ "$(cat "$TMP/out")" != "$(cat "$TMP/bare")" ] && ok || bad "zeroshot ignores --pixel-order"

expect_fail "pixel order 'pil'" "$BCOS" encode-image --weights "$W" --model bcos-tiny --pixel-order pil \
  "$F/rgb_70x50.png"
expect_fail "pixel order 'pil'" "$BCOS" zeroshot --weights "$W" --model bcos-tiny --classes a,b --pixel-order pil \
  "$F/rgb_70x50.png"
expect_fail "--pixel-order" "$BCOS" encode-text --weights "$W" --model bcos-tiny --pixel-order open-clip "a cat"
expect_ok "$BCOS" explain --help
grep -q -- "--pixel-order" "$TMP/out" && ok || bad "explain --help names --pixel-order"

summarize test_pixel_order
