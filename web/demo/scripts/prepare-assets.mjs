// Copies what the demo serves besides its own code into public/:
//   public/todo_reducer.wasm  the wasm todo reducer built by CMake
//                             (examples/todo, target todo_reducer_wasm), from
//                             $SQLSYNC_TODO_REDUCER_WASM, else
//                             $SQLSYNC_BUILD_DIR/examples/todo/todo_reducer.wasm
//                             (SQLSYNC_BUILD_DIR defaults to build/native);
//   public/sqlsync/           the built @sqlsync/client (worker.js, the core's
//                             sqlsync_core.js/.wasm and the modules they
//                             import): the demo's OpenOptions.coreUrl.
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const demoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = path.resolve(demoDir, '../..');
const publicDir = path.join(demoDir, 'public');

const buildDir = path.resolve(repoDir, process.env.SQLSYNC_BUILD_DIR ?? 'build/native');
const reducer = path.resolve(
  process.env.SQLSYNC_TODO_REDUCER_WASM ?? path.join(buildDir, 'examples/todo/todo_reducer.wasm'),
);
if (!existsSync(reducer)) {
  console.error(
    `prepare-assets: the todo reducer ${reducer} does not exist.\n` +
      `Build it first: cmake --preset native && cmake --build --preset native --target todo_reducer_wasm\n` +
      `(or point SQLSYNC_BUILD_DIR / SQLSYNC_TODO_REDUCER_WASM at another build).`,
  );
  process.exit(1);
}
mkdirSync(publicDir, { recursive: true });
copyFileSync(reducer, path.join(publicDir, 'todo_reducer.wasm'));
console.log(`prepare-assets: public/todo_reducer.wasm <- ${path.relative(repoDir, reducer)}`);

const clientDist = path.dirname(fileURLToPath(import.meta.resolve('@sqlsync/client')));
const required = ['worker.js', 'sqlsync_core.js', 'sqlsync_core.wasm'];
const missing = required.filter((file) => !existsSync(path.join(clientDist, file)));
if (missing.length > 0) {
  console.error(
    `prepare-assets: ${path.relative(repoDir, clientDist)} lacks ${missing.join(', ')}.\n` +
      'Build the client first: npm run build -w @sqlsync/client (in web/; it needs the emscripten core).',
  );
  process.exit(1);
}
const coreDir = path.join(publicDir, 'sqlsync');
rmSync(coreDir, { recursive: true, force: true });
mkdirSync(coreDir);
const served = readdirSync(clientDist).filter((file) => file.endsWith('.js') || file.endsWith('.wasm'));
for (const file of served) copyFileSync(path.join(clientDist, file), path.join(coreDir, file));
console.log(`prepare-assets: public/sqlsync/ <- ${path.relative(repoDir, clientDist)} (${served.length} files)`);
