// A test server for the browser tests: static files (the client package's
// dist/ under /client/, fixtures under /fixtures/, the test page) and the
// sync WebSocket /docs/<id>/sync of a coordinator running in node on the
// same emscripten core (one coordinator document per id, SQL or WASM
// reducer as the connection's ?reducer= digest names). setOnline(false)
// drops every connection and refuses new ones, like a network cut.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { WebSocketServer } from 'ws';

import { Core } from '../../dist/core.js';
import { limitMemory, registerGuest } from '../../dist/guest-host.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const clientDir = path.resolve(here, '../..');
const repoDir = path.resolve(clientDir, '../..');

const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.sql': 'text/plain', '.map': 'application/json' };

// fixtures/<name>.wat assembled by wabt's wat2wasm.
function assemble(name) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sqlsync-wat-'));
  try {
    execFileSync('wat2wasm', [path.join(here, 'fixtures', `${name}.wat`), '-o', path.join(dir, 'out.wasm')]);
    return readFileSync(path.join(dir, 'out.wasm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startTestServer(wasmDir) {
  const fixtures = {
    'todo.sql': readFileSync(path.join(repoDir, 'web/core-test/todo.sql')),
    'todo_reducer.wasm': readFileSync(path.join(wasmDir, 'src/web/todo_reducer.wasm')),
    'loop.wasm': assemble('loop'),
  };
  const createSqlsyncCore = createRequire(import.meta.url)(path.join(wasmDir, 'sqlsync_core.js'));
  const core = new Core(await createSqlsyncCore({ wasmBinary: readFileSync(path.join(wasmDir, 'sqlsync_core.wasm')) }));

  const reducers = new Map();  // digest -> reducer id
  for (const bytes of Object.values(fixtures)) {
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (bytes[0] === 0) {
      const guest = registerGuest(core.module, new WebAssembly.Module(limitMemory(bytes)), () => undefined);
      reducers.set(digest, core.int('reducer_open_wasm', guest));
    } else {
      reducers.set(digest, core.int('reducer_open_sql', bytes.toString('utf8')));
    }
  }
  const documents = new Map();  // id -> coordinator handle
  const sockets = new Map();  // connection id -> ws
  let nextConnection = 1;
  let online = true;

  function route(handle) {
    while (core.json('coordinator_info', handle).has_work) core.json('coordinator_step', handle);
    core.int('coordinator_poll', handle);
    for (const { connection, bytes } of core.takeOutbox(handle)) sockets.get(connection)?.send(bytes);
  }

  const http = createServer((request, response) => {
    const url = new URL(request.url, 'http://localhost');
    let file = null;
    if (url.pathname === '/' || url.pathname === '/test.html') file = path.join(here, 'test.html');
    else if (url.pathname.startsWith('/client/')) file = path.join(clientDir, 'dist', path.normalize(url.pathname.slice(8)));
    else if (url.pathname.startsWith('/fixtures/')) {
      const body = fixtures[url.pathname.slice(10)];
      if (body !== undefined) {
        response.writeHead(200, { 'content-type': TYPES[path.extname(url.pathname)] });
        response.end(body);
        return;
      }
    }
    try {
      const body = readFileSync(file);
      response.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404);
      response.end();
    }
  });
  const wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (request, socket, head) => {
    const url = new URL(request.url, 'http://localhost');
    const match = /^\/docs\/([0-9a-f]{32})\/sync$/.exec(url.pathname);
    const reducer = reducers.get(url.searchParams.get('reducer'));
    if (!online || match === null || reducer === undefined) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const docId = match[1];
      if (!documents.has(docId)) documents.set(docId, core.int('coordinator_open', docId, reducer));
      const handle = documents.get(docId);
      const connection = nextConnection++;
      sockets.set(connection, ws);
      core.int('coordinator_connect', handle, connection);
      route(handle);
      ws.on('message', (data) => {
        try {
          core.withBytes(new Uint8Array(data), (p, n) => core.int('coordinator_receive', handle, connection, p, n));
        } catch {
          ws.close();
        }
        route(handle);
      });
      ws.on('close', () => {
        sockets.delete(connection);
        core.int('coordinator_disconnect', handle, connection);
      });
    });
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${http.address().port}`,
    setOnline(value) {
      online = value;
      if (!value) for (const ws of sockets.values()) ws.terminate();
    },
    // Rows of `sql` on the coordinator of `docId` ([] if it does not exist yet).
    query(docId, sql) {
      const handle = documents.get(docId);
      return handle === undefined ? [] : core.query(handle, sql, '').rows;
    },
    async close() {
      for (const ws of sockets.values()) ws.terminate();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}
