// The demo's addresses: #/ home, #/list/<32 hex digits> a list.
import { isDocumentId } from '@sqlsync/client';

export type Route = { page: 'home' } | { page: 'list'; docId: string } | { page: 'not-found'; hash: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '');
  if (path === '' || path === '/') return { page: 'home' };
  const match = /^\/list\/([^/]+)$/.exec(path);
  if (match && isDocumentId(match[1])) return { page: 'list', docId: match[1] };
  return { page: 'not-found', hash };
}
