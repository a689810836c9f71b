// Messages between a tab and its worker (postMessage), and between the
// workers of one document in different tabs (BroadcastChannel). Design:
// docs/browser.md, "Cross-tab".

import type { StartupMark } from './timing.js';

export type ConnectionStatus = 'disabled' | 'connecting' | 'connected' | 'offline';

/** What a tab asks of the document; answered by the owner. */
export type Call =
  | { method: 'mutate'; mutation: string }
  | { method: 'query'; sql: string; params: string }
  | { method: 'subscribe'; subscription: number; sql: string; params: string }
  | { method: 'unsubscribe'; subscription: number }
  | { method: 'setConnectionEnabled'; enabled: boolean };

/** The value a call resolves with: `lsn` for mutate, rows for query. */
export type CallResult = { lsn: number } | { rows: Record<string, unknown>[] } | null;

export interface OpenParams {
  docId: string;
  reducerUrl: string;
  serverUrl?: string;
  token?: string;
  coreUrl: string;
  /** OpenOptions.connectionEnabled; absent: true. */
  connectionEnabled?: boolean;
}

/** Events every tab of the document receives. */
export type DocumentEvent =
  // `enabled`: the app's on/off choice (setConnectionEnabled), which a new
  // owner inherits.
  | { kind: 'status'; status: ConnectionStatus; enabled: boolean }
  // Mutations of this replica's timeline below `before` have their verdict.
  | { kind: 'progress'; before: number }
  | { kind: 'rejection'; lsn: number; message: string };

// The tab gives its worker the open parameters in the worker's name
// (WorkerOptions.name, the worker's self.name), so the worker starts opening
// at its first line instead of after the tab's first message; a name, unlike
// the script URL, does not end up in stack traces (it may hold the token).
const WORKER_NAME_PREFIX = 'sqlsync ';

/** The name of a worker that opens `params`. */
export function workerName(params: OpenParams): string {
  return WORKER_NAME_PREFIX + JSON.stringify(params);
}

/** The open parameters in a worker's name; throws if it is not from workerName(). */
export function openParamsFromWorkerName(name: string): OpenParams {
  if (!name.startsWith(WORKER_NAME_PREFIX)) throw new Error(`not a sqlsync worker name: '${name}'`);
  return JSON.parse(name.slice(WORKER_NAME_PREFIX.length)) as OpenParams;
}

/** Tab → its worker (after the open parameters, given in its name). */
export type TabRequest =
  // The compiled core (the tab starts compiling it before the worker runs);
  // null if the tab could not, and the worker tries itself.
  | { kind: 'core'; module: WebAssembly.Module | null }
  | { kind: 'call'; id: number; call: Call }
  | { kind: 'ping' }
  | { kind: 'close' };

/** Worker → its tab. */
export type TabEvent =
  | { kind: 'opened'; owner: boolean; marks: StartupMark[] }
  | { kind: 'openFailed'; error: string }
  | { kind: 'reply'; id: number; ok: true; value: CallResult }
  | { kind: 'reply'; id: number; ok: false; error: string }
  | { kind: 'rows'; subscription: number; rows: Record<string, unknown>[] }
  | { kind: 'rowsError'; subscription: number; error: string }
  | { kind: 'pong' }
  | { kind: 'closed' }
  | DocumentEvent;

/** On the document's BroadcastChannel. `from`/`to` are worker ids. */
export type ChannelMessage =
  // A worker that is not the owner asks the owner to announce itself.
  | { kind: 'hello'; from: string }
  // The owner says who it is (on taking over, and in answer to hello).
  | { kind: 'owner'; owner: string; status: ConnectionStatus; enabled: boolean; progress: number }
  | { kind: 'call'; from: string; to: string; id: number; call: Call }
  | { kind: 'reply'; to: string; id: number; ok: boolean; value?: CallResult; error?: string }
  | { kind: 'rows'; to: string; subscription: number; rows?: Record<string, unknown>[]; error?: string }
  // A worker leaves: the owner drops its subscriptions.
  | { kind: 'bye'; from: string }
  | { kind: 'event'; event: DocumentEvent };

export function channelName(docId: string): string {
  return `sqlsync:${docId}`;
}
export function ownerLockName(docId: string): string {
  return `sqlsync:${docId}:owner`;
}
/** Held by every worker of the document while it lives (liveness for the owner). */
export function workerLockName(docId: string, worker: string): string {
  return `sqlsync:${docId}:worker:${worker}`;
}
