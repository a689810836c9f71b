import { useEffect, useState } from 'react';
import { isDocumentId, newDocumentId } from '@sqlsync/client';
import { ListPage } from './list-page';
import { parseRoute, type Route } from './route';

const RECENT_KEY = 'sqlsync-demo:recent-lists';

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function App() {
  const route = useRoute();
  useEffect(() => {
    if (route.page === 'list') rememberList(route.docId);
  }, [route]);
  switch (route.page) {
    case 'home':
      return <Home />;
    case 'list':
      // A new key per list: nothing of one list's state leaks into another.
      return <ListPage key={route.docId} docId={route.docId} />;
    case 'not-found':
      return (
        <main>
          <p className="error">
            {route.hash} is not a list address (expected #/list/ and 32 hex digits). <a href="#/">Start over</a>
          </p>
        </main>
      );
  }
}

function Home() {
  const recent = recentLists();
  // The id is random, so the list exists as soon as it has one: it is born
  // offline and reaches the server on first sync.
  const create = () => {
    window.location.hash = `#/list/${newDocumentId()}`;
  };
  return (
    <main className="home">
      <h1>sqlsync todo</h1>
      <p>A todo list stored in SQLite in your browser, synced live with everyone who has its address.</p>
      <button type="button" data-testid="new-list" onClick={create}>
        New list
      </button>
      {recent.length > 0 && (
        <section>
          <h2>Your recent lists</h2>
          <ul>
            {recent.map((id) => (
              <li key={id}>
                <a href={`#/list/${id}`}>{id}</a>
              </li>
            ))}
          </ul>
        </section>
      )}
    </main>
  );
}

function recentLists(): string[] {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(RECENT_KEY) ?? '[]');
    return Array.isArray(parsed) ? parsed.filter((id): id is string => typeof id === 'string' && isDocumentId(id)) : [];
  } catch {
    return [];
  }
}

function rememberList(docId: string) {
  const lists = [docId, ...recentLists().filter((id) => id !== docId)].slice(0, 10);
  localStorage.setItem(RECENT_KEY, JSON.stringify(lists));
}
