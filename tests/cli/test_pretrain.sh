#!/bin/sh
# `bcos pretrain`: contrastive CLIP pretraining with the real binary.
#  - bad settings are refused before any work with one line naming the culprit;
#  - on a small captioned set (240 Fashion-MNIST images, "a photo of a {class}."), 80 steps lower the
#    loss: the mean of the last 10 steps lies at least 0.5 below the mean of the first 5, and below
#    chance (ln of the batch size); the run is of kind 'pretrain', its checkpoint holds 'model' and
#    'optimizer', and the saved CLIP loads as a teacher (bcos zeroshot, bcos distill);
#  - a run on shards killed with SIGKILL at every checkpoint (BCOS_CRASH_AT) and resumed, and one
#    killed at a random instant and resumed, end bit-identical to an uninterrupted run (the model's
#    tensor bytes and every metrics row);
#  - slurm/distill.sbatch with BCOS_COMMAND=pretrain, run by bash as Slurm would (USR1 at the time
#    limit): bcos checkpoints and exits 75, and the same command resumes and finishes;
#  - 2 ranks (mpirun, the contrastive loss over the whole global batch: every rank's features
#    gathered) follow the single process: every step's loss within a relative 1e-5, the final
#    weights within a relative 1e-4 per tensor (the ranks sum their gradients in another order),
#    except the key thirds of the attention in_proj biases: their gradient is zero in exact
#    arithmetic (softmax ignores q·b_k, the same for every key), so Adam, dividing by sqrt(v), turns
#    rounding noise into updates of the learning rate's size whatever the order of the sums.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

