#!/usr/bin/env bash
# End-to-end tests of the browser SDK and the todo demo (issue 6): builds
# sqlsync-server, the todo reducer, the emscripten core and the web packages,
# starts the server on an ephemeral port serving web/demo/dist, uploads the
# demo's reducer, and runs web/e2e/*.test.mjs in Debian's Chromium through
# playwright-core. Screenshots go to build/e2e-artifacts/.
#
# Usage: scripts/web-e2e.sh [--bench] [--no-build] [-- bench options]
#   --bench     run the browser benchmarks (web/e2e/bench.mjs) instead of the tests
#   --no-build  use what is already built
#   -- ...      passed to bench.mjs (e.g. -- --cold-only --runs 9)
# Environment: SQLSYNC_BUILD_DIR  native build (default build/native, preset "native")
#              SQLSYNC_WASM_DIR   emscripten build of the core (default build/wasm, preset "wasm")
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

mode=test
build=1
bench_args=()
while (($#)); do
  arg=$1
  shift
  case $arg in
    --)
      bench_args=("$@")
      break
      ;;
    --bench) mode=bench ;;
    --no-build) build=0 ;;
    -h | --help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "web-e2e: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

build_dir=${SQLSYNC_BUILD_DIR:-build/native}
export SQLSYNC_BUILD_DIR=$build_dir
export SQLSYNC_WASM_DIR=${SQLSYNC_WASM_DIR:-$repo/build/wasm}
server_bin=$build_dir/tools/sqlsync-server

if ((build)); then
  echo "web-e2e: building sqlsync-server and the todo reducer in $build_dir"
  if [[ ! -f $build_dir/build.ninja ]]; then
    if [[ $build_dir != build/native ]]; then
      echo "web-e2e: $build_dir is not a configured build directory" >&2
      exit 1
    fi
    cmake --preset native >/dev/null
  fi
  cmake --build "$build_dir" -j 2 --target sqlsync-server todo_reducer_wasm

  echo "web-e2e: building the browser core in $SQLSYNC_WASM_DIR"
  # Debian's emcc finds its JS dependencies (acorn) only through NODE_PATH.
  export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"
  if [[ ! -f $SQLSYNC_WASM_DIR/build.ninja ]]; then
    if [[ $SQLSYNC_WASM_DIR != "$repo/build/wasm" ]]; then
      echo "web-e2e: $SQLSYNC_WASM_DIR is not a configured build directory" >&2
      exit 1
    fi
    cmake --preset wasm >/dev/null
  fi
  cmake --build "$SQLSYNC_WASM_DIR" -j 2 --target sqlsync_wasm

  echo "web-e2e: building @sqlsync/client, @sqlsync/react and the demo"
  [[ -d web/node_modules ]] || npm --prefix web ci --no-audit --no-fund
  (cd web && npm run build -w @sqlsync/client -w @sqlsync/react && npm run build -w @sqlsync/demo)
fi

for needed in "$server_bin" web/demo/dist/index.html web/demo/dist/todo_reducer.wasm; do
  if [[ ! -e $needed ]]; then
    echo "web-e2e: $needed is missing (run without --no-build)" >&2
    exit 1
  fi
done

work=$(mktemp -d /tmp/sqlsync-e2e.XXXXXX)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$server_bin" --port 0 --static web/demo/dist --data "$work/data" 2>"$work/server.log" &
server_pid=$!
url=
for _ in $(seq 100); do
  url=$(sed -n 's|.*listening on \(http://[^ ]*\).*|\1|p' "$work/server.log" | head -n 1)
  [[ -n $url ]] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [[ -z $url ]]; then
  echo "web-e2e: sqlsync-server did not start; its log:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
# OPFS needs a secure context: http://127.0.0.1 is one, a wildcard address is not.
url=${url/0.0.0.0/127.0.0.1}
echo "web-e2e: sqlsync-server at $url (log: tail below on failure)"

# The server materializes a list born offline only for a reducer it knows.
node -e '
  const [url, file] = process.argv.slice(1);
  const body = require("node:fs").readFileSync(file);
  fetch(`${url}/reducers`, { method: "PUT", body }).then(async (r) => {
    const text = await r.text();
    if (!r.ok) { console.error(`web-e2e: PUT /reducers: HTTP ${r.status}: ${text}`); process.exit(1); }
    console.log(`web-e2e: uploaded the todo reducer: ${text}`);
  });
' "$url" web/demo/dist/todo_reducer.wasm

export SQLSYNC_E2E_URL=$url
export SQLSYNC_E2E_ARTIFACTS=$repo/build/e2e-artifacts
mkdir -p "$SQLSYNC_E2E_ARTIFACTS"
status=0
if [[ $mode == bench ]]; then
  node web/e2e/bench.mjs "${bench_args[@]}" || status=$?
else
  node --test --test-concurrency=1 web/e2e/ || status=$?
fi
if ((status != 0)); then
  echo "web-e2e: failed; last lines of the server log:" >&2
  tail -n 40 "$work/server.log" >&2
fi
echo "web-e2e: screenshots in $SQLSYNC_E2E_ARTIFACTS"
exit "$status"
