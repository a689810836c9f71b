// Where the demo finds the server, the reducer and the core. Everything is
// relative to the page so the built files work from any static directory;
// `?server=` overrides the server (`?server=none`: local only, no sync); a
// list the user took offline opens offline.
import type { OpenOptions } from '@sqlsync/client';

export function documentOptions(docId: string): OpenOptions {
  const server = new URLSearchParams(window.location.search).get('server');
  const options: OpenOptions = {
    docId,
    reducerUrl: new URL('todo_reducer.wasm', document.baseURI).href,
    coreUrl: new URL('sqlsync/', document.baseURI).href,
  };
  if (server !== 'none') options.serverUrl = server ?? window.location.origin;
  if (server !== 'none' && wentOffline(docId)) options.connectionEnabled = false;
  return options;
}

// The user's "Go offline" survives a reload: it is a choice, not a state.
const offlineKey = (docId: string) => `sqlsync-demo:offline:${docId}`;

export function wentOffline(docId: string): boolean {
  return localStorage.getItem(offlineKey(docId)) !== null;
}

export function rememberOffline(docId: string, offline: boolean): void {
  if (offline) localStorage.setItem(offlineKey(docId), '1');
  else localStorage.removeItem(offlineKey(docId));
}
