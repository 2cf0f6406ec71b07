#!/bin/sh
# BCOS_CUDA at configure time: this version has no CUDA backend (src/cuda), so ON must stop with a
# message saying so rather than build without it, and an unknown value is refused. Configures into a
# scratch folder; stops at the CUDA check, before anything is built.
set -u
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. tests/cli/lib.sh

configure() { cmake -S . -B "$TMP/build" "$@" >"$TMP/out" 2>"$TMP/err"; }

if configure -DBCOS_CUDA=ON; then bad "BCOS_CUDA=ON configured without a CUDA backend"; else ok; fi
grep -q "BCOS_CUDA=ON, but this version has no CUDA backend (src/cuda" "$TMP/err" && ok ||
  bad "BCOS_CUDA=ON: the error names the missing backend: $(cat "$TMP/err")"
rm -rf "$TMP/build"
if configure -DBCOS_CUDA=maybe; then bad "BCOS_CUDA=maybe configured"; else ok; fi
grep -q "BCOS_CUDA=maybe: use AUTO, ON or OFF" "$TMP/err" && ok || bad "BCOS_CUDA=maybe: $(cat "$TMP/err")"

summarize test_cmake_cuda
