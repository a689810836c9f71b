// A native reducer for a todo-list schema, shared by tests, the simulation,
// benchmarks, the browser-core test and the demo.
//
// Mutations are JSON objects (build them with the todo:: functions below):
//   {"tag":"CreateTask","id":"t1","description":"Buy milk"}
//   {"tag":"ToggleTask","id":"t1"}
//   {"tag":"RenameTask","id":"t1","description":"Buy oat milk"}
//   {"tag":"DeleteTask","id":"t1"}
//   {"tag":"ClearCompleted"}
//   {"tag":"Increment","counter":"clicks","by":1}
// Any mutation may also carry "author" (string) and "seq" (integer), both or
// neither. With them, applying the mutation adds the row (author, seq) to
// `applied`, which has no uniqueness constraint, so a test can count how
// often each mutation was applied.
//
// Schema, created with CREATE TABLE IF NOT EXISTS at the start of every
// reduce (writes nothing once it exists):
//   tasks(id TEXT PRIMARY KEY, description TEXT NOT NULL,
//         completed INTEGER NOT NULL)
//   counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL)
//   applied(author TEXT NOT NULL, seq INTEGER NOT NULL)
//
// Rejections (Status::rejected, nothing written): malformed JSON, unknown tag,
// a missing or mistyped field, an empty id, description or counter name,
// CreateTask of an existing id, and ToggleTask/RenameTask/DeleteTask of a
// task that does not exist ("no task with id ..."): the last is how a
// mutation made concurrently with a delete is refused by the coordinator.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sqlsync/coordinator_document.h"
#include "sqlsync/local_document.h"
#include "sqlsync/reducer.h"

namespace sqlsync {

// Stateless and deterministic: one instance may serve any number of
// documents.
class TodoReducer final : public Reducer {
 public:
  Status reduce(Transaction& tx, ByteView mutation) override;
};

// Builders of TodoReducer mutations (JSON text; pass through as_bytes()).
// Strings are escaped; invalid UTF-8 is replaced, never thrown on.
namespace todo {
std::string create_task(std::string_view id, std::string_view description);
std::string toggle_task(std::string_view id);
std::string rename_task(std::string_view id, std::string_view description);
std::string delete_task(std::string_view id);
std::string clear_completed();
std::string increment(std::string_view counter, int64_t by);
}  // namespace todo

struct TodoTask {
  std::string id;
  std::string description;
  bool completed = false;
};

// Runs one read-only statement with parameters; adapts whichever replica
// holds the state. The adapters below keep a reference: the document or
// transaction must outlive the returned function.
using TodoQuery = std::function<Result<QueryResult>(std::string_view sql, std::span<const Value> params)>;
TodoQuery todo_query(LocalDocument& document);
TodoQuery todo_query(CoordinatorDocument& document);
TodoQuery todo_query(Transaction& transaction);

// Tasks ordered by id; empty if the schema does not exist yet.
Result<std::vector<TodoTask>> todo_tasks(const TodoQuery& query);
// The value of a counter; 0 if it (or the schema) does not exist yet.
Result<int64_t> todo_counter(const TodoQuery& query, std::string_view name);

// A canonical text dump of the application state: the names of all
// application tables (sqlsync's internal tables excluded), then the rows of
// tasks ordered by id, counters by name and applied by (author, seq). Two
// replicas of a todo document agree if and only if their dumps are equal.
Result<std::string> todo_dump(const TodoQuery& query);

}  // namespace sqlsync
