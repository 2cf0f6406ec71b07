#!/bin/sh
# The real binary on bad input: output targets that are not regular files (a FIFO, a link to a device,
# a folder) are refused and left as they were; optimiser options out of range, duplicate job keys and
# a too-long run name get one line naming the option and its limit; a batch that cannot fit in memory
# is refused before allocating; credentials in shard URLs reach neither the log nor the store; an IPv6
# shard list works against the test server on ::1; stores on a read-only mount or in an unwritable
# folder give the real reason; an empty image folder is refused cleanly.
set -u
BCOS=$1
SERVER=$(dirname "$BCOS")/bcos_test_server
W=tests/fixtures/clip/tiny_openclip.safetensors
IMG=tests/fixtures/image/landscape_1200x800.jpg
JOB=jobs/distill-tiny.json
TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  mountpoint -q "$TMP/ro" 2>/dev/null && umount "$TMP/ro"
  rm -rf "$TMP"
}
trap cleanup EXIT
. tests/cli/lib.sh

# expect_refused NEEDLE CMD...: a non-zero exit whose last stderr line is the error ("bcos: ...")
# and contains NEEDLE; distill logs progress on stderr before it
expect_refused() {
  needle=$1; shift
  if "$@" >"$TMP/out" 2>"$TMP/err"; then bad "$* succeeded"; return; fi
  last=$(tail -1 "$TMP/err")
  case "$last" in "bcos: "*) ;; *) bad "$*: the last line is no error: $last"; return ;; esac
  if printf '%s' "$last" | grep -qF -- "$needle"; then ok; else bad "$*: error '$last' lacks '$needle'"; fi
}

# ---- output targets that are not regular files: refused before writing, left as they were
mkfifo "$TMP/pipe"
ln -s /dev/null "$TMP/null-link"
mkdir "$TMP/folder"
expect_fail "pipe: is a named pipe (FIFO), not a regular file" \
  "$BCOS" encode-image --weights "$W" --model bcos-tiny --out "$TMP/pipe" "$IMG"
[ -p "$TMP/pipe" ] && ok || bad "the FIFO is still a FIFO"
expect_fail "null-link: is a character device, not a regular file" \
  "$BCOS" encode-image --weights "$W" --model bcos-tiny --out "$TMP/null-link" "$IMG"
[ -L "$TMP/null-link" ] && [ -c /dev/null ] && ok || bad "the link and /dev/null are as they were"
expect_fail "folder: is a directory, not a regular file" \
  "$BCOS" encode-image --weights "$W" --model bcos-tiny --out "$TMP/folder" "$IMG"
if [ "$(id -u)" = 0 ]; then
  # as root a rename replaces a device node itself (it did, before the check): on a node of our own
  # (the null device's numbers), so that a binary without the check harms nothing but it
  mknod -m 666 "$TMP/dev-null" c 1 3
  expect_fail "dev-null: is a character device" "$BCOS" encode-image --weights "$W" --model bcos-tiny --out "$TMP/dev-null" "$IMG"
  [ -c "$TMP/dev-null" ] && ok || bad "the device node is still a character device"
fi
# distill refuses before training, not after
expect_fail "pipe: is a named pipe (FIFO)" "$BCOS" distill "$JOB" --db "$TMP/o.db" --out "$TMP/pipe"
ls "$TMP" | grep -q '\.tmp\.' && bad "temporary files left: $(ls "$TMP")" || ok

# ---- option ranges, each named with its range
expect_fail "option 'beta1': 1.5 is out of range: it must be in [0, 1)" "$BCOS" distill "$JOB" --beta1 1.5
expect_fail "option 'beta2': 1 is out of range: it must be in [0, 1)" "$BCOS" distill "$JOB" --beta2 1
expect_fail "option 'eps': -1 is out of range: it must be greater than 0" "$BCOS" distill "$JOB" --eps -1
expect_fail "option 'weight_decay': -0.1 is out of range: it must be at least 0" "$BCOS" distill "$JOB" --weight-decay -0.1
expect_fail "option 'steps': 1e+30 is out of range" "$BCOS" distill "$JOB" --steps 1e30
expect_fail "option 'workers': 65 is out of range: it must be in [1, 64]" "$BCOS" distill "$JOB" --workers 65
printf '{"kind": "distill", "teacher": "%s", "lr": 0.1, "steps": 2, "lr": 0.2}' "$W" >"$TMP/twice.json"
expect_fail "twice.json: $.lr: key 'lr' is given twice" "$BCOS" distill "$TMP/twice.json"
printf '{"kind": "distill", "log_every": 1, "log-every": 2}' >"$TMP/spelled.json"
expect_fail "key 'log-every' is given twice" "$BCOS" distill "$TMP/spelled.json"
long=$(printf 'r%.0s' $(seq 1 2000))
printf '{"kind": "distill", "run": "%s"}' "$long" >"$TMP/long.json"
expect_fail "option 'run': value of 2000 bytes is longer than its limit of 127 bytes" "$BCOS" distill "$TMP/long.json"

# ---- memory: refused at once with the estimate and the limit; log_every costs nothing
start=$(date +%s)
expect_refused "GiB of" "$BCOS" distill "$JOB" --db "$TMP/m.db" --batch-size 10000000
tail -1 "$TMP/err" | grep -q "batch_size: 10000000 images per step need about [0-9.]* GiB (student activations" && ok \
  || bad "the refusal states the estimate: $(cat "$TMP/err")"
