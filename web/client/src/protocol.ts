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

/** Tab → its worker. */
export type TabRequest =
  | { kind: 'open'; params: OpenParams }
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
