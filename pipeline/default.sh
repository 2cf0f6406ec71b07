#!/bin/sh
# The embedded default, for now: the tiny CLIP model (bcos-tiny, random weights from the golden
# fixtures) inspects its weights, encodes a test photo and a few prompts, and classifies the photo
# zero-shot. Once pretraining and B-cosification land, this becomes DESIGN.md's default pipeline
# (Fashion-MNIST -> pretrain -> distill -> eval -> explain -> results).
# Usage: pipeline/default.sh [BCOS_BINARY]
set -eu
cd "$(dirname "$0")/.."
BCOS=${1:-build/bcos}
W=tests/fixtures/clip/tiny_openclip.safetensors
IMG=tests/fixtures/image/landscape_1200x800.jpg

echo "== weights"
"$BCOS" weights info "$W" | tail -3
echo "== image embedding (normalised)"
"$BCOS" encode-image --weights "$W" --model bcos-tiny --normalize "$IMG" | cut -c1-120
echo "== text embeddings (normalised)"
"$BCOS" encode-text --weights "$W" --model bcos-tiny --normalize \
  "a photo of a landscape" "a photo of a cat" "a photo of a rocket" | cut -c1-120
echo "== zero-shot (random tiny weights: the ranking is not meaningful yet)"
"$BCOS" zeroshot --weights "$W" --model bcos-tiny --classes "landscape,cat,rocket,coffee cup" --top 4 "$IMG"
