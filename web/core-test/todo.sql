-- The todo list of examples/todo as a SQL reducer (docs/sql-reducer.md), for
-- the browser core's node tests. Mutations:
--   {"tag": "CreateTask", "id": "t1", "description": "milk"}
--   {"tag": "ToggleTask", "id": "t1"}   {"tag": "RenameTask", "id": "t1", "description": "..."}
--   {"tag": "DeleteTask", "id": "t1"}   {"tag": "ClearCompleted"}

-- migration 1
CREATE TABLE tasks (id TEXT PRIMARY KEY, description TEXT NOT NULL, completed INTEGER NOT NULL DEFAULT 0);

-- mutation CreateTask
-- require a task needs a description
SELECT length(:description) > 0;
INSERT INTO tasks (id, description) VALUES (:id, :description);

-- mutation ToggleTask
-- require no task with that id
SELECT EXISTS (SELECT 1 FROM tasks WHERE id = :id);
UPDATE tasks SET completed = 1 - completed WHERE id = :id;

-- mutation RenameTask
-- require no task with that id
SELECT EXISTS (SELECT 1 FROM tasks WHERE id = :id);
UPDATE tasks SET description = :description WHERE id = :id;

-- mutation DeleteTask
-- require no task with that id
SELECT EXISTS (SELECT 1 FROM tasks WHERE id = :id);
DELETE FROM tasks WHERE id = :id;

-- mutation ClearCompleted
DELETE FROM tasks WHERE completed = 1;
