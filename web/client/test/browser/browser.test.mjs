// The client package in Debian's Chromium (playwright-core): OPFS
// persistence across a reload and a browser restart, unsent mutations kept
// offline and sent once online, two pages sharing one owner, the owner
// page closing while another keeps working, and calls made before a
// document is open (beginOpenDocument).
//
// Run: SQLSYNC_WASM_DIR=build/wasm node --test web/client/test/browser/
// (after building the core and `npm run build -w @sqlsync/client`);
// scripts/web-test.sh does all of it. Screenshots go to
// $SQLSYNC_ARTIFACTS (default build/web-test-artifacts).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { startTestServer } from './test-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoDir = path.resolve(here, '../../../..');
const wasmDir = path.resolve(repoDir, process.env.SQLSYNC_WASM_DIR ?? 'build/wasm');
const artifacts = path.resolve(repoDir, process.env.SQLSYNC_ARTIFACTS ?? 'build/web-test-artifacts');

// TOOLCHAIN.md: without the background-networking flags Chromium floods the
// closed network with connection attempts.
const CHROMIUM = {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
};
const TASKS = 'SELECT id, description, completed FROM tasks ORDER BY id';

let server;
let profiles;
before(async () => {
  server = await startTestServer(wasmDir);
  profiles = mkdtempSync(path.join(os.tmpdir(), 'sqlsync-chromium-'));
  mkdirSync(artifacts, { recursive: true });
});
after(async () => {
  await server?.close();
  if (profiles) rmSync(profiles, { recursive: true, force: true });
});

let profileCount = 0;
async function launch(profile = path.join(profiles, `profile-${++profileCount}`)) {
  const context = await chromium.launchPersistentContext(profile, CHROMIUM);
  return { context, profile };
}

let docCount = 0;
const newDocId = () => (Date.now().toString(16) + (++docCount).toString(16)).padStart(32, '0').slice(-32);

// A page with the document open as window.doc and its task list mirrored
// in window.tasks by a subscription.
// The test page, with the client loaded as window.sqlsync.
async function testPage(context) {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  await page.goto(`${server.url}/test.html`);
  await page.waitForFunction(() => window.sqlsyncReady === true);
  return page;
}

async function openPage(context, docId, { reducer = 'todo.sql', online = true, connectionEnabled } = {}) {
  const page = await testPage(context);
  await page.evaluate(async ({ docId, reducerUrl, serverUrl, connectionEnabled, sql }) => {
    window.doc = await window.sqlsync.openDocument({ docId, reducerUrl, serverUrl, connectionEnabled });
    window.tasks = null;
    const show = () => {
      document.getElementById('state').textContent =
        `${docId} (${window.doc.connectionStatus()})\n` + (window.tasks ?? []).map((t) => `[${t.completed ? 'x' : ' '}] ${t.id} ${t.description}`).join('\n');
    };
    window.doc.onConnectionStatus(show);
    window.doc.subscribe(sql, [], (rows) => { window.tasks = rows; show(); }, (error) => { window.tasksError = error.message; });
  }, { docId, reducerUrl: `/fixtures/${reducer}`, serverUrl: online ? server.url : undefined, connectionEnabled, sql: TASKS });
  return page;
}

