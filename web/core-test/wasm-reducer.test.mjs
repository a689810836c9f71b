// WASM reducers in the browser core: the guest runs as a second
// WebAssembly instance driven through the client package's GuestHost
// (src/web/js_reducer.h), with the native host's ABI rules.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { limitMemory, registerGuest } from '../client/dist/guest-host.js';
import { Code, Doc, hexId, loadCore, sync, wasmDir } from './helpers.mjs';

const testdata = (name) => readFileSync(path.join(wasmDir, 'src/web/testdata', `${name}.wasm`));

async function openReducer(core, bytes, logs = []) {
  const module = await WebAssembly.compile(limitMemory(bytes));
  const guest = registerGuest(core.module, module, (level, text) => logs.push([level, text]));
  return core.int('reducer_open_wasm', guest);
}

test('the todo example reducer runs on the JS engine and syncs', async () => {
  const core = await loadCore();
  const reducer = await openReducer(core, readFileSync(path.join(wasmDir, 'src/web/todo_reducer.wasm')));
  assert.ok(core.int('reducer_schema_version', reducer) >= 1);
  const documentId = hexId(0xd0c1);
  const coordinator = core.int('coordinator_open', documentId, reducer);
  core.int('coordinator_connect', coordinator, 1);
  const a = new Doc(core, documentId, reducer);
  a.connect();

  a.mutate({ tag: 'CreateTask', id: 't1', description: 'milk' });
  a.mutate({ tag: 'CreateTask', id: 't2', description: 'eggs' });
  a.mutate({ tag: 'ToggleTask', id: 't1' });
  assert.deepEqual(a.rows('SELECT id, description, completed FROM tasks ORDER BY id'),
    [['t1', 'milk', 1], ['t2', 'eggs', 0]]);
  assert.throws(() => a.mutate({ tag: 'ToggleTask', id: 'zz' }),
    (e) => e.code === Code.rejected && /ToggleTask: no task with id "zz"/.test(e.message));
  assert.throws(() => a.mutate('not json'), (e) => e.code === Code.rejected);

  sync(core, coordinator, new Map([[1, a]]));
  assert.equal(a.info().pending_mutations, 0);
  assert.deepEqual(core.query(coordinator, 'SELECT id, completed FROM tasks ORDER BY id', '').rows, [['t1', 1], ['t2', 0]]);
});

test('guest failures reject only their mutation; the next one runs on a fresh instance', async () => {
  const core = await loadCore();
  const logs = [];
  const reducer = await openReducer(core, testdata('commands'), logs);
  const doc = new Doc(core, hexId(0xd0c2), reducer);
  const values = () => doc.rows('SELECT v FROM t ORDER BY rowid').map((row) => row[0]);

  doc.mutate('ione');
  assert.throws(() => doc.mutate('rgone'), (e) => e.code === Code.rejected && /gone/.test(e.message));
  assert.throws(() => doc.mutate('t'), (e) => e.code === Code.rejected && /Rejected: reducer trapped: RuntimeError: unreachable/.test(e.message));
  doc.mutate('itwo');
  assert.throws(() => doc.mutate('p'),
    (e) => e.code === Code.rejected && /reducer trapped: .*execute: sql \(address \d+, \d+ bytes\) is outside the reducer's memory/.test(e.message));
  assert.throws(() => doc.mutate('k'), (e) => e.code === Code.rejected && /mutation_begin: mutation 0 is still open/.test(e.message));
  // 'm' (grow memory in a loop forever) and 'l' (loop forever) never return
  // in the browser: there is no budget (docs/browser.md, the watchdog).
  assert.throws(() => doc.mutate('s'), (e) => e.code === Code.rejected && /missing_table/.test(e.message));
  doc.mutate('q');
  doc.mutate('g');
  assert.deepEqual(logs, [[1, 'hello from wasm']]);
  assert.deepEqual(values(), ['one', 'two', 'two']);
  assert.equal(doc.info().pending_mutations, 4, 'only accepted mutations join the timeline');
});

test('modules the ABI refuses fail to load with the native host\'s errors', async () => {
  const core = await loadCore();
  await assert.rejects(openReducer(core, testdata('foreign_import')),
    (e) => e.code === Code.invalidArgument && /reducer imports .*which this host does not provide/.test(e.message));
  await assert.rejects(openReducer(core, testdata('abi_version_2')),
    (e) => e.code === Code.unsupported && /reducer ABI version 2, this host supports 1/.test(e.message));
  await assert.rejects(openReducer(core, testdata('missing_export')),
    (e) => e.code === Code.invalidArgument && /reducer does not export/.test(e.message));
  assert.throws(() => core.int('reducer_open_wasm', 424242), (e) => e.code === Code.notFound && /guest 424242/.test(e.message));
});

test('limitMemory caps the declared maximum and refuses a larger initial memory', () => {
  // (module (memory 2)) and (module (memory 2000)) by hand.
  const module = (pages) => Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 2 + leb(pages).length, 1, 0, ...leb(pages)]);
  const leb = (n) => (n < 128 ? [n] : [0x80 | (n & 0x7f), n >> 7]);
  const capped = limitMemory(module(2), 64 * 65536);
  assert.ok(WebAssembly.validate(capped));
  const memory = new WebAssembly.Instance(new WebAssembly.Module(
    Uint8Array.from([...capped.subarray(0, 8), ...capped.subarray(8), 7, 10, 1, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 0]),
  )).exports.memory;
  assert.equal(memory.grow(62), 2);
  assert.throws(() => memory.grow(1), RangeError, 'growing past 64 pages must fail');
  assert.throws(() => limitMemory(module(2000), 64 * 65536), /over the cap/);
});
