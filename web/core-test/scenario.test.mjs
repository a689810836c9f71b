// End-to-end scenario on the emscripten build of the core, driven through its
// C ABI (docs/wasm-abi.md): one coordinator and two local documents in one
// module, all running the todo list as a SQL reducer (todo.sql), with this
// test ferrying protocol messages between them.
//
// Run: SQLSYNC_WASM_DIR=build/wasm node --test web/core-test/
// (the directory holding sqlsync_core.js and sqlsync_core.wasm; defaults to
// build/wasm of this repository). scripts/wasm-test.sh does all of it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const wasmDir = path.resolve(process.env.SQLSYNC_WASM_DIR ?? path.join(here, '../../build/wasm'));

// Status codes of include/sqlsync/status.h.
const Code = { ok: 0, corruption: 1, invalidArgument: 3, notFound: 4, rejected: 5 };

class CoreError extends Error {
  constructor(call, code, message) {
    super(`${call}: ${message}`);
    this.code = code;
  }
}

// A thin JS view of the ABI: throws CoreError where a call reports failure.
class Core {
  constructor(module) {
    this.m = module;
    const fn = (name, args) => module.cwrap(name, 'number', args);
    this.api = {
      lastError: fn('sqlsync_last_error', []),
      lastErrorCode: fn('sqlsync_last_error_code', []),
      close: fn('sqlsync_close', ['number']),
      query: fn('sqlsync_query', ['number', 'string', 'string']),
      outboxCount: fn('sqlsync_outbox_count', ['number']),
      outboxData: fn('sqlsync_outbox_data', ['number', 'number']),
      outboxSize: fn('sqlsync_outbox_size', ['number', 'number']),
      outboxConnection: fn('sqlsync_outbox_connection', ['number', 'number']),
      outboxClear: fn('sqlsync_outbox_clear', ['number']),
      reducerOpenSql: fn('sqlsync_reducer_open_sql', ['string']),
      reducerClose: fn('sqlsync_reducer_close', ['number']),
      localOpen: fn('sqlsync_local_open', ['string', 'string', 'number', 'number', 'string']),
      localMutate: fn('sqlsync_local_mutate', ['number', 'number', 'number']),
      localConnect: fn('sqlsync_local_connect', ['number']),
      localReceive: fn('sqlsync_local_receive', ['number', 'number', 'number']),
      localPoll: fn('sqlsync_local_poll', ['number']),
      localDisconnect: fn('sqlsync_local_disconnect', ['number']),
      localFlush: fn('sqlsync_local_flush', ['number']),
      localInfo: fn('sqlsync_local_info', ['number']),
      localTakeRejections: fn('sqlsync_local_take_rejections', ['number']),
      setSubscriptionNotify: fn('sqlsync_set_subscription_notify', ['number']),
      localSubscribe: fn('sqlsync_local_subscribe', ['number', 'string', 'string']),
      localUnsubscribe: fn('sqlsync_local_unsubscribe', ['number', 'number']),
      subscriptionVersion: fn('sqlsync_subscription_version', ['number', 'number']),
      subscriptionResult: fn('sqlsync_subscription_result', ['number', 'number']),
      coordinatorOpen: fn('sqlsync_coordinator_open', ['string', 'number']),
      coordinatorConnect: fn('sqlsync_coordinator_connect', ['number', 'number']),
      coordinatorReceive: fn('sqlsync_coordinator_receive', ['number', 'number', 'number', 'number']),
      coordinatorDisconnect: fn('sqlsync_coordinator_disconnect', ['number', 'number']),
      coordinatorPoll: fn('sqlsync_coordinator_poll', ['number']),
      coordinatorStep: fn('sqlsync_coordinator_step', ['number']),
      coordinatorInfo: fn('sqlsync_coordinator_info', ['number']),
    };
  }

