#!/usr/bin/env bash
# The browser SDK's tests: builds the emscripten core and the client package
# and runs the core's node tests (scripts/wasm-test.sh), the client's
# typecheck and unit tests, then its Chromium tests (playwright-core driving
# Debian's chromium; screenshots in build/web-test-artifacts). Needs
# scripts/setup.sh (emscripten, chromium, npm ci of web/).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/wasm-test.sh

echo "web-test: client typecheck and unit tests"
npm --prefix web test --silent

echo "web-test: Chromium tests (web/client/test/browser)"
SQLSYNC_WASM_DIR="$(realpath "${SQLSYNC_WASM_BUILD_DIR:-build/wasm}")" SQLSYNC_ARTIFACTS="$PWD/build/web-test-artifacts" \
  node --test web/client/test/browser/browser.test.mjs
echo "web-test: ok"
