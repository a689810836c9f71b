// Replaces tsc's dist/worker.js and dist/index.js by one-file bundles (run
// after tsc, which still emits every module and the .d.ts files). A module
// worker loads its imports one wave of requests at a time before its first
// line runs: as 11 modules that took ~250 ms of a cold start. The page-side
// entry is bundled too, for apps that load dist/index.js unbundled; app
// bundlers take either form.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const clientDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
await build({
  absWorkingDir: clientDir,
  entryPoints: ['src/worker.ts', 'src/index.ts'],
  outdir: 'dist',
  bundle: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: true,
  allowOverwrite: true,
  logLevel: 'warning',
});
console.log('bundle: dist/worker.js, dist/index.js (one file each)');
