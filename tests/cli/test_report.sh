#!/bin/sh
# `bcos report` of a small real run, rendered by a real browser: a tiny distill (a name with HTML's
# special characters, a checkpoint every 4 steps, run twice: one resume), an eval of its checkpoints and teacher, two
# explanation pictures recorded with `bcos explain --run`. Debian's headless Chromium
# (tools/install-deps.sh) dumps the DOM it built and takes a screenshot: the run's name is on the
# page, each curve's path has as many points as the store has metrics rows, the results cells hold
# the numbers of `bcos results --format json`, and the screenshot is not blank. The page is well
# formed and reaches nothing outside itself; so are the pages of an empty store, of a run without
# metrics (an eval run) and of two runs compared. Bad input: an unknown run, no --out, a folder as --out.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh
CHECK="python3 tests/cli/report_check.py"
RUN='tiny<&"'"'"'x>'
DATA="--datasets tiny8 --dataset-root tests/fixtures/eval/{dataset} --batch-size 8"
# a browser of its own profile, with no way out of the machine
browse() { timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$TMP/profile" \
  --host-resolver-rules="MAP * ~NOTFOUND" "$@" 2>>"$TMP/chromium.log"; }

expect_ok "$BCOS" distill jobs/distill-tiny.json --steps 12 --checkpoint-every 4 --db "$TMP/s.db" --run "$RUN" \
  --out "$TMP/student.safetensors"
# the same command again: the done run is taken up at its end, a resume the curves mark
expect_ok "$BCOS" distill jobs/distill-tiny.json --steps 12 --checkpoint-every 4 --db "$TMP/s.db" --run "$RUN" \
  --out "$TMP/student.safetensors"
expect_ok "$BCOS" eval --run "$RUN" --checkpoint all --teacher true --db "$TMP/s.db" $DATA
for image in landscape_1200x800.jpg portrait_320x370.jpg; do
  expect_ok "$BCOS" explain --weights "$TMP/student.safetensors" --image "tests/fixtures/image/$image" \
    --text 'a photo of a <dog> & "cat"' --out "$TMP/explained" --run "$RUN" --db "$TMP/s.db"
done
[ "$(sql "$TMP/s.db" "SELECT count(*) FROM explanations")" = 2 ] && ok || bad "two explanations recorded"

expect_ok "$BCOS" report --run "$RUN" --db "$TMP/s.db" --out "$TMP/report.html"
expect_ok $CHECK valid "$TMP/report.html"
[ "$(grep -c '<img ' "$TMP/report.html")" -eq 2 ] && ok || bad "two pictures in the gallery"
grep -qF "$RUN" "$TMP/report.html" && bad "the name is written unescaped" || ok
expect_ok "$BCOS" results --run "$RUN" --checkpoint latest --format json --db "$TMP/s.db"
cp "$TMP/out" "$TMP/results.json"

browse --dump-dom "file://$TMP/report.html" >"$TMP/dom.html" && ok || bad "chromium --dump-dom: $(tail -3 "$TMP/chromium.log")"
expect_ok $CHECK dom "$TMP/dom.html" "$TMP/s.db" "$RUN" "$TMP/results.json"
[ "$(grep -c '<title>resumed from step 12 on 1 rank</title>' "$TMP/dom.html")" -eq 5 ] && ok \
  || bad "the resume marked on the 5 curves"
browse --screenshot="$TMP/shot.png" --window-size=900,1400 "file://$TMP/report.html" >/dev/null \
  && ok || bad "chromium --screenshot: $(tail -3 "$TMP/chromium.log")"
expect_ok $CHECK colours "$TMP/shot.png" 64

# odd stores: none of them breaks the page
expect_ok "$BCOS" store recover --db "$TMP/empty.db"
expect_ok "$BCOS" report --db "$TMP/empty.db" --out "$TMP/empty.html"
expect_ok $CHECK valid "$TMP/empty.html"
grep -q "holds no runs" "$TMP/empty.html" && ok || bad "the empty store's page says so"
expect_ok "$BCOS" eval --weights "$TMP/student.safetensors" --name "bare & eval" --db "$TMP/s.db" $DATA
expect_ok "$BCOS" report --run "bare & eval" --db "$TMP/s.db" --out "$TMP/eval.html"
expect_ok $CHECK valid "$TMP/eval.html"
grep -q "No training metrics recorded" "$TMP/eval.html" && ok || bad "a run without metrics: $(grep -c svg "$TMP/eval.html")"
expect_ok "$BCOS" report --run "$RUN" --run "bare & eval" --db "$TMP/s.db" --out "$TMP/both.html"
expect_ok $CHECK valid "$TMP/both.html"
[ "$(grep -o '<th colspan="4">[^<]*</th>' "$TMP/both.html" | wc -l)" -eq 2 ] && ok || bad "one results column group per run"
browse --dump-dom "file://$TMP/both.html" >"$TMP/both-dom.html" && ok || bad "chromium on two runs"
expect_ok "$BCOS" results --checkpoint latest --format json --db "$TMP/s.db"
cp "$TMP/out" "$TMP/both.json"
expect_ok $CHECK dom "$TMP/both-dom.html" "$TMP/s.db" "$RUN" "$TMP/both.json"

expect_fail "no run named 'nope'" "$BCOS" report --run nope --db "$TMP/s.db" --out "$TMP/x.html"
[ -e "$TMP/x.html" ] && bad "a refused report writes nothing" || ok
expect_fail "needs --out" "$BCOS" report --db "$TMP/s.db"
mkdir "$TMP/folder"
expect_fail "not a regular file" "$BCOS" report --db "$TMP/s.db" --out "$TMP/folder"
expect_fail "no run named 'nope'" "$BCOS" explain --weights "$TMP/student.safetensors" \
  --image tests/fixtures/image/landscape_1200x800.jpg --text dog --run nope --db "$TMP/s.db"

summarize test_report
