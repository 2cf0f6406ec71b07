#!/bin/sh
# `bcos eval` on Open MPI ranks: the tiny8 golden dataset (shards of 13 and 7 samples) on 2 and 3
# ranks (one rank without a shard) gives the single process's metrics, predictions file (same
# lines, same order) and stored rows with the dataset's sample count, printed once; a dataset
# whose shard answers nothing (a missing file) fails on every rank with one message and exit 1; refused
# samples are counted over the ranks against --max-skip.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

use_mpirun
EVAL="eval --weights tests/fixtures/clip/tiny_openclip.safetensors --model bcos-tiny --datasets tiny8 --batch-size 4"
ROOT='tests/fixtures/eval/{dataset}'

"$BCOS" $EVAL --dataset-root "$ROOT" --db "$TMP/one.db" --predictions "$TMP/one.csv" >"$TMP/one.out" 2>"$TMP/err" \
  && ok || bad "1 process: $(cat "$TMP/err")"
for n in 2 3; do
  $MPIRUN $n "$BCOS" $EVAL --dataset-root "$ROOT" --db "$TMP/n$n.db" --predictions "$TMP/n$n.csv" \
    >"$TMP/n$n.out" 2>"$TMP/err" && ok || bad "$n ranks: $(cat "$TMP/err")"
  cmp -s "$TMP/one.out" "$TMP/n$n.out" && ok || bad "$n ranks print the metrics once, as 1 process: $(cat "$TMP/n$n.out")"
  cmp -s "$TMP/one.csv" "$TMP/n$n.csv" && ok || bad "$n ranks: the predictions of 1 process, in order"
  q="SELECT metric, value, samples FROM eval_results ORDER BY metric"
  [ "$(sql "$TMP/one.db" "$q")" = "$(sql "$TMP/n$n.db" "$q")" ] && ok || bad "$n ranks store what 1 process does"
  [ "$(sql "$TMP/n$n.db" "SELECT DISTINCT samples FROM eval_results")" = 20 ] && ok || bad "$n ranks: 20 samples stored"
  [ "$(sql "$TMP/n$n.db" "SELECT world_size FROM runs")" = $n ] && ok || bad "the run records $n ranks"
done

# retrieval (tinycap: shards of 7 and 5 images): the embeddings gathered, the recalls of 1 process
"$BCOS" eval --weights tests/fixtures/clip/tiny_openclip.safetensors --model bcos-tiny --datasets tinycap \
  --dataset-root "$ROOT" --db "$TMP/cap1.db" >"$TMP/cap1.out" 2>"$TMP/err" && ok || bad "retrieval: $(cat "$TMP/err")"
$MPIRUN 2 "$BCOS" eval --weights tests/fixtures/clip/tiny_openclip.safetensors --model bcos-tiny --datasets tinycap \
  --dataset-root "$ROOT" --db "$TMP/cap2.db" >"$TMP/cap2.out" 2>"$TMP/err" && ok || bad "retrieval, 2 ranks: $(cat "$TMP/err")"
grep -q "^tinycap	test	image_retrieval_recall@1" "$TMP/cap1.out" && cmp -s "$TMP/cap1.out" "$TMP/cap2.out" && ok \
  || bad "retrieval on 2 ranks as 1 process: $(cat "$TMP/cap1.out" "$TMP/cap2.out")"

# shard 1 missing: the rank that reads it fails, every rank agrees, rank 0 reports it once
mkdir -p "$TMP/broken/test"
cp tests/fixtures/eval/tiny8/*.txt "$TMP/broken/"
cp tests/fixtures/eval/tiny8/test/nshards.txt tests/fixtures/eval/tiny8/test/0.tar "$TMP/broken/test/"
$MPIRUN 2 "$BCOS" $EVAL --dataset-root "$TMP/broken" --db "$TMP/broken.db" >"$TMP/out" 2>"$TMP/err" \
  && bad "a missing shard fails" || ok
[ "$(grep -c "dataset tiny8 failed: .*test/1.tar" "$TMP/err")" -eq 1 ] && ok || bad "one message names the shard: $(cat "$TMP/err")"
[ "$(sql "$TMP/broken.db" "SELECT count(*) FROM eval_results")" = 0 ] && ok || bad "no rows for the failed dataset"
[ "$(sql "$TMP/broken.db" "SELECT status FROM runs")" = "'failed'" ] && ok || bad "the run ends failed"

# a third shard with one undecodable image: refused samples are counted over the ranks; --max-skip 1
# lets it pass (the other 20 give the same metrics), the default 0 fails the dataset naming the sample
mkdir -p "$TMP/skip/test" "$TMP/bad"
cp tests/fixtures/eval/tiny8/*.txt "$TMP/skip/"
cp tests/fixtures/eval/tiny8/test/0.tar tests/fixtures/eval/tiny8/test/1.tar "$TMP/skip/test/"
echo 3 >"$TMP/skip/test/nshards.txt"
printf 'not a jpeg' >"$TMP/bad/zz.jpg"
echo 1 >"$TMP/bad/zz.cls"
tar -C "$TMP/bad" -cf "$TMP/skip/test/2.tar" zz.jpg zz.cls
$MPIRUN 2 "$BCOS" $EVAL --dataset-root "$TMP/skip" --db "$TMP/skip.db" --max-skip 1 >"$TMP/out" 2>"$TMP/err" \
  && ok || bad "--max-skip 1: $(cat "$TMP/err")"
[ "$(sed 's/skipped 1$/skipped 0/' "$TMP/out")" = "$(cat "$TMP/one.out")" ] && ok \
  || bad "one refused sample counted, the rest as before: $(cat "$TMP/out")"
[ "$(sql "$TMP/skip.db" "SELECT kind, reason, count FROM events")" = "'skip'|'dataset tiny8: samples refused'|1" ] \
  && ok || bad "the refused sample is an event: $(sql "$TMP/skip.db" "SELECT * FROM events")"
$MPIRUN 2 "$BCOS" $EVAL --dataset-root "$TMP/skip" --db "$TMP/skip.db" >"$TMP/out" 2>"$TMP/err" \
  && bad "more refused samples than --max-skip fail" || ok
grep -q "dataset tiny8 failed: .*2.tar: sample 'zz' refused (unsupported" "$TMP/err" && ok || bad "the message names the sample: $(cat "$TMP/err")"

summarize test_eval_mpi
