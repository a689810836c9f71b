#!/usr/bin/env bash
# The test command (README): set up a fresh machine, build natively, run every
# test, then build the browser core with emscripten and run its node test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "== native build"
cmake --preset native >/dev/null
cmake --build --preset native -j 2
echo "== native tests"
ctest --preset native -j 2
echo "== browser core (emscripten) build and node test"
bash scripts/wasm-test.sh