  fail(call) {
    return new CoreError(call, this.api.lastErrorCode(), this.m.UTF8ToString(this.api.lastError()));
  }
  // An int32 result: -1 means failure.
  int(call, result) {
    if (result === -1) throw this.fail(call);
    assert.equal(this.api.lastErrorCode(), Code.ok, `${call} succeeded but left an error code`);
    return result;
  }
  // A text result: 0 (nullptr) means failure; otherwise JSON.
  json(call, pointer) {
    if (pointer === 0) throw this.fail(call);
    return JSON.parse(this.m.UTF8ToString(pointer));
  }
  // Calls fn(pointer, length) with `bytes` copied into the module's heap.
  withBytes(bytes, fn) {
    const pointer = this.m._malloc(Math.max(bytes.length, 1));
    try {
      this.m.HEAPU8.set(bytes, pointer);
      return fn(pointer, bytes.length);
    } finally {
      this.m._free(pointer);
    }
  }
  // Copies out and clears a document's outbox: [{connection, bytes}].
  takeOutbox(handle) {
    const count = this.int('outbox_count', this.api.outboxCount(handle));
    const messages = [];
    for (let i = 0; i < count; i++) {
      const size = this.int('outbox_size', this.api.outboxSize(handle, i));
      const data = this.api.outboxData(handle, i);
      if (data === 0 && size > 0) throw this.fail('outbox_data');
      // HEAPU8 is re-read on every access: memory growth replaces it.
      const bytes = Uint8Array.from(this.m.HEAPU8.subarray(data, data + size));
      messages.push({ connection: this.int('outbox_connection', this.api.outboxConnection(handle, i)), bytes });
    }
    this.int('outbox_clear', this.api.outboxClear(handle));
    return messages;
  }
}

class LocalDoc {
  constructor(core, documentId, timelineId = null) {
    this.core = core;
    this.handle = core.int('local_open', core.api.localOpen(documentId, timelineId, core.todo, 0, null));
  }
  mutate(mutation) {
    const bytes = new TextEncoder().encode(typeof mutation === 'string' ? mutation : JSON.stringify(mutation));
    this.core.withBytes(bytes, (p, n) => this.core.int('local_mutate', this.core.api.localMutate(this.handle, p, n)));
  }
  query(sql, params = null) {
    return this.core.json('query', this.core.api.query(this.handle, sql, params && JSON.stringify(params)));
  }
  connect() { this.core.int('local_connect', this.core.api.localConnect(this.handle)); }
  receive(bytes) {
    this.core.withBytes(bytes, (p, n) => this.core.int('local_receive', this.core.api.localReceive(this.handle, p, n)));
  }
  poll() { this.core.int('local_poll', this.core.api.localPoll(this.handle)); }
  disconnect() { this.core.int('local_disconnect', this.core.api.localDisconnect(this.handle)); }
  flush() { this.core.int('local_flush', this.core.api.localFlush(this.handle)); }
  info() { return this.core.json('local_info', this.core.api.localInfo(this.handle)); }
  takeRejections() { return this.core.json('take_rejections', this.core.api.localTakeRejections(this.handle)); }
  takeOutbox() { return this.core.takeOutbox(this.handle).map((message) => message.bytes); }
  subscribe(sql, params = null) {
    return this.core.int('subscribe', this.core.api.localSubscribe(this.handle, sql, params && JSON.stringify(params)));
  }
  subscriptionVersion(id) { return this.core.int('subscription_version', this.core.api.subscriptionVersion(this.handle, id)); }
  subscriptionResult(id) { return this.core.json('subscription_result', this.core.api.subscriptionResult(this.handle, id)); }
  unsubscribe(id) { this.core.int('unsubscribe', this.core.api.localUnsubscribe(this.handle, id)); }
  close() { this.core.int('close', this.core.api.close(this.handle)); }
}

class CoordinatorDoc {
  constructor(core, documentId) {
    this.core = core;
    this.handle = core.int('coordinator_open', core.api.coordinatorOpen(documentId, core.todo));
  }
  connect(connection) { this.core.int('coordinator_connect', this.core.api.coordinatorConnect(this.handle, connection)); }
  receive(connection, bytes) {
    this.core.withBytes(bytes, (p, n) =>
      this.core.int('coordinator_receive', this.core.api.coordinatorReceive(this.handle, connection, p, n)));
  }
  disconnect(connection) {
    this.core.int('coordinator_disconnect', this.core.api.coordinatorDisconnect(this.handle, connection));
  }
  poll() { this.core.int('coordinator_poll', this.core.api.coordinatorPoll(this.handle)); }
  step() { return this.core.json('coordinator_step', this.core.api.coordinatorStep(this.handle)); }
  info() { return this.core.json('coordinator_info', this.core.api.coordinatorInfo(this.handle)); }
  query(sql, params = null) {
    return this.core.json('query', this.core.api.query(this.handle, sql, params && JSON.stringify(params)));
  }
  takeOutbox() { return this.core.takeOutbox(this.handle); }
  close() { this.core.int('close', this.core.api.close(this.handle)); }
}

