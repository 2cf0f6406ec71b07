#!/bin/sh
# `bcos shards write` and `bcos shards sizes` on the real binary: an image folder, IDX files, COCO
# captions and Fashion-MNIST (Debian's dataset-fashion-mnist, a declared dependency: the test fails
# without it) into CLIP_benchmark's layout, checked with tar; counts through `shards sizes`; one-line
# errors for bad sources and options.
set -u
BCOS=$1
IMG=tests/fixtures/image
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

# member NAME TAR: the member's bytes on stdout
member() { tar -xOf "$2" "$1"; }

# ---- an image folder: sorted class names give the labels, images go in as they are
mkdir -p "$TMP/folder/zebra" "$TMP/folder/apple"
cp "$IMG/tiny_7x9.jpg" "$IMG/portrait_320x370.jpg" "$TMP/folder/zebra/"
cp "$IMG/tiny_20x15.png" "$IMG/lossy_40x30.webp" "$TMP/folder/apple/"
expect_ok "$BCOS" shards write --folder "$TMP/folder" --out "$TMP/ds" --split train --max-samples 3
D=$TMP/ds/train
[ "$(cat "$TMP/ds/classnames.txt")" = "$(printf 'apple\nzebra')" ] && ok || bad "classnames.txt: sorted folder names"
grep -q "{c}" "$TMP/ds/zeroshot_classification_templates.txt" && ok || bad "templates with {c}"
[ "$(cat "$D/nshards.txt")" = 2 ] && ok || bad "nshards.txt says 2"
[ "$(cat "$TMP/ds/dataset_type.txt")" = classification ] && ok || bad "dataset_type.txt: classification"
tr -d ' \t\n' <"$D/sizes.json" | grep -qx '{"0.tar":3,"1.tar":1}' && ok || bad "sizes.json: $(cat "$D/sizes.json")"
expect_ok "$BCOS" eval --weights tests/fixtures/clip/tiny_openclip.safetensors --model bcos-tiny --datasets ds \
  --dataset-root "$TMP/{dataset}" --split train --db "$TMP/eval.db"
grep -q "^ds	train	.*samples 4	skipped 0" "$TMP/out" && ok || bad "bcos eval reads the shards written: $(cat "$TMP/out")"
[ "$(tar -tf "$D/0.tar" | head -2 | tr '\n' ' ')" = "s0000000.webp s0000000.cls " ] && ok || bad "first members"
member s0000000.webp "$D/0.tar" | cmp -s - "$IMG/lossy_40x30.webp" && ok || bad "the image's bytes as they are"
member s0000001.png "$D/0.tar" | cmp -s - "$IMG/tiny_20x15.png" && ok || bad "the png's bytes"
[ "$(member s0000002.cls "$D/0.tar")" = 1 ] && ok || bad "zebra's label is 1"
member s0000003.jpg "$D/1.tar" | cmp -s - "$IMG/tiny_7x9.jpg" && ok || bad "sorted file names within a class"
ls "$D" | grep -q tmp && bad "temporary files left" || ok
expect_ok "$BCOS" shards sizes "$D/{0..1}.tar"
grep -q "^total	4	2 shards" "$TMP/out" && ok || bad "shards sizes: $(cat "$TMP/out")"
grep -q "0.tar	3	sizes.json" "$TMP/out" && ok || bad "counts from sizes.json"
rm "$D/sizes.json"
expect_ok env BCOS_CACHE_DIR="$TMP/cache" "$BCOS" shards sizes "file://$D/{0..1}.tar"
grep -q "1.tar	1	counted" "$TMP/out" && ok || bad "counted without sizes.json: $(cat "$TMP/out")"
expect_ok env BCOS_CACHE_DIR="$TMP/cache" "$BCOS" shards sizes "$D/{0..1}.tar"
grep -q "1.tar	1	cache" "$TMP/out" && ok || bad "then from the cache: $(cat "$TMP/out")"

