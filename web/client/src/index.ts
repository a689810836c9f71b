// @sqlsync/client: open a sqlsync document in the browser. The document
// lives in a dedicated worker (dist/worker.js) running the C++ core on
// WebAssembly, persisted in OPFS and shared by every tab of the origin;
// see docs/browser.md.

import { compileCore } from './core.js';
import { isDocumentId } from './ids.js';
import { workerName, type Call, type CallResult, type ConnectionStatus, type OpenParams, type TabEvent, type TabRequest } from './protocol.js';
import { paramsToJson } from './rows.js';
import { StartupMarks, type StartupMark } from './timing.js';

export type { ConnectionStatus } from './protocol.js';
export type { StartupMark } from './timing.js';
export { newDocumentId } from './ids.js';

export interface OpenOptions {
  /** 32 lowercase hex characters (newDocumentId()); may be born offline. */
  docId: string;
  /** The reducer: a .wasm module (ABI v1) or a .sql reducer, fetched once per open. */
  reducerUrl: string;
  /** http(s)://host:port of sqlsync-server; omit for a local-only document. */
  serverUrl?: string;
  /** Sent as ?token= on the sync WebSocket. */
  token?: string;
  /**
   * Whether to sync with the server from the start (default true); false
   * opens the document with the connection off (status 'disabled') until
   * setConnectionEnabled(true). The choice belongs to the document, not the
   * tab: it applies when this tab's worker opens the document; a tab that
   * joins a document already open in another tab gets that tab's current
   * choice; and when the tab that holds the document closes, the tab taking
   * over keeps the choice that was in force.
   */
  connectionEnabled?: boolean;
  /**
   * Directory serving this package's dist/ files (worker.js, sqlsync_core.js,
   * sqlsync_core.wasm, ...). Default: the directory of this module.
   */
  coreUrl?: string;
  /**
   * The worker is restarted when it does not answer for this long (a
   * reducer stuck in a loop); calls in flight then fail. Default 15000 ms.
   */
  watchdogMs?: number;
}

/** A mutation the server's reducer refused (LSN in this replica's timeline). */
export interface Rejection {
  lsn: number;
  message: string;
}

export interface MutationHandle {
  /**
   * Resolves once the server applied the mutation; rejects with
   * Error(message) if its reducer refused it. Never settles for a
   * local-only document.
   */
  confirmed: Promise<void>;
}

export interface SQLSyncDocument {
  readonly docId: string;
  /** Applies `mutation` (JSON-encoded) locally; rejects with the reducer's error. */
  mutate(mutation: unknown): Promise<MutationHandle>;
  /** A read-only query of the local state (unsent mutations included). */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Calls onRows now and whenever a table the query reads changes; returns unsubscribe. */
  subscribe<Row = Record<string, unknown>>(
    sql: string,
    params: unknown[],
    onRows: (rows: Row[]) => void,
    onError?: (e: Error) => void,
  ): () => void;
  onRejection(cb: (r: Rejection) => void): () => void;
  connectionStatus(): ConnectionStatus;
  onConnectionStatus(cb: (s: ConnectionStatus) => void): () => void;
  setConnectionEnabled(enabled: boolean): void;
  /** Stops this tab's worker; the document stays open in other tabs. */
  close(): Promise<void>;
  /**
   * How opening went, for performance work: named moments in this tab and
   * its worker (openDocument called, worker started, core compiled and
   * instantiated, reducer loaded, OPFS pool opened, document opened, ...),
   * oldest first, in ms since the epoch (subtract performance.timeOrigin for
   * this page's clock). A restarted worker's marks are not added.
   */
  readonly startupMarks: readonly StartupMark[];
}

interface Deferred<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

interface Subscriber {
  call: Extract<Call, { method: 'subscribe' }>;
  onRows(rows: Record<string, unknown>[]): void;
  onError?(e: Error): void;
}

const PING_MS = 2_000;