const mutate = (page, mutation) => page.evaluate((m) => window.doc.mutate(m).then(() => undefined), mutation);
const tasksOf = (page) => page.evaluate(() => window.tasks);
async function waitForTasks(page, count, what) {
  try {
    await page.waitForFunction((n) => window.tasks !== null && window.tasks.length === n, count, { timeout: 5000 });
  } catch (error) {
    throw new Error(`${what}: expected ${count} tasks, have ${JSON.stringify(await tasksOf(page))}`, { cause: error });
  }
}
async function waitFor(predicate, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('two pages of one browser share the document through its owner, with the network off', async () => {
  const { context } = await launch();
  server.setOnline(false);
  try {
    const docId = newDocId();
    const a = await openPage(context, docId, { reducer: 'todo_reducer.wasm' });
    const b = await openPage(context, docId, { reducer: 'todo_reducer.wasm' });
    await mutate(a, { tag: 'CreateTask', id: 't1', description: 'from page A' });
    await waitForTasks(b, 1, 'page B sees page A\'s task');
    await mutate(b, { tag: 'CreateTask', id: 't2', description: 'from page B' });
    await waitForTasks(a, 2, 'page A sees page B\'s task');
    assert.deepEqual(await b.evaluate(() => window.doc.query('SELECT id FROM tasks ORDER BY id')), [{ id: 't1' }, { id: 't2' }]);
    // The reducer's refusal reaches the page that made the mutation.
    const refusal = await b.evaluate(() => window.doc.mutate({ tag: 'ToggleTask', id: 'nope' }).then(() => 'accepted', (e) => e.message));
    assert.match(refusal, /no task with id "nope"/);
    await b.screenshot({ path: path.join(artifacts, 'two-pages.png') });
  } finally {
    server.setOnline(true);
    await context.close();
  }
});

test('data and unsent mutations survive a reload and a browser restart, then reach the server', async () => {
  const docId = newDocId();
  server.setOnline(false);
  let { context, profile } = await launch();
  try {
    let page = await openPage(context, docId);
    for (const [id, description] of [['t1', 'milk'], ['t2', 'eggs'], ['t3', 'bread']]) {
      await mutate(page, { tag: 'CreateTask', id, description });
    }
    await waitForTasks(page, 3, 'offline tasks');
    assert.equal(await page.evaluate(() => window.doc.connectionStatus()), 'offline');

    await page.reload();
    await page.waitForFunction(() => window.sqlsyncReady === true);
    await page.close();
    page = await openPage(context, docId);
    await waitForTasks(page, 3, 'tasks after a reload');

    await context.close();
    ({ context } = await launch(profile));
    page = await openPage(context, docId);
    await waitForTasks(page, 3, 'tasks after a browser restart');
    assert.deepEqual(server.query(docId, TASKS), [], 'nothing reached the server while offline');

    server.setOnline(true);
    await waitFor(() => server.query(docId, TASKS).length === 3, 'the unsent mutations to reach the server');
    assert.deepEqual(server.query(docId, TASKS), [['t1', 'milk', 0], ['t2', 'eggs', 0], ['t3', 'bread', 0]]);
    await page.waitForFunction(() => window.doc.connectionStatus() === 'connected');
    await page.screenshot({ path: path.join(artifacts, 'after-restart.png') });
  } finally {
    server.setOnline(true);
    await context.close();
  }
});

test('closing the owner page loses nothing and the other page takes over', async () => {
  const { context } = await launch();
  try {
    const docId = newDocId();
    const owner = await openPage(context, docId);
    const other = await openPage(context, docId);
    await mutate(owner, { tag: 'CreateTask', id: 't1', description: 'before the owner left' });
    await waitForTasks(other, 1, 'the other page before the owner closes');
    await owner.close();

    await mutate(other, { tag: 'CreateTask', id: 't2', description: 'after the owner left' });
    await waitForTasks(other, 2, 'the other page after taking over');
    await waitFor(() => server.query(docId, TASKS).length === 2, 'the new owner to sync with the server');

    const third = await openPage(context, docId);
    await waitForTasks(third, 2, 'a new page served by the new owner');
    await other.screenshot({ path: path.join(artifacts, 'owner-closed.png') });
  } finally {
    await context.close();
  }
});

test('connectionEnabled: false opens the document offline, and a page taking over keeps the choice in force', async () => {
  const { context } = await launch();
  const statusOf = (page) => page.evaluate(() => window.doc.connectionStatus());
  const waitForStatus = (page, status) =>
    page.waitForFunction((s) => window.doc.connectionStatus() === s, status, { timeout: 10_000 });
  try {
    const docId = newDocId();
    const first = await openPage(context, docId, { connectionEnabled: false });
    assert.equal(await statusOf(first), 'disabled');
    await mutate(first, { tag: 'CreateTask', id: 't1', description: 'kept local' });
    // Joining with the default (on) takes the document's current choice.
    const second = await openPage(context, docId);
    await waitForTasks(second, 1, 'the second page');
    await waitForStatus(second, 'disabled');

    await first.close();
    await mutate(second, { tag: 'CreateTask', id: 't2', description: 'after the owner left' });
    await waitForTasks(second, 2, 'the second page after taking over');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await statusOf(second), 'disabled', 'the new owner inherited "off"');
    assert.deepEqual(server.query(docId, TASKS), [], 'nothing synced while the connection is off');

    await second.evaluate(() => window.doc.setConnectionEnabled(true));
    await waitFor(() => server.query(docId, TASKS).length === 2, 'the mutations to reach the server once enabled');
    await waitForStatus(second, 'connected');

    // A choice made at run time is inherited the same way.
    const third = await openPage(context, docId, { connectionEnabled: true });
    await waitForStatus(third, 'connected');
    await second.evaluate(() => window.doc.setConnectionEnabled(false));
    await waitForStatus(third, 'disabled');
    await second.close();
    await mutate(third, { tag: 'CreateTask', id: 't3', description: 'third page, offline' });
    await waitForTasks(third, 3, 'the third page after taking over');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await statusOf(third), 'disabled', 'the new owner inherited the run-time "off"');
    assert.equal(server.query(docId, TASKS).length, 2, 'the third task stayed local');
  } finally {
    await context.close();
  }
});

