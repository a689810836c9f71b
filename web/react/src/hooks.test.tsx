import { act, cleanup, render, renderHook, screen, waitFor } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { beginOpenDocument, type OpenOptions, type SQLSyncDocument } from '@sqlsync/client';
import { SQLSyncProvider, createDocHooks } from './index.js';
import { FakeDocument } from './test/fake-document.js';

vi.mock('@sqlsync/client', () => ({ beginOpenDocument: vi.fn() }));
const beginOpenMock = vi.mocked(beginOpenDocument);

interface Task {
  id: string;
  description: string;
  completed: number;
}
type Mutation = { tag: 'CreateTask'; id: string; description: string } | { tag: 'ToggleTask'; id: string };

const ALL = 'SELECT * FROM tasks ORDER BY id';
const BY_COMPLETED = 'SELECT * FROM tasks WHERE completed = ? ORDER BY id';

function todoDocument(docId = 'doc-1', tasks: Task[] = []): FakeDocument<Task[]> {
  return new FakeDocument<Task[]>(
    docId,
    tasks,
    {
      [ALL]: (state) => [...state],
      [BY_COMPLETED]: (state, params) => state.filter((t) => t.completed === params[0]),
    },
    (state, mutation) => {
      const m = mutation as Mutation;
      if (m.tag === 'CreateTask') return [...state, { id: m.id, description: m.description, completed: 0 }];
      return state.map((t) => (t.id === m.id ? { ...t, completed: 1 - t.completed } : t));
    },
  );
}

const { useMutate, useQuery, useConnectionStatus, useSetConnectionEnabled, useRejection, useDocument } =
  createDocHooks<Mutation>();

function withDocument(doc: SQLSyncDocument) {
  return ({ children }: { children: ReactNode }) => <SQLSyncProvider document={doc}>{children}</SQLSyncProvider>;
}

const options: OpenOptions = { docId: 'doc-1', reducerUrl: '/todo.wasm', serverUrl: 'http://127.0.0.1:1' };

beforeEach(() => {
  beginOpenMock.mockReset();
});
afterEach(() => {
  cleanup();
});

