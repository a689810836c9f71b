// The owner of a document in one origin: the only worker that runs the core
// on the document, holds its OPFS files and its WebSocket. Every tab's calls
// end up here (its own tab's directly, others' over the BroadcastChannel).

import { backoffDelay } from './backoff.js';
import { Core, type CoreModule, type CoreRejection, type LocalInfo } from './core.js';
import { limitMemory, registerGuest, unregisterGuest } from './guest-host.js';
import { sha256Hex } from './ids.js';
import { INITIAL_POOL_FILES, SlotPool, type PoolDirectory } from './opfs-pool.js';
import type { Call, CallResult, ConnectionStatus, DocumentEvent, OpenParams } from './protocol.js';
import { rowsToObjects } from './rows.js';
import { StartupMarks } from './timing.js';

/** Where the owner sends what it produces. */
export interface OwnerOutput {
  /** Fresh rows (or the error) of a client's subscription. */
  rows(client: string, subscription: number, rows: Record<string, unknown>[] | null, error: string | null): void;
  /** An event for every tab of the document. */
  event(event: DocumentEvent): void;
}

export interface OwnerDependencies {
  loadCore(coreUrl: string): Promise<CoreModule>;
  /** The pool directory for the document; null keeps it in memory only. */
  poolDirectory(docId: string): Promise<PoolDirectory | null>;
  fetchBytes(url: string): Promise<Uint8Array<ArrayBuffer>>;
  webSocket(url: string): WebSocket;
}

// A document is a directory of the pool env.
const DOCUMENT_DIRECTORY = '/document';
// Messages from the server wait (receiveLater) until no mutation was made
// for RECEIVE_QUIET_MS, or for RECEIVE_MAX_WAIT_MS at most.
const RECEIVE_QUIET_MS = 50;
const RECEIVE_MAX_WAIT_MS = 200;

// sqlsync_local_open's flags: mutations become durable at sqlsync_local_sync
// (scheduleSync), not inside each mutate; received frames become visible
// (rebase) at sqlsync_local_flush (receiveInbox), not inside each receive.
const LOCAL_SYNC_LAZILY = 1;
const LOCAL_REBASE_IN_FLUSH = 2;

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

