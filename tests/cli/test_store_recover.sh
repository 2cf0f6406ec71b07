#!/bin/sh
# Crash and restore: a run's checkpoints are committed, then its store is emptied, deleted or
# replaced by an older copy. Not one checkpoint file is lost or changed (sha256 of every file before
# and after), the run refuses to start naming `bcos store recover`, which records the run and its
# checkpoints again, and the same command then resumes from the newest checkpoint and ends with the
# uninterrupted run's student, byte for byte.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

# job DIR [FLAGS...]: the tiny job as run r on DIR/s.db, its student to DIR/student.safetensors
job() {
  dir=$1; shift
  "$BCOS" distill jobs/distill-tiny.json --db "$dir/s.db" --run r --steps 20 --checkpoint-every 5 \
    --checkpoint-minutes 0 --keep-last 3 --out "$dir/student.safetensors" "$@"
}
# sums DIR: the sha256 of every file under DIR's checkpoint folder
sums() { (cd "$1" && find s.db-checkpoints -type f | sort | xargs sha256sum); }
# killed_at_checkpoint DIR: one run killed right after the commit of its first checkpoint
killed_at_checkpoint() {
  BCOS_CRASH_AT=checkpoint_committed job "$1" >"$1/log" 2>&1
  [ $? -eq 137 ] && ok || bad "the run was not killed at its checkpoint: $(cat "$1/log")"
}
drop_store() { rm -f "$1/s.db" "$1/s.db-wal" "$1/s.db-shm"; }
# fails_with NEEDLE CMD...: a non-zero exit with one error line ("bcos: ...", after the log lines)
# that contains NEEDLE
fails_with() {
  needle=$1; shift
  if "$@" >"$TMP/out" 2>"$TMP/err"; then bad "$* succeeded"; return; fi
  [ "$(grep -c '^bcos: ' "$TMP/err")" -eq 1 ] && grep '^bcos: ' "$TMP/err" | grep -qF -- "$needle" && ok ||
    bad "$*: the error lacks '$needle': $(tail -3 "$TMP/err")"
}
# refused DIR: the job (changed, as a requeue with a new seed would be, and unchanged) refuses to
# start and names the command, without touching a file
refused() {
  fails_with "bcos store recover" job "$1" --seed 7
  fails_with "bcos store recover" job "$1"
  sums "$1" >"$TMP/after"
  cmp -s "$TMP/before" "$TMP/after" && ok || bad "checkpoint files changed: $(diff "$TMP/before" "$TMP/after")"
}

mkdir "$TMP/ref" "$TMP/c"
expect_ok job "$TMP/ref"

# three checkpoints (5, 10, 15), each by a run killed right after it; the store after the first kept
C=$TMP/c
killed_at_checkpoint "$C"
cp "$C/s.db" "$TMP/old.db"
[ -f "$C/s.db-wal" ] && cp "$C/s.db-wal" "$TMP/old.db-wal"
killed_at_checkpoint "$C"
killed_at_checkpoint "$C"
sums "$C" >"$TMP/before"
[ "$(grep -c 'manifest.json' "$TMP/before")" -eq 3 ] && ok || bad "3 checkpoints with a manifest each: $(cat "$TMP/before")"

# emptied
: >"$C/s.db"
rm -f "$C/s.db-wal" "$C/s.db-shm"
refused "$C"
# deleted
drop_store "$C"
refused "$C"
# an older copy (the run at its first checkpoint)
drop_store "$C"
cp "$TMP/old.db" "$C/s.db"
[ -f "$TMP/old.db-wal" ] && cp "$TMP/old.db-wal" "$C/s.db-wal"
refused "$C"

expect_ok "$BCOS" store recover --db "$C/s.db"
grep -q "run 'r': recorded 2 checkpoints again, the newest at step 15" "$TMP/out" && ok || bad "recover says: $(cat "$TMP/out")"
expect_ok "$BCOS" store recover --db "$C/s.db"
[ ! -s "$TMP/out" ] && ok || bad "a second recover finds nothing more: $(cat "$TMP/out")"
expect_ok job "$C"
grep -q "resumes from its checkpoint at step 15 of 20" "$TMP/err" && ok || bad "the recovered run resumes at 15: $(cat "$TMP/err")"
cmp -s "$C/student.safetensors" "$TMP/ref/student.safetensors" && ok || bad "the recovered run's student differs"
fails_with "a changed job needs a new run name" job "$C" --seed 7

# the finished run's store lost, then emptied: recovered each time, it resumes at its end
sums "$C" >"$TMP/before"
drop_store "$C"
refused "$C"
expect_ok "$BCOS" store recover --db "$C/s.db"
grep -q "run 'r': recorded 3 checkpoints again, the newest at step 20" "$TMP/out" && ok || bad "recover says: $(cat "$TMP/out")"
: >"$C/s.db"
rm -f "$C/s.db-wal" "$C/s.db-shm"
refused "$C"
expect_ok "$BCOS" store recover --db "$C/s.db"
expect_ok job "$C"
grep -q "resumes from its checkpoint at step 20 of 20" "$TMP/err" && ok || bad "the run resumes at 20: $(cat "$TMP/err")"
cmp -s "$C/student.safetensors" "$TMP/ref/student.safetensors" && ok || bad "the student saved again differs"
sums "$C" >"$TMP/after"
cmp -s "$TMP/before" "$TMP/after" && ok || bad "checkpoint files changed: $(diff "$TMP/before" "$TMP/after")"

# a damaged store names recover and says the files are kept
mkdir "$TMP/d"
cp "$TMP/ref/s.db" "$TMP/d/s.db"
head -c 8192 /dev/zero | tr '\000' '\377' | dd of="$TMP/d/s.db" bs=4096 seek=1 conv=notrunc 2>/dev/null
fails_with "the database is damaged" job "$TMP/d"
grep -q "bcos store recover --db .* which are kept" "$TMP/err" && ok || bad "the damaged store's message: $(tail -1 "$TMP/err")"
expect_fail "unknown store subcommand 'frobnicate'" "$BCOS" store frobnicate

summarize test_store_recover
