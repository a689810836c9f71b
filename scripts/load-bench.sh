#!/usr/bin/env bash
# Load benchmark of issue 5 (a measurement, not a CI gate): starts
# sqlsync-server on an ephemeral port with a fresh data directory, runs
# sqlsync-load against it (default: 1,000 WebSocket clients over 100
# documents for 60 s, 25 mutations/s each, the SQL guestbook reducer), and
# prints confirmed mutations/s, p50/p99 latency from sending a mutation to the
# server's confirmation, errors, the server's resident memory, and the CPU
# time of the server and of the generator (they share the machine).
# Arguments are passed to sqlsync-load (try --help), e.g.
#   scripts/load-bench.sh --clients 200 --documents 20 --seconds 10
# BUILD_DIR selects the build directory (default build/native, configured
# with the native preset); SERVER_ARGS adds flags to the server's command line
# (e.g. SERVER_ARGS="--document-threads 16"); DATA_PARENT is where the fresh
# data directory is made (default: mktemp's, usually /tmp). The server runs
# with --sync filesystem, whose syncfs walks every inode of the file system
# holding the data, so where that is changes the figures (docs/server.md,
# "Load benchmark").
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build/native}
if [ -z "${BUILD_DIR:-}" ]; then
  cmake --preset native >/dev/null
fi
cmake --build "$build_dir" -j 2 --target sqlsync-server sqlsync-load

data=$(mktemp -d ${DATA_PARENT:+-p "$DATA_PARENT"})
log="$data.log"
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -TERM "$server_pid"; wait "$server_pid" || true; fi
  rm -rf "$data" "$log"
}
trap cleanup EXIT

# --sync filesystem: one syncfs shared by the documents' rounds (docs/server.md);
# the data directory is a fresh one nothing else writes to during the run.
"$build_dir/tools/sqlsync-server" --port 0 --data "$data" --threads 2 --sync filesystem ${SERVER_ARGS:-} 2>"$log" &
server_pid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "load-bench: the server did not start:" >&2
  cat "$log" >&2
  exit 1
fi
echo "load-bench: server pid $server_pid on port $port, data $data"

status=0
"$build_dir/tools/sqlsync-load" --server "http://127.0.0.1:$port" \
  --reducer examples/guestbook/guestbook.sql "$@" || status=$?

ticks=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
echo "server CPU time: $(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz}') s (user + system, whole run)"
rss=$(awk '/VmRSS/ {print $2 " " $3}' "/proc/$server_pid/status")
peak=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$server_pid/status")
echo "server resident memory: $rss now, $peak peak"
echo "server metrics:"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^sqlsync_(documents_loaded|connections|mutations_applied_total|mutations_rejected_total|rounds_total|(messages|frames)_(in|out)_total|fsync_seconds_(sum|count)) '
exit "$status"