test('a reducer stuck in a loop is stopped by the watchdog and the document keeps working', async () => {
  const { context } = await launch();
  try {
    const page = await testPage(context);
    const outcome = await page.evaluate(async (docId) => {
      const doc = await window.sqlsync.openDocument({ docId, reducerUrl: '/fixtures/loop.wasm', watchdogMs: 3000 });
      const started = performance.now();
      const refusal = await doc.mutate({ tag: 'Anything' }).then(() => 'accepted', (e) => e.message);
      const stoppedAfterMs = performance.now() - started;
      const rows = await doc.query('SELECT 1 AS one');
      await doc.close();
      return { refusal, stoppedAfterMs, rows };
    }, newDocId());
    assert.match(outcome.refusal, /stopped answering for 3000 ms .* was restarted/);
    assert.ok(outcome.stoppedAfterMs < 15_000, `stopped after ${outcome.stoppedAfterMs} ms`);
    assert.deepEqual(outcome.rows, [{ one: 1 }], 'the restarted worker serves the document');
  } finally {
    await context.close();
  }
});

test('beginOpenDocument: calls made before the open run after it; a failed open or a malformed id fails them', async () => {
  const { context } = await launch();
  try {
    const page = await testPage(context);
    const outcome = await page.evaluate(async ({ docId, failingId, sql }) => {
      const { document, ready } = window.sqlsync.beginOpenDocument({ docId, reducerUrl: '/fixtures/todo.sql' });
      const seen = [];
      const firstRows = new Promise((resolve) => document.subscribe(sql, [], (rows) => { seen.push(rows.length); resolve(); }));
      const mutated = document.mutate({ tag: 'CreateTask', id: 'early', description: 'before the open' });
      const queried = document.query(sql);
      const openedFirst = await Promise.race([ready.then(() => true), firstRows.then(() => false)]);
      await Promise.all([ready, mutated, firstRows]);
      const rows = await queried;
      while (seen.at(-1) !== 1) await new Promise((resolve) => setTimeout(resolve, 20));
      await document.close();

      const failing = window.sqlsync.beginOpenDocument({ docId: failingId, reducerUrl: '/fixtures/missing.sql' });
      const failures = await Promise.all([
        failing.ready.then(() => 'opened', (e) => e.message),
        failing.document.query('SELECT 1').then(() => 'answered', (e) => e.message),
        new Promise((resolve) => failing.document.subscribe('SELECT 1', [], () => resolve('rows'), (e) => resolve(e.message))),
      ]);
      const malformed = { docId: 'not-a-document-id', reducerUrl: '/fixtures/todo.sql' };
      let thrown = 'nothing thrown';
      try {
        window.sqlsync.beginOpenDocument(malformed);
      } catch (e) {
        thrown = e.message;
      }
      const rejected = await window.sqlsync.openDocument(malformed).then(() => 'opened', (e) => e.message);
      return { openedFirst, rows, seen, failures, thrown, rejected };
    }, { docId: newDocId(), failingId: newDocId(), sql: TASKS });
    assert.equal(outcome.openedFirst, true, 'no rows before the document was open');
    // The queued calls ran in order: the subscription (no task yet), the
    // mutation, the query (one task); the subscription then followed.
    assert.equal(outcome.seen[0], 0, 'first rows of the subscription');
    assert.equal(outcome.seen.at(-1), 1, 'the subscription followed the mutation');
    assert.equal(outcome.rows.length, 1, 'the query ran after the mutation');
    const [open, query, subscription] = outcome.failures;
    assert.match(open, /missing\.sql/);
    assert.equal(query, open, 'a queued query fails with the open\'s error');
    assert.equal(subscription, open, 'a queued subscription fails with the open\'s error');
    assert.match(outcome.thrown, /document id must be 32 lowercase hex characters, got 'not-a-document-id'/);
    assert.equal(outcome.rejected, outcome.thrown, 'openDocument rejects with the same error');
  } finally {
    await context.close();
  }
});
