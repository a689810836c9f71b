// Where the demo finds the server, the reducer and the core. Everything is
// relative to the page so the built files work from any static directory;
// `?server=` overrides the server (`?server=none`: local only, no sync).
import type { OpenOptions } from '@sqlsync/client';

export function documentOptions(docId: string): OpenOptions {
  const server = new URLSearchParams(window.location.search).get('server');
  const options: OpenOptions = {
    docId,
    reducerUrl: new URL('todo_reducer.wasm', document.baseURI).href,
    coreUrl: new URL('sqlsync/', document.baseURI).href,
  };
  if (server !== 'none') options.serverUrl = server ?? window.location.origin;
  return options;
}
