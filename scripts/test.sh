#!/usr/bin/env bash
# The test command (README): set up a fresh machine, build natively, run every
# native test (core, server, client), then build the browser core with
# emscripten and run the browser SDK's node, unit and Chromium tests and the
# demo's end-to-end tests against a real sqlsync-server.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "== native build"
cmake --preset native >/dev/null
cmake --build --preset native -j 2
echo "== native tests"
ctest --preset native -j 2
echo "== browser: emscripten core, node tests, TS packages, Chromium tests"
bash scripts/web-test.sh
echo "== browser end to end: sqlsync-server + todo demo in Chromium"
bash scripts/web-e2e.sh
