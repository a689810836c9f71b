import { describe, expect, it } from 'vitest';

import { backoffDelay } from '../../src/backoff.js';
import { isDocumentId, newDocumentId, sha256Hex } from '../../src/ids.js';
import { paramsToJson, rowsToObjects } from '../../src/rows.js';

describe('rowsToObjects', () => {
  it('keys cells by column and turns BLOBs into bytes', () => {
    const rows = rowsToObjects<{ id: string; n: number; data: Uint8Array | null }>({
      columns: ['id', 'n', 'data'],
      rows: [
        ['a', 1, { blob: [1, 2, 255] }],
        ['b', 2.5, null],
      ],
    });
    expect(rows).toEqual([
      { id: 'a', n: 1, data: Uint8Array.from([1, 2, 255]) },
      { id: 'b', n: 2.5, data: null },
    ]);
  });
});

describe('paramsToJson', () => {
  it('encodes every supported value', () => {
    expect(paramsToJson(undefined)).toBe('');
    expect(paramsToJson([])).toBe('');
    expect(JSON.parse(paramsToJson([null, undefined, true, 3, 'x', 7n, Uint8Array.from([9]), new ArrayBuffer(1)]))).toEqual([
      null, null, true, 3, 'x', 7, { blob: [9] }, { blob: [0] },
    ]);
  });
  it('names the parameter it cannot encode', () => {
    expect(() => paramsToJson([1, NaN])).toThrow(/parameter 2 is not a finite number/);
    expect(() => paramsToJson([2n ** 64n])).toThrow(/parameter 1 does not fit/);
    expect(() => paramsToJson([{}])).toThrow(/parameter 1 has unsupported type object/);
  });
});

describe('backoffDelay', () => {
  it('doubles up to the cap, with jitter between half and all of it', () => {
    const options = { initialMs: 100, maxMs: 1000 };
    expect(backoffDelay(0, () => 0, options)).toBe(50);
    expect(backoffDelay(0, () => 0.999999, options)).toBe(100);
    expect(backoffDelay(3, () => 0, options)).toBe(400);
    expect(backoffDelay(10, () => 0.5, options)).toBe(750);
    expect(backoffDelay(1000, () => 0.999999, options)).toBe(1000);
  });
});

describe('document ids', () => {
  it('are 32 random hex characters', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newDocumentId()));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(isDocumentId(id)).toBe(true);
    expect(isDocumentId('ABCDEF00000000000000000000000000')).toBe(false);
    expect(isDocumentId('abc')).toBe(false);
  });
  it('reducer digests are SHA-256 hex', async () => {
    expect(await sha256Hex(new TextEncoder().encode('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});