# tensor_sha FILE: sha256 of a safetensors file's data section (the bytes after its JSON header)
tensor_sha() { python3 -c "import hashlib,struct,sys
b=open(sys.argv[1],'rb').read(); n=struct.unpack('<Q',b[:8])[0]
print(hashlib.sha256(b[8+n:]).hexdigest())" "$1"; }
metrics() { sql "$1" "SELECT step, loss, cos, lr, grad_norm, skipped_samples FROM metrics JOIN runs r ON r.id = run_id WHERE r.name = '$2' ORDER BY step"; }

"$BCOS" shards write --out "$TMP/fm" --fashion-mnist --split test --max-samples 240 --captions >/dev/null 2>"$TMP/err" \
  || { echo "Fashion-MNIST shards: $(cat "$TMP/err")"; exit 1; }
mkdir "$TMP/folder"
tar xf "$TMP/fm/test/0.tar" -C "$TMP/folder"
rm -f "$TMP"/folder/*.cls
images=$(ls "$TMP"/folder/*.png | wc -l)
[ "$images" -eq 240 ] && ok || bad "the captioned folder has $images images"

# -- bad settings, refused before any work
DB="--db $TMP/bad.db"
expect_fail "unknown option 'teacher' (see 'bcos pretrain --help')" "$BCOS" pretrain --teacher x --run r $DB
expect_fail "give exactly one of 'images' (a folder) and 'shards'" "$BCOS" pretrain --run r $DB
expect_fail "give exactly one of 'images' (a folder) and 'shards'" "$BCOS" pretrain --images "$TMP/folder" \
  --shards "$TMP/fm/test/0.tar" --run r $DB
expect_fail "option 'batch_size': 1 is out of range: it must be in [2, " "$BCOS" pretrain --images "$TMP/folder" \
  --batch-size 1 --run r $DB
expect_fail "config pretrain-micro has a vocabulary of 300 tokens, fewer than the tokenizer's 49408" "$BCOS" pretrain \
  --images "$TMP/folder" --model tests/fixtures/pretrain/pretrain-micro.json --run r $DB
expect_fail "no such built-in config or file" "$BCOS" pretrain --images "$TMP/folder" --model nope --run r $DB
printf '{"kind": "distill", "steps": 3}\n' >"$TMP/wrong.json"
expect_fail '$.kind: expected "pretrain", found "distill"' "$BCOS" pretrain "$TMP/wrong.json" $DB
printf '{"kind": "pretrain", "stepz": 3}\n' >"$TMP/typo.json"
expect_fail "found the unknown key 'stepz'" "$BCOS" pretrain "$TMP/typo.json" $DB
expect_fail "batch_size: 100000000 pairs per step need about" "$BCOS" pretrain --images "$TMP/folder" \
  --batch-size 100000000 --run r $DB
[ ! -e "$TMP/bad.db" ] && ok || bad "a refused run touched the store"

# -- the loss goes down on a small captioned set
LEARN="--images $TMP/folder --model bcos-tiny --batch-size 24 --steps 80 --warmup-steps 5 --lr 1e-3 --seed 3"
expect_ok "$BCOS" pretrain $LEARN --db "$TMP/learn.db" --run learn --log-every 20 --out "$TMP/teacher.safetensors"
grep -q "^run 'learn': steps 80, skipped 0, loss" "$TMP/out" && ok || bad "summary: $(cat "$TMP/out")"
python3 -c "import math,sqlite3,sys
loss=[r[0] for r in sqlite3.connect(sys.argv[1]).execute('SELECT loss FROM metrics ORDER BY step')]
first=sum(loss[:5])/5; last=sum(loss[-10:])/10; chance=math.log(24)
print(f'loss: first 5 steps {first:.4f}, last 10 steps {last:.4f}, chance {chance:.4f}')
sys.exit(not (len(loss)==80 and last < first-0.5 and last < chance-0.3))" "$TMP/learn.db" >"$TMP/loss" \
  && ok || bad "the loss did not go down: $(cat "$TMP/loss")"
cat "$TMP/loss"
[ "$(sql "$TMP/learn.db" "SELECT kind, status FROM runs WHERE name = 'learn'")" = "'pretrain'|'done'" ] && ok \
  || bad "the run's kind and status: $(sql "$TMP/learn.db" "SELECT kind, status FROM runs")"
[ "$(sql "$TMP/learn.db" "SELECT group_concat(name) FROM (SELECT f.name FROM checkpoint_files f JOIN checkpoints c ON c.id = f.checkpoint_id ORDER BY f.name)")" = "'model,optimizer'" ] \
  && ok || bad "the checkpoint's files: $(sql "$TMP/learn.db" "SELECT name FROM checkpoint_files")"
expect_ok "$BCOS" zeroshot --weights "$TMP/teacher.safetensors" --classes "T-shirt/top,Trouser,Ankle boot" \
  "$(ls "$TMP"/folder/*.png | head -1)"
expect_ok "$BCOS" distill --teacher "$TMP/teacher.safetensors" --images "$TMP/folder" --steps 1 --batch-size 4 \
  --db "$TMP/learn.db" --run student

# -- SIGKILL and resume, bit for bit, on shards (two loader workers, training crops)
SHARDS="--shards $TMP/fm/test/{0..3}.tar --workers 2 --model bcos-tiny --batch-size 8 --steps 12 --warmup-steps 2 --seed 5 --checkpoint-every 3"
expect_ok "$BCOS" pretrain $SHARDS --db "$TMP/ref.db" --run ref --out "$TMP/ref.safetensors"
metrics "$TMP/ref.db" ref >"$TMP/ref.metrics"
[ "$(wc -l <"$TMP/ref.metrics")" -eq 12 ] && ok || bad "the uninterrupted run has 12 metrics rows"
kills=0
while [ $kills -lt 10 ]; do
  BCOS_CRASH_AT=checkpoint_committed "$BCOS" pretrain $SHARDS --db "$TMP/crash.db" --run crash \
    --out "$TMP/crash.safetensors" >/dev/null 2>&1
  [ $? -eq 137 ] || break
  kills=$((kills + 1))
done
[ $kills -eq 4 ] && ok || bad "expected a kill at each of the 4 checkpoints, got $kills"
[ -e "$TMP/crash.safetensors" ] || "$BCOS" pretrain $SHARDS --db "$TMP/crash.db" --run crash \
  --out "$TMP/crash.safetensors" >/dev/null 2>&1
[ "$(tensor_sha "$TMP/crash.safetensors")" = "$(tensor_sha "$TMP/ref.safetensors")" ] && ok \
  || bad "killed at every checkpoint and resumed: the model differs from the uninterrupted run's"
metrics "$TMP/crash.db" crash | cmp -s - "$TMP/ref.metrics" && ok || bad "killed at every checkpoint: metrics differ"
# a kill at an instant inside training (after the first checkpoint), then the resume
KILL="$SHARDS --steps 40 --checkpoint-every 4 --log-every 100"
"$BCOS" pretrain $KILL --db "$TMP/kill.db" --run kill --out "$TMP/kill.safetensors" >/dev/null 2>&1 &
pid=$!
waited=0
# (a committed checkpoint: its folder appears before the commit)
committed() { n=$(sql "$TMP/kill.db" "SELECT count(*) FROM checkpoints WHERE state = 'complete'" 2>/dev/null); [ "${n:-0}" -ge 1 ]; }
until committed || [ $waited -ge 600 ]; do sleep 0.1; waited=$((waited + 1)); done
sleep 0.3
kill -KILL $pid 2>/dev/null && ok || bad "the run ended before the kill"
wait $pid 2>/dev/null
[ "$(sql "$TMP/kill.db" "PRAGMA integrity_check")" = "'ok'" ] && ok || bad "the store after SIGKILL"
expect_ok "$BCOS" pretrain $KILL --db "$TMP/kill.db" --run kill --out "$TMP/kill.safetensors"
grep -q "(resumed at " "$TMP/out" && ok || bad "the killed run resumed: $(cat "$TMP/out")"
expect_ok "$BCOS" pretrain $KILL --db "$TMP/nokill.db" --run kill --out "$TMP/nokill.safetensors"
[ "$(tensor_sha "$TMP/kill.safetensors")" = "$(tensor_sha "$TMP/nokill.safetensors")" ] && ok \
  || bad "killed at an instant and resumed: the model differs from the uninterrupted run's"
metrics "$TMP/kill.db" kill >"$TMP/kill.metrics"
metrics "$TMP/nokill.db" kill | cmp -s - "$TMP/kill.metrics" && ok || bad "killed at an instant: metrics differ"

# -- the Slurm script's preemption path (no SLURM_JOB_ID: no requeue)
printf '{"kind": "pretrain", "images": "%s", "model": "bcos-tiny", "batch_size": 8, "steps": 300, "log_every": 10}\n' \
  "$TMP/folder" >"$TMP/slurm.json"
SLURM_ARGS="--db $TMP/slurm.db --out $TMP/slurm.safetensors --checkpoint-every 1000"
BCOS_COMMAND=pretrain BCOS=$BCOS bash slurm/distill.sbatch "$TMP/slurm.json" $SLURM_ARGS >"$TMP/first.log" 2>&1 &
script=$!
for i in $(seq 1 600); do grep -q "step 10/300" "$TMP/first.log" 2>/dev/null && break; sleep 0.1; done
kill -USR1 "$script"
wait "$script"
status=$?
[ "$status" -eq 75 ] && ok || bad "the script exits 75 after USR1 (got $status): $(tail -3 "$TMP/first.log")"
BCOS_COMMAND=pretrain BCOS=$BCOS bash slurm/distill.sbatch "$TMP/slurm.json" $SLURM_ARGS >"$TMP/second.log" 2>&1 \
  && ok || bad "the rerun finishes: $(tail -3 "$TMP/second.log")"
grep -q "^run 'slurm': steps 300 (resumed at " "$TMP/second.log" && ok || bad "the rerun resumes: $(tail -2 "$TMP/second.log")"
[ -s "$TMP/slurm.safetensors" ] && ok || bad "the rerun saves the model"
BCOS_COMMAND=nope bash slurm/distill.sbatch "$TMP/slurm.json" >"$TMP/out" 2>&1
[ $? -eq 2 ] && grep -q "BCOS_COMMAND must be distill or pretrain" "$TMP/out" && ok || bad "a wrong BCOS_COMMAND is refused"

# -- 2 ranks against 1 process: the same global batches (the folder's order is the seed's)
use_mpirun
RANKS="--images $TMP/folder --model bcos-tiny --batch-size 8 --steps 10 --warmup-steps 2 --lr 1e-3 --seed 9"
expect_ok "$BCOS" pretrain $RANKS --db "$TMP/one.db" --run ranks --out "$TMP/one.safetensors"
$MPIRUN 2 "$BCOS" pretrain $RANKS --db "$TMP/two.db" --run ranks --out "$TMP/two.safetensors" >"$TMP/out" 2>"$TMP/err" \
  && ok || bad "2 ranks: $(cat "$TMP/err")"
grep -q "pretrain: 2 ranks, 4 pairs of each batch per rank" "$TMP/err" && ok || bad "2 ranks say so"
python3 -c "import json,sqlite3,struct,sys
def losses(db): return [r[0] for r in sqlite3.connect(db).execute('SELECT loss FROM metrics ORDER BY step')]
a, b = losses(sys.argv[1]), losses(sys.argv[2])
ok = len(a) == len(b) == 10 and all(abs(x - y) <= 1e-5 * abs(x) for x, y in zip(a, b))
def tensors(path):
    raw = open(path, 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]; head = json.loads(raw[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == '__metadata__': continue
        s, e = v['data_offsets']; out[k] = struct.unpack('<%df' % ((e - s) // 4), raw[8 + n + s:8 + n + e])
    return out
def compared(k, t):  # an in_proj bias without its key third
    w = len(t) // 3
    return t[:w] + t[2 * w:] if k.endswith('attn.in_proj_bias') else t
ta, tb = tensors(sys.argv[3]), tensors(sys.argv[4])
ta = {k: compared(k, v) for k, v in ta.items()}; tb = {k: compared(k, v) for k, v in tb.items()}
worst = max(max(abs(x - y) for x, y in zip(ta[k], tb[k])) / max(max(abs(x) for x in ta[k]), 1e-30) for k in ta)
print(f'2 ranks against 1: worst loss difference {max(abs(x - y) / abs(x) for x, y in zip(a, b)):.2e}, worst tensor {worst:.2e}')
sys.exit(not (ok and set(ta) == set(tb) and worst < 1e-4))" "$TMP/one.db" "$TMP/two.db" "$TMP/one.safetensors" \
  "$TMP/two.safetensors" >"$TMP/cmp" && ok || bad "2 ranks do not follow 1: $(cat "$TMP/cmp")"
cat "$TMP/cmp"

summarize test_pretrain