class BrowserDocument implements SQLSyncDocument {
  private worker!: Worker;
  private nextCall = 1;
  private nextSubscription = 1;
  private readonly calls = new Map<number, Deferred<CallResult>>();
  private readonly subscribers = new Map<number, Subscriber>();
  private readonly unconfirmed = new Map<number, Deferred<void>>();
  private readonly rejectionListeners = new Set<(r: Rejection) => void>();
  private readonly statusListeners = new Set<(s: ConnectionStatus) => void>();
  private status: ConnectionStatus;
  private opening: Deferred<void> | null = null;
  private closing: Deferred<void> | null = null;
  // When the ping still unanswered was sent (null: none outstanding).
  private pingSentAt: number | null = null;
  private pinger: ReturnType<typeof setInterval> | null = null;
  private closed = false;
  private readonly marks = new StartupMarks();

  constructor(
    private readonly params: OpenParams,
    private readonly watchdogMs: number,
  ) {
    this.status = params.serverUrl && params.connectionEnabled !== false ? 'connecting' : 'disabled';
  }

  get docId(): string {
    return this.params.docId;
  }

  get startupMarks(): readonly StartupMark[] {
    return this.marks.marks;
  }

  start(): Promise<void> {
    const started = new Promise<void>((resolve, reject) => (this.opening = { resolve, reject }));
    if (this.marks.marks.length === 0) this.marks.mark('openDocument called');
    this.worker = new Worker(new URL('worker.js', this.params.coreUrl), {
      type: 'module',
      name: workerName(this.params),
    });
    // The page compiles the core while the worker starts, and gives it the
    // module (compiled code is shared, not copied).
    const worker = this.worker;
    compileCore(this.params.coreUrl).then(
      (module) => {
        if (!this.marks.marks.some((mark) => mark.name === 'core compiled')) this.marks.mark('core compiled');
        worker.postMessage({ kind: 'core', module } satisfies TabRequest);
      },
      () => worker.postMessage({ kind: 'core', module: null } satisfies TabRequest),
    );
    this.worker.onmessage = (event: MessageEvent<TabEvent>) => this.onEvent(event.data);
    this.worker.onerror = (event) => {
      this.opening?.reject(new Error(`sqlsync worker failed: ${event.message}`));
      this.opening = null;
    };
    this.pingSentAt = null;
    this.pinger = setInterval(() => this.watch(), PING_MS);
    return started;
  }

  async mutate(mutation: unknown): Promise<MutationHandle> {
    const result = (await this.call({ method: 'mutate', mutation: JSON.stringify(mutation) })) as { lsn: number };
    const confirmed = new Promise<void>((resolve, reject) => this.unconfirmed.set(result.lsn, { resolve, reject }));
    // Apps that ignore `confirmed` must not see unhandled rejections.
    confirmed.catch(() => undefined);
    return { confirmed };
  }

