// The owner of a document in one origin: the only worker that runs the core
// on the document, holds its OPFS files and its WebSocket. Every tab's calls
// end up here (its own tab's directly, others' over the BroadcastChannel).

import { backoffDelay } from './backoff.js';
import { Core, type CoreModule, type CoreRejection, type LocalInfo } from './core.js';
import { limitMemory, registerGuest, unregisterGuest } from './guest-host.js';
import { sha256Hex } from './ids.js';
import { SlotPool, type PoolDirectory } from './opfs-pool.js';
import type { Call, CallResult, ConnectionStatus, DocumentEvent, OpenParams } from './protocol.js';
import { rowsToObjects } from './rows.js';

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
const POOL_FILES = 16;
// How long the frames hint may keep received frames invisible before the
// owner flushes (rebases) anyway.
const FLUSH_DELAY_MS = 0;

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
  private progress = -1;

  private socket: WebSocket | null = null;
  private enabled: boolean;
  private status: ConnectionStatus;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  constructor(
    private readonly params: OpenParams,
    private readonly deps: OwnerDependencies,
    private readonly output: OwnerOutput,
  ) {
    this.enabled = params.serverUrl !== undefined && params.serverUrl !== '';
    this.status = this.enabled ? 'connecting' : 'disabled';
  }

  /** Loads the core and the reducer, opens the document and connects. */
  async open(): Promise<void> {
    const [module, reducerBytes, directory] = await Promise.all([
      this.deps.loadCore(this.params.coreUrl),
      this.deps.fetchBytes(this.params.reducerUrl),
      this.deps.poolDirectory(this.params.docId),
    ]);
    this.core = new Core(module);
    this.digest = await sha256Hex(reducerBytes);
    if (isWasm(reducerBytes)) {
      const compiled = await WebAssembly.compile(limitMemory(reducerBytes));
      this.guest = registerGuest(module, compiled, (level, text) => {
        (level >= 3 ? console.error : level === 2 ? console.warn : console.debug)(`sqlsync reducer: ${text}`);
      });
      this.reducer = this.core.int('reducer_open_wasm', this.guest);
    } else {
      this.reducer = this.core.int('reducer_open_sql', new TextDecoder().decode(reducerBytes));
    }
    if (directory !== null) {
      this.pool = await SlotPool.open(directory, POOL_FILES);
      this.pool.register(module);
      this.env = this.core.int('env_open_pool', this.pool.id);
    }
    this.notifyPointer = module.addFunction((_handle: number, subscription: number) => {
      this.dirtySubscriptions.add(subscription);
    }, 'vii');
    this.core.int('set_subscription_notify', this.notifyPointer);
    this.handle = this.core.int(
      'local_open',
      this.params.docId,
      '',
      this.reducer,
      this.env,
      this.env === 0 ? '' : DOCUMENT_DIRECTORY,
    );
    this.afterChange();
    if (this.enabled) this.connect();
  }

  connectionStatus(): ConnectionStatus {
    return this.status;
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
          this.core.withBytes(bytes, (pointer, length) => this.core.int('local_mutate', this.handle, pointer, length));
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
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.socket?.close();
    this.socket = null;
    if (this.handle !== 0) this.core.int('close', this.handle);
    if (this.env !== 0) this.core.int('env_close', this.env);
    if (this.reducer !== 0) this.core.int('reducer_close', this.reducer);
    if (this.guest !== 0) unregisterGuest(this.core.module, this.guest);
    await this.pool?.close(this.core.module);
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
      const result = this.core.json<{ columns: string[]; rows: unknown[][] } | { error: string }>(
        'subscription_result',
        this.handle,
        id,
      );
      if ('error' in result) this.output.rows(owner.client, owner.subscription, null, result.error);
      else this.output.rows(owner.client, owner.subscription, rowsToObjects(result), null);
    }
  }

  private setStatus(status: ConnectionStatus): void {
    if (status === this.status) return;
    this.status = status;
    this.output.event({ kind: 'status', status });
  }

  private setEnabled(enabled: boolean): void {
    const configured = this.params.serverUrl !== undefined && this.params.serverUrl !== '';
    this.enabled = enabled && configured;
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
      try {
        this.core.withBytes(new Uint8Array(event.data), (pointer, length) =>
          this.core.int('local_receive', this.handle, pointer, length),
        );
      } catch (error) {
        // A bad message means a bad connection: start over (nothing is lost).
        console.warn(`sqlsync: closing the connection: ${message(error)}`);
        this.disconnect();
        this.scheduleReconnect();
        return;
      } finally {
        if (this.socket === socket || this.socket === null) this.afterChange();
      }
      this.scheduleFlush();
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

  // The server sends frames in bursts; rebase once the burst is over.
  private scheduleFlush(): void {
    if (this.flushTimer !== null) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      if (this.closed) return;
      try {
        this.core.int('local_flush', this.handle);
      } catch (error) {
        console.warn(`sqlsync: flush: ${message(error)}`);
      }
      this.afterChange();
    }, FLUSH_DELAY_MS);
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
