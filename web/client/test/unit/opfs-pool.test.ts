import { describe, expect, it } from 'vitest';

import { limitMemory } from '../../src/guest-host.js';
import { SlotPool, slotFileName, type PoolDirectory, type SyncHandle } from '../../src/opfs-pool.js';

// Files as byte arrays; `shortWrites` makes every write store one byte less,
// and reading the file `unreadable` throws.
function memoryDirectory(names: string[] = [], shortWrites = false, unreadable = '') {
  const files = new Map<string, Uint8Array>(names.map((name) => [name, new Uint8Array(0)]));
  const opened: string[] = [];
  const flushed: string[] = [];
  const reads: string[] = [];
  const closed: string[] = [];
  const directory: PoolDirectory = {
    async list() {
      return [...files.keys()];
    },
    async open(name) {
      opened.push(name);
      if (!files.has(name)) files.set(name, new Uint8Array(0));
      const handle: SyncHandle = {
        read(buffer, { at }) {
          reads.push(`${name}@${at}`);
          if (name === unreadable) throw new DOMException('the file is gone', 'InvalidStateError');
          const bytes = files.get(name)!.subarray(at, at + buffer.length);
          buffer.set(bytes);
          return bytes.length;
        },
        write(buffer, { at }) {
          const length = shortWrites ? buffer.length - 1 : buffer.length;
          const data = files.get(name)!;
          const grown = new Uint8Array(Math.max(data.length, at + length));
          grown.set(data);
          grown.set(buffer.subarray(0, length), at);
          files.set(name, grown);
          return length;
        },
        truncate(size) {
          files.set(name, files.get(name)!.slice(0, size));
        },
        getSize: () => files.get(name)!.length,
        flush() {
          flushed.push(name);
        },
        close() {
          closed.push(name);
        },
      };
      return handle;
    },
  };
  return { directory, files, opened, flushed, reads, closed };
}

describe('SlotPool', () => {
  it('flushes a slot only if written since its last flush, and each once after opening', async () => {
    const { directory, flushed } = memoryDirectory();
    const pool = await SlotPool.open(directory, 3);
    pool.flush(0);
    pool.flush(0);
    expect(flushed).toEqual([slotFileName(0)]);
    pool.write(0, 0, Uint8Array.from([1]));
    pool.truncate(1, 0);
    pool.flush(0);
    pool.flush(1);
    pool.flush(1);
    pool.flush(0);
    expect(flushed).toEqual([0, 0, 1].map(slotFileName));
    expect(pool.flushes.count).toBe(3);
  });

  it('opens existing pool files by number and creates the missing ones', async () => {
    const { directory, opened } = memoryDirectory([slotFileName(5), 'unrelated']);
    const pool = await SlotPool.open(directory, 3);
    expect(pool.count()).toBe(6);
    expect(opened).toEqual([0, 1, 2, 3, 4, 5].map(slotFileName));
  });

  it('reads and writes at offsets and grows in the background', async () => {
    const { directory } = memoryDirectory();
    const pool = await SlotPool.open(directory, 2);
    pool.write(1, 3, Uint8Array.from([7, 8]));
    expect(pool.size(1)).toBe(5);
    const into = new Uint8Array(4);
    expect(pool.read(1, 2, into)).toBe(3);
    expect([...into]).toEqual([0, 7, 8, 0]);
    pool.grow(5);
    expect(pool.count()).toBe(2);
    await pool.settled();
    expect(pool.count()).toBe(5);
    expect(() => pool.read(9, 0, into)).toThrow(/no pool file 9/);
  });

  it('grows by the files before the first that fails to open, and reports the failure', async () => {
    const { directory, closed } = memoryDirectory();
    const pool = await SlotPool.open(directory, 2);
    const open = directory.open.bind(directory);
    directory.open = async (name) => {
      if (name === slotFileName(3)) throw new DOMException('the origin is over its quota', 'QuotaExceededError');
      return open(name);
    };
    pool.grow(6);
    await pool.settled();
    expect(pool.count()).toBe(3);
    expect(pool.growError?.message).toBe('the origin is over its quota');
    expect(closed.sort()).toEqual([4, 5].map(slotFileName));

    directory.open = open;
    pool.grow(6);
    await pool.settled();
    expect(pool.count()).toBe(6);
    expect(pool.growError).toBeNull();
  });

  it('answers reads of the headers from what it read at opening until the file changes', async () => {
    const header = new Uint8Array(4096 + 2).map((_, i) => i % 251);
    const { directory, files, reads } = memoryDirectory([slotFileName(0), slotFileName(1)]);
    files.set(slotFileName(0), header);
    files.set(slotFileName(1), Uint8Array.from([1, 2, 3]));
    const pool = await SlotPool.open(directory, 3);
    expect(reads.sort()).toEqual([0, 1, 2].map((slot) => `${slotFileName(slot)}@0`));
    reads.length = 0;

    const into = new Uint8Array(4096);
    expect(pool.read(0, 0, into)).toBe(4096);
    expect([...into]).toEqual([...header.subarray(0, 4096)]);
    expect(pool.read(0, 4090, new Uint8Array(6))).toBe(6);
    const small = new Uint8Array(5);
    expect(pool.read(1, 1, small)).toBe(2);
    expect([...small]).toEqual([2, 3, 0, 0, 0]);
    expect(pool.read(1, 9, small)).toBe(0);
    expect(pool.read(2, 0, into)).toBe(0);
    expect(reads).toEqual([]);

    // Beyond the header, and after a write or truncate: the file itself.
    expect(pool.read(0, 4090, new Uint8Array(8))).toBe(8);
    pool.write(1, 0, Uint8Array.from([9]));
    expect(pool.read(1, 0, small)).toBe(3);
    expect([...small.subarray(0, 3)]).toEqual([9, 2, 3]);
    pool.truncate(2, 0);
    pool.read(2, 0, small);
    expect(reads).toEqual([`${slotFileName(0)}@4090`, `${slotFileName(1)}@0`, `${slotFileName(2)}@0`]);
  });

  it('fails to open, closing every file, when a header cannot be read', async () => {
    const { directory, closed } = memoryDirectory([], false, slotFileName(1));
    await expect(SlotPool.open(directory, 3)).rejects.toThrow(/the file is gone/);
    expect(closed.sort()).toEqual([0, 1, 2].map(slotFileName));
  });

  it('reports a short write as an error', async () => {
    const { directory } = memoryDirectory([], true);
    const pool = await SlotPool.open(directory, 1);
    expect(() => pool.write(0, 0, Uint8Array.from([1, 2]))).toThrow(/short write: 1 of 2 bytes at offset 0/);
  });
});

describe('limitMemory', () => {
  const module = (section: number[]) => Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...section]);
  it('adds a maximum at the cap to a memory without one', () => {
    expect([...limitMemory(module([5, 3, 1, 0, 2]), 65536 * 4)].slice(8)).toEqual([5, 4, 1, 1, 2, 4]);
  });
  it('keeps a smaller maximum', () => {
    expect([...limitMemory(module([5, 4, 1, 1, 1, 3]), 65536 * 4)].slice(8)).toEqual([5, 4, 1, 1, 1, 3]);
  });
  it('leaves modules without memory alone', () => {
    expect([...limitMemory(module([]))]).toEqual([...module([])]);
  });
});
