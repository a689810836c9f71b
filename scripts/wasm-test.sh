#!/usr/bin/env bash
# Builds the browser core with emscripten (preset "wasm", build/wasm) and runs
# its node test (web/core-test). Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's emcc finds its JS dependencies (acorn) only through NODE_PATH.
export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"
build_dir=build/wasm

seconds() { date +%s; }
started=$(seconds)

echo "wasm-test: configuring $build_dir (emscripten $(emcc --version | sed -n '1s/.* \([0-9][0-9.]*\) .*/\1/p'))"
cmake --preset wasm >/dev/null

echo "wasm-test: building sqlsync_core.js + sqlsync_core.wasm (SQLite alone takes ~35 s when not cached)"
cmake --build "$build_dir" --target sqlsync_wasm -j 2
built=$(seconds)
echo "wasm-test: built in $((built - started)) s:" \
  "sqlsync_core.wasm $(stat -c %s "$build_dir/sqlsync_core.wasm") bytes," \
  "sqlsync_core.js $(stat -c %s "$build_dir/sqlsync_core.js") bytes"

echo "wasm-test: running node --test web/core-test"
SQLSYNC_WASM_DIR="$PWD/$build_dir" node --test web/core-test/
echo "wasm-test: ok ($(($(seconds) - started)) s)"
