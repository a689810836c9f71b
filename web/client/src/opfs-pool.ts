// The JavaScript half of the browser's storage (src/web/opfs_env.h): a pool
// of files opened ahead of time as OPFS sync access handles, registered in
// Module.sqlsyncSlotStores for the core's SlotPoolEnv, which keeps the file
// names in a header inside each pool file. Reads and writes are
// synchronous; only opening files is not, so the pool grows in the
// background when the core asks (grow). Design: docs/browser.md.

import type { CoreModule } from './core.js';

/** The part of FileSystemSyncAccessHandle the pool uses. */
export interface SyncHandle {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}

/** Where pool files live: OPFS in a browser, memory in node tests. */
export interface PoolDirectory {
  /** Names of the files there. */
  list(): Promise<string[]>;
  /** Opens (creating if missing) the file `name` for exclusive synchronous access. */
  open(name: string): Promise<SyncHandle>;
}

/**
 * Pool files a new document starts with. Opening a new durable document
 * uses 2 (the journals' metadata; a rename's temporary file is freed at
 * once), its first mutation a third (the timeline's segment), which leaves
 * fewer than the env's 4 free and starts growing the pool by 8 in the
 * background; what a burst in one worker task can still create (the
 * storage log's first segment, a metadata rename) fits in the other 3. Each
 * file costs a round trip to the browser's storage and a file on disk on
 * the first open, which is on the critical path of a cold start.
 */
export const INITIAL_POOL_FILES = 6;

const SLOT_NAME = /^slot-(\d{4,})$/;
// The header at the start of every pool file (kSlotHeaderBytes of
// src/web/slot_pool_env.h).
const HEADER_BYTES = 4096;

export function slotFileName(slot: number): string {
  return `slot-${String(slot).padStart(4, '0')}`;
}

let nextStoreId = 1;

export class SlotPool {
  readonly id = nextStoreId++;
  private growing: Promise<void> | null = null;
  /** The last error of a background grow, reported by the next failing create. */
  growError: Error | null = null;
  /** Flushes done so far and the time they took (ms), for startup marks. */
  readonly flushes = { count: 0, ms: 0 };
  // Slots written or truncated since their last flush (flushing another is
  // a no-op that still costs an fsync), and every slot until its first flush
  // here: a worker that died may have left writes it never flushed.
  private readonly unflushed = new Set<number>();

  private constructor(
    private readonly directory: PoolDirectory,
    private readonly handles: SyncHandle[],
    // The first HEADER_BYTES of each file (fewer: the whole file), read as
    // the pool opened, while the worker waits for the core; a slot's entry
    // goes at its first write or truncate. The env reads every header when
    // it opens, and each read through a handle costs ~0.5–10 ms in Chromium.
    private readonly headers: Map<number, Uint8Array>,
  ) {
    handles.forEach((_, slot) => this.unflushed.add(slot));
  }