describe('useQuery', () => {
  it('is pending, then succeeds with the rows, then follows mutations', async () => {
    const doc = todoDocument('doc-1', [{ id: 'a', description: 'milk', completed: 0 }]);
    const { result } = renderHook(() => ({ query: useQuery<Task>(ALL), mutate: useMutate() }), {
      wrapper: withDocument(doc),
    });
    expect(result.current.query).toEqual({ state: 'pending', rows: undefined, error: undefined });

    await waitFor(() => expect(result.current.query.state).toBe('success'));
    expect(result.current.query.rows).toEqual([{ id: 'a', description: 'milk', completed: 0 }]);

    await act(async () => {
      await result.current.mutate({ tag: 'CreateTask', id: 'b', description: 'eggs' });
    });
    await waitFor(() => expect(result.current.query.rows).toHaveLength(2));
    expect(result.current.query.rows?.[1]).toEqual({ id: 'b', description: 'eggs', completed: 0 });
    expect(doc.mutations).toEqual([{ tag: 'CreateTask', id: 'b', description: 'eggs' }]);
  });

  it('keeps the previous rows while a changed query is pending and re-subscribes', async () => {
    const doc = todoDocument('doc-1', [
      { id: 'a', description: 'milk', completed: 0 },
      { id: 'b', description: 'eggs', completed: 1 },
    ]);
    const { result, rerender } = renderHook(({ done }) => useQuery<Task>(BY_COMPLETED, [done]), {
      wrapper: withDocument(doc),
      initialProps: { done: 0 },
    });
    await waitFor(() => expect(result.current.state).toBe('success'));
    expect(result.current.rows?.map((t) => t.id)).toEqual(['a']);

    rerender({ done: 1 });
    expect(result.current.state).toBe('pending');
    expect(result.current.rows?.map((t) => t.id)).toEqual(['a']);
    await waitFor(() => expect(result.current.state).toBe('success'));
    expect(result.current.rows?.map((t) => t.id)).toEqual(['b']);
    expect(doc.activeSubscriptions).toBe(1);
  });

  it('does not re-subscribe when params are equal but a new array', async () => {
    const doc = todoDocument();
    const subscribe = vi.spyOn(doc, 'subscribe');
    const { result, rerender } = renderHook(() => useQuery<Task>(BY_COMPLETED, [0]), { wrapper: withDocument(doc) });
    await waitFor(() => expect(result.current.state).toBe('success'));
    rerender();
    rerender();
    expect(subscribe).toHaveBeenCalledTimes(1);
  });

  it('passes BLOB and bigint parameters through as they are, compared by value', async () => {
    const doc = todoDocument();
    const subscribe = vi.spyOn(doc, 'subscribe');
    const { result, rerender } = renderHook(({ id }) => useQuery<Task>(BY_COMPLETED, [new Uint8Array([1, id]), 2n ** 62n]), {
      wrapper: withDocument(doc),
      initialProps: { id: 2 },
    });
    await waitFor(() => expect(result.current.state).toBe('success'));
    rerender({ id: 2 });
    expect(subscribe).toHaveBeenCalledTimes(1);
    expect(subscribe.mock.calls[0][1]).toEqual([new Uint8Array([1, 2]), 2n ** 62n]);
    rerender({ id: 3 });
    expect(subscribe).toHaveBeenCalledTimes(2);
    expect(subscribe.mock.calls[1][1][0]).toEqual(new Uint8Array([1, 3]));
  });

  it('reports a query error with the previous rows, and recovers on the next result', async () => {
    const doc = todoDocument('doc-1', [{ id: 'a', description: 'milk', completed: 0 }]);
    const { result } = renderHook(() => useQuery<Task>(ALL), { wrapper: withDocument(doc) });
    await waitFor(() => expect(result.current.state).toBe('success'));

    act(() => doc.failQuery(ALL, new Error('no such table: tasks')));
    await waitFor(() => expect(result.current.state).toBe('error'));
    expect(result.current.error?.message).toBe('no such table: tasks');
    expect(result.current.rows).toHaveLength(1);

    await act(async () => {
      await doc.mutate({ tag: 'CreateTask', id: 'b', description: 'eggs' });
    });
    await waitFor(() => expect(result.current.state).toBe('success'));
    expect(result.current.rows).toHaveLength(2);
  });

  it('turns a subscribe that throws into an error state', async () => {
    const doc = todoDocument();
    const { result } = renderHook(() => useQuery<Task>('SELECT nonsense'), { wrapper: withDocument(doc) });
    await waitFor(() => expect(result.current.state).toBe('error'));
    expect(result.current.error?.message).toContain('SELECT nonsense');
  });

  it('unsubscribes on unmount', async () => {
    const doc = todoDocument();
    const { result, unmount } = renderHook(() => useQuery<Task>(ALL), { wrapper: withDocument(doc) });
    await waitFor(() => expect(result.current.state).toBe('success'));
    expect(doc.activeSubscriptions).toBe(1);
    unmount();
    expect(doc.activeSubscriptions).toBe(0);
  });

  it('re-renders a component once per mutation', async () => {
    const doc = todoDocument();
    let renders = 0;
    function List() {
      const tasks = useQuery<Task>(ALL);
      renders++;
      return <ul>{tasks.rows?.map((t) => <li key={t.id}>{t.description}</li>)}</ul>;
    }
    render(
      <SQLSyncProvider document={doc}>
        <List />
      </SQLSyncProvider>,
    );
    await waitFor(() => expect(renders).toBe(2));
    await act(async () => {
      await doc.mutate({ tag: 'CreateTask', id: 'a', description: 'milk' });
    });
    await screen.findByText('milk');
    expect(renders).toBe(3);
  });
});

