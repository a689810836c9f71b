// Two tabs of one browser context share one replica: edits show in the other
// tab at once, also with the network off, and closing the tab that owns the
// storage leaves the other one working.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addTask,
  createList,
  descriptions,
  eventually,
  goOffline,
  goOnline,
  openList,
  screenshot,
  serverQuery,
  task,
  useBrowser,
  waitForStatus,
  watchErrors,
} from './helpers.mjs';

const browser = useBrowser();

test('two tabs share state immediately, offline too, and survive closing the owning tab', async () => {
  const context = await browser().newContext();
  const first = await context.newPage();
  const errors = watchErrors(first, 'first tab');
  // The first tab to open the list owns its storage.
  const docId = await createList(first);
  const second = await context.newPage();
  errors.push(...watchErrors(second, 'second tab'));
  await openList(second, docId);
  await waitForStatus(second, 'connected');

  await goOffline(first);
  await waitForStatus(second, 'disabled');
  await addTask(first, 'from the first tab');
  await task(second, 'from the first tab').waitFor({ timeout: 1_000 });
  await addTask(second, 'from the second tab');
  await task(first, 'from the second tab').waitFor({ timeout: 1_000 });
  await screenshot(second, 'tabs-offline-second');

  await first.close();
  await addTask(second, 'after the owner closed');
  await task(second, 'after the owner closed').getByTestId('toggle').click();
  await eventually(async () => (await task(second, 'after the owner closed').getAttribute('data-completed')) === 'true', {
    message: 'the toggle after the owner closed',
  });
  assert.deepEqual(await descriptions(second), ['from the first tab', 'from the second tab', 'after the owner closed']);

  // A new tab joins the surviving one, and everything reaches the server.
  const third = await context.newPage();
  errors.push(...watchErrors(third, 'third tab'));
  await openList(third, docId);
  assert.deepEqual(await descriptions(third), await descriptions(second));
  // Whether the new owner inherited "offline" is the client's choice: make sure it syncs.
  if ((await second.getByTestId('status').getAttribute('data-status')) === 'disabled') await goOnline(second);
  const onServer = await eventually(async () => {
    const rows = await serverQuery(docId, 'SELECT description FROM tasks ORDER BY rowid');
    return rows.length === 3 && rows.map((r) => r.description);
  });
  assert.deepEqual(onServer, ['from the first tab', 'from the second tab', 'after the owner closed']);
  await screenshot(third, 'tabs-after-owner-closed');
  assert.deepEqual(errors, []);
  await context.close();
});
