// Shared by the node tests of the browser core: loading the emscripten
// module and driving documents through the client package's Core wrapper
// (web/client/dist, built by `npm run build -w @sqlsync/client`).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Core } from '../client/dist/core.js';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const wasmDir = path.resolve(process.env.SQLSYNC_WASM_DIR ?? path.join(here, '../../build/wasm'));

export const Code = { ok: 0, corruption: 1, ioError: 2, invalidArgument: 3, notFound: 4, rejected: 5, unsupported: 7 };

export async function loadCore() {
  const createSqlsyncCore = createRequire(import.meta.url)(path.join(wasmDir, 'sqlsync_core.js'));
  // wasmBinary: node 20's fetch cannot load a file path (TOOLCHAIN.md).
  const module = await createSqlsyncCore({ wasmBinary: readFileSync(path.join(wasmDir, 'sqlsync_core.wasm')) });
  return new Core(module);
}

export const hexId = (seed) => seed.toString(16).padStart(32, '0');

// A local document of `core` (a Core from the client package).
export class Doc {
  constructor(core, documentId, reducer, { env = 0, directory = '' } = {}) {
    this.core = core;
    this.handle = core.int('local_open', documentId, '', reducer, env, directory);
  }
  mutate(mutation) {
    const bytes = new TextEncoder().encode(typeof mutation === 'string' ? mutation : JSON.stringify(mutation));
    this.core.withBytes(bytes, (p, n) => this.core.int('local_mutate', this.handle, p, n));
  }
  rows(sql, params = '') { return this.core.query(this.handle, sql, params).rows; }
  info() { return this.core.json('local_info', this.handle); }
  connect() { this.core.int('local_connect', this.handle); }
  receive(bytes) { this.core.withBytes(bytes, (p, n) => this.core.int('local_receive', this.handle, p, n)); }
  poll() { this.core.int('local_poll', this.handle); }
  flush() { this.core.int('local_flush', this.handle); }
  takeRejections() { return this.core.json('local_take_rejections', this.handle); }
  takeOutbox() { return this.core.takeOutbox(this.handle).map((m) => m.bytes); }
  close() { this.core.int('close', this.handle); }
}

// Syncs local documents with a coordinator document until nothing moves.
export function sync(core, coordinator, clients) {
  for (let round = 0; round < 100; round++) {
    let moved = 0;
    for (const [connection, client] of clients) {
      client.poll();
      for (const bytes of client.takeOutbox()) {
        core.withBytes(bytes, (p, n) => core.int('coordinator_receive', coordinator, connection, p, n));
        moved++;
      }
    }
    while (core.json('coordinator_info', coordinator).has_work) core.json('coordinator_step', coordinator);
    core.int('coordinator_poll', coordinator);
    for (const { connection, bytes } of core.takeOutbox(coordinator)) {
      clients.get(connection).receive(bytes);
      moved++;
    }
    if (moved === 0) {
      for (const client of clients.values()) client.flush();
      return;
    }
  }
  throw new Error('sync did not settle in 100 rounds');
}