// Moves messages both ways between the coordinator and the connected clients
// ({connectionId: LocalDoc}), stepping the coordinator whenever it has work,
// until nothing moves; then flushes the clients (rebases deferred by the
// frames hint). Returns the step reports.
function sync(coordinator, clients) {
  const reports = [];
  for (let round = 0; ; round++) {
    assert.ok(round < 100, 'sync did not settle in 100 rounds');
    let moved = 0;
    for (const [connection, client] of Object.entries(clients)) {
      client.poll();
      for (const bytes of client.takeOutbox()) {
        coordinator.receive(Number(connection), bytes);
        moved++;
      }
    }
    if (coordinator.info().has_work) reports.push(coordinator.step());
    coordinator.poll();
    for (const { connection, bytes } of coordinator.takeOutbox()) {
      const client = clients[connection];
      assert.ok(client, `coordinator sent to unknown connection ${connection}`);
      client.receive(bytes);
      moved++;
    }
    if (moved === 0) break;
  }
  for (const client of Object.values(clients)) client.flush();
  return reports;
}

function connect(coordinator, connection, client) {
  client.connect();
  coordinator.connect(connection);
}

const TASKS = 'SELECT id, description, completed FROM tasks ORDER BY id';
const hexId = () => randomBytes(16).toString('hex');

