#!/bin/sh
# `bcos top` against a tiny distill that is writing the store: without a terminal it prints a line
# each time the run moves (steps rising, an ETA, the newest checkpoint) and exits by itself when the
# run is done, its last line the run's end; the writer is not disturbed (it finishes, exit 0). On a
# terminal (script(1) gives it one) it draws its panel and quits on q while the run goes on. A run
# whose writer was killed (SIGKILL) stays marked running: top exits once its lease expires. Bad
# input: no running run, a bad --interval.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap : EXIT
. tests/cli/lib.sh
DB="$TMP/s.db"

# start_run NAME STEPS: a distill in the background (its pid in $writer), once its run is in the store
start_run() {
  "$BCOS" distill jobs/distill-tiny.json --steps "$2" --log-every 20 --checkpoint-every 200 --db "$DB" --run "$1" \
    --out "$TMP/$1.safetensors" >"$TMP/$1.log" 2>&1 &
  writer=$!
  tries=0
  until [ -e "$DB" ] && [ -n "$(sql "$DB" "SELECT 1 FROM runs WHERE name = '$1'" 2>/dev/null)" ]; do
    tries=$((tries + 1))
    [ $tries -gt 300 ] && { bad "run $1 never appeared: $(cat "$TMP/$1.log")"; return; }
    sleep 0.1
  done
}

start_run watched 1200
if timeout 300 "$BCOS" top watched --db "$DB" --interval 0.2 >"$TMP/top.out" 2>"$TMP/top.err"; then ok
else bad "bcos top: $(cat "$TMP/top.err")"; fi
wait $writer && ok || bad "the distill under watch: $(tail -3 "$TMP/watched.log")"
lines=$(wc -l <"$TMP/top.out")
[ "$lines" -ge 3 ] && ok || bad "a line per move, $lines lines: $(cat "$TMP/top.out")"
steps=$(sed -n 's/.* step \([0-9]*\)\/1200 .*/\1/p' "$TMP/top.out" | tr '\n' ' ')
echo "$steps" | awk '{ for (i = 2; i <= NF; i++) if ($i < $(i - 1)) exit 1; exit NF < 3 }' && ok \
  || bad "steps rise: $steps"
grep -q "running step [0-9]*/1200 loss [0-9.e-]* cos [0-9.]* img/s [0-9.]* ETA [0-9hms]* checkpoint" "$TMP/top.out" \
  && ok || bad "a running line: $(head -2 "$TMP/top.out")"
tail -1 "$TMP/top.out" | grep -q "^watched done step 1200/1200 .* ETA 0s checkpoint step 1200 at " && ok \
  || bad "the last line is the end: $(tail -1 "$TMP/top.out")"
grep -q "database is locked" "$TMP/watched.log" "$TMP/top.err" && bad "a lock error" || ok

# on a terminal: the panel, and q quits while the run goes on
start_run keyed 100000
(sleep 2; printf q; sleep 10) | timeout 60 script -qfec "'$BCOS' top keyed --db '$DB' --interval 0.2" /dev/null \
  >"$TMP/tty.out" 2>&1 && ok || bad "bcos top on a terminal: $(tail -5 "$TMP/tty.out")"
grep -q "q or Ctrl-C quits" "$TMP/tty.out" && grep -q "ETA" "$TMP/tty.out" && ok || bad "the panel: $(tail -12 "$TMP/tty.out")"
kill -0 $writer 2>/dev/null && ok || bad "q quit before the run ended"
kill -TERM $writer
wait $writer
[ $? -eq 75 ] && ok || bad "the writer stops as asked"

# a writer killed: its run stays marked running, but top sees its lease expire and exits
export BCOS_LEASE_SECONDS=2
start_run killed 100000
unset BCOS_LEASE_SECONDS
kill -KILL $writer
{ wait $writer; } 2>/dev/null
if timeout 60 "$BCOS" top killed --db "$DB" --interval 0.2 >"$TMP/killed.out" 2>"$TMP/killed.err"; then ok
else bad "bcos top of a killed run: $(cat "$TMP/killed.err")"; fi
grep -q "no process holds its lease: its writer was killed" "$TMP/killed.err" && ok || bad "says why: $(cat "$TMP/killed.err")"
[ "$(sql "$DB" "SELECT status FROM runs WHERE name = 'killed'")" = "'running'" ] && ok || bad "the killed run stays running"

expect_fail "no running run" "$BCOS" top --db "$DB" # the killed one has no writer
expect_fail "--interval takes seconds" "$BCOS" top keyed --db "$DB" --interval 0

summarize test_top
