// The demo's entry. It stays small (no React) so that the list in the
// address starts opening (worker, core, OPFS) while React and the app load;
// the list page's provider then takes that document (preloadDocument).
import { preloadDocument } from '@sqlsync/client';
import { documentOptions } from './config';
import { parseRoute } from './route';

const route = parseRoute(window.location.hash);
if (route.page === 'list') preloadDocument(documentOptions(route.docId));
void import('./root');
