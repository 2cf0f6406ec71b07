#!/bin/sh
# `bcos distill` on Open MPI ranks (mpirun): on the in-memory images, 2 ranks follow the single
# process's loss curve (the same global batches, summed gradients) with the cosine and the SigLIP
# loss; a 2-rank run on shards killed at a checkpoint and resumed on 2 ranks ends bit-identical to
# an uninterrupted 2-rank run; resumed on 1 rank or on 3, it re-partitions the rest of the epoch,
# says so in its log and its events, and finishes; a batch that does not split over the ranks and
# an error on one rank stop every rank with a one-line message; SIGTERM to the ranks exits 75, SIGTERM
# to mpirun exits 1 (Open MPI's) with the run preempted and resumable; a rank stopped with SIGSTOP is
# named by the others, which abort within their bound (BCOS_RANK_TIMEOUT).
# Chains 2 -> 1 -> 2 and 3 -> 2 -> 3 ranks, stopped where the last rest is one shard, read every sample of
# the epoch (set equality).
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

use_mpirun
# losses DB RUN: the run's loss at every step, one per line
losses() { sql "$1" "SELECT loss FROM metrics JOIN runs r ON r.id = run_id WHERE r.name = '$2' ORDER BY step"; }
# close A B TOL: the two files of numbers agree line by line within relative TOL, and have as many lines
close() { python3 -c "import sys
a=[float(x) for x in open(sys.argv[1])]; b=[float(x) for x in open(sys.argv[2])]
sys.exit(not (len(a)==len(b)>0 and all(abs(x-y)<=float(sys.argv[3])*max(abs(x),1e-12) for x,y in zip(a,b))))" "$1" "$2" "$3"; }

# -- in-memory images: 1 process against 2 ranks
TINY="jobs/distill-tiny.json --steps 16 --log-every 4"
for loss in cosine siglip; do
  "$BCOS" distill $TINY --loss $loss --db "$TMP/one.db" --run $loss --out "$TMP/one-$loss.safetensors" \
    >/dev/null 2>"$TMP/err" && ok || bad "1 process, $loss: $(cat "$TMP/err")"
  $MPIRUN 2 "$BCOS" distill $TINY --loss $loss --db "$TMP/two.db" --run $loss --out "$TMP/two-$loss.safetensors" \
    >"$TMP/out" 2>"$TMP/err" && ok || bad "2 ranks, $loss: $(cat "$TMP/err")"
  grep -q "rank 0: distill: 2 ranks, 4 images of each batch per rank" "$TMP/err" && ok || bad "2 ranks say so"
  [ "$(grep -c "^run '$loss': steps 16" "$TMP/out")" -eq 1 ] && ok || bad "rank 0 alone prints the summary"
  losses "$TMP/one.db" $loss >"$TMP/one.loss"
  losses "$TMP/two.db" $loss >"$TMP/two.loss"
  close "$TMP/one.loss" "$TMP/two.loss" 1e-4 && ok || bad "$loss: 2 ranks follow the single process's losses: $(paste "$TMP/one.loss" "$TMP/two.loss" | head -3)"
done
[ "$(sql "$TMP/two.db" "SELECT world_size FROM runs WHERE name = 'cosine'")" = 2 ] && ok || bad "the run records 2 ranks"

# expect_fail_ranks NEEDLE CMD...: a non-zero exit, within bounded time, and our error line
# ("bcos: ...NEEDLE") on stderr: each rank that failed prints its own, and mpirun adds its abort
# notice, which may land inside another rank's line
expect_fail_ranks() {
  needle=$1; shift
  timeout 120 "$@" >"$TMP/out" 2>"$TMP/err"
  case $? in 0) bad "$* succeeded"; return ;; 124) bad "$* hung: a rank was left waiting"; return ;; esac
  if grep -F -- "$needle" "$TMP/err" | grep -q '^bcos: '; then ok; else bad "$*: no error with '$needle': $(cat "$TMP/err")"; fi
}
expect_fail_ranks "batch_size: 8 images do not split evenly over 3 ranks" $MPIRUN 3 "$BCOS" distill $TINY --db "$TMP/three.db"

