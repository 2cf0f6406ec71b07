#!/bin/sh
# One writer per run: a second `bcos distill` of a running run is refused at once, naming the
# holder's host and pid and when its lease expires; a holder killed with SIGKILL blocks nothing
# (its pid is gone on this host), one stopped with SIGSTOP blocks no longer than its lease
# (BCOS_LEASE_SECONDS=2 here), and on SIGCONT it finds the lease lost and writes no checkpoint.
# The jobs write to the store only when asked (a checkpoint on SIGUSR1, the end): a process stopped
# inside a write transaction would hold SQLite's write lock, which no lease can take back.
set -u
BCOS=$1
TMP=$(mktemp -d)
trap 'for p in $(cat "$TMP"/*.pid 2>/dev/null); do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
. tests/cli/lib.sh
export BCOS_LEASE_SECONDS=2

# start NAME: the long job in the background, its log in $TMP/NAME.log, its pid in $TMP/NAME.pid
start() {
  "$BCOS" distill jobs/distill-tiny.json --db "$TMP/s.db" --run r --steps 1000000 --checkpoint-every 0 \
    --checkpoint-minutes 0 --log-every 1000000 --out "$TMP/student.safetensors" >"$TMP/$1.log" 2>&1 &
  echo $! >"$TMP/$1.pid"
}
pid_of() { cat "$TMP/$1.pid"; }
# ends NAME: wait (up to 30 s, then SIGKILL) for the job to end; its exit status
ends() {
  for _ in $(seq 300); do kill -0 "$(pid_of "$1")" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$(pid_of "$1")" 2>/dev/null
  wait "$(pid_of "$1")"
}
# trains NAME: wait (up to 60 s) until the job holds the run (its log says where it starts); 1 if
# it ended first
trains() {
  for _ in $(seq 600); do
    grep -q "begins in\|no usable checkpoint\|resumes from" "$TMP/$1.log" && return 0
    kill -0 "$(pid_of "$1")" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
# refused_naming PID: the same job in the foreground is refused at once, naming PID and this host
refused_naming() {
  if timeout 20 "$BCOS" distill jobs/distill-tiny.json --db "$TMP/s.db" --run r --steps 1000000 --checkpoint-every 0 \
    --checkpoint-minutes 0 --log-every 1000000 --out "$TMP/student.safetensors" >"$TMP/out" 2>"$TMP/err"; then
    bad "a second writer ran"; return; fi
  line=$(grep '^bcos: ' "$TMP/err")
  [ "$(grep -c '^bcos: ' "$TMP/err")" -eq 1 ] && echo "$line" | grep -q "pid $1 on host $(hostname)" &&
    echo "$line" | grep -q "expires .* in [0-9]* s" && ok || bad "the refusal does not name pid $1: $(tail -2 "$TMP/err")"
}

start a
trains a && ok || bad "the first writer does not train: $(tail -3 "$TMP/a.log")"
t0=$(date +%s)
refused_naming "$(pid_of a)"
[ $(($(date +%s) - t0)) -le 2 ] && ok || bad "the refusal took longer than 2 s"

# SIGKILL: the next writer starts at once
kill -9 "$(pid_of a)"
ends a
start b
trains b && ok || bad "a writer after SIGKILL does not train: $(tail -3 "$TMP/b.log")"
grep -q "which is gone: taken over" "$TMP/b.log" && ok || bad "b does not say it took over a dead holder's lease"

# SIGSTOP: refused while the lease runs, then the lease expires and another writer takes the run
kill -STOP "$(pid_of b)"
refused_naming "$(pid_of b)"
sleep 2.5
start c
trains c && ok || bad "a writer after the lease of a stopped holder expired does not train: $(tail -3 "$TMP/c.log")"
kill -CONT "$(pid_of b)"
kill -USR1 "$(pid_of b)"
ends b
[ $? -ne 0 ] && ok || bad "the holder that lost its lease exited 0"
grep -q "lost the run's lease to another one" "$TMP/b.log" && ok || bad "b's checkpoint is not refused: $(tail -3 "$TMP/b.log")"
kill -TERM "$(pid_of c)"
ends c
[ $? -eq 75 ] && ok || bad "c did not stop with 75 on SIGTERM: $(tail -3 "$TMP/c.log")"
grep -q "lost the run's lease" "$TMP/c.log" && bad "c lost its lease" || ok

# a clean exit releases the lease: the next run starts at once, even from another host's view
start d
trains d && ok || bad "after c ended, d does not train: $(tail -3 "$TMP/d.log")"
grep -q "taken over" "$TMP/d.log" && bad "c did not release its lease" || ok
kill -TERM "$(pid_of d)"
ends d
[ $? -eq 75 ] && ok || bad "d did not stop with 75 on SIGTERM: $(tail -3 "$TMP/d.log")"

summarize test_store_lease
