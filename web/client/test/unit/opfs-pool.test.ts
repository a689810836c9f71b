import { describe, expect, it } from 'vitest';

import { limitMemory } from '../../src/guest-host.js';
import { SlotPool, slotFileName, type PoolDirectory, type SyncHandle } from '../../src/opfs-pool.js';

// Files as byte arrays; `shortWrites` makes every write store one byte less.
function memoryDirectory(names: string[] = [], shortWrites = false) {
  const files = new Map<string, Uint8Array>(names.map((name) => [name, new Uint8Array(0)]));
  const opened: string[] = [];
  const flushed: string[] = [];
  const directory: PoolDirectory = {
    async list() {
      return [...files.keys()];
    },
    async open(name) {
      opened.push(name);
      if (!files.has(name)) files.set(name, new Uint8Array(0));
      const handle: SyncHandle = {
        read(buffer, { at }) {
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
        close() {},
      };
      return handle;
    },
  };
  return { directory, files, opened, flushed };
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
