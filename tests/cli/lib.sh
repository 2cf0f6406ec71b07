# Shared by the command-line tests (sourced): pass/fail counting, the two expectations every test
# makes of the real binary, and waiting for a condition. Each test sets TMP before sourcing and
# prints summarize at the end.
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# expect_ok CMD...: exit status zero (stdout in $TMP/out, stderr in $TMP/err)
expect_ok() {
  if "$@" >"$TMP/out" 2>"$TMP/err"; then ok; else bad "$* failed: $(cat "$TMP/err")"; fi
}

# expect_fail NEEDLE CMD...: exit status non-zero, exactly one line on stderr that contains NEEDLE
expect_fail() {
  needle=$1; shift
  if "$@" >"$TMP/out" 2>"$TMP/err"; then bad "$* succeeded"; return; fi
  lines=$(wc -l <"$TMP/err")
  if [ "$lines" -ne 1 ]; then bad "$*: $lines error lines: $(cat "$TMP/err")"; return; fi
  if grep -qF -- "$needle" "$TMP/err"; then ok; else bad "$*: error '$(cat "$TMP/err")' lacks '$needle'"; fi
}

# within SECONDS CMD...: runs CMD every 0.2 s until it succeeds (status 0) or SECONDS have passed (1)
within() {
  tries=$(($1 * 5)); shift
  while [ "$tries" -gt 0 ]; do
    "$@" && return 0
    sleep 0.2
    tries=$((tries - 1))
  done
  return 1
}

# sql DB QUERY: the rows, one per line, columns joined by |
sql() { python3 -c "import sqlite3,sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]): print('|'.join(map(repr, row)))" "$1" "$2"; }

# use_mpirun: Open MPI set up as the tests run it (root in containers and CI, more ranks than cores,
# no ptrace-based single copy in containers), and MPIRUN, to follow with the rank count. Under
# AddressSanitizer, ranks skip the leak check: Open MPI leaves allocations behind in plugins it has
# unloaded by then, which LeakSanitizer can neither name nor suppress. Single processes check leaks.
use_mpirun() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
  export OMPI_MCA_rmaps_base_oversubscribe=1
  MPIRUN="mpirun -x ASAN_OPTIONS=detect_leaks=0 -np"
}

# summarize NAME: the closing line, and the exit status
summarize() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
