#!/usr/bin/env bash
# The main job (README): set up, build, and run the end-to-end demo: a
# coordinator and several replicas syncing a todo list in one process.
# Arguments are passed to sqlsync-demo (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset native >/dev/null
cmake --build --preset native -j 2 --target sqlsync-demo
exec build/native/tools/sqlsync-demo "$@"
