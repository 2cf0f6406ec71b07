#!/bin/sh
# Writes the committed shards of our writer (tests/fixtures/webdataset/ours/{folder,idx,coco}) from the
# sources make_webdataset_fixtures.py wrote, reads each back with Python's webdataset (--verify: layout,
# keys, labels, images, captions against the source) and records webdataset's listing of them, which
# tests/golden/test_webdataset.c compares with what the writer produces at test time. Run from the
# repository root after building: sh tools/ref/make_our_shards.sh build/bcos
set -eu
BCOS=$1
PY=${PY:-.venv-ref/bin/python}
F=tests/fixtures/webdataset/ours
S=$F/source

# write_and_verify NAME VERIFY_ARGS -- SHARDS_WRITE_ARGS
write_and_verify() {
  name=$1; shift
  verify=""
  while [ "$1" != "--" ]; do verify="$verify $1"; shift; done
  shift
  rm -rf "$F/$name"
  "$BCOS" shards write "$@" --out "$F/$name"
  # shellcheck disable=SC2086
  "$PY" tools/ref/make_webdataset_fixtures.py --verify "$F/$name" $verify --listing "$F/$name/listing.json" \
    --shards-args "$*"
}

write_and_verify folder --split train --folder "$S/folder" -- \
  --folder "$S/folder" --split train --max-samples 4
write_and_verify idx --idx "$S/idx/images-idx3-ubyte.gz" "$S/idx/labels-idx1-ubyte.gz" --classnames "$S/idx/classnames.txt" -- \
  --idx-images "$S/idx/images-idx3-ubyte.gz" --idx-labels "$S/idx/labels-idx1-ubyte.gz" \
  --classnames "$S/idx/classnames.txt" --captions --max-samples 3
write_and_verify coco --split val --coco "$S/coco/images" "$S/coco/captions.json" -- \
  --coco-images "$S/coco/images" --coco-captions "$S/coco/captions.json" --split val --max-bytes 4K
