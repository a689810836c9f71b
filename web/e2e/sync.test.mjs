// Two users on one list: live sync between browser contexts, offline edits
// that survive a reload and reach everyone on reconnect, and a mutation the
// server rejects: bob renames, while offline, a task alice has deleted
// meanwhile. Locally the rename succeeds; the server's reducer rejects it
// ("RenameTask: no task with id ..."), bob sees an error toast, and the task
// does not linger in his list.
import assert from 'node:assert/strict';
import {
  addTask,
  descriptions,
  eventually,
  goOffline,
  goOnline,
  screenshot,
  serverQuery,
  task,
  useTwoUsers,
  waitForList,
  waitForStatus,
} from './helpers.mjs';

const twoUsersTest = useTwoUsers();

twoUsersTest('a task added in one browser context appears in the other within 2 s', async ({ alice, bob, docId }, t) => {
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
  t.diagnostic(`the task reached the other context in ${elapsed} ms`);
});

twoUsersTest(
  'offline edits survive a reload and reach the other context and the server on reconnect',
  async ({ alice, bob, docId }) => {
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
  },
);

twoUsersTest('a mutation the server rejects shows an error and does not linger', async ({ alice, bob, docId }) => {
  await addTask(alice, 'doomed');
  await addTask(alice, 'kept');
  await task(bob, 'kept').waitFor({ timeout: 2_000 });

  await goOffline(bob);
  await task(alice, 'doomed').getByTestId('delete').click();
  await eventually(async () => (await serverQuery(docId, 'SELECT id FROM tasks')).length === 1, {
    message: 'the delete reaching the server',
  });
  await task(bob, 'doomed').getByTestId('rename').click();
  await bob.getByTestId('rename-input').fill('renamed while offline');
  await bob.getByTestId('rename-input').press('Enter');
  await task(bob, 'renamed while offline').waitFor();
  assert.equal(await bob.getByTestId('toast').count(), 0);

  await goOnline(bob);
  const toast = bob.getByTestId('toast');
  await toast.first().waitFor({ timeout: 5_000 });
  assert.match(await toast.first().textContent(), /The server rejected a change: RenameTask: no task with id/);
  await task(bob, 'renamed while offline').waitFor({ state: 'detached', timeout: 5_000 });
  assert.deepEqual(await descriptions(bob), ['kept']);
  await screenshot(bob, 'rejection-toast');

  assert.deepEqual(await serverQuery(docId, 'SELECT description FROM tasks'), [{ description: 'kept' }]);
  assert.equal(await alice.getByTestId('toast').count(), 0);
  assert.deepEqual(await descriptions(alice), ['kept']);
});
