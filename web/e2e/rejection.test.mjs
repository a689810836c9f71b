// A mutation the server rejects: bob renames, while offline, a task alice has
// deleted meanwhile. Locally the rename succeeds; the server's reducer rejects
// it ("RenameTask: no task with id ..."), bob sees an error toast, and the
// task does not linger in his list.
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
} from './helpers.mjs';

const browser = useBrowser();

test('a mutation the server rejects shows an error and does not linger', async () => {
  const { alice, bob, docId, errors } = await twoUsers(browser());
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
  assert.deepEqual(errors, []);
  await alice.context().close();
  await bob.context().close();
});
