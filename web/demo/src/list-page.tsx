import { useCallback, useMemo, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { SQLSyncProvider } from '@sqlsync/react';
import { documentOptions } from './config';
import { ConnectionControls } from './connection';
import { SqlPanel } from './sql-panel';
import { Toasts, useToast } from './toasts';
import { TASKS_SQL, newTaskId, useMutate, useQuery, useRejection, type Task, type TodoMutation } from './todo';

/** One todo list: the document `docId`, opened for as long as the page shows it. */
export function ListPage({ docId }: { docId: string }) {
  const options = useMemo(() => documentOptions(docId), [docId]);
  return (
    <SQLSyncProvider options={options}>
      <Toasts>
        <ListView docId={docId} localOnly={!options.serverUrl} />
      </Toasts>
    </SQLSyncProvider>
  );
}

// Applies a mutation and reports its local failure as a toast. The server's
// verdict on it arrives through useRejection (for every mutation of this
// replica, also those made before a reload), so `confirmed` is not awaited.
function useTodoAction(): (mutation: TodoMutation) => void {
  const mutate = useMutate();
  const toast = useToast();
  return useCallback(
    (mutation: TodoMutation) => {
      mutate(mutation).catch((e: unknown) =>
        toast(`${mutation.tag} failed: ${e instanceof Error ? e.message : String(e)}`),
      );
    },
    [mutate, toast],
  );
}

function ListView({ docId, localOnly }: { docId: string; localOnly: boolean }) {
  const tasks = useQuery<Task>(TASKS_SQL);
  const act = useTodoAction();
  const toast = useToast();
  useRejection((rejection) => toast(`The server rejected a change: ${rejection.message}`));

  const rows = tasks.rows ?? [];
  const done = rows.filter((t) => t.completed).length;

  return (
    <main className="list-page">
      <header>
        <a href="#/" className="home-link">
          sqlsync todo
        </a>
        <ConnectionControls docId={docId} localOnly={localOnly} />
      </header>
      <ShareLink docId={docId} />
      <NewTaskForm onCreate={(description) => act({ tag: 'CreateTask', id: newTaskId(), description })} />
      {tasks.state === 'error' && (
        <p className="error" data-testid="query-error">
          Cannot read the list: {tasks.error.message}
        </p>
      )}
      {tasks.state === 'pending' && tasks.rows === undefined && <p className="muted">Opening the list…</p>}
      <ul className="tasks" data-testid="tasks" data-state={tasks.state}>
        {rows.map((task) => (
          <TaskItem key={task.id} task={task} act={act} />
        ))}
      </ul>
      <footer className="list-footer">
        <span data-testid="summary">
          {done} of {rows.length} done
        </span>
        <button type="button" data-testid="clear-completed" disabled={done === 0} onClick={() => act({ tag: 'ClearCompleted' })}>
          Clear completed
        </button>
      </footer>
      <SqlPanel />
    </main>
  );
}

function ShareLink({ docId }: { docId: string }) {
  const url = `${window.location.origin}${window.location.pathname}${window.location.search}#/list/${docId}`;
  const [copied, setCopied] = useState(false);
  const copy = () => {
    navigator.clipboard?.writeText(url).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  };
  return (
    <p className="share">
      Share this list: <input readOnly value={url} data-testid="share-url" onFocus={(e) => e.target.select()} />
      <button type="button" onClick={copy}>
        {copied ? 'Copied' : 'Copy'}
      </button>
    </p>
  );
}

function NewTaskForm({ onCreate }: { onCreate: (description: string) => void }) {
  const [text, setText] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const description = text.trim();
    if (!description) return;
    onCreate(description);
    setText('');
  };
  return (
    <form className="new-task" onSubmit={submit}>
      <input
        data-testid="new-task"
        placeholder="What needs doing?"
        value={text}
        onChange={(e) => setText(e.target.value)}
        aria-label="New task"
      />
      <button type="submit" data-testid="add-task">
        Add
      </button>
    </form>
  );
}

function TaskItem({ task, act }: { task: Task; act: (mutation: TodoMutation) => void }) {
  const [editing, setEditing] = useState<string | null>(null);
  const cancelled = useRef(false);
  // Enter and Escape both leave through blur, so a rename is saved exactly once.
  const finish = () => {
    const description = editing?.trim();
    setEditing(null);
    if (cancelled.current) {
      cancelled.current = false;
      return;
    }
    if (description && description !== task.description) act({ tag: 'RenameTask', id: task.id, description });
  };
  const onKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Escape') cancelled.current = true;
    if (e.key === 'Enter' || e.key === 'Escape') e.currentTarget.blur();
  };
  return (
    <li data-testid="task" data-task-id={task.id} data-completed={task.completed ? 'true' : 'false'}>
      <input
        type="checkbox"
        data-testid="toggle"
        checked={Boolean(task.completed)}
        onChange={() => act({ tag: 'ToggleTask', id: task.id })}
        aria-label={`Done: ${task.description}`}
      />
      {editing === null ? (
        <span className="description" data-testid="description" onDoubleClick={() => setEditing(task.description)}>
          {task.description}
        </span>
      ) : (
        <input
          autoFocus
          data-testid="rename-input"
          value={editing}
          onChange={(e) => setEditing(e.target.value)}
          onKeyDown={onKey}
          onBlur={finish}
          aria-label="Rename task"
        />
      )}
      <button type="button" data-testid="rename" onClick={() => setEditing(task.description)} disabled={editing !== null}>
        Rename
      </button>
      <button type="button" data-testid="delete" onClick={() => act({ tag: 'DeleteTask', id: task.id })}>
        Delete
      </button>
    </li>
  );
}
