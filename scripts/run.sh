#!/usr/bin/env bash
# The main job (README): set up, build the server, the todo reducer (C++ to
# WASM), the browser core and the demo app, then start sqlsync-server on
# embedded defaults with the todo reducer uploaded, and print the URL to open.
#
# Usage: scripts/run.sh [--port PORT] [--data DIR]   (defaults 8080, ./sqlsync-data)
#        scripts/run.sh --sim [ARGS]   the in-process simulation demo instead
#                                      (a coordinator and replicas over a
#                                      simulated network; --sim --help)
set -euo pipefail
cd "$(dirname "$0")/.."

port=8080
data=sqlsync-data
case "${1:-}" in
  -h | --help)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  --sim)
    shift
    bash scripts/setup.sh
    cmake --preset native >/dev/null
    cmake --build --preset native -j 2 --target sqlsync-demo
    exec build/native/tools/sqlsync-demo "$@"
    ;;
esac
while (($#)); do
  case $1 in
    --port) port=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    *) echo "run: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

bash scripts/setup.sh
echo "run: building sqlsync-server and the todo reducer (build/native)"
cmake --preset native >/dev/null
cmake --build --preset native -j 2 --target sqlsync-server todo_reducer_wasm
echo "run: building the browser core (build/wasm) and the demo app (web/demo/dist)"
export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"
cmake --preset wasm >/dev/null
cmake --build build/wasm -j 2 --target sqlsync_wasm
export SQLSYNC_WASM_DIR=$PWD/build/wasm SQLSYNC_BUILD_DIR=build/native
(cd web && npm run build -w @sqlsync/client -w @sqlsync/react && npm run build -w @sqlsync/demo)

mkdir -p "$data"
log=$data/server.log
build/native/tools/sqlsync-server --port "$port" --data "$data" --static web/demo/dist 2> >(tee "$log" >&2) &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM
url=
for _ in $(seq 100); do
  url=$(sed -n 's|.*listening on \(http://[^ ]*\).*|\1|p' "$log" | head -n 1)
  [[ -n $url ]] && break
  kill -0 "$server" 2>/dev/null || { echo "run: sqlsync-server did not start" >&2; exit 1; }
  sleep 0.1
done
[[ -n $url ]] || { echo "run: sqlsync-server did not print its address" >&2; exit 1; }
# The demo's lists are born offline; the server materializes them for a
# reducer it knows, so upload the one the demo runs.
node -e '
  const [url, file] = process.argv.slice(1);
  fetch(url + "/reducers", { method: "PUT", body: require("node:fs").readFileSync(file) }).then(async (r) => {
    if (!r.ok) { console.error("run: PUT /reducers: HTTP " + r.status + ": " + (await r.text())); process.exit(1); }
  });
' "$url" web/demo/dist/todo_reducer.wasm
echo
echo "run: the todo demo is at $url  (open it in a browser; Ctrl-C stops the server)"
wait "$server"
