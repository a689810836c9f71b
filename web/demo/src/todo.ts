// The todo document: the mutations of the wasm todo reducer
// (examples/todo/todo_reducer.cc), its table, and hooks typed with them.
import { createDocHooks } from '@sqlsync/react';

export type TodoMutation =
  | { tag: 'CreateTask'; id: string; description: string }
  | { tag: 'ToggleTask'; id: string }
  | { tag: 'RenameTask'; id: string; description: string }
  | { tag: 'DeleteTask'; id: string }
  | { tag: 'ClearCompleted' };

/** A row of `tasks` (created by the reducer's migration 1). */
export interface Task {
  id: string;
  description: string;
  completed: number;
}

export const TASKS_SQL = 'SELECT id, description, completed FROM tasks ORDER BY rowid';

export const { useMutate, useQuery, useConnectionStatus, useSetConnectionEnabled, useRejection, useDocument } =
  createDocHooks<TodoMutation>();

/** A random id for a task: 16 hex chars (8 random bytes). */
export function newTaskId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
