// DocumentOwner (src/owner.ts) under node with the real emscripten core
// (dist/sqlsync_core.js, copied there by the package build), an in-memory
// pool directory with a disk's durability model, and a fake socket: the
// batched OPFS sync of mutations, the connection switch, and which results
// reach the tabs.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInThisContext } from 'node:vm';
import { describe, expect, it } from 'vitest';

import { Core, type CoreFactory, type CoreModule } from '../../src/core.js';
import type { PoolDirectory, SyncHandle } from '../../src/opfs-pool.js';
import { DocumentOwner, type OwnerDependencies } from '../../src/owner.js';
import type { ConnectionStatus, DocumentEvent, OpenParams } from '../../src/protocol.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '../../dist');
const TODO_SQL = readFileSync(path.resolve(here, '../../../core-test/todo.sql'));
const DOC_ID = 'd0000000000000000000000000000001';
const TASKS = 'SELECT id FROM tasks ORDER BY id';

// dist/sqlsync_core.js is CommonJS inside a "type": "module" package, so
// require() refuses it: wrap it as node's CommonJS loader would.
async function loadCore(): Promise<CoreModule> {
  const file = path.join(dist, 'sqlsync_core.js');
  const wrapper = runInThisContext(`(function (require, module, exports, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`);
  const module = { exports: {} };
  wrapper(createRequire(file), module, module.exports, file, dist);
  const factory = module.exports as CoreFactory;
  // wasmBinary: node's fetch cannot load a file path.
  return factory({ wasmBinary: readFileSync(path.join(dist, 'sqlsync_core.wasm')) });
}

// Files that lose every write since their last flush() in a crash(), which
// also kills the handles open then (their worker died).
class Disk implements PoolDirectory {
  private readonly files = new Map<string, { data: Uint8Array; synced: Uint8Array }>();
  private generation = 0;

  async list(): Promise<string[]> {
    return [...this.files.keys()];
  }

  async open(name: string): Promise<SyncHandle> {
    const file = this.files.get(name) ?? { data: new Uint8Array(0), synced: new Uint8Array(0) };
    this.files.set(name, file);
    const generation = this.generation;
    const alive = () => {
      if (generation !== this.generation) throw new DOMException('the worker died', 'InvalidStateError');
    };
    return {
      read(buffer, { at }) {
        alive();
        const bytes = file.data.subarray(at, at + buffer.length);
        buffer.set(bytes);
        return bytes.length;
      },
      write(buffer, { at }) {
        alive();
        const grown = new Uint8Array(Math.max(file.data.length, at + buffer.length));
        grown.set(file.data);
        grown.set(buffer, at);
        file.data = grown;
        return buffer.length;
      },
      truncate(size) {
        alive();
        const resized = new Uint8Array(size);
        resized.set(file.data.subarray(0, size));
        file.data = resized;
      },
      getSize: () => file.data.length,
      flush() {
        alive();
        file.synced = file.data.slice();
      },
      close() {},
    };
  }

  crash(): void {
    this.generation++;
    for (const file of this.files.values()) file.data = file.synced.slice();
  }
}

// A coordinator in the same core as the replica, reached through FakeSocket.
class Coordinator {
  private readonly core: Core;
  private readonly handle: number;

  constructor(module: CoreModule) {
    this.core = new Core(module);
    this.handle = this.core.int('coordinator_open', DOC_ID, this.core.int('reducer_open_sql', TODO_SQL.toString()));
  }
  connect(socket: FakeSocket): void {
    this.core.int('coordinator_connect', this.handle, 1);
    this.deliver(socket);
  }
  receive(socket: FakeSocket, bytes: Uint8Array): void {
    this.core.withBytes(bytes, (pointer, length) => this.core.int('coordinator_receive', this.handle, 1, pointer, length));
    while (this.core.json<{ has_work: boolean }>('coordinator_info', this.handle).has_work) {
      this.core.json('coordinator_step', this.handle);
    }
    this.core.int('coordinator_poll', this.handle);
    this.deliver(socket);
  }
  tasks(): string[] {
    return this.core.query(this.handle, TASKS, '').rows.map((row) => String(row[0]));
  }
  // Over the "network": each message in a task of its own.
  private deliver(socket: FakeSocket): void {
    for (const { bytes } of this.core.takeOutbox(this.handle)) {
      setTimeout(() => socket.onmessage?.({ data: bytes.slice().buffer }));
    }
  }
}

// Records what is sent; connects to `coordinator` (null: never connects).
class FakeSocket {
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readyState = 0;
  binaryType = 'blob';
  sent: Uint8Array[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: unknown) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;

  constructor(private readonly coordinator: Coordinator | null) {
    if (coordinator !== null) {
      setTimeout(() => {
        this.readyState = this.OPEN;
        coordinator.connect(this);
        this.onopen?.();
      });
    }
  }
  send(bytes: Uint8Array): void {
    this.sent.push(bytes);
    this.coordinator?.receive(this, bytes);
  }
  close(): void {
    this.readyState = 3;
  }
}

interface Replica {
  owner: DocumentOwner;
  coordinator: Coordinator | null;
  sockets: FakeSocket[];
  rows: { subscription: number; ids: string[] }[];
  statuses: ConnectionStatus[];
  progress: number[];
}

