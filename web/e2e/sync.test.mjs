// Two users on one list: live sync between browser contexts, and offline
// edits that survive a reload and reach everyone on reconnect.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addTask,
  descriptions,
  eventually,
  goOffline,
  goOnline,
  screenshot,
  serverQuery,
  task,
  twoUsers,
  useBrowser,
  waitForList,
  waitForStatus,
} from './helpers.mjs';

const browser = useBrowser();

test('a task added in one browser context appears in the other within 2 s', async (t) => {
  const { alice, bob, docId, errors } = await twoUsers(browser());

  const started = Date.now();
  await addTask(alice, 'buy milk');
  await task(bob, 'buy milk').waitFor({ timeout: 2_000 });
  const elapsed = Date.now() - started;

  await addTask(bob, 'bake bread');
  await task(alice, 'bake bread').waitFor({ timeout: 2_000 });
  await task(alice, 'buy milk').getByTestId('toggle').click();
  await eventually(async () => (await task(bob, 'buy milk').getAttribute('data-completed')) === 'true', {
    timeout: 2_000,
    message: 'the toggle reaching bob',
  });
  assert.deepEqual(await descriptions(bob), await descriptions(alice));
  await screenshot(alice, 'sync-alice');
  await screenshot(bob, 'sync-bob');

  const onServer = await eventually(async () => {
    const rows = await serverQuery(docId, 'SELECT description, completed FROM tasks ORDER BY description');
    return rows.length === 2 && rows;
  });
  assert.deepEqual(onServer, [
    { description: 'bake bread', completed: 0 },
    { description: 'buy milk', completed: 1 },
  ]);
  assert.deepEqual(errors, []);
  t.diagnostic(`the task reached the other context in ${elapsed} ms`);
  await alice.context().close();
  await bob.context().close();
});

test('offline edits survive a reload and reach the other context and the server on reconnect', async () => {
  const { alice, bob, docId, errors } = await twoUsers(browser());
  await addTask(alice, 'before going offline');
  await task(bob, 'before going offline').waitFor({ timeout: 2_000 });

  await goOffline(alice);
  for (const d of ['offline one', 'offline two', 'offline three']) await addTask(alice, d);
  // Nothing leaves the browser while offline.
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(await serverQuery(docId, 'SELECT description FROM tasks'), [{ description: 'before going offline' }]);
  assert.deepEqual(await descriptions(bob), ['before going offline']);

  await alice.reload();
  await waitForList(alice);
  assert.deepEqual(await descriptions(alice), ['before going offline', 'offline one', 'offline two', 'offline three']);
  await screenshot(alice, 'offline-after-reload');

  // The demo restores "offline" after a reload; reconnect.
  await waitForStatus(alice, 'disabled');
  await goOnline(alice);
  await task(bob, 'offline three').waitFor({ timeout: 5_000 });
  assert.deepEqual(await descriptions(bob), ['before going offline', 'offline one', 'offline two', 'offline three']);
  const onServer = await eventually(async () => {
    const rows = await serverQuery(docId, 'SELECT description FROM tasks ORDER BY rowid');
    return rows.length === 4 && rows.map((r) => r.description);
  });
  assert.deepEqual(onServer, ['before going offline', 'offline one', 'offline two', 'offline three']);
  await screenshot(bob, 'offline-bob-after-reconnect');
  assert.deepEqual(errors, []);
  await alice.context().close();
  await bob.context().close();
});
