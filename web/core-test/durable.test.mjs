// Durable local documents in the browser core: the SlotPoolEnv over a pool of
// "OPFS" files (here the in-memory MemoryDirectory, same API as OPFS sync
// access handles) keeps the storage log and the timeline across a reopen
// and a crash, and storage errors reach the caller.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { INITIAL_POOL_FILES, SlotPool } from '../client/dist/opfs-pool.js';
import { Code, Doc, here, hexId, loadCore, sync } from './helpers.mjs';
import { MemoryDirectory } from './memory-directory.mjs';

const TODO_SQL = readFileSync(path.join(here, 'todo.sql'), 'utf8');
const TASKS = 'SELECT id, description, completed FROM tasks ORDER BY id';

// One "worker lifetime": a core, the pool opened from `directory`, and the
// document in it.
async function openReplica(directory, documentId, poolFiles = 16) {
  const core = await loadCore();
  const pool = await SlotPool.open(directory, poolFiles);
  pool.register(core.module);
  const env = core.int('env_open_pool', pool.id);
  const reducer = core.int('reducer_open_sql', TODO_SQL);
  const doc = new Doc(core, documentId, reducer, { env, directory: '/document' });
  return {
    core,
    pool,
    doc,
    reducer,
    async close() {
      doc.close();
      core.int('env_close', env);
      await pool.close(core.module);
    },
  };
}

test('data and unsent mutations survive a reopen; synced frames too', async () => {
  const directory = new MemoryDirectory();
  const documentId = hexId(0xd1);
  let replica = await openReplica(directory, documentId);
  replica.doc.mutate({ tag: 'CreateTask', id: 't1', description: 'milk' });
  replica.doc.mutate({ tag: 'CreateTask', id: 't2', description: 'eggs' });
  const timeline = replica.doc.info().timeline_id;
  await replica.close();

  replica = await openReplica(directory, documentId);
  assert.deepEqual(replica.doc.rows(TASKS), [['t1', 'milk', 0], ['t2', 'eggs', 0]]);
  assert.equal(replica.doc.info().timeline_id, timeline, 'the replica keeps its timeline');
  assert.equal(replica.doc.info().pending_mutations, 2, 'unsent mutations are still to be sent');

  // Sync with a coordinator living in the same core: the mutations become
  // storage frames, which are durable too.
  const { core } = replica;
  const coordinator = core.int('coordinator_open', documentId, replica.reducer);
  core.int('coordinator_connect', coordinator, 1);
  replica.doc.connect();
  sync(core, coordinator, new Map([[1, replica.doc]]));
  assert.equal(replica.doc.info().pending_mutations, 0);
  const storage = replica.doc.info().storage_range;
  assert.ok(storage.next > storage.first, 'the replica holds storage frames');
  core.int('close', coordinator);
  await replica.close();

  replica = await openReplica(directory, documentId);
  assert.deepEqual(replica.doc.rows(TASKS), [['t1', 'milk', 0], ['t2', 'eggs', 0]]);
  assert.equal(replica.doc.info().pending_mutations, 0);
  assert.deepEqual(replica.doc.info().storage_range, storage);
  await replica.close();
});

test('a mutation is durable when mutate returns: a crash right after keeps it', async () => {
  const directory = new MemoryDirectory();
  const documentId = hexId(0xd2);
  const replica = await openReplica(directory, documentId);
  for (let i = 0; i < 20; i++) replica.doc.mutate({ tag: 'CreateTask', id: `t${i}`, description: `task ${i}` });
  directory.crash();  // the worker dies with the tab; unflushed writes are gone

  const reopened = await openReplica(directory, documentId);
  assert.equal(reopened.doc.rows('SELECT count(*) FROM tasks')[0][0], 20);
  assert.equal(reopened.doc.info().pending_mutations, 20);
  reopened.doc.mutate({ tag: 'ToggleTask', id: 't3' });
  assert.deepEqual(reopened.doc.rows('SELECT completed FROM tasks WHERE id = ?', '["t3"]'), [[1]]);
  await reopened.close();
});

test('a full disk fails the mutation with the browser\'s error and keeps the rest', async () => {
  const directory = new MemoryDirectory();
  const documentId = hexId(0xd3);
  const replica = await openReplica(directory, documentId);
  replica.doc.mutate({ tag: 'CreateTask', id: 't1', description: 'milk' });
  directory.beforeWrite = () => {
    throw new DOMException('the origin is over its storage quota', 'QuotaExceededError');
  };
  assert.throws(() => replica.doc.mutate({ tag: 'CreateTask', id: 't2', description: 'eggs' }),
    (e) => e.code === Code.ioError && /QuotaExceededError: the origin is over its storage quota/.test(e.message));
  directory.beforeWrite = null;
  await replica.close();

  const reopened = await openReplica(directory, documentId);
  assert.deepEqual(reopened.doc.rows('SELECT id FROM tasks'), [['t1']]);
  assert.equal(reopened.doc.info().pending_mutations, 1);
  await reopened.close();
});

test('the pool grows in the background when few files are free', async () => {
  const directory = new MemoryDirectory();
  const replica = await openReplica(directory, hexId(0xd4), 2);
  // Opening the document needs more files than two: the env asked for more.
  await replica.pool.settled();
  assert.ok(replica.pool.count() > 2, `the pool has ${replica.pool.count()} files`);
  await replica.close();
});

test('a new document opens, syncs and takes a burst of mutations in the files a pool starts with', async () => {
  const directory = new MemoryDirectory();
  const documentId = hexId(0xd5);
  const replica = await openReplica(directory, documentId, INITIAL_POOL_FILES);
  // All in one task, as a burst in the owner's worker: the pool cannot grow
  // before it ends. The coordinator's frames make the storage log's files.
  const { core } = replica;
  const coordinator = core.int('coordinator_open', documentId, replica.reducer);
  core.int('coordinator_connect', coordinator, 1);
  replica.doc.connect();
  for (let i = 0; i < 300; i++) replica.doc.mutate({ tag: 'CreateTask', id: `t${i}`, description: `task ${i}` });
  sync(core, coordinator, new Map([[1, replica.doc]]));
  assert.equal(replica.doc.info().pending_mutations, 0);
  assert.equal(replica.pool.count(), INITIAL_POOL_FILES, 'nothing was added during the burst');
  await replica.pool.settled();
  assert.ok(replica.pool.count() > INITIAL_POOL_FILES, `the pool grew afterwards to ${replica.pool.count()} files`);
  core.int('close', coordinator);
  await replica.close();

  const reopened = await openReplica(directory, documentId, INITIAL_POOL_FILES);
  assert.equal(reopened.doc.rows('SELECT count(*) FROM tasks')[0][0], 300);
  await reopened.close();
});
