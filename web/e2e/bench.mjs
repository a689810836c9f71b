// Browser benchmarks (docs/benchmarks.md, "Browser"), run by
// `scripts/web-e2e.sh --bench`: drives the demo's bench.html in Chromium.
//   cold start: a fresh browser context (empty HTTP cache and OPFS) loads the
//     page; time from navigation start to the first result of the list query,
//     and where it goes (the document's startupMarks, median per mark);
//   mutate -> useQuery re-render: 1,000 CreateTask mutations in sequence,
//     each timed from the mutate() call to the commit of the React render
//     showing it (p50/p95), with the demo's list query (its result grows to
//     1,000 rows) and with a one-row count query.
// Each figure is measured local-only (no server) and synced to the server.
// Options: --runs N (cold starts per variant, default 5), --mutations N,
// --local-only (skip the synced variant), --cold-only (skip the re-render
// runs), --each (print every cold start's marks), --chromium-arg ARG (repeatable; an extra Chromium flag, for
// experiments such as --js-flags=--no-wasm-lazy-compilation).
// Every figure is printed with the machine's 1-minute load average before
// and after it: on a shared machine the figures follow the load. First it
// prints two floors: Chromium's (how long an empty worker takes to start in
// a fresh context, a step every cold start pays) and the core's (the least a
// page can do to show rows from the core in a worker: core-floor.html); each
// cold start is also given as a multiple of the core's floor.
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { launchBrowser, screenshot, serverUrl } from './helpers.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    mutations: { type: 'string', default: '1000' },
    'local-only': { type: 'boolean', default: false },
    'cold-only': { type: 'boolean', default: false },
    each: { type: 'boolean', default: false },
    'chromium-arg': { type: 'string', multiple: true, default: [] },
  },
});
const runs = Number(values.runs);
const mutations = Number(values.mutations);

function load() {
  return loadavg()[0].toFixed(1);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

async function benchPage(browser, { server, n, query: sql = 'list' }) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const query = new URLSearchParams({ n: String(n), query: sql });
  if (server === 'none') query.set('server', 'none');
  await page.goto(`${serverUrl}/bench.html?${query}`);
  await page.waitForFunction(() => window.sqlsyncBench, null, { timeout: 600_000, polling: 200 });
  const result = await page.evaluate(() => window.sqlsyncBench);
  if (result.error) throw new Error(`bench page (${server}): ${result.error}`);
  return { context, page, result };
}

// Milliseconds from `new Worker()` to the first statement of an empty
// worker (a blob: script, nothing to fetch) on an idle page of a fresh context.
async function emptyWorkerStartMs(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${serverUrl}/healthz`);
  const ms = await page.evaluate(async () => {
    const script = 'postMessage(performance.timeOrigin + performance.now())';
    const url = URL.createObjectURL(new Blob([script], { type: 'text/javascript' }));
    const createdAt = performance.timeOrigin + performance.now();
    const worker = new Worker(url);
    const startedAt = await new Promise((resolve) => (worker.onmessage = (event) => resolve(event.data)));
    worker.terminate();
    return startedAt - createdAt;
  });
  await context.close();
  return ms;
}

// The floor of a cold start here (web/demo/core-floor.html): navigation
// start -> rows of the list query, for a page that only compiles the core,
// starts a worker and opens a memory document with a SQL reducer there.
async function coreFloor(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${serverUrl}/core-floor.html`);
  await page.waitForFunction(() => window.sqlsyncFloor, null, { timeout: 60_000, polling: 50 });
  const result = await page.evaluate(() => window.sqlsyncFloor);
  await context.close();
  if (result.error) throw new Error(`core-floor.html: ${result.error}`);
  return result;
}

