import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { ConnectionStatus, MutationHandle, Rejection, SQLSyncDocument } from '@sqlsync/client';
import { asError, useDocumentSlot } from './provider.js';

/**
 * The state of a live query. `rows` keeps the last successful result while a
 * changed query is pending and after an error, so a list does not flash empty;
 * it is undefined only before the first result.
 */
export type QueryResult<Row> =
  | { state: 'pending'; rows: Row[] | undefined; error: undefined }
  | { state: 'success'; rows: Row[]; error: undefined }
  | { state: 'error'; rows: Row[] | undefined; error: Error };

export interface DocHooks<Mutation> {
  /**
   * Returns a function (stable while the document is) that applies a
   * mutation to the provider's document. Its promise resolves once the
   * mutation is applied locally
   * (waiting for the document to open if needed) and rejects with the local
   * error (e.g. the reducer refused it, or the document failed to open).
   * The handle's `confirmed` settles when the server applies or rejects it.
   */
  useMutate(): (mutation: Mutation) => Promise<MutationHandle>;
  /**
   * Subscribes to `sql` with `params` (compared by value) and re-renders when
   * its result changes. Pending until the document is open and the first
   * result arrives; an error in opening the document or running the query
   * gives state 'error'. Unsubscribes on unmount or when sql/params change.
   */
  useQuery<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): QueryResult<Row>;
  /** The document's connection status, re-rendering when it changes. */
  useConnectionStatus(): ConnectionStatus;
  /**
   * Returns a function (stable while the document is) that turns syncing on
   * or off. A choice made before the document opens is applied when it does,
   * and to any document the provider opens later.
   */
  useSetConnectionEnabled(): (enabled: boolean) => void;
  /**
   * Calls `onRejection` (latest value, no need to memoize) for each mutation
   * of this replica that the server rejected, while the component is mounted.
   */
  useRejection(onRejection: (rejection: Rejection) => void): void;
  /** The open document (null while opening) for anything the hooks do not cover. */
  useDocument(): SQLSyncDocument | null;
}

/**
 * Hooks bound to the nearest `<SQLSyncProvider>`, typed with the
 * application's mutation type. Call once at module level:
 * `export const { useMutate, useQuery } = createDocHooks<TodoMutation>();`
 * Every hook throws if used outside a provider.
 */
export function createDocHooks<Mutation>(): DocHooks<Mutation> {
  return {
    useMutate,
    useQuery,
    useConnectionStatus,
    useSetConnectionEnabled,
    useRejection,
    useDocument,
  };
}

function useMutate(): (mutation: unknown) => Promise<MutationHandle> {
  const { ready } = useDocumentSlot('useMutate');
  return useCallback(async (mutation: unknown) => (await ready).mutate(mutation), [ready]);
}

interface QuerySnapshot<Row> {
  document: SQLSyncDocument | null;
  sql: string;
  params: readonly unknown[];
  result: QueryResult<Row>;
}

function useQuery<Row = Record<string, unknown>>(sql: string, params: readonly unknown[] = noParams): QueryResult<Row> {
  // Subscribed while the document opens: the worker answers right after the open.
  const { opening: document, error: openError } = useDocumentSlot('useQuery');
  const stableParams = useStableParams(params);
  const [snapshot, setSnapshot] = useState<QuerySnapshot<Row>>({
    document: null,
    sql,
    params: stableParams,
    result: { state: 'pending', rows: undefined, error: undefined },
  });

  useEffect(() => {
    if (!document) return;
    let active = true;
    const at = { document, sql, params: stableParams };
    const onRows = (rows: Row[]) => {
      if (active) setSnapshot({ ...at, result: { state: 'success', rows, error: undefined } });
    };
    const onError = (e: Error) => {
      if (active) setSnapshot((prev) => ({ ...at, result: { state: 'error', rows: prev.result.rows, error: asError(e) } }));
    };
    let unsubscribe = () => {};
    try {
      unsubscribe = document.subscribe<Row>(sql, [...stableParams], onRows, onError);
    } catch (e) {
      onError(asError(e));
    }
    return () => {
      active = false;
      unsubscribe();
    };
  }, [document, sql, stableParams]);

  const rows = snapshot.result.rows;
  if (openError) return { state: 'error', rows, error: openError };
  // A result of the previous sql/params or document is only a placeholder.
  const current = document !== null && snapshot.document === document && snapshot.sql === sql && snapshot.params === stableParams;
  if (!current) return { state: 'pending', rows, error: undefined };
  return snapshot.result;
}

const noParams: readonly unknown[] = [];

// The previous array while `params` holds the same values, so a new but equal
// array literal on every render does not re-subscribe.
function useStableParams(params: readonly unknown[]): readonly unknown[] {
  const stable = useRef(params);
  if (!sameParams(stable.current, params)) stable.current = params;
  return stable.current;
}

function sameParams(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((value, i) => sameValue(value, b[i]));
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.length === b.length && a.every((byte, i) => byte === b[i]);
  }
  return false;
}

function useConnectionStatus(): ConnectionStatus {
  const { document, statusBeforeOpen } = useDocumentSlot('useConnectionStatus');
  const subscribe = useCallback(
    (onChange: () => void) => (document ? document.onConnectionStatus(onChange) : () => {}),
    [document],
  );
  const current = () => (document ? document.connectionStatus() : statusBeforeOpen);
  return useSyncExternalStore(subscribe, current, current);
}

function useSetConnectionEnabled(): (enabled: boolean) => void {
  const slot = useDocumentSlot('useSetConnectionEnabled');
  return useCallback((enabled: boolean) => slot.setConnectionEnabled(enabled), [slot]);
}

function useRejection(onRejection: (rejection: Rejection) => void): void {
  const { document } = useDocumentSlot('useRejection');
  const latest = useRef(onRejection);
  useEffect(() => {
    latest.current = onRejection;
  });
  useEffect(() => {
    if (!document) return;
    return document.onRejection((rejection) => latest.current(rejection));
  }, [document]);
}

function useDocument(): SQLSyncDocument | null {
  return useDocumentSlot('useDocument').document;
}