  /** Opens every pool file in `directory`, creating files up to `minimum`. */
  static async open(directory: PoolDirectory, minimum: number): Promise<SlotPool> {
    const numbers = (await directory.list())
      .map((name) => SLOT_NAME.exec(name))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => Number(match[1]));
    const count = Math.max(minimum, numbers.length === 0 ? 0 : Math.max(...numbers) + 1);
    // All at once: each open is a round trip to the browser's storage
    // process, and there is nothing to order between them. Each header is
    // read as soon as its file is open.
    const headers = new Map<number, Uint8Array>();
    const opened = await Promise.allSettled(
      Array.from({ length: count }, (_, slot) =>
        directory.open(slotFileName(slot)).then((handle) => {
          const header = new Uint8Array(HEADER_BYTES);
          try {
            headers.set(slot, header.subarray(0, handle.read(header, { at: 0 })));
          } catch (error) {
            handle.close();
            throw error;
          }
          return handle;
        }),
      ),
    );
    const failed = opened.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) {
      for (const result of opened) if (result.status === 'fulfilled') result.value.close();
      throw failed.reason;
    }
    return new SlotPool(
      directory,
      opened.map((result) => (result as PromiseFulfilledResult<SyncHandle>).value),
      headers,
    );
  }

  count(): number {
    return this.handles.length;
  }

  read(slot: number, offset: number, into: Uint8Array): number {
    const header = this.headers.get(slot);
    // A header shorter than HEADER_BYTES is the whole file.
    if (header !== undefined && (header.length < HEADER_BYTES || offset + into.length <= HEADER_BYTES)) {
      const bytes = header.subarray(Math.min(offset, header.length), offset + into.length);
      into.set(bytes);
      return bytes.length;
    }
    return this.handle(slot).read(into, { at: offset });
  }

  write(slot: number, offset: number, data: Uint8Array): void {
    this.unflushed.add(slot);
    this.headers.delete(slot);
    const written = this.handle(slot).write(data, { at: offset });
    if (written !== data.length) {
      throw new Error(`short write: ${written} of ${data.length} bytes at offset ${offset} (storage full?)`);
    }
  }

  size(slot: number): number {
    return this.handle(slot).getSize();
  }

  truncate(slot: number, size: number): void {
    this.unflushed.add(slot);
    this.headers.delete(slot);
    this.handle(slot).truncate(size);
  }

  flush(slot: number): void {
    const handle = this.handle(slot);
    if (!this.unflushed.delete(slot)) return;
    const started = performance.now();
    try {
      handle.flush();
    } catch (error) {
      this.unflushed.add(slot);
      throw error;
    }
    this.flushes.count++;
    this.flushes.ms += performance.now() - started;
  }

  /** Opens more pool files in the background until there are `count`. */
  grow(count: number): void {
    if (this.growing !== null) return;
    this.growing = (async () => {
      // All at once, as in open(); slots are numbered without gaps, so only
      // the files before the first failure join the pool.
      const first = this.handles.length;
      const opened = await Promise.allSettled(
        Array.from({ length: Math.max(0, count - first) }, (_, i) => this.directory.open(slotFileName(first + i))),
      );
      const failed = opened.findIndex((result) => result.status === 'rejected');
      try {
        opened.forEach((result, i) => {
          if (result.status !== 'fulfilled') return;
          if (failed >= 0 && i > failed) {
            result.value.close();
          } else {
            this.unflushed.add(this.handles.length);
            this.handles.push(result.value);
          }
        });
        const reason = failed < 0 ? null : (opened[failed] as PromiseRejectedResult).reason;
        this.growError = reason === null || reason instanceof Error ? reason : new Error(String(reason));
      } finally {
        this.growing = null;
      }
    })();
  }

  /** Resolves once a background grow (if any) has finished. */
  async settled(): Promise<void> {
    await this.growing;
  }

  /** Registers the pool with the core for sqlsync_env_open_pool(this.id). */
  register(core: CoreModule): void {
    core.sqlsyncSlotStores ??= new Map();
    core.sqlsyncSlotStores.set(this.id, this);
  }

  /** Closes every handle (after the documents using the pool closed). */
  async close(core?: CoreModule): Promise<void> {
    await this.growing;
    core?.sqlsyncSlotStores?.delete(this.id);
    for (const handle of this.handles.splice(0)) handle.close();
  }

  private handle(slot: number): SyncHandle {
    const handle = this.handles[slot];
    if (handle === undefined) throw new RangeError(`no pool file ${slot} (the pool has ${this.handles.length})`);
    return handle;
  }
}

/**
 * The OPFS directory sqlsync/<docId>/ as a PoolDirectory. Opening a sync
 * access handle fails while another worker (a closing tab's) still holds
 * it: retried for up to `waitMs`.
 */
export async function opfsPoolDirectory(docId: string, waitMs = 10_000): Promise<PoolDirectory> {
  const root = await navigator.storage.getDirectory();
  const dir = await (await root.getDirectoryHandle('sqlsync', { create: true })).getDirectoryHandle(docId, {
    create: true,
  });
  type Opfs = FileSystemDirectoryHandle & { keys(): AsyncIterable<string> };
  type OpfsFile = FileSystemFileHandle & { createSyncAccessHandle(): Promise<SyncHandle> };
  return {
    async list() {
      const names: string[] = [];
      for await (const name of (dir as Opfs).keys()) names.push(name);
      return names;
    },
    async open(name: string) {
      const file = (await dir.getFileHandle(name, { create: true })) as OpfsFile;
      const deadline = Date.now() + waitMs;
      for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
        try {
          return await file.createSyncAccessHandle();
        } catch (error) {
          const busy = error instanceof DOMException && error.name === 'NoModificationAllowedError';
          if (!busy || Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    },
  };
}
