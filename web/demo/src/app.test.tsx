// The demo's UI against an in-memory document (the real client, server and
// browser are exercised by web/e2e).
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { beginOpenDocument, newDocumentId } from '@sqlsync/client';
import { FakeDocument } from '../../react/src/test/fake-document';
import { App } from './app';
import { parseRoute } from './route';
import { TASKS_SQL, type Task, type TodoMutation } from './todo';

vi.mock('@sqlsync/client', async (importOriginal) => ({
  ...(await importOriginal<typeof import('@sqlsync/client')>()),
  beginOpenDocument: vi.fn(),
  newDocumentId: vi.fn(),
}));

const LIST_ID = '0123456789abcdef0123456789abcdef';

// The todo reducer's behaviour (examples/todo/todo_reducer.cc), rejections included.
function reduce(tasks: Task[], mutation: unknown): Task[] {
  const m = mutation as TodoMutation;
  const exists = 'id' in m && tasks.some((t) => t.id === m.id);
  if (m.tag !== 'CreateTask' && m.tag !== 'ClearCompleted' && !exists) {
    throw new Error(`${m.tag}: no task with id "${m.id}"`);
  }
  switch (m.tag) {
    case 'CreateTask':
      return [...tasks, { id: m.id, description: m.description, completed: 0 }];
    case 'ToggleTask':
      return tasks.map((t) => (t.id === m.id ? { ...t, completed: 1 - t.completed } : t));
    case 'RenameTask':
      return tasks.map((t) => (t.id === m.id ? { ...t, description: m.description } : t));
    case 'DeleteTask':
      return tasks.filter((t) => t.id !== m.id);
    case 'ClearCompleted':
      return tasks.filter((t) => !t.completed);
  }
}

let doc: FakeDocument<Task[]>;

beforeEach(() => {
  doc = new FakeDocument<Task[]>(LIST_ID, [], { [TASKS_SQL]: (s) => s, 'SELECT * FROM tasks': (s) => s }, reduce);
  vi.mocked(beginOpenDocument).mockReset().mockImplementation(() => ({ document: doc, ready: Promise.resolve(doc) }));
  vi.mocked(newDocumentId).mockReset().mockReturnValue(LIST_ID);
  window.location.hash = '';
  localStorage.clear();
});
afterEach(cleanup);

async function openList(tasks: Task[] = []) {
  doc.state = tasks;
  window.location.hash = `#/list/${LIST_ID}`;
  render(<App />);
  await waitFor(() => expect(screen.getByTestId('tasks').dataset.state).toBe('success'));
}

function taskItem(description: string): HTMLElement {
  return screen.getByText(description).closest('li')!;
}

describe('routes', () => {
  it('parses home, list and anything else', () => {
    expect(parseRoute('')).toEqual({ page: 'home' });
    expect(parseRoute('#/')).toEqual({ page: 'home' });
    expect(parseRoute(`#/list/${LIST_ID}`)).toEqual({ page: 'list', docId: LIST_ID });
    expect(parseRoute('#/list/xyz')).toEqual({ page: 'not-found', hash: '#/list/xyz' });
    expect(parseRoute(`#/list/${LIST_ID.toUpperCase()}`).page).toBe('not-found');
  });
});

