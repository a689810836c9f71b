// Browser benchmark page (driven by web/e2e/bench.mjs, readable by hand):
//   cold start: navigation start -> first result of the query;
//   mutate -> useQuery re-render: from calling mutate(CreateTask) to the
//   commit of the React render that shows the new row, n times in sequence.
// Query parameters: n (default 1000), doc (default: a new list), server (as
// in the demo), query: `list` (default; the demo's list query, whose result
// grows by a row per mutation) or `count` (one row, SELECT count(*)). The
// result is published as window.sqlsyncBench and as JSON in #result.
import { newDocumentId, preloadDocument } from '@sqlsync/client';
import { documentOptions } from './config';

// Small on purpose (no React): the document starts opening while the page's
// React part loads, as in the demo (main.tsx).
const scriptStart = performance.now();
const docId = new URLSearchParams(window.location.search).get('doc') ?? newDocumentId();
preloadDocument(documentOptions(docId));
void import('./bench-page').then(({ startBench }) => startBench(docId, scriptStart));
