// Shared pieces of the end-to-end tests: Chromium, the demo's pages, the
// server's HTTP API. scripts/web-e2e.sh starts the server and sets
//   SQLSYNC_E2E_URL        the server (serving web/demo/dist), e.g. http://127.0.0.1:41234
//   SQLSYNC_E2E_ARTIFACTS  where screenshots go (build/e2e-artifacts)
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

export const serverUrl = process.env.SQLSYNC_E2E_URL ?? assert.fail('SQLSYNC_E2E_URL is not set: run scripts/web-e2e.sh');
const artifacts = process.env.SQLSYNC_E2E_ARTIFACTS ?? path.resolve('build/e2e-artifacts');
mkdirSync(artifacts, { recursive: true });

// Flags from TOOLCHAIN.md: without the background-networking ones Chromium
// floods the closed network with refused connections.
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches Chromium with chromiumArgs plus `extraArgs` (benchmark experiments). */
export function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.SQLSYNC_CHROMIUM ?? '/usr/bin/chromium',
    args: [...chromiumArgs, ...extraArgs],
  });
}

/**
 * Launches Chromium before the calling file's tests and closes it after them.
 * Returns a function that gives the browser once the tests run.
 */
export function useBrowser() {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });
  return () => browser;
}

/**
 * Alice creates a list in one context of `browser`, Bob opens it in another;
 * returns once both are connected, with the errors their pages report.
 */
export async function twoUsers(browser) {
  const alice = await (await browser.newContext()).newPage();
  const bob = await (await browser.newContext()).newPage();
  const errors = [...watchErrors(alice, 'alice'), ...watchErrors(bob, 'bob')];
  const docId = await createList(alice);
  await openList(bob, docId);
  await waitForStatus(alice, 'connected');
  await waitForStatus(bob, 'connected');
  return { alice, bob, docId, errors };
}

/**
 * Launches Chromium for the calling file's tests (useBrowser) and returns
 * `twoUsersTest(name, body)`: it declares a test in which Alice and Bob share
 * a new list (twoUsers), runs `body({ alice, bob, docId }, t)`, then fails on
 * any error their pages reported and closes both contexts.
 */
export function useTwoUsers() {
  const browser = useBrowser();
  return (name, body) =>
    test(name, async (t) => {
      const { alice, bob, docId, errors } = await twoUsers(browser());
      await body({ alice, bob, docId }, t);
      assert.deepEqual(errors, []);
      await alice.context().close();
      await bob.context().close();
    });
}

/** Saves a screenshot (by default of the full page) as <artifacts>/<name>.png. */
export async function screenshot(page, name, { fullPage = true } = {}) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage });
}

/** Fails the test on any error the page logs or throws, with the page's own words. */
export function watchErrors(page, label) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(`${label}: uncaught ${e.message}`));
  page.on('console', (m) => {
    // Refused connections while the server is unreachable are expected noise.
    if (m.type() === 'error' && !/WebSocket|Failed to load resource/.test(m.text())) {
      errors.push(`${label}: console.error ${m.text()}`);
    }
  });
  return errors;
}

/** Opens the home page and clicks "New list"; returns the list's document id. */
export async function createList(page) {
  await page.goto(`${serverUrl}/`);
  await page.getByTestId('new-list').click();
  await page.waitForURL(/#\/list\/[0-9a-f]{32}$/);
  const docId = /#\/list\/([0-9a-f]{32})$/.exec(page.url())[1];
  await waitForList(page);
  return docId;
}

export function listUrl(docId) {
  return `${serverUrl}/#/list/${docId}`;
}

export async function openList(page, docId) {
  await page.goto(listUrl(docId));
  await waitForList(page);
}

/** Waits until the list query has its first result. */
export async function waitForList(page) {
  await page.locator('[data-testid="tasks"][data-state="success"]').waitFor({ state: 'attached', timeout: 15_000 });
}

export async function addTask(page, description) {
  await page.getByTestId('new-task').fill(description);
  await page.getByTestId('add-task').click();
  await task(page, description).waitFor();
}

/** The list item showing `description` (exact text). */
export function task(page, description) {
  return page.getByTestId('task').filter({ has: page.getByTestId('description').getByText(description, { exact: true }) });
}

export async function descriptions(page) {
  return page.getByTestId('description').allTextContents();
}

/** Waits for the badge to show `status` (connected, connecting, offline, disabled). */
export async function waitForStatus(page, status, timeout = 10_000) {
  await page.locator(`[data-testid="status"][data-status="${status}"]`).waitFor({ timeout });
}

export async function goOffline(page) {
  await page.getByTestId('connection-toggle').click();
  await waitForStatus(page, 'disabled');
}

export async function goOnline(page) {
  await page.getByTestId('connection-toggle').click();
  await waitForStatus(page, 'connected');
}

/** Rows of `sql` on the server's copy of the document (GET /docs/{id}/query). */
export async function serverQuery(docId, sql) {
  const response = await fetch(`${serverUrl}/docs/${docId}/query?sql=${encodeURIComponent(sql)}`);
  const body = await response.text();
  assert.equal(response.status, 200, `GET /docs/${docId}/query: HTTP ${response.status}: ${body}`);
  const { columns, rows } = JSON.parse(body);
  return rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]])));
}

/** Polls `probe` until it returns a truthy value or `timeout` ms pass; returns the value. */
export async function eventually(probe, { timeout = 10_000, interval = 100, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) assert.fail(`${message} not met within ${timeout} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, interval));
  }
}