  async query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]> {
    const result = (await this.call({ method: 'query', sql, params: paramsToJson(params) })) as { rows: Row[] };
    return result.rows;
  }

  subscribe<Row = Record<string, unknown>>(
    sql: string,
    params: unknown[],
    onRows: (rows: Row[]) => void,
    onError?: (e: Error) => void,
  ): () => void {
    const subscription = this.nextSubscription++;
    let paramsJson: string;
    try {
      paramsJson = paramsToJson(params);
    } catch (error) {
      queueMicrotask(() => onError?.(error as Error));
      return () => undefined;
    }
    const call = { method: 'subscribe', subscription, sql, params: paramsJson } as const;
    this.subscribers.set(subscription, {
      call,
      onRows: onRows as (rows: Record<string, unknown>[]) => void,
      onError,
    });
    this.call(call).catch((error: Error) => {
      this.subscribers.delete(subscription);
      onError?.(error);
    });
    return () => {
      if (!this.subscribers.delete(subscription) || this.closed) return;
      this.call({ method: 'unsubscribe', subscription }).catch(() => undefined);
    };
  }

  onRejection(cb: (r: Rejection) => void): () => void {
    this.rejectionListeners.add(cb);
    return () => this.rejectionListeners.delete(cb);
  }

  connectionStatus(): ConnectionStatus {
    return this.status;
  }

  onConnectionStatus(cb: (s: ConnectionStatus) => void): () => void {
    this.statusListeners.add(cb);
    return () => this.statusListeners.delete(cb);
  }

  setConnectionEnabled(enabled: boolean): void {
    this.call({ method: 'setConnectionEnabled', enabled }).catch((error: Error) =>
      console.warn(`sqlsync: setConnectionEnabled: ${error.message}`),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pinger !== null) clearInterval(this.pinger);
    const done = new Promise<void>((resolve, reject) => (this.closing = { resolve, reject }));
    this.send({ kind: 'close' });
    // A stuck worker does not answer: do not wait for it forever.
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    this.worker.terminate();
    this.failCalls(new Error('the document was closed'));
  }

  private call(call: Call): Promise<CallResult> {
    if (this.closed) return Promise.reject(new Error('the document is closed'));
    const id = this.nextCall++;
    const result = new Promise<CallResult>((resolve, reject) => this.calls.set(id, { resolve, reject }));
    this.send({ kind: 'call', id, call });
    return result;
  }

  private send(request: TabRequest): void {
    this.worker.postMessage(request);
  }

  private onEvent(event: TabEvent): void {
    switch (event.kind) {
      case 'opened':
        if (this.opening !== null && !this.marks.marks.some((mark) => mark.name === 'document open')) {
          this.marks.marks.push(...event.marks);
          this.marks.mark('document open');
          this.marks.marks.sort((a, b) => a.at - b.at);
        }
        this.opening?.resolve();
        this.opening = null;
        break;
      case 'openFailed':
        this.opening?.reject(new Error(event.error));
        this.opening = null;
        if (this.pinger !== null) clearInterval(this.pinger);
        this.worker.terminate();
        this.closed = true;
        // Calls made before the open (beginOpenDocument) fail with its error.
        this.failCalls(new Error(event.error));
        break;
      case 'reply': {
        const call = this.calls.get(event.id);
        this.calls.delete(event.id);
        if (event.ok) call?.resolve(event.value);
        else call?.reject(new Error(event.error));
        break;
      }
      case 'rows':
        this.subscribers.get(event.subscription)?.onRows(event.rows);
        break;
      case 'rowsError':
        this.subscribers.get(event.subscription)?.onError?.(new Error(event.error));
        break;
      case 'status':
        // A restarted worker opens with the choice in force, not the initial one.
        this.params.connectionEnabled = event.enabled;
        if (event.status === this.status) break;
        this.status = event.status;
        for (const listener of this.statusListeners) listener(event.status);
        break;
      case 'progress':
        for (const [lsn, waiting] of this.unconfirmed) {
          if (lsn >= event.before) continue;
          this.unconfirmed.delete(lsn);
          waiting.resolve();
        }
        break;
      case 'rejection': {
        this.unconfirmed.get(event.lsn)?.reject(new Error(event.message));
        this.unconfirmed.delete(event.lsn);
        for (const listener of this.rejectionListeners) listener({ lsn: event.lsn, message: event.message });
        break;
      }
      case 'pong':
        this.pingSentAt = null;
        break;
      case 'closed':
        this.closing?.resolve();
        this.closing = null;
        break;
    }
  }

  // A worker that stops answering pings is stuck (a reducer in an endless
  // loop has no budget in the browser): replace it. Measured from the
  // unanswered ping, so timers throttled in a background tab do not count.
  private watch(): void {
    if (this.pingSentAt === null) {
      this.pingSentAt = Date.now();
      this.send({ kind: 'ping' });
    } else if (Date.now() - this.pingSentAt > this.watchdogMs) {
      this.restart();
    }
  }

  private restart(): void {
    console.error(`sqlsync: the worker of ${this.docId} did not answer for ${this.watchdogMs} ms; restarting it`);
    this.worker.terminate();
    this.failCalls(new Error(`the sqlsync worker stopped answering for ${this.watchdogMs} ms (a reducer stuck in a loop?) and was restarted`));
    if (this.pinger !== null) clearInterval(this.pinger);
    this.start().catch((error: Error) => console.error(`sqlsync: restart failed: ${error.message}`));
    for (const subscriber of this.subscribers.values()) {
      this.call(subscriber.call).catch((error: Error) => subscriber.onError?.(error));
    }
  }

  private failCalls(error: Error): void {
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const call of calls) call.reject(error);
  }
}

