// Conversions between JavaScript values and the JSON forms of the core's C
// ABI (docs/wasm-abi.md, "Values in JSON").

/** A query result as the core returns it. */
export interface CoreQueryResult {
  columns: string[];
  rows: unknown[][];
}

function isBlob(value: unknown): value is { blob: number[] } {
  return typeof value === 'object' && value !== null && Array.isArray((value as { blob?: unknown }).blob);
}

/** Rows as objects keyed by column name; BLOBs become Uint8Arrays. */
export function rowsToObjects<Row>(result: CoreQueryResult): Row[] {
  const { columns } = result;
  return result.rows.map((cells) => {
    const row: Record<string, unknown> = {};
    for (let i = 0; i < columns.length; i++) {
      const cell = cells[i];
      row[columns[i]] = isBlob(cell) ? Uint8Array.from(cell.blob) : cell;
    }
    return row as Row;
  });
}

/**
 * Query parameters as the core's JSON: null/undefined → NULL, booleans,
 * finite numbers, bigints within ±2^63, strings, Uint8Array/ArrayBuffer →
 * BLOB. Throws a TypeError naming the parameter for anything else.
 */
export function paramsToJson(params: readonly unknown[] | undefined): string {
  if (params === undefined || params.length === 0) return '';
  return JSON.stringify(
    params.map((value, index) => {
      if (value === null || value === undefined) return null;
      if (typeof value === 'boolean' || typeof value === 'string') return value;
      if (typeof value === 'number') {
        if (!Number.isFinite(value)) throw new TypeError(`query parameter ${index + 1} is not a finite number`);
        return value;
      }
      if (typeof value === 'bigint') {
        if (value > 2n ** 63n - 1n || value < -(2n ** 63n)) {
          throw new TypeError(`query parameter ${index + 1} does not fit a 64-bit signed integer`);
        }
        return Number(value);
      }
      if (value instanceof Uint8Array) return { blob: Array.from(value) };
      if (value instanceof ArrayBuffer) return { blob: Array.from(new Uint8Array(value)) };
      throw new TypeError(`query parameter ${index + 1} has unsupported type ${typeof value}`);
    }),
  );
}
