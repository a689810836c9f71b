// The dedicated worker each tab starts per open document (module worker,
// dist/worker.js, bundled into one file by scripts/bundle.mjs). Workers of
// one document elect an owner with a Web Lock; the owner runs the core
// (DocumentOwner), the others forward their tab's calls to it over a
// BroadcastChannel and relay what comes back. When the owner's tab closes
// its lock is released and another worker takes over. Design:
// docs/browser.md, "Cross-tab".

import { compileCore, fetchCoreScript, loadCoreModule, once } from './core.js';
import { DocumentOwner, type OwnerDependencies } from './owner.js';
import { opfsPoolDirectory, type PoolDirectory } from './opfs-pool.js';
import {
  channelName,
  openParamsFromWorkerName,
  ownerLockName,
  workerLockName,
  type Call,
  type ChannelMessage,
  type DocumentEvent,
  type OpenParams,
  type TabEvent,
  type TabRequest,
} from './protocol.js';
import { StartupMarks } from './timing.js';

interface WorkerScope {
  readonly name: string;
  postMessage(message: TabEvent): void;
  onmessage: ((event: MessageEvent<TabRequest>) => void) | null;
  close(): void;
}
const scope = self as unknown as WorkerScope;

const me = crypto.randomUUID();
const LIVENESS_CHECK_MS = 5_000;

const marks = new StartupMarks();
marks.marks.push({ name: 'worker created', at: performance.timeOrigin });
marks.mark('worker script started');

// The tab serves the core next to this script (OpenParams.coreUrl names
// the same directory). It compiles the core (the longest step of opening a
// document, started before this worker exists) and posts the module; this
// worker compiles it only if the tab could not. The glue is fetched now.
// Both happen before the owner election: a follower that takes over later
// has them ready.
const coreUrl = new URL('./', import.meta.url).href;
let receiveCore: (module: WebAssembly.Module | null) => void = () => undefined;
const compiledCore = new Promise<WebAssembly.Module | null>((resolve) => (receiveCore = resolve)).then(
  (module) => module ?? compileCore(coreUrl),
);
compiledCore.then(
  () => marks.mark('core received'),
  () => undefined, // reported by loadCoreModule if the core is used
);
fetchCoreScript(coreUrl).catch(() => undefined);

// The reducer and the document's OPFS directory are needed by whichever
// worker becomes the owner, and neither is exclusive (the pool's files are,
// and are opened by the owner only): both start now too, so the owner does
// not wait for them after its election.
const params = openParamsFromWorkerName(scope.name);
const reducerBytes = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();
const poolDirectories = new Map<string, Promise<PoolDirectory | null>>();