function directoryUrl(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/** A document on its way to being open (beginOpenDocument). */
export interface OpeningDocument {
  /**
   * Usable at once: its calls (mutate, query, subscribe...) wait in its
   * worker and run as soon as the document is open; if the open fails they
   * fail with its error.
   */
  readonly document: SQLSyncDocument;
  /** Resolves with `document` once it is open; rejects if it cannot be opened. */
  readonly ready: Promise<SQLSyncDocument>;
}

// Documents preloadDocument started, by optionsIdentity, until taken.
const preloaded = new Map<string, OpeningDocument>();

// Equal options give equal strings whatever the key order.
function optionsIdentity(options: OpenOptions): string {
  return JSON.stringify(options, Object.keys(options).sort());
}

/**
 * Starts opening a document now, typically from the page's first small
 * script while the UI framework is still loading: the worker, the core and
 * OPFS then get going in parallel with the page. The next openDocument()
 * or beginOpenDocument() with equal options (compared by value;
 * SQLSyncProvider's included) takes this document instead of opening
 * another. A preloaded document nobody takes stays open until the page
 * closes; a failure to open is reported to whoever takes it.
 */
export function preloadDocument(options: OpenOptions): void {
  const key = optionsIdentity(options);
  if (preloaded.has(key)) return;
  try {
    preloaded.set(key, startOpening(options));
  } catch {
    // Invalid options: the openDocument() that takes them reports why.
  }
}

/** Opens (or creates) the document `options.docId` in this tab. */
export async function openDocument(options: OpenOptions): Promise<SQLSyncDocument> {
  return beginOpenDocument(options).ready;
}

/**
 * Like openDocument(), but hands the document out before it is open, so
 * that an app can subscribe to its first queries at once: they run in the
 * worker right after the open, with no round trip to this tab in between
 * (SQLSyncProvider's useQuery does this). Throws if `options` are invalid
 * (a malformed docId).
 */
export function beginOpenDocument(options: OpenOptions): OpeningDocument {
  const key = optionsIdentity(options);
  const early = preloaded.get(key);
  if (early === undefined) return startOpening(options);
  preloaded.delete(key);
  return early;
}

function startOpening(options: OpenOptions): OpeningDocument {
  if (!isDocumentId(options.docId)) {
    throw new Error(`document id must be 32 lowercase hex characters, got '${options.docId}'`);
  }
  const base = globalThis.location?.href;
  const params: OpenParams = {
    docId: options.docId,
    reducerUrl: new URL(options.reducerUrl, base).href,
    coreUrl: directoryUrl(new URL(options.coreUrl ?? './', options.coreUrl ? base : import.meta.url).href),
  };
  if (options.serverUrl) params.serverUrl = options.serverUrl;
  if (options.token !== undefined) params.token = options.token;
  if (options.connectionEnabled !== undefined) params.connectionEnabled = options.connectionEnabled;
  const document = new BrowserDocument(params, options.watchdogMs ?? 15_000);
  const ready = document.start().then(() => document);
  // Whoever takes the document sees the failure; an untaken preload must
  // not report it as unhandled.
  ready.catch(() => undefined);
  return { document, ready };
}

export { isDocumentId };
