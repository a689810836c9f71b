// A typed view of the browser core's C ABI (docs/wasm-abi.md): every call
// that reports failure throws a CoreError carrying the status code.

import type { CoreQueryResult } from './rows.js';

/** The emscripten module (sqlsync_core.js) as far as this package uses it. */
export interface CoreModule {
  cwrap(name: string, returnType: 'number' | null, argTypes: string[]): (...args: unknown[]) => number;
  UTF8ToString(pointer: number, maxBytes?: number): string;
  addFunction(fn: (...args: number[]) => void, signature: string): number;
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(pointer: number): void;
  _sqlsync_guest_import(guest: number, which: number, a0: number, a1: number, a2: number, a3: number): number;
  _sqlsync_guest_import_trap(): number;
  sqlsyncGuests?: Map<number, unknown>;
  sqlsyncSlotStores?: Map<number, unknown>;
}

export type CoreFactory = (options: Record<string, unknown>) => Promise<CoreModule>;

/** Status codes of include/sqlsync/status.h. */
export const StatusCode = {
  ok: 0,
  corruption: 1,
  ioError: 2,
  invalidArgument: 3,
  notFound: 4,
  rejected: 5,
  busy: 6,
  unsupported: 7,
  internal: 8,
} as const;

export class CoreError extends Error {
  constructor(
    readonly call: string,
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'CoreError';
  }
}

export interface LocalInfo {
  document_id: string;
  timeline_id: string;
  connected: boolean;
  pending_mutations: number;
  timeline_range: { first: number; next: number };
  storage_range: { first: number; next: number };
}

export interface CoreRejection {
  timeline: string;
  lsn: number;
  message: string;
}

type Fn = (...args: unknown[]) => number;

export class Core {
  private readonly fn: Record<string, Fn> = {};

  constructor(readonly module: CoreModule) {
    const signatures: Record<string, string[]> = {
      sqlsync_last_error: [],
      sqlsync_last_error_code: [],
      sqlsync_reducer_open_sql: ['string'],
      sqlsync_reducer_open_wasm: ['number'],
      sqlsync_reducer_schema_version: ['number'],
      sqlsync_reducer_close: ['number'],
      sqlsync_env_open_pool: ['number'],
      sqlsync_env_close: ['number'],
      sqlsync_close: ['number'],
      sqlsync_query: ['number', 'string', 'string'],
      sqlsync_outbox_count: ['number'],
      sqlsync_outbox_data: ['number', 'number'],
      sqlsync_outbox_size: ['number', 'number'],
      sqlsync_outbox_connection: ['number', 'number'],
      sqlsync_outbox_clear: ['number'],
      sqlsync_local_open: ['string', 'string', 'number', 'number', 'string', 'number'],
      sqlsync_local_sync: ['number'],
      sqlsync_local_mutate: ['number', 'number', 'number'],
      sqlsync_local_connect: ['number'],
      sqlsync_local_receive: ['number', 'number', 'number'],
      sqlsync_local_poll: ['number'],
      sqlsync_local_disconnect: ['number'],
      sqlsync_local_flush: ['number'],
      sqlsync_local_info: ['number'],
      sqlsync_local_take_rejections: ['number'],
      sqlsync_set_subscription_notify: ['number'],
      sqlsync_local_subscribe: ['number', 'string', 'string'],
      sqlsync_local_unsubscribe: ['number', 'number'],
      sqlsync_subscription_version: ['number', 'number'],
      sqlsync_subscription_result: ['number', 'number'],
      sqlsync_coordinator_open: ['string', 'number'],
      sqlsync_coordinator_connect: ['number', 'number'],
      sqlsync_coordinator_receive: ['number', 'number', 'number', 'number'],
      sqlsync_coordinator_disconnect: ['number', 'number'],
      sqlsync_coordinator_poll: ['number'],
      sqlsync_coordinator_step: ['number'],
      sqlsync_coordinator_info: ['number'],
    };
    for (const [name, args] of Object.entries(signatures)) {
      this.fn[name.slice('sqlsync_'.length)] = module.cwrap(name, 'number', args);
    }
  }

  /** Calls `name` (without the sqlsync_ prefix) under the int32 convention. */
  int(name: string, ...args: unknown[]): number {
    const result = this.fn[name](...args);
    if (result === -1) throw this.error(name);
    return result;
  }

  /** Calls `name` under the text convention. */
  text(name: string, ...args: unknown[]): string {
    const pointer = this.fn[name](...args);
    if (pointer === 0) throw this.error(name);
    return this.module.UTF8ToString(pointer);
  }

  /** Calls `name` under the text convention and parses its JSON. */
  json<T>(name: string, ...args: unknown[]): T {
    return JSON.parse(this.text(name, ...args)) as T;
  }