describe('todo app', () => {
  it('"New list" makes a list address and opens that document', async () => {
    render(<App />);
    fireEvent.click(screen.getByTestId('new-list'));
    await waitFor(() => expect(screen.getByTestId('tasks')).toBeTruthy());
    expect(window.location.hash).toBe(`#/list/${LIST_ID}`);
    expect((screen.getByTestId('share-url') as HTMLInputElement).value).toContain(`#/list/${LIST_ID}`);
    const options = vi.mocked(beginOpenDocument).mock.calls[0][0];
    expect(options.docId).toBe(LIST_ID);
    expect(options.reducerUrl).toMatch(/\/todo_reducer\.wasm$/);
    expect(options.serverUrl).toBe(window.location.origin);
  });

  it('adds, toggles, renames, deletes and clears tasks through mutations', async () => {
    await openList();
    fireEvent.change(screen.getByTestId('new-task'), { target: { value: '  milk ' } });
    fireEvent.click(screen.getByTestId('add-task'));
    fireEvent.change(screen.getByTestId('new-task'), { target: { value: 'eggs' } });
    fireEvent.submit(screen.getByTestId('new-task'));
    await screen.findByText('eggs');
    expect(doc.state.map((t) => t.description)).toEqual(['milk', 'eggs']);
    expect((screen.getByTestId('new-task') as HTMLInputElement).value).toBe('');

    fireEvent.click(within(taskItem('milk')).getByTestId('toggle'));
    await waitFor(() => expect(taskItem('milk').dataset.completed).toBe('true'));
    expect(screen.getByTestId('summary').textContent).toBe('1 of 2 done');

    fireEvent.click(within(taskItem('eggs')).getByTestId('rename'));
    const input = screen.getByTestId('rename-input');
    fireEvent.change(input, { target: { value: 'brown eggs' } });
    fireEvent.keyDown(input, { key: 'Enter' });
    await screen.findByText('brown eggs');
    expect(doc.mutations.filter((m) => (m as TodoMutation).tag === 'RenameTask')).toHaveLength(1);

    fireEvent.click(screen.getByTestId('clear-completed'));
    await waitFor(() => expect(screen.queryByText('milk')).toBeNull());
    fireEvent.click(within(taskItem('brown eggs')).getByTestId('delete'));
    await waitFor(() => expect(screen.queryAllByTestId('task')).toHaveLength(0));
    expect(doc.mutations.map((m) => (m as TodoMutation).tag)).toEqual([
      'CreateTask',
      'CreateTask',
      'ToggleTask',
      'RenameTask',
      'ClearCompleted',
      'DeleteTask',
    ]);
  });

  it('Escape cancels a rename', async () => {
    await openList([{ id: 'a', description: 'milk', completed: 0 }]);
    fireEvent.click(screen.getByTestId('rename'));
    const input = screen.getByTestId('rename-input');
    fireEvent.change(input, { target: { value: 'oat milk' } });
    fireEvent.keyDown(input, { key: 'Escape' });
    expect(screen.queryByTestId('rename-input')).toBeNull();
    expect(screen.getByText('milk')).toBeTruthy();
    expect(doc.mutations).toEqual([]);
  });

  it('shows a toast for a mutation the server rejected', async () => {
    await openList();
    act(() => doc.reject({ lsn: 7, message: 'RenameTask: no task with id "a"' }));
    const toast = await screen.findByTestId('toast');
    expect(toast.textContent).toContain('The server rejected a change: RenameTask: no task with id "a"');
  });

  it('shows a toast for a mutation that fails locally', async () => {
    await openList([{ id: 'a', description: 'milk', completed: 0 }]);
    doc.state = [];
    fireEvent.click(screen.getByTestId('delete'));
    const toast = await screen.findByTestId('toast');
    expect(toast.textContent).toContain('DeleteTask failed: DeleteTask: no task with id "a"');
  });

  it('switches syncing off and on and shows the status', async () => {
    await openList();
    expect(screen.getByTestId('status').dataset.status).toBe('connected');
    fireEvent.click(screen.getByTestId('connection-toggle'));
    expect(doc.enabledCalls).toEqual([false]);
    expect(screen.getByTestId('status').textContent).toBe('Offline');
    fireEvent.click(screen.getByTestId('connection-toggle'));
    expect(doc.enabledCalls).toEqual([false, true]);
    act(() => doc.setStatus('offline'));
    expect(screen.getByTestId('status').textContent).toBe('Offline (retrying)');
  });

  it('remembers "Go offline" across a reload of the list', async () => {
    await openList();
    fireEvent.click(screen.getByTestId('connection-toggle'));
    cleanup();
    doc = new FakeDocument<Task[]>(LIST_ID, [], { [TASKS_SQL]: (s) => s }, reduce);
    await openList();
    // Opened with the connection off, not connected and then turned off.
    expect(vi.mocked(beginOpenDocument).mock.lastCall?.[0].connectionEnabled).toBe(false);

    act(() => doc.setStatus('disabled'));
    fireEvent.click(screen.getByTestId('connection-toggle'));
    expect(doc.enabledCalls).toEqual([true]);
    cleanup();
    doc = new FakeDocument<Task[]>(LIST_ID, [], { [TASKS_SQL]: (s) => s }, reduce);
    await openList();
    expect(vi.mocked(beginOpenDocument).mock.lastCall?.[0].connectionEnabled).toBeUndefined();
    expect(doc.enabledCalls).toEqual([]);
  });

  it('shows "Local only" and no switch for a list opened with ?server=none', async () => {
    window.history.replaceState(null, '', '/?server=none');
    try {
      await openList();
      expect(vi.mocked(beginOpenDocument).mock.calls[0][0].serverUrl).toBeUndefined();
      expect(screen.getByTestId('status').textContent).toBe('Local only');
      expect(screen.queryByTestId('connection-toggle')).toBeNull();
    } finally {
      window.history.replaceState(null, '', '/');
    }
  });

  it('runs SQL against the local copy and shows rows or the error', async () => {
    await openList([{ id: 'a', description: 'milk', completed: 1 }]);
    fireEvent.click(screen.getByTestId('sql-run'));
    const table = await screen.findByTestId('sql-result');
    expect(within(table).getAllByRole('columnheader').map((th) => th.textContent)).toEqual(['id', 'description', 'completed']);
    expect(within(table).getAllByRole('cell').map((td) => td.textContent)).toEqual(['a', 'milk', '1']);

    fireEvent.change(screen.getByTestId('sql-input'), { target: { value: 'DELETE FROM tasks' } });
    fireEvent.click(screen.getByTestId('sql-run'));
    expect((await screen.findByTestId('sql-error')).textContent).toContain('DELETE FROM tasks');
  });
});