# -- signals to mpirun reach every rank: USR1 makes one checkpoint (not one per rank), USR2 one more
# and a stop with exit status 75, rank 0's summary printed
$MPIRUN 2 "$BCOS" distill $TINY --steps 200000 --log-every 50 --db "$TMP/sig.db" --run sig >"$TMP/sig.out" 2>"$TMP/sig.err" &
launcher=$!
waited=0
until grep -q "step 100/" "$TMP/sig.err" 2>/dev/null || [ $waited -ge 600 ]; do sleep 0.1; waited=$((waited + 1)); done
kill -USR1 $launcher
waited=0
until [ "$(sql "$TMP/sig.db" "SELECT count(*) FROM checkpoints" 2>/dev/null)" = 1 ] || [ $waited -ge 300 ]; do sleep 0.1; waited=$((waited + 1)); done
kill -USR2 $launcher
wait $launcher
status=$?
[ $status -eq 75 ] && ok || bad "USR2 to mpirun: exit status $status, not 75: $(tail -3 "$TMP/sig.err")"
grep -q "^run 'sig' stopped at step [0-9]* of 200000 after a checkpoint" "$TMP/sig.out" && ok || bad "rank 0 prints the stop: $(cat "$TMP/sig.out")"
[ "$(sql "$TMP/sig.db" "SELECT group_concat(reason, '; ') FROM events WHERE kind = 'preemption'")" = \
  "'SIGUSR1: checkpointed on request, training goes on; SIGUSR2: checkpointed and stopped'" ] \
  && ok || bad "one checkpoint per signal: $(sql "$TMP/sig.db" "SELECT step, reason FROM events")"

# rank_pid LAUNCHER RANK: the pid of mpirun's rank RANK (its child with that OMPI_COMM_WORLD_RANK)
rank_pid() {
  for child in $(ps -o pid= --ppid "$1"); do
    grep -qz "^OMPI_COMM_WORLD_RANK=$2\$" "/proc/$child/environ" 2>/dev/null && echo "$child"
  done
}
# start_long NAME NEEDLE [MPIRUN OPTIONS...]: a long 2-rank run NAME in the background ($launcher), once
# its log says NEEDLE
start_long() {
  long_name=$1 needle=$2; shift 2
  ${MPIRUN% -np} "$@" -np 2 "$BCOS" distill $TINY --steps 200000 --log-every 50 --db "$TMP/$long_name.db" \
    --run "$long_name" >"$TMP/$long_name.out" 2>"$TMP/$long_name.err" &
  launcher=$!
  waited=0
  until grep -q "$needle" "$TMP/$long_name.err" 2>/dev/null || [ $waited -ge 600 ]; do sleep 0.1; waited=$((waited + 1)); done
}
status_of() { sql "$TMP/$1.db" "SELECT status FROM runs WHERE name = '$1'"; }

# -- SIGTERM to the ranks themselves (a process-group signal, Slurm's, srun's): they checkpoint and
# exit 75, and mpirun passes that on
start_long term "step 100/"
for pid in $(rank_pid $launcher 0) $(rank_pid $launcher 1); do kill -TERM "$pid"; done
wait $launcher
status=$?
[ $status -eq 75 ] && ok || bad "SIGTERM to the ranks: exit status $status, not 75: $(tail -3 "$TMP/term.err")"
[ "$(status_of term)" = "'preempted'" ] && ok || bad "SIGTERM to the ranks: the run is $(status_of term)"
# -- SIGTERM to mpirun (as SIGINT): Open MPI passes it to the ranks a second later, then kills them a second after
# that and exits 1 whatever they do; the ranks checkpoint in time and the run is preempted, resumable
start_long mpirun_term "step 100/"
kill -TERM $launcher
wait $launcher
status=$?
[ $status -eq 1 ] && ok || bad "SIGTERM to mpirun: exit status $status (Open MPI's own is 1)"
[ "$(status_of mpirun_term)" = "'preempted'" ] && ok || bad "SIGTERM to mpirun: the run is $(status_of mpirun_term)"
mv "$TMP/mpirun_term.err" "$TMP/mpirun_term.first.err"
start_long mpirun_term "resumes from its checkpoint at step"
kill -USR2 $launcher
wait $launcher
status=$?
[ $status -eq 75 ] && grep -q "resumes from its checkpoint at step" "$TMP/mpirun_term.err" && ok \
  || bad "the run stopped through mpirun resumes (status $status): $(tail -2 "$TMP/mpirun_term.err")"

# -- a rank stopped (SIGSTOP): the others wait without spinning, up to BCOS_RANK_TIMEOUT, then name it and
# abort every rank
start_long stopped "step 100/" -x BCOS_RANK_TIMEOUT=3
stopped=$(rank_pid $launcher 1)
kill -STOP "$stopped"
started=$(date +%s)
(sleep 120; kill -KILL "$stopped") 2>/dev/null &  # without the bound the others would wait for good
watchdog=$!
wait $launcher
status=$?
took=$(( $(date +%s) - started ))
kill -KILL "$stopped" $watchdog 2>/dev/null
[ $status -ne 0 ] && ok || bad "a stopped rank: mpirun exited 0"
[ $took -le 30 ] && ok || bad "a stopped rank: the others gave up after $took s, not within the 3 s bound and the roll call"
grep -q "^bcos: rank 1 stopped answering (a .* waited 3 s; BCOS_RANK_TIMEOUT sets the bound): aborting every rank" \
  "$TMP/stopped.err" && ok || bad "a stopped rank is named: $(grep bcos: "$TMP/stopped.err")"