function fetchBytes(url: string): Promise<Uint8Array<ArrayBuffer>> {
  return once(reducerBytes, url, async () => {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`cannot load the reducer ${url}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  });
}

function poolDirectory(docId: string): Promise<PoolDirectory | null> {
  return once(poolDirectories, docId, async () => {
    if (typeof navigator.storage?.getDirectory !== 'function') {
      console.warn('sqlsync: OPFS is not available here; the document lives in memory only');
      return null;
    }
    return opfsPoolDirectory(docId);
  });
}

fetchBytes(params.reducerUrl).catch(() => undefined);
poolDirectory(params.docId).catch(() => undefined);

const browserDependencies: OwnerDependencies = {
  loadCore: (url) => loadCoreModule(url, compiledCore),
  poolDirectory,
  fetchBytes,
  webSocket: (url) => new WebSocket(url),
};

let channel: BroadcastChannel | null = null;
let owner: DocumentOwner | null = null;
let ownerId: string | null = null;
let opened = false;
let releaseOwnership: (() => void) | null = null;
// The app's on/off choice for the connection as last heard from the owner
// (this tab's own option until then): a worker that takes over keeps it.
let connectionEnabled = true;
// This tab's calls not answered yet, and its live subscriptions (sent again
// to a new owner).
const pending = new Map<number, Call>();
const subscriptions = new Map<number, Extract<Call, { method: 'subscribe' }>>();
let internalCallId = 0;

function toTab(event: TabEvent): void {
  scope.postMessage(event);
}

function post(message: ChannelMessage): void {
  channel?.postMessage(message);
}

function markOpened(isOwner: boolean): void {
  if (opened) return;
  opened = true;
  marks.mark(isOwner ? 'opened as the owner' : 'opened as a follower');
  toTab({ kind: 'opened', owner: isOwner, marks: marks.marks });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// Runs a call on the owner here, for this tab or another worker.
function runLocally(from: string, id: number, call: Call): void {
  let reply: ChannelMessage & { kind: 'reply' };
  try {
    reply = { kind: 'reply', to: from, id, ok: true, value: owner!.call(from, call) };
    if (from !== me && call.method === 'mutate') owner!.syncMutations();
  } catch (error) {
    reply = { kind: 'reply', to: from, id, ok: false, error: errorText(error) };
  }
  if (from === me) answer(reply);
  else post(reply);
}

function answer(reply: ChannelMessage & { kind: 'reply' }): void {
  if (!pending.delete(reply.id) || reply.id < 0) return;
  if (reply.ok) toTab({ kind: 'reply', id: reply.id, ok: true, value: reply.value ?? null });
  else toTab({ kind: 'reply', id: reply.id, ok: false, error: reply.error ?? 'unknown error' });
}

function route(id: number, call: Call): void {
  if (owner !== null) runLocally(me, id, call);
  else if (ownerId !== null) post({ kind: 'call', from: me, to: ownerId, id, call });
  // else: sent when an owner announces itself.
}

function track(id: number, call: Call): void {
  pending.set(id, call);
  if (call.method === 'subscribe') subscriptions.set(call.subscription, call);
  if (call.method === 'unsubscribe') subscriptions.delete(call.subscription);
  route(id, call);
}

// A new owner knows nothing of this tab: send it every unanswered call and
// every live subscription. Calls meant for the old owner are addressed to
// it, so the new one never runs them twice.
function replayToNewOwner(): void {
  const resubscribed = new Set<number>();
  for (const [id, call] of pending) {
    if (call.method === 'subscribe') resubscribed.add(call.subscription);
    route(id, call);
  }
  for (const [subscription, call] of subscriptions) {
    if (resubscribed.has(subscription)) continue;
    const id = --internalCallId;
    pending.set(id, call);
    route(id, call);
  }
}

const ownerOutput = {
  rows(client: string, subscription: number, rows: Record<string, unknown>[] | null, error: string | null) {
    if (client === me) {
      if (rows !== null) toTab({ kind: 'rows', subscription, rows });
      else toTab({ kind: 'rowsError', subscription, error: error ?? 'unknown error' });
    } else {
      post({ kind: 'rows', to: client, subscription, ...(rows !== null ? { rows } : { error: error ?? '' }) });
    }
  },
  event(event: DocumentEvent) {
    if (event.kind === 'status') connectionEnabled = event.enabled;
    toTab(event);
    post({ kind: 'event', event });
  },
};

function announce(): void {
  post({
    kind: 'owner',
    owner: me,
    status: owner!.connectionStatus(),
    enabled: owner!.connectionEnabled(),
    progress: owner!.progressMark(),
  });
}

async function becomeOwner(openParams: OpenParams): Promise<void> {
  marks.mark('owner lock acquired');
  const candidate = new DocumentOwner({ ...openParams, connectionEnabled }, browserDependencies, ownerOutput, marks);
  try {
    await candidate.open();
  } catch (error) {
    await candidate.close().catch(() => undefined);
    if (!opened) toTab({ kind: 'openFailed', error: errorText(error) });
    throw error;
  }
  owner = candidate;
  ownerId = me;
  announce();
  markOpened(true);
  toTab({ kind: 'status', status: owner.connectionStatus(), enabled: connectionEnabled });
  replayToNewOwner();
  owner.start();
  // Workers that died without saying bye (a crashed tab) lose their
  // subscriptions: each worker holds a lock named after it while it lives.
  setInterval(async () => {
    if (owner === null) return;
    const held = new Set(((await navigator.locks.query()).held ?? []).map((lock) => lock.name));
    for (const client of owner.clients()) {
      if (client !== me && !held.has(workerLockName(openParams.docId, client))) owner.dropClient(client);
    }
  }, LIVENESS_CHECK_MS);
}

function onChannelMessage(message: ChannelMessage): void {
  switch (message.kind) {
    case 'hello':
      if (owner !== null) announce();
      break;
    case 'owner':
      if (message.owner === me || message.owner === ownerId) break;
      ownerId = message.owner;
      connectionEnabled = message.enabled;
      toTab({ kind: 'status', status: message.status, enabled: message.enabled });
      if (message.progress >= 0) toTab({ kind: 'progress', before: message.progress });
      markOpened(false);
      replayToNewOwner();
      break;
    case 'call':
      if (owner !== null && message.to === me) runLocally(message.from, message.id, message.call);
      break;
    case 'reply':
      if (message.to === me) answer(message);
      break;
    case 'rows':
      if (message.to !== me) break;
      if (message.rows !== undefined) toTab({ kind: 'rows', subscription: message.subscription, rows: message.rows });
      else toTab({ kind: 'rowsError', subscription: message.subscription, error: message.error ?? '' });
      break;
    case 'bye':
      owner?.dropClient(message.from);
      break;
    case 'event':
      if (owner !== null) break;
      if (message.event.kind === 'status') connectionEnabled = message.event.enabled;
      toTab(message.event);
      break;
  }
}

function open(openParams: OpenParams): void {
  connectionEnabled = openParams.connectionEnabled ?? true;
  channel = new BroadcastChannel(channelName(openParams.docId));
  channel.onmessage = (event: MessageEvent<ChannelMessage>) => onChannelMessage(event.data);
  void navigator.locks.request(workerLockName(openParams.docId, me), () => new Promise<never>(() => undefined));
  void navigator.locks
    .request(ownerLockName(openParams.docId), () =>
      becomeOwner(openParams).then(() => new Promise<void>((resolve) => (releaseOwnership = resolve))),
    )
    .catch((error: unknown) => console.error(`sqlsync: could not open the document: ${errorText(error)}`));
  post({ kind: 'hello', from: me });
}

async function close(): Promise<void> {
  if (owner !== null) {
    const closing = owner;
    owner = null;
    await closing.close();
    releaseOwnership?.();
  } else {
    post({ kind: 'bye', from: me });
  }
  channel?.close();
  toTab({ kind: 'closed' });
}

scope.onmessage = (event: MessageEvent<TabRequest>) => {
  const request = event.data;
  switch (request.kind) {
    case 'core':
      receiveCore(request.module);
      break;
    case 'call':
      track(request.id, request.call);
      break;
    case 'ping':
      toTab({ kind: 'pong' });
      break;
    case 'close':
      void close();
      break;
  }
};

open(params);
