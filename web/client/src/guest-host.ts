// The JavaScript half of WASM reducers in the browser (src/web/js_reducer.h):
// the guest module runs as its own WebAssembly instance next to the core;
// the core drives it through this object, registered in
// Module.sqlsyncGuests, and the guest's imports call back into the core.
// Every call is synchronous. There is no execution budget: see
// docs/browser.md for what a runaway loop does.

import type { CoreModule } from './core.js';

/** Receives the guest's log messages (level 0 debug … 3 error). */
export type GuestLog = (level: number, message: string) => void;

// Import indexes of sqlsync_guest_import (src/web/js_reducer.cc).
const IMPORTS = { execute: 0, query: 1, mutation_begin: 2, mutation_end: 3, log: 4 } as const;

let nextGuestId = 1;

export class GuestHost {
  private instance: WebAssembly.Instance | null = null;

  constructor(
    private readonly core: CoreModule,
    readonly id: number,
    private readonly module: WebAssembly.Module,
    private readonly logSink: GuestLog,
  ) {}

  /** Replaces the instance with a fresh one (new memory). Throws on failure. */
  instantiate(): void {
    this.instance = null;
    const call = (which: number, a = 0, b = 0, c = 0, d = 0): number => {
      const result = this.core._sqlsync_guest_import(this.id, which, a, b, c, d);
      const trap = this.core._sqlsync_guest_import_trap();
      if (trap !== 0) throw new WebAssembly.RuntimeError(this.core.UTF8ToString(trap));
      return result;
    };
    this.instance = new WebAssembly.Instance(this.module, {
      sqlsync: {
        execute: (a: number, b: number, c: number, d: number) => call(IMPORTS.execute, a, b, c, d),
        query: (a: number, b: number, c: number, d: number) => call(IMPORTS.query, a, b, c, d),
        mutation_begin: () => call(IMPORTS.mutation_begin),
        mutation_end: (keep: number) => call(IMPORTS.mutation_end, keep),
        log: (level: number, pointer: number, length: number) => {
          call(IMPORTS.log, level, pointer, length);
        },
      },
    });
  }

  /** Calls an exported function; traps propagate as exceptions. */
  call(name: string, args: number[]): number {
    const fn = this.exports()[name];
    if (typeof fn !== 'function') throw new TypeError(`reducer export ${name} is not a function`);
    const result = (fn as (...values: number[]) => unknown)(...args);
    return typeof result === 'number' ? result : 0;
  }

  /** "" when absent, "memory", "function/<parameter count>", or the kind. */
  exportKind(name: string): string {
    const descriptor = WebAssembly.Module.exports(this.module).find((entry) => entry.name === name);
    if (descriptor === undefined) return '';
    if (descriptor.kind !== 'function') return descriptor.kind;
    const fn = this.instance === null ? undefined : this.exports()[name];
    return typeof fn === 'function' ? `function/${fn.length}` : 'function';
  }

  /** The first import that is not sqlsync.<one of allowed> (a function), or "". */
  foreignImport(allowed: string[]): string {
    for (const entry of WebAssembly.Module.imports(this.module)) {
      if (entry.module !== 'sqlsync' || entry.kind !== 'function' || !allowed.includes(entry.name)) {
        return `${entry.module}.${entry.name}`;
      }
    }
    return '';
  }

  memorySize(): number {
    return this.memory().buffer.byteLength;
  }

  read(pointer: number, length: number): Uint8Array {
    return new Uint8Array(this.memory().buffer, pointer, length);
  }

  write(pointer: number, bytes: Uint8Array): void {
    new Uint8Array(this.memory().buffer, pointer, bytes.length).set(bytes);
  }

  log(level: number, message: string): void {
    this.logSink(level, message);
  }

  private exports(): WebAssembly.Exports {
    if (this.instance === null) throw new Error('the reducer has no instance');
    return this.instance.exports;
  }

  private memory(): WebAssembly.Memory {
    const memory = this.exports().memory;
    if (!(memory instanceof WebAssembly.Memory)) throw new TypeError('reducer export memory is not a memory');
    return memory;
  }
}

/**
 * Registers a compiled reducer module with the core; pass the returned id to
 * sqlsync_reducer_open_wasm. Unregister with unregisterGuest once the
 * reducer is closed and no document uses it.
 */
export function registerGuest(core: CoreModule, module: WebAssembly.Module, log: GuestLog): number {
  const id = nextGuestId++;
  core.sqlsyncGuests ??= new Map();
  core.sqlsyncGuests.set(id, new GuestHost(core, id, module, log));
  return id;
}

export function unregisterGuest(core: CoreModule, id: number): void {
  core.sqlsyncGuests?.delete(id);
}

/** Cap on a guest's linear memory, as natively (WasmLimits::memory_bytes). */
export const GUEST_MEMORY_BYTES = 64 * 1024 * 1024;

const PAGE_BYTES = 65536;

function readLeb(bytes: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  for (let i = offset; i < bytes.length && shift < 35; i++, shift += 7) {
    value += (bytes[i] & 0x7f) * 2 ** shift;
    if ((bytes[i] & 0x80) === 0) return { value, next: i + 1 };
  }
  throw new Error(`not a WebAssembly module: bad LEB128 at byte offset ${offset}`);
}

function writeLeb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

/**
 * `module` with the maximum of its memory lowered to `maxBytes`, so that a
 * memory.grow past the cap fails inside the guest (the browser cannot meter
 * memory otherwise). Throws if the initial memory is over the cap. Modules
 * without a memory section, or with a shared or 64-bit memory, come back
 * unchanged (the core refuses what the ABI does not allow).
 */
export function limitMemory(module: Uint8Array, maxBytes: number = GUEST_MEMORY_BYTES): Uint8Array<ArrayBuffer> {
  const maxPages = Math.floor(maxBytes / PAGE_BYTES);
  for (let offset = 8; offset < module.length; ) {
    const id = module[offset];
    const size = readLeb(module, offset + 1);
    const end = size.next + size.value;
    if (id === 5) {
      const count = readLeb(module, size.next);
      if (count.value !== 1) break;
      const flags = module[count.next];
      if (flags !== 0 && flags !== 1) break;
      const min = readLeb(module, count.next + 1);
      const max = flags === 1 ? readLeb(module, min.next) : { value: Infinity, next: min.next };
      if (min.value > maxPages) {
        throw new Error(`reducer memory starts at ${min.value * PAGE_BYTES} bytes, over the cap of ${maxBytes} bytes`);
      }
      const payload = [1, 1, ...writeLeb(min.value), ...writeLeb(Math.min(max.value, maxPages))];
      const out = new Uint8Array(module.length - (end - offset) + 1 + writeLeb(payload.length).length + payload.length);
      out.set(module.subarray(0, offset));
      out.set([5, ...writeLeb(payload.length), ...payload], offset);
      out.set(module.subarray(end), offset + 1 + writeLeb(payload.length).length + payload.length);
      return out;
    }
    offset = end;
  }
  return Uint8Array.from(module);
}