test('browser core scenario: optimistic writes, sync, rebase, rejections, bad input', async (t) => {
  const createSqlsyncCore = createRequire(import.meta.url)(path.join(wasmDir, 'sqlsync_core.js'));
  // wasmBinary: node 20's fetch cannot load a file path (TOOLCHAIN.md).
  const module = await createSqlsyncCore({ wasmBinary: readFileSync(path.join(wasmDir, 'sqlsync_core.wasm')) });
  const core = new Core(module);
  core.todo = core.int('reducer_open_sql', core.api.reducerOpenSql(readFileSync(path.join(here, 'todo.sql'), 'utf8')));

  const documentId = hexId();
  const timelineA = hexId();
  const coordinator = new CoordinatorDoc(core, documentId);
  const a = new LocalDoc(core, documentId, timelineA);
  const b = new LocalDoc(core, documentId);
  const clients = { 1: a, 2: b };

  await t.test('documents open with the ids they were given', () => {
    assert.equal(a.info().document_id, documentId);
    assert.equal(a.info().timeline_id, timelineA);
    assert.match(b.info().timeline_id, /^[0-9a-f]{32}$/);
    assert.notEqual(b.info().timeline_id, '0'.repeat(32));
    assert.notEqual(b.info().timeline_id, timelineA);
    assert.equal(coordinator.info().document_id, documentId);
  });

  await t.test('bad arguments fail with an error, never a trap', () => {
    assert.throws(() => new LocalDoc(core, 'not-hex'), (e) => e.code === Code.invalidArgument && /document id/.test(e.message));
    assert.throws(() => core.int('local_open', core.api.localOpen(documentId, null, 9999, 0, null)),
      (e) => e.code === Code.invalidArgument && /no open reducer with id 9999/.test(e.message));
    assert.throws(() => core.int('local_open', core.api.localOpen(documentId, null, core.todo, 0, 'dir')),
      (e) => e.code === Code.invalidArgument && /needs an env/.test(e.message));
    assert.throws(() => core.int('reducer_open_sql', core.api.reducerOpenSql('-- mutation A\nSELECT 1')),
      (e) => e.code === Code.invalidArgument && /line 2/.test(e.message));
    assert.throws(() => core.int('local_poll', core.api.localPoll(9999)), /no open document with handle 9999/);
    assert.throws(() => core.int('local_poll', core.api.localPoll(coordinator.handle)), /coordinator/);
    assert.throws(() => core.json('query', core.api.query(a.handle, 'SELECT ?', '[1,')),
      (e) => e.code === Code.invalidArgument && /parameters must be a JSON array/.test(e.message));
    assert.equal(core.m.UTF8ToString(core.api.lastError()).length > 0, true);
    a.info();  // a successful call clears the last error
    assert.equal(core.m.UTF8ToString(core.api.lastError()), '');
  });

  // B watches the task list from the start.
  const notified = [];
  const notify = module.addFunction((handle, subscription) => notified.push([handle, subscription]), 'vii');
  core.int('set_subscription_notify', core.api.setSubscriptionNotify(notify));
  const watch = b.subscribe('SELECT id, description FROM tasks WHERE completed = ? ORDER BY id', [0]);

  await t.test('local mutations are visible at once, before any sync', () => {
    for (const [id, description] of [['t1', 'milk'], ['t2', 'eggs'], ['t3', 'bread']]) {
      a.mutate({ tag: 'CreateTask', id, description });
    }
    assert.deepEqual(a.query(TASKS), {
      columns: ['id', 'description', 'completed'],
      rows: [['t1', 'milk', 0], ['t2', 'eggs', 0], ['t3', 'bread', 0]],
    });
    assert.deepEqual(a.query('SELECT description FROM tasks WHERE id = ?', ['t2']).rows, [['eggs']]);
    assert.equal(a.info().pending_mutations, 3);
    const { first, next } = a.info().timeline_range;
    assert.equal(next - first, 3, 'the timeline holds the three unsent mutations');
    assert.deepEqual(coordinator.query('SELECT count(*) FROM tasks').rows, [[0]]);
  });

  await t.test('sync carries A\'s mutations through the coordinator to B', () => {
    const versionBefore = b.subscriptionVersion(watch);
    connect(coordinator, 1, a);
    connect(coordinator, 2, b);
    const reports = sync(coordinator, clients);
    assert.equal(reports.reduce((sum, r) => sum + r.applied, 0), 3);
    assert.ok(reports.some((r) => r.committed_frame));
    const expected = coordinator.query(TASKS);
    assert.equal(expected.rows.length, 3);
    assert.deepEqual(a.query(TASKS), expected);
    assert.deepEqual(b.query(TASKS), expected);
    assert.equal(a.info().pending_mutations, 0);
    assert.equal(a.info().connected, true);
    assert.deepEqual(a.info().storage_range, coordinator.info().storage_range);
    assert.deepEqual(b.info().storage_range, coordinator.info().storage_range);

    assert.ok(b.subscriptionVersion(watch) > versionBefore, 'B\'s subscription was not refreshed');
    assert.deepEqual(b.subscriptionResult(watch).rows, [['t1', 'milk'], ['t2', 'eggs'], ['t3', 'bread']]);
    assert.ok(notified.some(([handle, id]) => handle === b.handle && id === watch));
  });

  await t.test('concurrent edits on A and B converge on the coordinator\'s state', () => {
    b.mutate({ tag: 'ToggleTask', id: 't1' });
    a.mutate({ tag: 'RenameTask', id: 't2', description: 'free-range eggs' });
    assert.deepEqual(b.query('SELECT completed FROM tasks WHERE id = ?', ['t1']).rows, [[1]]);
    assert.deepEqual(a.query('SELECT completed FROM tasks WHERE id = ?', ['t1']).rows, [[0]]);
    sync(coordinator, clients);
    const expected = coordinator.query(TASKS);
    assert.deepEqual(expected.rows, [['t1', 'milk', 1], ['t2', 'free-range eggs', 0], ['t3', 'bread', 0]]);
    assert.deepEqual(a.query(TASKS), expected);
    assert.deepEqual(b.query(TASKS), expected);
    assert.deepEqual(b.subscriptionResult(watch).rows, [['t2', 'free-range eggs'], ['t3', 'bread']]);
  });

  await t.test('a mutation the coordinator rejects is reported to its author', () => {
    a.disconnect();
    coordinator.disconnect(1);
    b.mutate({ tag: 'DeleteTask', id: 't3' });
    sync(coordinator, { 2: b });
    assert.deepEqual(coordinator.query('SELECT id FROM tasks WHERE id = ?', ['t3']).rows, []);

    // A has not seen the delete: toggling t3 succeeds locally.
    a.mutate({ tag: 'ToggleTask', id: 't3' });
    assert.deepEqual(a.query('SELECT completed FROM tasks WHERE id = ?', ['t3']).rows, [[1]]);
    assert.deepEqual(a.takeRejections(), []);

    connect(coordinator, 1, a);
    const reports = sync(coordinator, clients);
    assert.equal(reports.reduce((sum, r) => sum + r.rejected, 0), 1);
    const rejections = a.takeRejections();
    assert.equal(rejections.length, 1);
    assert.equal(rejections[0].timeline, timelineA);
    assert.match(rejections[0].message, /no task with that id/);
    assert.equal(rejections[0].lsn, a.info().timeline_range.first - 1, 'the rejected mutation was the last one A sent');
    assert.deepEqual(a.takeRejections(), [], 'taking rejections clears them');
    assert.deepEqual(b.takeRejections(), []);
    assert.deepEqual(a.query('SELECT id FROM tasks WHERE id = ?', ['t3']).rows, []);
    assert.equal(a.info().pending_mutations, 0);
    const expected = coordinator.query(TASKS);
    assert.deepEqual(a.query(TASKS), expected);
    assert.deepEqual(b.query(TASKS), expected);
  });

  await t.test('a malformed mutation is refused and changes nothing', () => {
    const before = a.query(TASKS);
    assert.throws(() => a.mutate('{"tag": "CreateTask", "id": '), (e) => e.code === Code.rejected && e.message.length > 0);
    assert.throws(() => a.mutate({ tag: 'Fly', id: 't9' }), (e) => e.code === Code.rejected);
    assert.deepEqual(a.query(TASKS), before);
    assert.equal(a.info().pending_mutations, 0);
    a.poll();
    assert.deepEqual(a.takeOutbox(), [], 'a refused mutation must not be sent');
  });

  await t.test('a corrupt message is refused; reconnecting recovers', () => {
    a.mutate({ tag: 'CreateTask', id: 't4', description: 'jam' });
    a.poll();
    for (const bytes of a.takeOutbox()) coordinator.receive(1, bytes);
    assert.equal(coordinator.step().applied, 1);
    coordinator.poll();
    const sent = coordinator.takeOutbox();
    for (const { bytes } of sent.filter((m) => m.connection === 1)) a.receive(bytes);
    const toB = sent.filter((m) => m.connection === 2).map((m) => m.bytes);
    assert.ok(toB.length > 0, 'the coordinator sent nothing to B');
    const bTasks = b.query(TASKS);

    const largest = toB.reduce((x, y) => (y.length > x.length ? y : x));
    const corrupt = Uint8Array.from(largest);
    corrupt[corrupt.length >> 1] ^= 0x5a;
    assert.throws(() => b.receive(corrupt), (e) => e.code !== Code.ok && e.message.length > 0);
    b.flush();
    assert.deepEqual(b.query(TASKS), bTasks);

    // The receive error means "close the connection": reconnect and resync.
    b.disconnect();
    coordinator.disconnect(2);
    connect(coordinator, 2, b);
    sync(coordinator, clients);
    const expected = coordinator.query(TASKS);
    assert.deepEqual(expected.rows.map((row) => row[0]), ['t1', 't2', 't4']);
    assert.deepEqual(a.query(TASKS), expected);
    assert.deepEqual(b.query(TASKS), expected);
  });

  await t.test('unsubscribe and close release handles', () => {
    b.unsubscribe(watch);
    assert.throws(() => b.subscriptionVersion(watch), /no subscription/);
    core.int('set_subscription_notify', core.api.setSubscriptionNotify(0));
    module.removeFunction(notify);
    for (const doc of [a, b, coordinator]) doc.close();
    assert.throws(() => a.info(), /no open document/);
    core.int('reducer_close', core.api.reducerClose(core.todo));
    assert.throws(() => core.int('reducer_close', core.api.reducerClose(core.todo)), /no open reducer/);
  });
});
