#!/bin/sh
# The whole test suite, from a fresh Debian machine: installs what is missing, then
#   1. a Release build with warnings as errors: every test (unit, golden, cli);
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build: unit, golden and cli tests again;
#   3. a clang libFuzzer build: each fuzz target for BCOS_FUZZ_SECONDS (default 40: six targets, and the
#      whole run stays within CI's 25 minutes; set it higher for a longer hunt) on its seeds.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
JOBS=$(nproc)

echo "== release build and tests"
cmake -S . -B build -DBCOS_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS"

echo "== sanitizer build and tests"
cmake -S . -B build-asan -DBCOS_WERROR=ON -DBCOS_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-asan -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$JOBS" -L 'unit|golden|cli'

echo "== fuzz targets"
CC=clang cmake -S . -B build-fuzz -DBCOS_WERROR=ON -DBCOS_FUZZ=ON \
  -DBCOS_FUZZ_SECONDS="${BCOS_FUZZ_SECONDS:-40}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$JOBS"
ctest --test-dir build-fuzz --output-on-failure -L fuzz
