#!/bin/sh
# Installs every Debian package bcosify needs to build and test, by name, and does nothing when
# they are all present already. dataset-fashion-mnist puts Fashion-MNIST's gzipped IDX files in
# /usr/share/datasets/fashion-mnist/ (the embedded default's data; `bcos shards write --fashion-mnist`).
# Open MPI runs distributed distillation (mpirun); slurmctld, slurmd, slurm-client and munge:
# tests/cli/test_slurm_daemons.sh starts its own one-node cluster with them (the packages' system
# services are not used). The sqlite3 shell reads a store in tests/cli/test_bad_input.sh. Chromium
# (headless) renders `bcos report` pages in tests/cli/test_report.sh, with a font for their text. Runs as
# root, or through sudo when that exists.
set -eu

PACKAGES="build-essential cmake pkg-config git python3
libopenblas-dev libcjson-dev libpcre2-dev libutf8proc-dev libturbojpeg0-dev libpng-dev zlib1g-dev
libwebp-dev libcurl4-openssl-dev libarchive-dev libsqlite3-dev sqlite3 libopenmpi-dev openmpi-bin
clang libclang-rt-14-dev openssl
slurmctld slurmd slurm-client munge
dataset-fashion-mnist
chromium fonts-dejavu-core"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
