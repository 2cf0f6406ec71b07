#!/bin/sh
# From a fresh Debian machine: installs what is missing, builds bcos (Release), and runs the
# embedded default, pipeline/fashion-mnist.json: Fashion-MNIST shards -> a tiny CLIP teacher
# pretrained on them -> its B-cos student -> zero-shot accuracy of both and the student's pointing
# game -> explanation pictures, one per class (out/default/explanations/) -> the results table
# from the store. Run again, it skips the stages already done.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
build/bcos pipeline run pipeline/fashion-mnist.json
build/bcos results --db out/default/bcos.db --run student
echo "explanations: out/default/explanations/ (and in 'build/bcos report --db out/default/bcos.db --run student --out report.html')"