# -- shards: exact resume on the same world size
"$BCOS" shards write --out "$TMP/fm" --fashion-mnist --split test --max-samples 400 --captions >/dev/null 2>&1 \
  && ok || bad "Fashion-MNIST shards"
SHARDS="$TMP/fm/test/{0..11}.tar"
JOB="--teacher tests/fixtures/clip/tiny_openclip.safetensors --teacher-model bcos-tiny --shards $SHARDS \
  --steps 24 --batch-size 12 --workers 2 --shuffle 32 --checkpoint-every 8 --log-every 8 --lr 0.001 --seed 3"
# run NAME NP [ENV...]: the shard job on NP ranks (1: no mpirun) as run NAME, its student in $TMP/NAME.safetensors
run() {
  run_name=$1 run_ranks=$2
  shift 2
  if [ "$run_ranks" -eq 1 ]; then set -- env "$@" "$BCOS"; else set -- $MPIRUN "$run_ranks" env "$@" "$BCOS"; fi
  "$@" distill $JOB --db "$TMP/shards.db" --run "$run_name" --out "$TMP/$run_name.safetensors" >"$TMP/out" 2>"$TMP/err"
}
run whole 2 && ok || bad "2 ranks on shards: $(cat "$TMP/err")"
run exact 2 BCOS_CRASH_AT=checkpoint_committed && bad "the crash point was not reached" || ok
run exact 2 && ok || bad "the 2-rank resume failed: $(cat "$TMP/err")"
grep -q "resumes from its checkpoint at step 8" "$TMP/err" && ok || bad "the 2-rank run resumes at step 8"
cmp -s "$TMP/whole.safetensors" "$TMP/exact.safetensors" && ok || bad "a 2-rank resume ends bit-identical"
[ "$(losses "$TMP/shards.db" whole)" = "$(losses "$TMP/shards.db" exact)" ] && ok || bad "a 2-rank resume has the same losses"

# -- another world size: the rest of the epoch is re-partitioned, said in the log and the events
# samples_at RUN STEP: the samples seen at the run's checkpoint of STEP
samples_at() { sql "$TMP/shards.db" "SELECT samples_seen FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE r.name = '$1' AND c.step = $2"; }
for np in 1 3; do
  run shrink$np 2 BCOS_CRASH_AT=checkpoint_committed && bad "the crash point was not reached" || ok
  run shrink$np $np && ok || bad "resumed on $np: $(cat "$TMP/err")"
  [ $np -eq 1 ] && ranks="1 rank" || ranks="$np ranks"
  grep -q "shards: resumed on $ranks after 2: re-partitioned the rest of epoch 0 (12 shards, " "$TMP/err" \
    && ok || bad "resumed on $np: the log says it re-partitioned: $(grep shards: "$TMP/err")"
  grep -q "epoch 0's rest of" "$TMP/err" && ok || bad "resumed on $np: the epoch's rest is planned"
  [ "$(sql "$TMP/shards.db" "SELECT count(*) FROM events e JOIN runs r ON r.id = e.run_id WHERE r.name = 'shrink$np' AND reason LIKE 'resumed on $ranks after 2: re-partitioned%'")" = 1 ] \
    && ok || bad "resumed on $np: an event records the re-partition"
  [ "$(samples_at shrink$np 24)" = 288 ] && ok || bad "resumed on $np: 24 batches of 12 seen"
  [ "$(sql "$TMP/shards.db" "SELECT c.world_size FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE r.name = 'shrink$np' AND step = 24")" = $np ] \
    && ok || bad "resumed on $np: its checkpoints are of $np ranks"
  [ -s "$TMP/shrink$np.safetensors" ] && ok || bad "resumed on $np: the student is saved"
done
# a run re-partitioned once (2 -> 3) and stopped again resumes on its own shape exactly where it was
run again 2 BCOS_CRASH_AT=checkpoint_committed && bad "the crash point was not reached" || ok
JOB="$JOB --checkpoint-every 4"
run again 3 BCOS_CRASH_AT=checkpoint_committed && bad "the crash point was not reached" || ok
grep -q "re-partitioned the rest of epoch 0" "$TMP/err" && ok || bad "2 -> 3 re-partitions"
run again 3 && ok || bad "3 -> 3: $(cat "$TMP/err")"
grep -q "resumes from its checkpoint at step 12" "$TMP/err" && ! grep -q "re-partitioned" "$TMP/err" \
  && grep -q "epoch 0's rest of .*resumed at its cursor" "$TMP/err" && ok || bad "3 -> 3 resumes the rest at its cursor: $(grep -E 'shards:|resumes' "$TMP/err")"

