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

# ---- issue 9, items 5, 15 and 17: help and '--', B-cos students with every command, the saved step ----
# help wherever it is asked for, before any argument is taken for a file or a job
for cmd in encode-image encode-text zeroshot distill bcosify explain weights "weights info" runs checkpoints \
           results "shards write" "shards sizes"; do
  for h in --help -h; do
    # shellcheck disable=SC2086  # "weights info" is two words
    expect_ok "$BCOS" $cmd $h
    grep -q "^usage: bcos" "$TMP/out" && ok || bad "bcos $cmd $h prints the usage"
  done
done
expect_ok "$BCOS" weights info --help "$W"
grep -q "^usage: bcos weights info" "$TMP/out" && ok || bad "weights info --help FILE prints the usage"
expect_ok "$BCOS" distill jobs/distill-tiny.json --steps 3 -h
grep -q "^usage: bcos distill" "$TMP/out" && ok || bad "distill JOB ... -h prints the usage"
# a prompt or a file starting with '-' goes after '--', and the usage says so
expect_ok "$BCOS" encode-text --help
grep -q "Put -- before" "$TMP/out" && ok || bad "encode-text's usage explains --"
expect_ok "$BCOS" encode-text --weights "$W" --model bcos-tiny -- "-1 degrees"
[ "$(cut -f1 "$TMP/out")" = "-1 degrees" ] && ok || bad "-- lets a prompt start with '-'"
expect_fail "put -- before" "$BCOS" encode-text --weights "$W" --model bcos-tiny "-1 degrees"
cp "$W" "$TMP/-w.safetensors"
expect_ok "$BCOS" weights info -- "$TMP/-w.safetensors"
expect_fail "put -- before" "$BCOS" weights info -w.safetensors

# bcos bcosify: the untrained student. At step 0 its B ramp starts at 1 and its decaying biases are
# whole: then the B-cos tower is the teacher's own (within rounding), for every command.
STU=$TMP/bcosified/student.safetensors
expect_ok "$BCOS" bcosify --teacher "$W" --teacher-model bcos-tiny --out "$STU" --b 2.5 --b-ramp-steps 10 \
  --keep-biases true --bias-decay-steps 10
expect_ok "$BCOS" weights info "$STU"
grep -q "^B-cos student of config bcos-tiny" "$TMP/out" && ok || bad "weights info says it is a B-cos student"
grep -q "^options: B 2.5, b_ramp_steps 10, keep_biases true" "$TMP/out" && ok || bad "weights info lists the options"
grep -q "^saved at step 0: used with B 1 and bias scale 1$" "$TMP/out" && ok || bad "weights info gives the step's B"
grep -q "matches config" "$TMP/out" && bad "a student is not matched against CLIP configs" || ok
# max |a - b| / max |b| over two files of "label<TAB>numbers" lines
rel_diff() { paste "$1" "$2" | cut -f2,4 | tr '\t' ' ' | awk '{ h = NF / 2; for (i = 1; i <= h; i++) {
  d = $i - $(i + h); if (d < 0) d = -d; b = $(i + h); if (b < 0) b = -b; if (d > md) md = d; if (b > mb) mb = b } }
  END { print md / mb }'; }
expect_ok "$BCOS" encode-image --weights "$STU" "$IMG" && cp "$TMP/out" "$TMP/student.txt"
expect_ok "$BCOS" encode-image --weights "$W" --model bcos-tiny "$IMG" && cp "$TMP/out" "$TMP/teacher.txt"
d=$(rel_diff "$TMP/student.txt" "$TMP/teacher.txt")
awk -v d="$d" 'BEGIN { exit !(d != "" && d < 1e-4) }' && ok || bad "the step-0 student embeds as the teacher (rel $d)"
expect_ok "$BCOS" encode-text --weights "$STU" "a photo of a cat" && cp "$TMP/out" "$TMP/student.txt"
expect_ok "$BCOS" encode-text --weights "$W" --model bcos-tiny "a photo of a cat"
cmp -s "$TMP/out" "$TMP/student.txt" && ok || bad "encode-text with a student uses the teacher's text tower"
expect_ok "$BCOS" zeroshot --weights "$STU" --classes "cat,dog,car" "$IMG" && cp "$TMP/out" "$TMP/student.txt"
expect_ok "$BCOS" zeroshot --weights "$W" --model bcos-tiny --classes "cat,dog,car" "$IMG"
cmp -s "$TMP/out" "$TMP/student.txt" && ok || bad "zeroshot with the step-0 student ranks as the teacher"
expect_fail "teacher" "$BCOS" bcosify --out "$TMP/x.safetensors"
expect_fail "--out" "$BCOS" bcosify --teacher "$W" --teacher-model bcos-tiny
expect_fail "'--steps'" "$BCOS" bcosify --teacher "$W" --out "$TMP/x.safetensors" --steps 3

# the saved student is the trained one while B still ramps up and the biases decay: its embeddings of
# the held-out images give the held-out cosine distill reported for its last step
mkdir "$TMP/imgs"
cp "$IMG" "$TMP/imgs/1.jpg"; cp tests/fixtures/image/cmyk_240x160.jpg "$TMP/imgs/2.jpg"
cp tests/fixtures/image/exif_rotated_160x120.jpg "$TMP/imgs/3.jpg"; cp tests/fixtures/image/grey16_64x48.png "$TMP/imgs/4.png"
expect_ok "$BCOS" distill jobs/distill-tiny.json --images "$TMP/imgs" --holdout 2 --batch-size 2 --steps 3 --lr 0.01 \
  --b-ramp-steps 1000 --keep-biases true --bias-decay-steps 1000 --out "$TMP/ramp/s.safetensors" \
  --db "$TMP/ramp.db" --run ramp
after=$(sed -n 's/.*held-out cosine [0-9.]* -> \([0-9.]*\).*/\1/p' "$TMP/out")
expect_ok "$BCOS" encode-image --weights "$TMP/ramp/s.safetensors" "$TMP/imgs/3.jpg" "$TMP/imgs/4.png"
cp "$TMP/out" "$TMP/student.txt"
expect_ok "$BCOS" encode-image --weights "$W" --model bcos-tiny "$TMP/imgs/3.jpg" "$TMP/imgs/4.png"
cos=$(paste "$TMP/student.txt" "$TMP/out" | cut -f2,4 | tr '\t' ' ' | awk '{ h = NF / 2; st = 0; ss = 0; tt = 0
  for (i = 1; i <= h; i++) { st += $i * $(i + h); ss += $i * $i; tt += $(i + h) * $(i + h) }
  sum += st / sqrt(ss * tt) } END { printf "%.6f", sum / NR }')
awk -v a="$after" -v c="$cos" 'BEGIN { d = a - c; exit !(a != "" && d < 2e-4 && d > -2e-4) }' && ok ||
  bad "the saved student's held-out cosine $cos is distill's $after"
echo "held-out cosine: distill $after, the saved student $cos"
expect_ok "$BCOS" weights info "$TMP/ramp/s.safetensors"
grep -q "^saved at step 3: used with B 1.00" "$TMP/out" && ok || bad "weights info gives the saved step's B"

summarize test_cli
