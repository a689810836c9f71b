// Copies the emscripten core (sqlsync_core.js + .wasm) next to the compiled
// package in dist/, so one directory holds everything a page needs to serve
// (pass it as OpenOptions.coreUrl). Where from: $SQLSYNC_WASM_DIR, else
// build/wasm of the repository (scripts/wasm-test.sh builds it).
import { copyFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const clientDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = path.resolve(clientDir, '../..');
const wasmDir = path.resolve(repoDir, process.env.SQLSYNC_WASM_DIR ?? 'build/wasm');
for (const file of ['sqlsync_core.js', 'sqlsync_core.wasm']) {
  const from = path.join(wasmDir, file);
  if (!existsSync(from)) {
    console.error(`copy-core: ${from} is missing: build the core first (bash scripts/wasm-test.sh)`);
    process.exit(1);
  }
  copyFileSync(from, path.join(clientDir, 'dist', file));
}
console.log(`copy-core: dist/ <- ${path.relative(repoDir, wasmDir)}/sqlsync_core.{js,wasm}`);