[ $(($(date +%s) - start)) -le 5 ] && ok || bad "the refusal took more than 5 s"
expect_ok "$BCOS" distill "$JOB" --db "$TMP/m.db" --out "$TMP/m.safetensors" --log-every 1e9 --steps 2
grep -q "memory estimate [0-9.]* GiB of" "$TMP/err" && ok || bad "the estimate is logged: $(cat "$TMP/err")"

# ---- an empty image folder
mkdir "$TMP/empty"
expect_refused "no decodable" "$BCOS" distill "$JOB" --db "$TMP/e.db" --images "$TMP/empty"

# ---- stores where nothing can be written: the file system's reason, naming the folder
if [ "$(id -u)" = 0 ]; then
  mkdir "$TMP/ro"
  mount -t tmpfs -o ro,size=1m tmpfs "$TMP/ro" || bad "cannot mount a read-only tmpfs (needed as root)"
  expect_refused "ro/s.db: cannot open or create the database: its folder $TMP/ro: Read-only file system" \
    "$BCOS" distill "$JOB" --db "$TMP/ro/s.db" --run r --out "$TMP/r.safetensors"
else
  mkdir "$TMP/locked" && chmod 555 "$TMP/locked"
  expect_refused "its folder $TMP/locked: Permission denied" \
    "$BCOS" distill "$JOB" --db "$TMP/locked/s.db" --run r --out "$TMP/r.safetensors"
fi

# ---- shards over HTTP: credentials are used, never shown or stored; IPv6 literals work
mkdir -p "$TMP/classes/a" "$TMP/classes/b"
cp tests/fixtures/image/landscape_1200x800.jpg tests/fixtures/image/portrait_320x370.jpg "$TMP/classes/a/"
cp tests/fixtures/image/tiny_20x15.png tests/fixtures/image/lossy_40x30.webp "$TMP/classes/b/"
expect_ok "$BCOS" shards write --folder "$TMP/classes" --out "$TMP/www" --split train --max-samples 2
# start_server ADDRESS: serves $TMP/www there; sets URL (http://HOST:PORT/)
start_server() {
  "$SERVER" "$TMP/www" 0 "$1" >"$TMP/server.out" 2>"$TMP/server.err" &
  SERVER_PID=$!
  # a whole first line (the URL), waited for as long as a loaded machine may need
  for _ in $(seq 1 300); do [ "$(wc -l <"$TMP/server.out")" -ge 1 ] && break; sleep 0.1; done
  URL=$(head -1 "$TMP/server.out")
  [ -n "$URL" ] && ok || bad "the test server did not start on $1: $(cat "$TMP/server.err")"
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=; }

start_server 127.0.0.1
AUTH_URL=$(echo "$URL" | sed 's|http://|http://alice:s3cr3t-pw@|')
expect_ok "$BCOS" distill "$JOB" --images "" --shards "${AUTH_URL}train/{0..1}.tar" --db "$TMP/cred.db" --run cred \
  --steps 1 --batch-size 2 --workers 1 --out "$TMP/cred.safetensors" --stall-timeout-ms 1000
cat "$TMP/out" "$TMP/err" >"$TMP/cred.log"
grep -q "s3cr3t" "$TMP/cred.log" && bad "the password is in the log" || ok
grep -q "http://\*\*\*@127.0.0.1" "$TMP/cred.log" && ok || bad "the log names the shards, redacted: $(cat "$TMP/cred.log")"
job=$(sqlite3 "$TMP/cred.db" "SELECT job_text FROM runs WHERE name = 'cred'")
echo "$job" | grep -q "s3cr3t" && bad "the password is in runs.job_text" || ok
echo "$job" | grep -q '"shards":"http://\*\*\*@127.0.0.1' && ok || bad "job_text keeps the redacted list: $job"
grep -rqa "s3cr3t" "$TMP"/cred.db* && bad "the password is somewhere in the store's files" || ok
stop_server
# a failure message quotes the URL without its password
expect_refused "http://***@127.0.0.1:9/" "$BCOS" distill "$JOB" --images "" --shards "http://alice:s3cr3t-pw@127.0.0.1:9/{0..1}.tar" \
  --db "$TMP/cred.db" --run gone --steps 1 --batch-size 2 --retries 0 --connect-timeout-ms 500
grep -q "s3cr3t" "$TMP/err" && bad "the password is in the error: $(cat "$TMP/err")" || ok

# ::1 must be there: this test binds it and says so loudly when it cannot
start_server ::1
case "$URL" in "http://[::1]:"*) ok ;; *) bad "the server is not on ::1: '$URL' $(cat "$TMP/server.err")" ;; esac
rm "$TMP/www/train/sizes.json" # every shard is read over IPv6 to be counted
expect_ok env BCOS_CACHE_DIR="$TMP/cache" "$BCOS" shards sizes "${URL}train/0.tar::${URL}train/1.tar"
grep -q "^total	4	2 shards" "$TMP/out" && ok || bad "both IPv6 shards counted: $(cat "$TMP/out") $(cat "$TMP/err")"
expect_ok "$BCOS" distill "$JOB" --images "" --shards "${URL}train/{0..1}.tar" --db "$TMP/v6.db" --run v6 \
  --steps 2 --batch-size 2 --workers 1 --out "$TMP/v6.safetensors"
stop_server

summarize test_bad_input
