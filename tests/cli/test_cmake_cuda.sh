#!/bin/sh
# BCOS_CUDA at configure time: AUTO builds the CUDA backend (src/cuda) for sm_90 whenever nvcc is found
# and leaves it out otherwise; ON insists on nvcc and stops with a message naming it when there is none;
# an unknown value is refused; the fuzz build (clang's libFuzzer) leaves CUDA out. Configures into
# scratch folders (nothing is built); "no nvcc" is a PATH without the CUDA toolkit's bin folder. Where
# nvcc is on PATH, the configure with it must take it.
set -u
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

configure() { cmake -S . -B "$TMP/build" "$@" >"$TMP/out" 2>"$TMP/err"; }
# A PATH without nvcc: the system's folders only (the toolkit lives in /usr/local/cuda/bin or /opt).
without_nvcc() { env -u CUDACXX PATH=/usr/bin:/bin "$@"; }

if without_nvcc sh -c "command -v nvcc" >/dev/null; then
  bad "the system folders hold an nvcc: this test cannot take it away"
else
  if without_nvcc cmake -S . -B "$TMP/build" -DBCOS_CUDA=ON >"$TMP/out" 2>"$TMP/err"; then
    bad "BCOS_CUDA=ON configured without nvcc"
  else ok; fi
  grep -q "BCOS_CUDA=ON, but no CUDA compiler (nvcc) was found" "$TMP/err" && ok ||
    bad "BCOS_CUDA=ON without nvcc: the error names the missing compiler: $(cat "$TMP/err")"
  rm -rf "$TMP/build"
  if without_nvcc cmake -S . -B "$TMP/build" -DBCOS_CUDA=AUTO >"$TMP/out" 2>"$TMP/err"; then ok; else
    bad "BCOS_CUDA=AUTO without nvcc failed: $(cat "$TMP/err")"; fi
  grep -q "No CUDA compiler found: building the CPU backend only" "$TMP/out" && ok ||
    bad "BCOS_CUDA=AUTO without nvcc says it builds the CPU backend only: $(cat "$TMP/out")"
  rm -rf "$TMP/build"
fi

if command -v nvcc >/dev/null; then
  if configure -DBCOS_CUDA=AUTO; then ok; else bad "BCOS_CUDA=AUTO with nvcc failed: $(cat "$TMP/err")"; fi
  grep -q "CUDA backend: .*nvcc for sm_90" "$TMP/out" && ok ||
    bad "BCOS_CUDA=AUTO with nvcc builds the CUDA backend for sm_90: $(grep -i cuda "$TMP/out")"
  rm -rf "$TMP/build"
  # The fuzz build links with clang's libFuzzer, which nvcc's host linker lacks: AUTO leaves CUDA out there.
  if configure -DBCOS_FUZZ=ON; then ok; else bad "BCOS_FUZZ=ON failed: $(cat "$TMP/err")"; fi
  grep -q "BCOS_FUZZ: the CUDA backend is left out" "$TMP/out" && ok || bad "BCOS_FUZZ=ON still builds CUDA"
  rm -rf "$TMP/build"
  if configure -DBCOS_CUDA=OFF; then ok; else bad "BCOS_CUDA=OFF failed: $(cat "$TMP/err")"; fi
  grep -q "CUDA backend:" "$TMP/out" && bad "BCOS_CUDA=OFF still built the CUDA backend" || ok
  rm -rf "$TMP/build"
else
  echo "test_cmake_cuda: nvcc is not on PATH here: the configure with the CUDA backend was not tried"
fi

if configure -DBCOS_CUDA=maybe; then bad "BCOS_CUDA=maybe configured"; else ok; fi
grep -q "BCOS_CUDA=maybe: use AUTO, ON or OFF" "$TMP/err" && ok || bad "BCOS_CUDA=maybe: $(cat "$TMP/err")"

summarize test_cmake_cuda