function isWasm(bytes: Uint8Array): boolean {
  return WASM_MAGIC.every((byte, i) => bytes[i] === byte);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class DocumentOwner {
  private core!: Core;
  private handle = 0;
  private reducer = 0;
  private guest = 0;
  private env = 0;
  private pool: SlotPool | null = null;
  private digest = '';
  private notifyPointer = 0;
  private readonly dirtySubscriptions = new Set<number>();
  // core subscription id -> whose it is; and back.
  private readonly subscriptions = new Map<number, { client: string; subscription: number }>();
  private readonly bySubscriber = new Map<string, number>();
  // core subscription id -> the result text last delivered.
  private readonly delivered = new Map<number, string>();
  private progress = -1;

  private socket: WebSocket | null = null;
  // The app's choice (OpenParams.connectionEnabled, setConnectionEnabled);
  // the owner connects when it is on and a server is configured.
  private wanted: boolean;
  private enabled: boolean;
  private status: ConnectionStatus;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  // Server messages not yet given to the core, since `inboxSince`.
  private readonly inbox: ArrayBuffer[] = [];
  private inboxSince = 0;
  private receiveTimer: ReturnType<typeof setTimeout> | null = null;
  private lastMutationAt = -Infinity;
  private syncScheduled = false;
  private closed = false;

  constructor(
    private readonly params: OpenParams,
    private readonly deps: OwnerDependencies,
    private readonly output: OwnerOutput,
    private readonly marks: StartupMarks = new StartupMarks(),
  ) {
    this.wanted = params.connectionEnabled ?? true;
    this.enabled = this.wanted && this.configured();
    this.status = this.enabled ? 'connecting' : 'disabled';
  }

  /**
   * Loads the core and the reducer and opens the OPFS pool (all three at
   * once) and opens the document; start() then connects. On failure,
   * close() releases what was opened.
   */
  async open(): Promise<void> {
    const { coreUrl, reducerUrl, docId } = this.params;
    const loadCore = this.deps.loadCore(coreUrl).then((module) => {
      this.marks.mark('core instantiated');
      return module;
    });
    const loadReducer = this.deps.fetchBytes(reducerUrl).then(async (bytes) => {
      this.marks.mark('reducer fetched', `${bytes.length} bytes`);
      const [digest, compiled] = await Promise.all([
        sha256Hex(bytes),
        isWasm(bytes) ? WebAssembly.compile(limitMemory(bytes)) : null,
      ]);
      if (compiled !== null) this.marks.mark('reducer compiled');
      return { bytes, digest, compiled };
    });
    const openPool = this.deps.poolDirectory(docId).then(async (directory) => {
      if (directory === null) return null;
      const pool = await SlotPool.open(directory, INITIAL_POOL_FILES);
      this.marks.mark('OPFS pool opened', `${pool.count()} files`);
      return pool;
    });
    const [core, reducer, pool] = await Promise.allSettled([loadCore, loadReducer, openPool]);
    if (pool.status === 'fulfilled') this.pool = pool.value;
    if (core.status === 'rejected') throw core.reason;
    if (reducer.status === 'rejected') throw reducer.reason;
    if (pool.status === 'rejected') throw pool.reason;

    const module = core.value;
    this.core = new Core(module);
    this.digest = reducer.value.digest;
    if (reducer.value.compiled !== null) {
      this.guest = registerGuest(module, reducer.value.compiled, (level, text) => {
        (level >= 3 ? console.error : level === 2 ? console.warn : console.debug)(`sqlsync reducer: ${text}`);
      });
      this.reducer = this.core.int('reducer_open_wasm', this.guest);
    } else {
      this.reducer = this.core.int('reducer_open_sql', new TextDecoder().decode(reducer.value.bytes));
    }
    if (this.pool !== null) {
      this.pool.register(module);
      this.env = this.core.int('env_open_pool', this.pool.id);
    }
    this.notifyPointer = module.addFunction((_handle: number, subscription: number) => {
      this.dirtySubscriptions.add(subscription);
    }, 'vii');
    this.core.int('set_subscription_notify', this.notifyPointer);
    this.marks.mark('reducer and storage env opened');
    this.handle = this.core.int(
      'local_open',
      docId,
      '',
      this.reducer,
      this.env,
      this.env === 0 ? '' : DOCUMENT_DIRECTORY,
      LOCAL_SYNC_LAZILY | LOCAL_REBASE_IN_FLUSH,
    );
    const flushes = this.pool?.flushes;
    this.marks.mark('document opened', flushes && `${flushes.count} OPFS flushes, ${flushes.ms.toFixed(0)} ms`);
  }

  /**
   * Reports what the open document holds (rejections, progress) and
   * connects if syncing is on. Separate from open() so that the worker can
   * first answer the calls the tabs queued while it opened (their first
   * query results are on every cold start's critical path).
   */
  start(): void {
    this.afterChange();
    if (this.enabled) this.connect();
  }

  connectionStatus(): ConnectionStatus {
    return this.status;
  }

  /** Whether the app wants the connection on (whatever its status). */
  connectionEnabled(): boolean {
    return this.wanted;
  }

  /** The first timeline LSN whose verdict is still unknown. */
  progressMark(): number {
    return this.progress;
  }

  /** Runs one call of `client`. Throws the core's error. */
  call(client: string, call: Call): CallResult {
    if (this.closed) throw new Error('the document is closed');
    switch (call.method) {
      case 'mutate': {
        const bytes = new TextEncoder().encode(call.mutation);
        try {
          this.lastMutationAt = performance.now();
          this.core.withBytes(bytes, (pointer, length) => this.core.int('local_mutate', this.handle, pointer, length));
          this.scheduleSync();
          const info = this.info();
          return { lsn: info.timeline_range.next - 1 };
        } finally {
          this.afterChange();
        }
      }
      case 'query':
        return { rows: rowsToObjects(this.core.query(this.handle, call.sql, call.params)) };
      case 'subscribe': {
        const key = `${client}:${call.subscription}`;
        if (this.bySubscriber.has(key)) throw new Error(`subscription ${call.subscription} exists`);
        const id = this.core.int('local_subscribe', this.handle, call.sql, call.params);
        this.subscriptions.set(id, { client, subscription: call.subscription });
        this.bySubscriber.set(key, id);
        this.dirtySubscriptions.add(id);
        this.deliverSubscriptions();
        return null;
      }
      case 'unsubscribe': {
        const key = `${client}:${call.subscription}`;
        const id = this.bySubscriber.get(key);
        if (id !== undefined) {
          this.core.int('local_unsubscribe', this.handle, id);
          this.bySubscriber.delete(key);
          this.subscriptions.delete(id);
          this.delivered.delete(id);
        }
        return null;
      }
      case 'setConnectionEnabled':
        this.setEnabled(call.enabled);
        return null;
    }
  }

  /** Drops every subscription of a client that left. */
  dropClient(client: string): void {
    for (const [id, owner] of [...this.subscriptions]) {
      if (owner.client !== client) continue;
      this.core.int('local_unsubscribe', this.handle, id);
      this.subscriptions.delete(id);
      this.delivered.delete(id);
      this.bySubscriber.delete(`${client}:${owner.subscription}`);
    }
  }

  /** Clients with subscriptions here. */
  clients(): Set<string> {
    return new Set([...this.subscriptions.values()].map((owner) => owner.client));
  }

  /** Closes the socket, the document and the OPFS handles. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.enabled = false;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    if (this.receiveTimer !== null) clearTimeout(this.receiveTimer);
    this.socket?.close();
    this.socket = null;
    if (this.handle !== 0) {
      this.syncTimeline();
      this.core.int('close', this.handle);
    }
    if (this.env !== 0) this.core.int('env_close', this.env);
    if (this.reducer !== 0) this.core.int('reducer_close', this.reducer);
    if (this.guest !== 0) unregisterGuest(this.core.module, this.guest);
    await this.pool?.close(this.core?.module);
  }

  private info(): LocalInfo {
    return this.core.json<LocalInfo>('local_info', this.handle);
  }

  // After any call that may have changed the document: fresh rows to their
  // subscribers, verdicts to every tab, new messages to the server.
  private afterChange(): void {
    this.deliverSubscriptions();
    for (const rejection of this.core.json<CoreRejection[]>('local_take_rejections', this.handle)) {
      this.output.event({ kind: 'rejection', lsn: rejection.lsn, message: rejection.message });
    }
    const first = this.info().timeline_range.first;
    if (first !== this.progress) {
      this.progress = first;
      this.output.event({ kind: 'progress', before: first });
    }
    this.sendOutbox();
  }

  private deliverSubscriptions(): void {
    const dirty = [...this.dirtySubscriptions];
    this.dirtySubscriptions.clear();
    for (const id of dirty) {
      const owner = this.subscriptions.get(id);
      if (owner === undefined) continue;
      // A rebase onto the server's version of what was applied optimistically
      // usually gives the same rows: the tab need not parse and render them.
      const text = this.core.text('subscription_result', this.handle, id);
      if (text === this.delivered.get(id)) continue;
      this.delivered.set(id, text);
      const result = JSON.parse(text) as { columns: string[]; rows: unknown[][] } | { error: string };
      if ('error' in result) this.output.rows(owner.client, owner.subscription, null, result.error);
      else this.output.rows(owner.client, owner.subscription, rowsToObjects(result), null);
    }
  }

  private setStatus(status: ConnectionStatus, force = false): void {
    if (status === this.status && !force) return;
    this.status = status;
    this.output.event({ kind: 'status', status, enabled: this.wanted });
  }

  private configured(): boolean {
    return this.params.serverUrl !== undefined && this.params.serverUrl !== '';
  }

  private setEnabled(enabled: boolean): void {
    const changed = enabled !== this.wanted;
    this.wanted = enabled;
    this.enabled = enabled && this.configured();
    // Every tab learns the choice even when the status stays (no server).
    if (changed && !this.enabled && this.status === 'disabled') this.setStatus('disabled', true);
    if (!this.enabled) {
      if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      this.disconnect();
      this.setStatus('disabled');
    } else if (this.socket === null && this.reconnectTimer === null) {
      this.attempt = 0;
      this.connect();
    }
  }

  private syncUrl(): string {
    const url = new URL(`docs/${this.params.docId}/sync`, this.params.serverUrl!.replace(/\/?$/, '/'));
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('reducer', this.digest);
    if (this.params.token !== undefined) url.searchParams.set('token', this.params.token);
    return url.href;
  }

  private connect(): void {
    if (this.closed || !this.enabled) return;
    this.setStatus(this.attempt === 0 ? 'connecting' : 'offline');
    let socket: WebSocket;
    try {
      socket = this.deps.webSocket(this.syncUrl());
    } catch (error) {
      console.warn(`sqlsync: cannot connect: ${message(error)}`);
      this.scheduleReconnect();
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.core.int('local_connect', this.handle);
      this.setStatus('connected');
      this.afterChange();
    };
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket !== socket || !(event.data instanceof ArrayBuffer)) return;
      if (this.inbox.length === 0) this.inboxSince = performance.now();
      this.inbox.push(event.data);
      this.receiveLater();
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.disconnect();
      this.scheduleReconnect();
    };
    socket.onerror = () => socket.close();
  }

  private disconnect(): void {
    const socket = this.socket;
    if (socket === null) return;
    this.socket = null;
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    if (socket.readyState === socket.CONNECTING || socket.readyState === socket.OPEN) socket.close();
    // Messages of this connection's session: the next one starts over.
    this.inbox.length = 0;
    if (this.receiveTimer !== null) clearTimeout(this.receiveTimer);
    this.receiveTimer = null;
    try {
      this.core.int('local_disconnect', this.handle);
    } catch (error) {
      console.warn(`sqlsync: disconnect: ${message(error)}`);
    }
    this.afterChange();
  }

  private scheduleReconnect(): void {
    if (this.closed || !this.enabled || this.reconnectTimer !== null) return;
    this.setStatus('offline');
    const delay = backoffDelay(this.attempt++, Math.random);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  // Mutations are made durable once per task, after their replies and rows
  // were posted: the tab renders while the worker flushes OPFS, and a burst
  // of calls in one task costs one flush. Only then can they be sent (the
  // core sends durable entries only). The price, stated in docs/browser.md:
  // a crash of the tab within that task loses a mutation whose promise
  // already resolved.
  private scheduleSync(): void {
    if (this.syncScheduled) return;
    this.syncScheduled = true;
    queueMicrotask(() => {
      this.syncScheduled = false;
      this.syncMutations();
    });
  }

  /**
   * Makes the mutations made so far durable now and sends them. For a call
   * from another tab, before replying: this tab may close (ending the
   * worker) at any moment, and the other tab must not lose a mutation whose
   * promise resolved.
   */
  syncMutations(): void {
    if (this.closed) return;
    this.syncTimeline();
    this.sendOutbox();
  }

  private syncTimeline(): void {
    try {
      this.core.int('local_sync', this.handle);
    } catch (error) {
      // The core withdrew what it could not store; the tabs see that state.
      console.error(`sqlsync: storing mutations failed; reopen the document: ${message(error)}`);
      this.afterChange();
    }
  }

  // Server messages wait while the tabs are making mutations: given to the
  // core together they cost one rebase (re-applying the pending mutations,
  // re-running the queries, and its OPFS flushes) instead of one per
  // confirmed mutation, and the next local mutation does not queue behind
  // them. Confirmations arrive at most RECEIVE_MAX_WAIT_MS later; with no
  // local activity (other users' changes) they are processed at once, a
  // burst of them in one go.
  private receiveLater(): void {
    if (this.receiveTimer !== null || this.inbox.length === 0) return;
    const due = Math.min(this.lastMutationAt + RECEIVE_QUIET_MS, this.inboxSince + RECEIVE_MAX_WAIT_MS);
    this.receiveTimer = setTimeout(() => {
      this.receiveTimer = null;
      const now = performance.now();
      if (now < this.lastMutationAt + RECEIVE_QUIET_MS && now < this.inboxSince + RECEIVE_MAX_WAIT_MS) {
        this.receiveLater();
      } else {
        this.receiveInbox();
      }
    }, Math.max(0, due - performance.now()));
  }

  private receiveInbox(): void {
    if (this.closed) return;
    const messages = this.inbox.splice(0);
    try {
      for (const data of messages) {
        this.core.withBytes(new Uint8Array(data), (pointer, length) =>
          this.core.int('local_receive', this.handle, pointer, length),
        );
      }
      this.core.int('local_flush', this.handle);
    } catch (error) {
      // A bad message means a bad connection: start over (nothing is lost).
      console.warn(`sqlsync: closing the connection: ${message(error)}`);
      this.disconnect();
      this.scheduleReconnect();
      return;
    }
    this.afterChange();
  }

  private sendOutbox(): void {
    if (this.handle === 0) return;
    if (this.socket !== null && this.socket.readyState === this.socket.OPEN) {
      try {
        this.core.int('local_poll', this.handle);
      } catch (error) {
        console.warn(`sqlsync: poll: ${message(error)}`);
      }
      for (const { bytes } of this.core.takeOutbox(this.handle)) this.socket.send(bytes);
    } else {
      this.core.takeOutbox(this.handle);
    }
  }
}
