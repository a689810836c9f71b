import { createContext, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { beginOpenDocument, type ConnectionStatus, type OpenOptions, type OpeningDocument, type SQLSyncDocument } from '@sqlsync/client';

/**
 * What the hooks below a provider see. `document` is null while the provider
 * is still opening it or when opening failed (then `error` says why).
 */
export interface DocumentSlot {
  readonly document: SQLSyncDocument | null;
  /**
   * The document already while it opens (then the same as `document`):
   * its calls wait in its worker until it is open. useQuery subscribes
   * through it, so a first result needs no round trip after the open.
   */
  readonly opening: SQLSyncDocument | null;
  readonly error: Error | null;
  /** Resolves with the document once open; rejects with `error`. Never left unhandled. */
  readonly ready: Promise<SQLSyncDocument>;
  /** The status to report while no document is open. */
  readonly statusBeforeOpen: ConnectionStatus;
  /** Applies to the open document, or to the document once it opens. */
  setConnectionEnabled(enabled: boolean): void;
}

export const DocumentContext = createContext<DocumentSlot | null>(null);

export type SQLSyncProviderProps =
  | {
      /**
       * The provider opens the document with `openDocument(options)` and
       * closes it when it unmounts or when an option changes (options are
       * compared by value, so an inline object literal is fine).
       */
      options: OpenOptions;
      document?: undefined;
      children?: ReactNode;
    }
  | {
      /** An open document; the caller keeps ownership and closes it. */
      document: SQLSyncDocument;
      options?: undefined;
      children?: ReactNode;
    };

/**
 * Makes one document available to the hooks of `createDocHooks()` in its
 * subtree. Nest providers to use several documents.
 */
export function SQLSyncProvider(props: SQLSyncProviderProps) {
  const given = props.document ?? null;
  const optionsKey = props.options ? optionsIdentity(props.options) : null;
  const opened = useOpenedDocument(optionsKey);

  // The app's last on/off choice outlives the documents it opens (a new
  // list opened while "offline" stays offline).
  const wantEnabled = useRef<boolean | null>(null);
  const document = given ?? opened.document;
  const opening = given ?? opened.opening;
  useEffect(() => {
    if (document && wantEnabled.current !== null) document.setConnectionEnabled(wantEnabled.current);
  }, [document]);

  const ready = useMemo(() => (given ? Promise.resolve(given) : opened.ready), [given, opened.ready]);
  const error = given ? null : opened.error;
  const statusBeforeOpen = props.options?.serverUrl && props.options.connectionEnabled !== false ? 'connecting' : 'disabled';
  const slot = useMemo<DocumentSlot>(
    () => ({
      document,
      opening,
      error,
      ready,
      statusBeforeOpen,
      setConnectionEnabled(enabled: boolean) {
        wantEnabled.current = enabled;
        document?.setConnectionEnabled(enabled);
      },
    }),
    [document, opening, error, ready, statusBeforeOpen],
  );

  return <DocumentContext.Provider value={slot}>{props.children}</DocumentContext.Provider>;
}

/** The slot of the nearest provider; throws if there is none (a programming error). */
export function useDocumentSlot(hook: string): DocumentSlot {
  const slot = useContext(DocumentContext);
  if (!slot) throw new Error(`${hook} must be used inside <SQLSyncProvider>`);
  return slot;
}

interface Opened {
  document: SQLSyncDocument | null;
  opening: SQLSyncDocument | null;
  error: Error | null;
  ready: Promise<SQLSyncDocument>;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

function createDeferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

const neverSettles: Promise<SQLSyncDocument> = new Promise(() => {});

// Opens the document `optionsKey` describes (null: none) and closes it when
// the key changes or the component unmounts, also if it opens only after that.
// `ready` exists from the first render for a key, so a mutation issued before
// the document is open waits for it instead of failing.
function useOpenedDocument(optionsKey: string | null): Opened {
  const deferred = useMemo(() => (optionsKey === null ? null : createDeferred<SQLSyncDocument>()), [optionsKey]);
  const [opened, setOpened] = useState<{ deferred: Deferred<SQLSyncDocument> | null } & Omit<Opened, 'ready'>>({
    deferred: null,
    document: null,
    opening: null,
    error: null,
  });

  useEffect(() => {
    if (optionsKey === null || deferred === null) return;
    let current = true;
    let document: SQLSyncDocument | null = null;
    const fail = (e: unknown) => {
      if (!current) return;
      const error = asError(e);
      deferred.reject(error);
      setOpened({ deferred, document: null, opening: null, error });
    };
    let begun: OpeningDocument;
    try {
      begun = beginOpenDocument(JSON.parse(optionsKey) as OpenOptions);
    } catch (e) {
      fail(e);
      return;
    }
    setOpened({ deferred, document: null, opening: begun.document, error: null });
    begun.ready.then((doc) => {
      if (!current) {
        void doc.close();
        return;
      }
      document = doc;
      deferred.resolve(doc);
      setOpened({ deferred, document: doc, opening: doc, error: null });
    }, fail);
    return () => {
      current = false;
      if (document) void document.close();
    };
  }, [optionsKey, deferred]);

  const ready = deferred?.promise ?? neverSettles;
  // Until the document of a new key is begun, report "opening", not the previous one.
  if (opened.deferred !== deferred) return { document: null, opening: null, error: null, ready };
  return { document: opened.document, opening: opened.opening, error: opened.error, ready };
}

// Equal options give equal strings whatever the key order.
function optionsIdentity(options: OpenOptions): string {
  return JSON.stringify(options, Object.keys(options).sort());
}

export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
