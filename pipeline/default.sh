#!/bin/sh
# The embedded default, for now: the tiny CLIP (bcos-tiny, random weights from the golden fixtures)
# encodes a photo and prompts and classifies the photo zero-shot; then it is B-cosified and distilled
# on the fixture photos (jobs/distill-tiny.json), and the student explains the photo for a prompt.
# The full default (Fashion-MNIST shards -> pretrain -> distill -> eval -> explain -> results)
# replaces the first stage once pretraining, the shard writer and the store exist.
# Usage: pipeline/default.sh [BCOS_BINARY]
set -eu
cd "$(dirname "$0")/.."
BCOS=${1:-build/bcos}
W=tests/fixtures/clip/tiny_openclip.safetensors
IMG=tests/fixtures/image/landscape_1200x800.jpg
OUT=out/default

echo "== teacher weights"
"$BCOS" weights info "$W" | tail -3
echo "== image and text embeddings (normalised, first values)"
"$BCOS" encode-image --weights "$W" --model bcos-tiny --normalize "$IMG" | cut -c1-110
"$BCOS" encode-text --weights "$W" --model bcos-tiny --normalize "a photo of a landscape" "a photo of a cat" \
  | cut -c1-110
echo "== zero-shot with the teacher (random tiny weights: the ranking means nothing yet)"
"$BCOS" zeroshot --weights "$W" --model bcos-tiny --classes "landscape,cat,rocket,coffee cup" --top 4 "$IMG"
echo "== B-cosify and distill (jobs/distill-tiny.json)"
"$BCOS" distill jobs/distill-tiny.json --db "$OUT/bcos.db" --out "$OUT/student.safetensors" --holdout 6
"$BCOS" runs --db "$OUT/bcos.db"
echo "== explain the photo with the student"
"$BCOS" explain --weights "$OUT/student.safetensors" --image "$IMG" --text "a photo of a landscape" \
  --out "$OUT/landscape"
