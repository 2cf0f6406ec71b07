#!/bin/sh
# From a fresh Debian machine: installs what is missing, builds bcos (Release), and runs the
# embedded default pipeline (pipeline/default.sh).
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
sh pipeline/default.sh build/bcos
