// The benchmark page's React part, loaded by bench.tsx (the entry, which
// starts opening the document first). See bench.tsx for what it measures.
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { SQLSyncProvider } from '@sqlsync/react';
import { documentOptions } from './config';
import { TASKS_SQL, useDocument, useMutate, useQuery } from './todo';

export interface BenchResult {
  mutations: number;
  query: string;
  coldStartMs: number;
  /** From this script's start to the document being open (worker, core, reducer, OPFS). */
  openMs: number;
  openToFirstResultMs: number;
  /**
   * The document's startup marks (SQLSyncDocument.startupMarks) in ms since
   * navigation start, then the page's own: its script started, its React
   * part loaded, the first result, and when the page and the core finished
   * downloading.
   */
  startup: { name: string; ms: number; detail?: string }[];
  /** Null when n=0 (a cold-start-only run). */
  renderLatencyMs: { p50: number; p95: number; max: number; mean: number } | null;
}

declare global {
  interface Window {
    sqlsyncBench?: BenchResult | { error: string };
  }
}

// When this chunk ran: React and the app's code were loaded and evaluated.
const reactLoadedAt = performance.now();
const params = new URLSearchParams(window.location.search);
const mutations = Number(params.get('n') ?? '1000');
const queryName = params.get('query') === 'count' ? 'count' : 'list';
const QUERIES = { list: TASKS_SQL, count: 'SELECT count(*) AS n FROM tasks' };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

// The number of tasks a result shows.
function taskCount(rows: Record<string, unknown>[]): number {
  return queryName === 'count' ? Number(rows[0]?.n ?? 0) : rows.length;
}

function Bench({ docId, scriptStart }: { docId: string; scriptStart: number }) {
  const tasks = useQuery(QUERIES[queryName]);
  const mutate = useMutate();
  const document = useDocument();
  const openAt = useRef<number | null>(null);
  const [result, setResult] = useState<BenchResult | { error: string } | null>(null);
  const firstResultAt = useRef<number | null>(null);
  // The render the current mutation waits for: the first with `count` rows.
  const waiting = useRef<{ count: number; resolve: (at: number) => void } | null>(null);
  const rows = tasks.rows ?? [];

  const count = taskCount(rows);

  useLayoutEffect(() => {
    const now = performance.now();
    if (document && openAt.current === null) openAt.current = now;
    if (tasks.state === 'success' && firstResultAt.current === null) firstResultAt.current = now;
    if (waiting.current && count >= waiting.current.count) {
      waiting.current.resolve(now);
      waiting.current = null;
    }
  });

  const started = tasks.state === 'success';
  useEffect(() => {
    if (!started) return;
    const run = async () => {
      const base = count;
      const latencies: number[] = [];
      for (let i = 0; i < mutations; i++) {
        const rendered = new Promise<number>((resolve) => (waiting.current = { count: base + i + 1, resolve }));
        const start = performance.now();
        await mutate({ tag: 'CreateTask', id: `bench-${i}`, description: `task ${i}` });
        latencies.push((await rendered) - start);
      }
      latencies.sort((a, b) => a - b);
      const first = firstResultAt.current ?? NaN;
      const startup = (document?.startupMarks ?? []).map(({ name, at, detail }) => ({
        name,
        ms: round(at - performance.timeOrigin),
        ...(detail !== undefined ? { detail } : {}),
      }));
      startup.push(
        { name: 'page script started', ms: round(scriptStart) },
        { name: 'React part loaded', ms: round(reactLoadedAt) },
        { name: 'first result', ms: round(first) },
      );
      // When the page and the core finished downloading (Navigation and
      // Resource Timing), to tell waiting on the network from a busy thread.
      const navigation = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
      if (navigation !== undefined) startup.push({ name: 'page downloaded', ms: round(navigation.responseEnd) });
      for (const entry of performance.getEntriesByType('resource') as PerformanceResourceTiming[]) {
        if (entry.name.endsWith('/sqlsync_core.wasm')) {
          startup.push({ name: 'core downloaded (by the page)', ms: round(entry.responseEnd) });
        }
      }
      setResult({
        mutations,
        query: queryName,
        startup,
        coldStartMs: round(first),
        openMs: round((openAt.current ?? NaN) - scriptStart),
        openToFirstResultMs: round(first - scriptStart),
        renderLatencyMs:
          latencies.length === 0
            ? null
            : {
                p50: round(percentile(latencies, 50)),
                p95: round(percentile(latencies, 95)),
                max: round(latencies[latencies.length - 1]),
                mean: round(latencies.reduce((a, b) => a + b, 0) / latencies.length),
              },
      });
    };
    run().catch((e: unknown) => setResult({ error: e instanceof Error ? e.message : String(e) }));
    // Runs once, when the first result arrives.
  }, [started]);

  useEffect(() => {
    if (result) window.sqlsyncBench = result;
  }, [result]);

  return (
    <main>
      <h1>sqlsync browser benchmark</h1>
      <p>
        list {docId}: {tasks.state}, {count} tasks
      </p>
      {tasks.state === 'error' && <p className="error">{tasks.error.message}</p>}
      {result && <pre id="result">{JSON.stringify(result, null, 2)}</pre>}
      <ul>
        {rows.map((row, i) => (
          <li key={String(row.id ?? i)}>{String(row.description ?? row.n)}</li>
        ))}
      </ul>
    </main>
  );
}

/** Renders the benchmark of `docId`; `scriptStart`: when the entry script started. */
export function startBench(docId: string, scriptStart: number): void {
  createRoot(document.getElementById('root')!).render(
    <SQLSyncProvider options={documentOptions(docId)}>
      <Bench docId={docId} scriptStart={scriptStart} />
    </SQLSyncProvider>,
  );
}