expect_fail "holds shards already" "$BCOS" shards write --folder "$TMP/folder" --out "$TMP/ds" --split train
expect_ok "$BCOS" shards write --folder "$TMP/folder" --out "$TMP/ds" --split train --force --captions --shuffle 7
[ "$(cat "$D/nshards.txt")" = 1 ] && [ ! -e "$D/1.tar" ] && ok || bad "--force: one shard, the stale one removed"
[ "$(tar -tf "$D/0.tar" | grep -c '\.txt$')" = 4 ] && ok || bad "--captions: a .txt per sample"
for k in 0 1 2 3; do
  cls=$(member "s000000$k.cls" "$D/0.tar")
  name=$(sed -n "$((cls + 1))p" "$TMP/ds/classnames.txt")
  member "s000000$k.txt" "$D/0.tar" | grep -q " $name" && ok || bad "s000000$k's caption names its class $name"
done

# ---- IDX: 2 images of 2 x 3 pixels, labels 1 and 0
printf '\000\000\010\003\000\000\000\002\000\000\000\002\000\000\000\003abcdefghijkl' >"$TMP/images.idx"
printf '\000\000\010\001\000\000\000\002\001\000' >"$TMP/labels.idx"
gzip -k "$TMP/labels.idx"
printf 'cat\ndog\n' >"$TMP/names.txt"
expect_ok "$BCOS" shards write --idx-images "$TMP/images.idx" --idx-labels "$TMP/labels.idx.gz" \
  --classnames "$TMP/names.txt" --out "$TMP/idx"
[ "$(cat "$TMP/idx/classnames.txt")" = "$(printf 'cat\ndog')" ] && ok || bad "IDX class names from --classnames"
[ "$(member s0000000.cls "$TMP/idx/test/0.tar")" = 1 ] && ok || bad "IDX label"
member s0000000.png "$TMP/idx/test/0.tar" | head -c 8 | od -An -c | grep -q "P   N   G" && ok || bad "IDX image as PNG"
expect_fail "not an IDX file" "$BCOS" shards write --idx-images "$TMP/names.txt" --idx-labels "$TMP/labels.idx" \
  --out "$TMP/idx2"
expect_fail "labels.idx: 2 labels for the 3 images" sh -c "
  printf '\000\000\010\003\000\000\000\003\000\000\000\001\000\000\000\001abc' >'$TMP/three.idx'
  exec '$BCOS' shards write --idx-images '$TMP/three.idx' --idx-labels '$TMP/labels.idx' --out '$TMP/idx3'"
expect_fail "1 class names for IDX labels up to 1" sh -c "
  printf 'one\n' >'$TMP/one.txt'
  exec '$BCOS' shards write --idx-images '$TMP/images.idx' --idx-labels '$TMP/labels.idx' --classnames '$TMP/one.txt' --out '$TMP/idx4'"

# ---- COCO captions: the image, its captions one per line, its entry as .json
mkdir -p "$TMP/coco/img"
cp "$IMG/tiny_7x9.jpg" "$TMP/coco/img/a.jpg"
cp "$IMG/tiny_20x15.png" "$TMP/coco/img/b.png"
cat >"$TMP/coco/cap.json" <<'EOF'
{"images": [{"id": 5, "file_name": "b.png"}, {"id": 3, "file_name": "a.jpg"}],
 "annotations": [{"image_id": 3, "caption": "a small face"}, {"image_id": 5, "caption": "a coffee"},
                 {"image_id": 3, "caption": "tiny picture"}]}
EOF
expect_ok "$BCOS" shards write --coco-images "$TMP/coco/img" --coco-captions "$TMP/coco/cap.json" --out "$TMP/cc" --split val
[ ! -e "$TMP/cc/classnames.txt" ] && ok || bad "captions have no classnames.txt"
[ "$(cat "$TMP/cc/dataset_type.txt")" = retrieval ] && ok || bad "dataset_type.txt: retrieval for captions"
member s0000001.jpg "$TMP/cc/val/0.tar" | cmp -s - "$IMG/tiny_7x9.jpg" && ok || bad "COCO image bytes"
[ "$(member s0000001.txt "$TMP/cc/val/0.tar")" = "$(printf 'a small face\ntiny picture')" ] && ok || bad "COCO captions"
member s0000000.json "$TMP/cc/val/0.tar" | grep -q '"captions":\["a coffee"\]' && ok || bad "COCO .json"
sed 's/b.png/nope.jpg/' "$TMP/coco/cap.json" >"$TMP/coco/missing.json"
expect_fail "img/nope.jpg: cannot read" "$BCOS" shards write --coco-images "$TMP/coco/img" \
  --coco-captions "$TMP/coco/missing.json" --out "$TMP/cc2"
