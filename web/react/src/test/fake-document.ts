// An in-memory SQLSyncDocument for the hook tests. It understands no SQL:
// each query text is registered with a function computing its rows from the
// fake's state, and `mutate` runs a JS reducer. Like the real client it
// delivers rows asynchronously and re-delivers them after every mutation.
import type {
  ConnectionStatus,
  MutationHandle,
  OpeningDocument,
  Rejection,
  SQLSyncDocument,
  StartupMark,
} from '@sqlsync/client';

export type Row = Record<string, unknown>;
type QueryFn<State> = (state: State, params: unknown[]) => object[];

interface Subscription<State> {
  run: QueryFn<State>;
  params: unknown[];
  onRows: (rows: object[]) => void;
  onError?: (e: Error) => void;
}

export class FakeDocument<State> implements SQLSyncDocument {
  readonly docId: string;
  state: State;
  closed = false;
  mutations: unknown[] = [];
  enabledCalls: boolean[] = [];
  readonly startupMarks: StartupMark[] = [];
  private status: ConnectionStatus = 'connected';
  private readonly subscriptions = new Set<Subscription<State>>();
  private readonly statusListeners = new Set<(s: ConnectionStatus) => void>();
  private readonly rejectionListeners = new Set<(r: Rejection) => void>();
  // While the document "opens" (beginOpen): subscriptions wait for it.
  private opened: Promise<void> = Promise.resolve();

  constructor(
    docId: string,
    initial: State,
    private readonly queries: Record<string, QueryFn<State>>,
    private readonly reduce: (state: State, mutation: unknown) => State,
  ) {
    this.docId = docId;
    this.state = initial;
  }

  get activeSubscriptions(): number {
    return this.subscriptions.size;
  }

  async mutate(mutation: unknown): Promise<MutationHandle> {
    if (this.closed) throw new Error('document is closed');
    this.state = this.reduce(this.state, mutation);
    this.mutations.push(mutation);
    for (const sub of this.subscriptions) this.deliver(sub);
    return { confirmed: Promise.resolve() };
  }

  async query<R = Row>(sql: string, params: unknown[] = []): Promise<R[]> {
    return this.find(sql)(this.state, params) as R[];
  }

  subscribe<R = Row>(sql: string, params: unknown[], onRows: (rows: R[]) => void, onError?: (e: Error) => void): () => void {
    if (this.closed) throw new Error('document is closed');
    const sub: Subscription<State> = { run: this.find(sql), params, onRows: onRows as (rows: object[]) => void, onError };
    let active = true;
    this.opened.then(
      () => {
        if (!active) return;
        this.subscriptions.add(sub);
        this.deliver(sub);
      },
      (error: Error) => {
        if (active) onError?.(error);
      },
    );
    return () => {
      active = false;
      this.subscriptions.delete(sub);
    };
  }

  /**
   * What beginOpenDocument() gives for this document, as the real client
   * behaves: the document at once, its subscriptions delivering only after
   * open(), or failing with the error of fail().
   */
  beginOpen(): { opening: OpeningDocument; open(): void; fail(error: Error): void } {
    let open!: () => void;
    let fail!: (error: Error) => void;
    this.opened = new Promise<void>((resolve, reject) => {
      open = resolve;
      fail = reject;
    });
    this.opened.catch(() => undefined);
    const ready = this.opened.then(() => this as SQLSyncDocument);
    ready.catch(() => undefined);
    return { opening: { document: this, ready }, open, fail };
  }

  /** Makes every subscription of `sql` report `error` (as a failed re-run would). */
  failQuery(sql: string, error: Error): void {
    const run = this.find(sql);
    for (const sub of this.subscriptions) {
      if (sub.run === run) queueMicrotask(() => sub.onError?.(error));
    }
  }

  onRejection(cb: (r: Rejection) => void): () => void {
    this.rejectionListeners.add(cb);
    return () => this.rejectionListeners.delete(cb);
  }

  reject(rejection: Rejection): void {
    for (const cb of this.rejectionListeners) cb(rejection);
  }

  get rejectionListenerCount(): number {
    return this.rejectionListeners.size;
  }

  connectionStatus(): ConnectionStatus {
    return this.status;
  }

  onConnectionStatus(cb: (s: ConnectionStatus) => void): () => void {
    this.statusListeners.add(cb);
    return () => this.statusListeners.delete(cb);
  }

  setStatus(status: ConnectionStatus): void {
    this.status = status;
    for (const cb of this.statusListeners) cb(status);
  }

  setConnectionEnabled(enabled: boolean): void {
    this.enabledCalls.push(enabled);
    this.setStatus(enabled ? 'connected' : 'disabled');
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscriptions.clear();
  }

  private find(sql: string): QueryFn<State> {
    const run = this.queries[sql];
    if (!run) throw new Error(`fake document has no query ${JSON.stringify(sql)}`);
    return run;
  }

  private deliver(sub: Subscription<State>): void {
    const rows = sub.run(this.state, sub.params);
    queueMicrotask(() => {
      if (this.subscriptions.has(sub)) sub.onRows(rows);
    });
  }
}
