#!/usr/bin/env bash
# test.sh — the project's test command (CI runs it through .ci/run): installs
# the build and test dependencies, builds nnkit with -Werror into build/ and
# runs the whole ctest suite. Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
scripts/install-deps.sh --test
cmake -S . -B build -DNNKIT_WERROR=ON -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
# Tests without their own TIMEOUT get 600 s; the model-parity tests set 900.
ctest --test-dir build --output-on-failure -j2 --timeout 600 "$@"
echo "test.sh: done in $(( $(date +%s) - start ))s"