[ ! -e "$TMP/cc2/test/nshards.txt" ] && ok || bad "a failed run does not claim to be complete"
expect_fail "not JSON" "$BCOS" shards write --coco-images "$TMP/coco/img" --coco-captions "$TMP/names.txt" --out "$TMP/cc3"

# ---- one table for the flags and the job keys: the job's max_samples, then a flag that wins (a size
# with its suffix); the job's switch; a key or a flag the table lacks refused in one line
printf '{"kind": "shards", "folder": "%s", "out": "%s", "max_samples": 1, "force": true}' "$TMP/folder" "$TMP/tbl" >"$TMP/w.json"
expect_ok "$BCOS" shards write "$TMP/w.json"
[ "$(cat "$TMP/tbl/test/nshards.txt")" = 4 ] && ok || bad "the job's max_samples: 4 shards of 1"
expect_ok "$BCOS" shards write --max-samples 1K "$TMP/w.json"
[ "$(cat "$TMP/tbl/test/nshards.txt")" = 1 ] && ok || bad "the flag wins over the job (1K samples a shard), force from the job"
expect_fail "shards write: bad or incomplete option '--bogus=1'" "$BCOS" shards write --folder "$TMP/folder" --out "$TMP/x" --bogus=1
printf '{"kind": "shards", "bogus": 1}' >"$TMP/bad.json"
expect_fail '$.bogus' "$BCOS" shards write "$TMP/bad.json"
# ---- bad options and sources
expect_fail "give one source" "$BCOS" shards write --out "$TMP/x"
expect_fail "give one source" "$BCOS" shards write --out "$TMP/x" --folder "$TMP/folder" --fashion-mnist
expect_fail "missing --out" "$BCOS" shards write --folder "$TMP/folder"
expect_fail "is not a folder name" "$BCOS" shards write --folder "$TMP/folder" --out "$TMP/x" --split a/b
expect_fail "cannot read the image folder" "$BCOS" shards write --folder "$TMP/nowhere" --out "$TMP/x"
expect_fail "is not a positive size" "$BCOS" shards write --folder "$TMP/folder" --out "$TMP/x" --max-bytes 12Q
expect_fail "has no {c}" sh -c "printf 'a photo\n' >'$TMP/t.txt'; exec '$BCOS' shards write --folder '$TMP/folder' --out '$TMP/x' --templates '$TMP/t.txt'"
expect_fail "splits train and test" "$BCOS" shards write --fashion-mnist="$TMP" --split val --out "$TMP/x"
expect_fail "install Debian's dataset-fashion-mnist" "$BCOS" shards write --fashion-mnist="$TMP" --split test --out "$TMP/x"
expect_fail "nowhere/0.tar: cannot count" "$BCOS" shards sizes --cache "$TMP/cache" "$TMP/nowhere/{0..1}.tar"

# ---- Fashion-MNIST from the Debian package (tools/install-deps.sh installs it)
[ -d /usr/share/datasets/fashion-mnist ] && ok ||
  bad "/usr/share/datasets/fashion-mnist is missing: install Debian's dataset-fashion-mnist (tools/install-deps.sh)"
expect_ok "$BCOS" shards write --fashion-mnist --split test --out "$TMP/fm" --max-samples 6000
[ "$(head -1 "$TMP/fm/classnames.txt")" = "T-shirt/top" ] && ok || bad "Fashion-MNIST class names"
expect_ok "$BCOS" shards sizes "$TMP/fm/test/{0..1}.tar"
grep -q "^total	10000	2 shards" "$TMP/out" && ok || bad "Fashion-MNIST test: $(cat "$TMP/out")"

summarize test_shards
