# Shared by the command-line tests (sourced): pass/fail counting, and the two expectations every
# test makes of the real binary. Each test sets TMP before sourcing and prints summarize at the end.
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

# summarize NAME: the closing line, and the exit status
summarize() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
