#!/usr/bin/env bash
# all.sh -- on a fresh Debian 12 machine as root: install what is missing,
# build with -Werror, run every test through ctest, install dcv and dcvd.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/deps.sh
jobs=$(nproc)
cmake -S . -B build -DDCV_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
cmake --install build
echo "all.sh: build, tests and install done"
