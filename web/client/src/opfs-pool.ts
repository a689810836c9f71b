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

const SLOT_NAME = /^slot-(\d{4,})$/;

export function slotFileName(slot: number): string {
  return `slot-${String(slot).padStart(4, '0')}`;
}

let nextStoreId = 1;

export class SlotPool {
  readonly id = nextStoreId++;
  private growing: Promise<void> | null = null;
  /** The last error of a background grow, reported by the next failing create. */
  growError: Error | null = null;

  private constructor(
    private readonly directory: PoolDirectory,
    private readonly handles: SyncHandle[],
  ) {}

  /** Opens every pool file in `directory`, creating files up to `minimum`. */
  static async open(directory: PoolDirectory, minimum: number): Promise<SlotPool> {
    const numbers = (await directory.list())
      .map((name) => SLOT_NAME.exec(name))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => Number(match[1]));
    const count = Math.max(minimum, numbers.length === 0 ? 0 : Math.max(...numbers) + 1);
    const handles: SyncHandle[] = [];
    try {
      for (let slot = 0; slot < count; slot++) handles.push(await directory.open(slotFileName(slot)));
    } catch (error) {
      for (const handle of handles) handle.close();
      throw error;
    }
    return new SlotPool(directory, handles);
  }

  count(): number {
    return this.handles.length;
  }

  read(slot: number, offset: number, into: Uint8Array): number {
    return this.handle(slot).read(into, { at: offset });
  }

  write(slot: number, offset: number, data: Uint8Array): void {
    const written = this.handle(slot).write(data, { at: offset });
    if (written !== data.length) {
      throw new Error(`short write: ${written} of ${data.length} bytes at offset ${offset} (storage full?)`);
    }
  }

  size(slot: number): number {
    return this.handle(slot).getSize();
  }

  truncate(slot: number, size: number): void {
    this.handle(slot).truncate(size);
  }

  flush(slot: number): void {
    this.handle(slot).flush();
  }

  /** Opens more pool files in the background until there are `count`. */
  grow(count: number): void {
    if (this.growing !== null) return;
    this.growing = (async () => {
      try {
        while (this.handles.length < count) {
          this.handles.push(await this.directory.open(slotFileName(this.handles.length)));
        }
        this.growError = null;
      } catch (error) {
        this.growError = error instanceof Error ? error : new Error(String(error));
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
