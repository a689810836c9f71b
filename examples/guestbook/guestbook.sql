-- A guestbook as a SQL reducer (format: docs/sql-reducer.md).
-- Mutations are JSON objects such as
--   {"tag": "AddEntry", "id": "e1", "author": "Ada", "message": "Hi!", "at": 1700000000000}
-- where "at" is the author's clock in milliseconds since the epoch.

-- migration 1
CREATE TABLE entries (
  id TEXT PRIMARY KEY,
  author TEXT NOT NULL,
  message TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

-- migration 2
ALTER TABLE entries ADD COLUMN likes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX entries_by_created_at ON entries (created_at, id);

-- mutation AddEntry
-- require an entry needs an author and a message
SELECT length(trim(:author)) > 0 AND length(trim(:message)) > 0;
-- Adding the same entry twice (a retry) keeps the first.
INSERT INTO entries (id, author, message, created_at)
  VALUES (:id, trim(:author), :message, :at)
  ON CONFLICT (id) DO NOTHING;

-- mutation LikeEntry
-- require no guestbook entry has that id
SELECT EXISTS (SELECT 1 FROM entries WHERE id = :id);
UPDATE entries SET likes = likes + 1 WHERE id = :id;

-- mutation DeleteEntry
DELETE FROM entries WHERE id = :id;