const browser = await launchBrowser(values['chromium-arg']);
try {
  const floorLoad = load();
  const workerStarts = [];
  for (let i = 0; i < runs; i++) workerStarts.push(await emptyWorkerStartMs(browser));
  console.log(
    `Chromium's floor: an empty worker starts ${median(workerStarts).toFixed(1)} ms after new Worker() ` +
      `(median of ${runs} fresh contexts; all: ${workerStarts.map((ms) => ms.toFixed(0)).join(', ')}; ` +
      `load ${floorLoad} -> ${load()})`,
  );
  const coreFloorLoad = load();
  const floors = [];
  for (let i = 0; i < runs; i++) {
    const { ms, marks } = await coreFloor(browser);
    floors.push(ms);
    if (values.each) {
      const line = marks.map(([name, at]) => `${at.toFixed(0)} ${name}`);
      console.log(`  run ${i + 1}: ${ms.toFixed(0)} ms: ${line.join('; ')}`);
    }
  }
  const floor = median(floors);
  console.log(
    `the core's floor: a page that only runs the list query on a memory document in a worker ` +
      `shows its rows ${floor.toFixed(1)} ms after navigation start (median of ${runs} fresh contexts; ` +
      `all: ${floors.map((ms) => ms.toFixed(0)).join(', ')}; load ${coreFloorLoad} -> ${load()})`,
  );
  for (const server of values['local-only'] ? ['none'] : ['none', 'origin']) {
    const label = server === 'none' ? 'local only' : 'synced to the server';
    const loadBefore = load();
    const cold = [];
    const open = [];
    const firstResult = [];
    const startup = new Map(); // mark name -> { ms: [...], detail }
    for (let i = 0; i < runs; i++) {
      const { context, result } = await benchPage(browser, { server, n: 0 });
      cold.push(result.coldStartMs);
      open.push(result.openMs);
      firstResult.push(result.openToFirstResultMs);
      if (values.each) {
        const line = result.startup.map(({ name, ms, detail }) => `${ms.toFixed(0)} ${name}${detail ? ` (${detail})` : ''}`);
        console.log(`  run ${i + 1}: ${result.coldStartMs.toFixed(0)} ms: ${line.join('; ')}`);
      }
      for (const { name, ms, detail } of result.startup) {
        if (!startup.has(name)) startup.set(name, { ms: [], detail });
        startup.get(name).ms.push(ms);
      }
      await context.close();
    }
    console.log(
      `cold start to first query result (${label}, median of ${runs}): ${median(cold).toFixed(1)} ms ` +
        `(page script to document open: ${median(open).toFixed(1)} ms, to first result: ${median(firstResult).toFixed(1)} ms; ` +
        `all: ${cold.map((c) => c.toFixed(0)).join(', ')}; ${(median(cold) / floor).toFixed(2)}x the core's floor; ` +
        `load ${loadBefore} -> ${load()})`,
    );
    console.log(`  where it goes (ms since navigation start, median of ${runs}):`);
    const marks = [...startup].map(([name, { ms, detail }]) => ({ name, detail, at: median(ms) }));
    marks.sort((a, b) => a.at - b.at);
    let previous = 0;
    for (const { name, detail, at } of marks) {
      const step = `+${(at - previous).toFixed(0)}`.padStart(6);
      console.log(`  ${at.toFixed(0).padStart(6)} ${step}  ${name}${detail ? ` (${detail})` : ''}`);
      previous = at;
    }

    for (const sql of values['cold-only'] ? [] : ['list', 'count']) {
      const before = load();
      const { context, page, result } = await benchPage(browser, { server, n: mutations, query: sql });
      const r = result.renderLatencyMs;
      console.log(
        `mutate -> useQuery re-render over ${mutations} mutations (${label}, ${sql} query): ` +
          `p50 ${r.p50} ms, p95 ${r.p95} ms, mean ${r.mean} ms, max ${r.max} ms (load ${before} -> ${load()})`,
      );
      await screenshot(page, `bench-${server === 'none' ? 'local' : 'synced'}-${sql}`, { fullPage: false });
      await context.close();
    }
  }
} finally {
  await browser.close();
}