# -- no sample of an epoch is lost across world sizes, even when the last rest is one shard (fewer
# pieces than ranks): on 10 shards of 12 samples, read in order (1 worker, no shuffle buffer), a ranks
# stop at step 2, b ranks at step S2, and a ranks finish; $BCOS_TRACE_SAMPLES has each rank write
# the samples of its steps, and those of epoch 0 up to each stop, and of the last run, are every
# sample of the 10 shards (set equality)
"$BCOS" shards write --out "$TMP/small" --fashion-mnist --split test --max-samples 12 >/dev/null 2>&1 \
  && ok || bad "small Fashion-MNIST shards"
# epoch_zero_complete DIR/STOP...: the (shard, index) of epoch 0 in the traces DIR/rank-*.txt, each
# read up to step STOP (0: all), are all the samples of the small shards 0..9, none missing or more
epoch_zero_complete() { python3 -c "import glob,sys,tarfile
seen=set()
for spec in sys.argv[2:]:
  folder,stop=spec.rsplit('/',1)
  for name in glob.glob(folder+'/rank-*.txt'):
    for line in open(name):
      head,samples=line.split(':',1); _,epoch,_,step=head.split()
      if epoch=='0' and (stop=='0' or int(step)<=int(stop)):
        seen.update(tuple(map(int,x.split(':'))) for x in samples.split())
want=set()
for k in range(10):
  keys=[]
  for m in tarfile.open(sys.argv[1]+'/%d.tar'%k):
    if not keys or keys[-1]!=m.name.split('.')[0]: keys.append(m.name.split('.')[0])
  want.update((k,i) for i in range(len(keys)))
print('missing', sorted(want-seen)[:8], 'outside', sorted(seen-want)[:8])
sys.exit(seen!=want)" "$TMP/small/test" "$@"; }
SMALL="--teacher tests/fixtures/clip/tiny_openclip.safetensors --teacher-model bcos-tiny \
  --shards $TMP/small/test/{0..9}.tar --steps 14 --batch-size 12 --workers 1 --shuffle 0 --log-every 7 \
  --lr 0.001 --seed 3 --db $TMP/chain.db"
# chain A B S2 PIECES: the chain A -> B -> A ranks as run chainABA; the last rest is of PIECES shards
chain() {
  a=$1 b=$2 s2=$3 pieces=$4 name=chain$1$2$1
  mkdir -p "$TMP/$name/1" "$TMP/$name/2" "$TMP/$name/3"
  $MPIRUN $a env BCOS_CRASH_AT=checkpoint_committed BCOS_TRACE_SAMPLES="$TMP/$name/1" "$BCOS" distill $SMALL \
    --run $name --checkpoint-every 2 >/dev/null 2>"$TMP/err" && bad "$name: the crash point was not reached" || ok
  [ "$b" -eq 1 ] && set -- env || set -- $MPIRUN "$b" env
  "$@" BCOS_CRASH_AT=checkpoint_committed BCOS_TRACE_SAMPLES="$TMP/$name/2" "$BCOS" distill $SMALL \
    --run $name --checkpoint-every "$s2" >/dev/null 2>"$TMP/err" && bad "$name: the crash point was not reached" || ok
  grep -q "re-partitioned the rest of epoch 0" "$TMP/err" && ok || bad "$name: $a -> $b re-partitions: $(tail -3 "$TMP/err")"
  $MPIRUN $a env BCOS_TRACE_SAMPLES="$TMP/$name/3" "$BCOS" distill $SMALL --run $name --checkpoint-every "$s2" \
    >/dev/null 2>"$TMP/err" && ok || bad "$name: the last run failed: $(cat "$TMP/err")"
  grep -q "re-partitioned the rest of epoch 0 ($pieces shards, " "$TMP/err" && ok \
    || bad "$name: the last rest is not of $pieces shards: $(grep shards: "$TMP/err")"
  grep -q "epoch 0's rest of" "$TMP/err" && ! grep -q "cannot feed" "$TMP/err" && ok \
    || bad "$name: the last rest of $pieces shards over $a ranks is not read: $(grep shards: "$TMP/err")"
  epoch_zero_complete "$TMP/$name/1/2" "$TMP/$name/2/$s2" "$TMP/$name/3/0" >"$TMP/out" && ok \
    || bad "$name: samples of epoch 0 lost: $(cat "$TMP/out")"
}
chain 2 1 9 1
chain 3 2 10 1

# -- an error on rank 0 alone (its store cannot be opened) stops every rank, with its message
echo file >"$TMP/file"
expect_fail_ranks "$TMP/file/bcos.db" $MPIRUN 2 "$BCOS" distill $TINY --db "$TMP/file/bcos.db" --run lonely
[ "$(grep -c '^bcos: ' "$TMP/err")" -eq 1 ] && ok || bad "rank 0 alone reports it: $(cat "$TMP/err")"

summarize test_distill_mpi