async function openReplica(disk: Disk, params: Partial<OpenParams> = {}, { socketsOpen = true } = {}): Promise<Replica> {
  const sockets: FakeSocket[] = [];
  const replica: Replica = { owner: null as unknown as DocumentOwner, coordinator: null, sockets, rows: [], statuses: [], progress: [] };
  const deps: OwnerDependencies = {
    loadCore: async () => {
      const module = await loadCore();
      if (socketsOpen) replica.coordinator = new Coordinator(module);
      return module;
    },
    poolDirectory: async () => disk,
    fetchBytes: async () => new Uint8Array(TODO_SQL),
    webSocket: () => {
      const socket = new FakeSocket(replica.coordinator);
      sockets.push(socket);
      return socket as unknown as WebSocket;
    },
  };
  replica.owner = new DocumentOwner({ docId: DOC_ID, reducerUrl: 'todo.sql', coreUrl: dist, ...params }, deps, {
    rows(_client, subscription, rows) {
      replica.rows.push({ subscription, ids: (rows ?? []).map((row) => String(row.id)) });
    },
    event(event: DocumentEvent) {
      if (event.kind === 'status') replica.statuses.push(event.status);
      if (event.kind === 'progress') replica.progress.push(event.before);
    },
  });
  await replica.owner.open();
  replica.owner.start();
  return replica;
}

const createTask = (id: string) => ({ method: 'mutate', mutation: JSON.stringify({ tag: 'CreateTask', id, description: id }) }) as const;
const nextTask = () => new Promise((resolve) => setTimeout(resolve));
const tasksOf = (replica: Replica) =>
  (replica.owner.call('me', { method: 'query', sql: TASKS, params: '' }) as { rows: { id: string }[] }).rows.map((r) => r.id);

describe('DocumentOwner', () => {
  it('makes mutations durable once per task, after replying, and sends them only then', async () => {
    const disk = new Disk();
    let replica = await openReplica(disk, { serverUrl: 'http://127.0.0.1:1' });
    for (let i = 0; i < 5; i++) await nextTask(); // connected, ranges exchanged
    const socket = replica.sockets[0];
    expect(replica.statuses.at(-1)).toBe('connected');
    const sentBefore = socket.sent.length;

    replica.owner.call('me', createTask('t1'));
    replica.owner.call('me', createTask('t2'));
    // Replied, not yet durable: nothing of them may leave.
    expect(socket.sent.length).toBe(sentBefore);
    await Promise.resolve(); // the end of the task: one sync for both, then sent
    expect(socket.sent.length).toBeGreaterThan(sentBefore);
    for (let i = 0; i < 5; i++) await nextTask();
    expect(replica.coordinator!.tasks()).toEqual(['t1', 't2']);
    disk.crash();
    await replica.owner.close();

    replica = await openReplica(disk, {}, { socketsOpen: false });
    expect(tasksOf(replica)).toEqual(['t1', 't2']);
    // The crash rule: a crash within the task that made a mutation loses it.
    replica.owner.call('me', createTask('t3'));
    disk.crash();
    await replica.owner.close(); // its flush fails: the handles died with the "worker"
    replica = await openReplica(disk, {}, { socketsOpen: false });
    expect(tasksOf(replica)).toEqual(['t1', 't2']);
    await replica.owner.close();
  });

  it('receives server messages together once the tabs stop mutating', async () => {
    const replica = await openReplica(new Disk(), { serverUrl: 'http://127.0.0.1:1' });
    for (let i = 0; i < 5; i++) await nextTask();
    const seen = replica.progress.length;
    for (let i = 0; i < 5; i++) {
      replica.owner.call('me', createTask(`t${i}`));
      await new Promise((resolve) => setTimeout(resolve, 5)); // the coordinator answers meanwhile
    }
    expect(replica.progress.slice(seen)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // One rebase for all five confirmations, not one per mutation.
    expect(replica.progress.slice(seen)).toEqual([5]);
    await replica.owner.close();
  });

  it('does not deliver a result equal to the one delivered last', async () => {
    const replica = await openReplica(new Disk(), {}, { socketsOpen: false });
    replica.owner.call('me', { method: 'subscribe', subscription: 7, sql: TASKS + ' LIMIT 1', params: '' });
    replica.owner.call('me', createTask('a'));
    replica.owner.call('me', createTask('b')); // `tasks` changed, the first row did not
    replica.owner.call('me', createTask('0'));
    expect(replica.rows).toEqual([
      { subscription: 7, ids: [] },
      { subscription: 7, ids: ['a'] },
      { subscription: 7, ids: ['0'] },
    ]);
    await replica.owner.close();
  });

  it('opens with the connection off when asked, and reports the choice with the status', async () => {
    const replica = await openReplica(new Disk(), { serverUrl: 'http://127.0.0.1:1', connectionEnabled: false }, { socketsOpen: false });
    await nextTask();
    expect(replica.sockets).toHaveLength(0);
    expect(replica.owner.connectionStatus()).toBe('disabled');
    expect(replica.owner.connectionEnabled()).toBe(false);
    replica.owner.call('me', { method: 'setConnectionEnabled', enabled: true });
    expect(replica.sockets).toHaveLength(1);
    expect(replica.owner.connectionEnabled()).toBe(true);
    expect(replica.statuses.at(-1)).toBe('connecting');
    await replica.owner.close();
  });
});