  /** The last call's error. */
  error(call: string): CoreError {
    const code = this.fn.last_error_code();
    return new CoreError(call, code, this.module.UTF8ToString(this.fn.last_error()));
  }

  /** Calls fn(pointer, length) with `bytes` copied into the core's heap. */
  withBytes<T>(bytes: Uint8Array, fn: (pointer: number, length: number) => T): T {
    const pointer = this.module._malloc(Math.max(bytes.length, 1));
    try {
      this.module.HEAPU8.set(bytes, pointer);
      return fn(pointer, bytes.length);
    } finally {
      this.module._free(pointer);
    }
  }

  /** Copies out and clears a document's outbox. */
  takeOutbox(handle: number): { connection: number; bytes: Uint8Array }[] {
    const count = this.int('outbox_count', handle);
    const messages: { connection: number; bytes: Uint8Array }[] = [];
    for (let i = 0; i < count; i++) {
      const size = this.int('outbox_size', handle, i);
      const data = this.fn.outbox_data(handle, i);
      if (data === 0 && size > 0) throw this.error('outbox_data');
      // HEAPU8 is re-read on every access: memory growth replaces it.
      const bytes = this.module.HEAPU8.slice(data, data + size);
      messages.push({ connection: this.int('outbox_connection', handle, i), bytes });
    }
    this.int('outbox_clear', handle);
    return messages;
  }

  query(handle: number, sql: string, paramsJson: string): CoreQueryResult {
    return this.json<CoreQueryResult>('query', handle, sql, paramsJson);
  }
}

/**
 * Starts fetching and compiling sqlsync_core.wasm from the directory
 * `coreUrl`, streaming (compiling while it downloads) when the server sends
 * it as application/wasm, once per URL (later calls share the first).
 * Start it as early as possible: it is the longest step of opening a
 * document. The page does (index.ts) and hands the module to its worker,
 * which shares the compiled code.
 */
export function compileCore(coreUrl: string): Promise<WebAssembly.Module> {
  const wasmUrl = new URL('sqlsync_core.wasm', coreUrl).href;
  return once(compiling, wasmUrl, () =>
    WebAssembly.compileStreaming(fetch(wasmUrl, { credentials: 'same-origin' })).catch(async () => {
      // Served with another content type (or a network error, reported below).
      const response = await fetch(wasmUrl, { credentials: 'same-origin' });
      if (!response.ok) throw new Error(`cannot load ${wasmUrl}: HTTP ${response.status}`);
      return WebAssembly.compile(await response.arrayBuffer());
    }),
  );
}

/**
 * Starts fetching the core's JavaScript glue (sqlsync_core.js) from the
 * directory `coreUrl`, once per URL; loadCoreModule evaluates it.
 */
export function fetchCoreScript(coreUrl: string): Promise<string> {
  const scriptUrl = new URL('sqlsync_core.js', coreUrl).href;
  return once(scripts, scriptUrl, async () => {
    const response = await fetch(scriptUrl);
    if (!response.ok) throw new Error(`cannot load ${scriptUrl}: HTTP ${response.status}`);
    return response.text();
  });
}

// compileCore's modules and fetchCoreScript's texts by URL: loaded once per
// worker or page.
const compiling = new Map<string, Promise<WebAssembly.Module>>();
const scripts = new Map<string, Promise<string>>();

/**
 * The promise of `key` in `cache`, started by `start` if there is none; a
 * failure is reported to whoever uses it, and the next call retries.
 */
export function once<T>(cache: Map<string, Promise<T>>, key: string, start: () => Promise<T>): Promise<T> {
  let promise = cache.get(key);
  if (promise === undefined) {
    promise = start();
    promise.catch(() => cache.delete(key));
    cache.set(key, promise);
  }
  return promise;
}

/**
 * Evaluates the glue of the directory `coreUrl` (fetchCoreScript) and
 * instantiates `compiled` (by default compileCore(coreUrl)) with it. The
 * script is evaluated as text because module workers cannot importScripts()
 * and the emscripten build is a classic script.
 */
export async function loadCoreModule(
  coreUrl: string,
  compiled: Promise<WebAssembly.Module> = compileCore(coreUrl),
): Promise<CoreModule> {
  const source = await fetchCoreScript(coreUrl);
  const factory = new Function(`${source}\nreturn createSqlsyncCore;`)() as CoreFactory;
  // emscripten's hook for instantiating the module itself: it never settles
  // the factory's promise on failure, so the failure is raced against it.
  return new Promise<CoreModule>((resolve, reject) => {
    factory({
      locateFile: (file: string) => new URL(file, coreUrl).href,
      instantiateWasm(
        imports: WebAssembly.Imports,
        receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
      ) {
        compiled
          .then(async (module) => receive(await WebAssembly.instantiate(module, imports), module))
          .catch(reject);
        return {};
      },
    }).then(resolve, reject);
  });
}
