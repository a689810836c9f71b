#!/usr/bin/env bash
# Installs everything the build and tests need, idempotently: Debian packages,
# the pinned SQLite amalgamation (from the npm package better-sqlite3, checked
# by sha256; never committed), and the web packages.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake ninja-build g++ ccache pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libxxhash-dev nlohmann-json3-dev
  libboost1.81-dev libssl-dev libgoogle-perftools-dev wabt
  emscripten nodejs
  clang-14 lld-14 wasi-libc libc++-14-dev-wasm32 libc++abi-14-dev-wasm32 libclang-rt-14-dev-wasm32
  chromium
)
missing=()
command -v npm >/dev/null || packages+=(npm)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# SQLite 3.53.2 amalgamation, pinned by package version and content hash.
sqlite_dir=deps/sqlite3
sqlite_c_sha=60d2f39a3726cd6b9021da6f4e868608d66fbb6528a9f513dc8ffcc640493422
sqlite_h_sha=9e69a1353a4288450b0d5239ede11fc7f1f4c8e5eb07491fc8317eacb5b7de7e
check_sqlite() {
  echo "$sqlite_c_sha  $sqlite_dir/sqlite3.c" | sha256sum -c --status 2>/dev/null &&
    echo "$sqlite_h_sha  $sqlite_dir/sqlite3.h" | sha256sum -c --status 2>/dev/null
}
if ! check_sqlite; then
  echo "setup: fetching SQLite amalgamation from npm better-sqlite3@12.11.1"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent better-sqlite3@12.11.1 >/dev/null && tar xzf better-sqlite3-12.11.1.tgz)
  mkdir -p "$sqlite_dir"
  cp "$tmp/package/deps/sqlite3/sqlite3.c" "$tmp/package/deps/sqlite3/sqlite3.h" "$sqlite_dir/"
  rm -rf "$tmp"
  check_sqlite || { echo "setup: SQLite amalgamation sha256 mismatch" >&2; exit 1; }
fi
# The web workspace (client, react, demo; pinned by web/package-lock.json),
# installed again only when the lock file changed.
if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  echo "setup: npm ci in web/"
  (cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
echo "setup: ok"