describe('connection hooks', () => {
  it('follow the connection status and turn syncing on and off', async () => {
    const doc = todoDocument();
    const { result } = renderHook(() => ({ status: useConnectionStatus(), setEnabled: useSetConnectionEnabled() }), {
      wrapper: withDocument(doc),
    });
    expect(result.current.status).toBe('connected');

    act(() => result.current.setEnabled(false));
    expect(doc.enabledCalls).toEqual([false]);
    expect(result.current.status).toBe('disabled');

    act(() => doc.setStatus('offline'));
    expect(result.current.status).toBe('offline');
  });
});

describe('useRejection', () => {
  it('calls the latest callback and stops after unmount', async () => {
    const doc = todoDocument();
    const seen: string[] = [];
    const { rerender, unmount } = renderHook(({ tag }) => useRejection((r) => seen.push(`${tag}:${r.message}`)), {
      wrapper: withDocument(doc),
      initialProps: { tag: 'first' },
    });
    act(() => doc.reject({ lsn: 3, message: 'RenameTask: no task with id "a"' }));
    rerender({ tag: 'second' });
    act(() => doc.reject({ lsn: 4, message: 'boom' }));
    unmount();
    expect(doc.rejectionListenerCount).toBe(0);
    expect(seen).toEqual(['first:RenameTask: no task with id "a"', 'second:boom']);
  });
});

