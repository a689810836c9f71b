#!/usr/bin/env bash
# Builds the browser core with emscripten (as preset "wasm", in build/wasm or
# $SQLSYNC_WASM_BUILD_DIR): the
# core, the todo example's reducer and the test reducers as WASM guests;
# builds the client package (web/client/dist, which the tests import) and
# runs the core's node tests (web/core-test). Called by scripts/web-test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's emcc finds its JS dependencies (acorn) only through NODE_PATH.
export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"
build_dir="${SQLSYNC_WASM_BUILD_DIR:-build/wasm}"

seconds() { date +%s; }
started=$(seconds)

echo "wasm-test: configuring $build_dir (emscripten $(emcc --version | sed -n '1s/.* \([0-9][0-9.]*\) .*/\1/p'))"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=MinSizeRel \
  -DCMAKE_TOOLCHAIN_FILE=/usr/share/emscripten/cmake/Modules/Platform/Emscripten.cmake >/dev/null

echo "wasm-test: building sqlsync_core.js + sqlsync_core.wasm and the test reducers (SQLite alone takes ~35 s when not cached)"
cmake --build "$build_dir" --target sqlsync_wasm web_todo_reducer_wasm web_reducer_testdata -j 2
built=$(seconds)
echo "wasm-test: built in $((built - started)) s:" \
  "sqlsync_core.wasm $(stat -c %s "$build_dir/sqlsync_core.wasm") bytes," \
  "sqlsync_core.js $(stat -c %s "$build_dir/sqlsync_core.js") bytes"

echo "wasm-test: building the client package (web/client/dist)"
SQLSYNC_WASM_DIR="$(realpath "$build_dir")" npm --prefix web run build -w @sqlsync/client --silent

echo "wasm-test: running node --test web/core-test"
SQLSYNC_WASM_DIR="$(realpath "$build_dir")" node --test web/core-test/
echo "wasm-test: ok ($(($(seconds) - started)) s)"