describe('SQLSyncProvider with options', () => {
  it('opens the document, queues early mutations, and closes it on unmount', async () => {
    const doc = todoDocument();
    const begun = doc.beginOpen();
    beginOpenMock.mockReturnValue(begun.opening);
    const subscribe = vi.spyOn(doc, 'subscribe');
    const { result, unmount } = renderHook(
      () => ({ query: useQuery<Task>(ALL), mutate: useMutate(), status: useConnectionStatus(), doc: useDocument() }),
      { wrapper: ({ children }) => <SQLSyncProvider options={{ ...options }}>{children}</SQLSyncProvider> },
    );
    expect(beginOpenMock).toHaveBeenCalledWith(options);
    expect(result.current.status).toBe('connecting');
    expect(result.current.doc).toBeNull();

    const early = result.current.mutate({ tag: 'CreateTask', id: 'a', description: 'milk' });
    expect(result.current.query.state).toBe('pending');
    // useQuery subscribed while the document opens, so its first rows come
    // right after the open without another round trip.
    expect(subscribe).toHaveBeenCalledTimes(1);
    await act(async () => {
      begun.open();
      await early;
    });
    await waitFor(() => expect(result.current.query.rows).toEqual([{ id: 'a', description: 'milk', completed: 0 }]));
    expect(result.current.doc).toBe(doc);
    expect(result.current.status).toBe('connected');
    // A new but equal options object on every render did not reopen.
    expect(beginOpenMock).toHaveBeenCalledTimes(1);

    unmount();
    expect(doc.closed).toBe(true);
  });

  it('gives stable functions across re-renders once the document is open', async () => {
    const doc = todoDocument();
    beginOpenMock.mockReturnValue({ document: doc, ready: Promise.resolve(doc) });
    const { result, rerender } = renderHook(() => ({ mutate: useMutate(), setEnabled: useSetConnectionEnabled(), doc: useDocument() }), {
      wrapper: ({ children }) => <SQLSyncProvider options={{ ...options }}>{children}</SQLSyncProvider>,
    });
    await waitFor(() => expect(result.current.doc).not.toBeNull());
    const first = result.current;
    rerender();
    expect(result.current.mutate).toBe(first.mutate);
    expect(result.current.setEnabled).toBe(first.setEnabled);
  });

  it('closes a document that finishes opening after unmount', async () => {
    const doc = todoDocument();
    const begun = doc.beginOpen();
    beginOpenMock.mockReturnValue(begun.opening);
    const { unmount } = renderHook(() => useQuery<Task>(ALL), {
      wrapper: ({ children }) => <SQLSyncProvider options={options}>{children}</SQLSyncProvider>,
    });
    unmount();
    await act(async () => begun.open());
    expect(doc.closed).toBe(true);
  });

  it('switches documents when the options change', async () => {
    const first = todoDocument('doc-1', [{ id: 'a', description: 'milk', completed: 0 }]);
    const second = todoDocument('doc-2', [{ id: 'b', description: 'eggs', completed: 0 }]);
    beginOpenMock.mockImplementation((o) => {
      const doc = o.docId === 'doc-1' ? first : second;
      return { document: doc, ready: Promise.resolve(doc) };
    });
    let docId = 'doc-1';
    const { result, rerender } = renderHook(() => useQuery<Task>(ALL), {
      wrapper: ({ children }) => <SQLSyncProvider options={{ ...options, docId }}>{children}</SQLSyncProvider>,
    });
    await waitFor(() => expect(result.current.rows?.[0]?.id).toBe('a'));

    docId = 'doc-2';
    rerender();
    expect(result.current.state).toBe('pending');
    expect(result.current.rows?.[0]?.id).toBe('a');
    await waitFor(() => expect(result.current.rows?.[0]?.id).toBe('b'));
    expect(result.current.state).toBe('success');
    expect(beginOpenMock).toHaveBeenCalledTimes(2);
    expect(first.closed).toBe(true);
    expect(second.closed).toBe(false);
  });

  it('applies an on/off choice made before the document opened', async () => {
    const doc = todoDocument();
    const begun = doc.beginOpen();
    beginOpenMock.mockReturnValue(begun.opening);
    const { result } = renderHook(() => ({ setEnabled: useSetConnectionEnabled(), status: useConnectionStatus() }), {
      wrapper: ({ children }) => <SQLSyncProvider options={options}>{children}</SQLSyncProvider>,
    });
    act(() => result.current.setEnabled(false));
    await act(async () => begun.open());
    expect(doc.enabledCalls).toEqual([false]);
    expect(result.current.status).toBe('disabled');
  });

  it('reports a failure to open through useQuery and useMutate', async () => {
    const begun = todoDocument().beginOpen();
    beginOpenMock.mockReturnValue(begun.opening);
    begun.fail(new Error('reducer /todo.wasm: HTTP 404'));
    const { result } = renderHook(() => ({ query: useQuery<Task>(ALL), mutate: useMutate() }), {
      wrapper: ({ children }) => <SQLSyncProvider options={options}>{children}</SQLSyncProvider>,
    });
    await waitFor(() => expect(result.current.query.state).toBe('error'));
    expect(result.current.query.error?.message).toBe('reducer /todo.wasm: HTTP 404');
    await expect(result.current.mutate({ tag: 'ToggleTask', id: 'a' })).rejects.toThrow('HTTP 404');
  });
  it('reports options the client refuses at once (a malformed document id)', async () => {
    beginOpenMock.mockImplementation(() => {
      throw new Error("document id must be 32 lowercase hex characters, got 'nope'");
    });
    const { result } = renderHook(() => ({ query: useQuery<Task>(ALL), mutate: useMutate(), doc: useDocument() }), {
      wrapper: ({ children }) => <SQLSyncProvider options={{ ...options, docId: 'nope' }}>{children}</SQLSyncProvider>,
    });
    await waitFor(() => expect(result.current.query.state).toBe('error'));
    expect(result.current.query.error?.message).toMatch(/32 lowercase hex characters, got 'nope'/);
    expect(result.current.doc).toBeNull();
    await expect(result.current.mutate({ tag: 'ToggleTask', id: 'a' })).rejects.toThrow('32 lowercase hex');
  });
});

describe('SQLSyncProvider with a document', () => {
  it('leaves the document open on unmount (the caller owns it)', async () => {
    const doc = todoDocument();
    const { unmount } = renderHook(() => useQuery<Task>(ALL), { wrapper: withDocument(doc) });
    unmount();
    expect(doc.closed).toBe(false);
    expect(beginOpenMock).not.toHaveBeenCalled();
  });

  it('hooks outside a provider say what is missing', () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(() => renderHook(() => useQuery(ALL))).toThrow('useQuery must be used inside <SQLSyncProvider>');
  });
});
