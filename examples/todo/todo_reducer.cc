// The todo reducer as a WASM guest (built into todo_reducer.wasm). Same
// mutations, schema and rejection messages as the native TodoReducer
// (src/sim/todo_reducer.h), except that the schema is created once by
// migrate (schema version 1) instead of on every reduce.
//
// Mutations are JSON objects:
//   {"tag":"CreateTask","id":"t1","description":"Buy milk"}
//   {"tag":"ToggleTask","id":"t1"}
//   {"tag":"RenameTask","id":"t1","description":"Buy oat milk"}
//   {"tag":"DeleteTask","id":"t1"}
//   {"tag":"ClearCompleted"}
//   {"tag":"Increment","counter":"clicks","by":1}
// Any mutation may also carry "author" (string) and "seq" (integer), both or
// neither; then applying it adds the row (author, seq) to `applied`.
#include <sqlsync/guest.h>

#include <optional>
#include <string>
#include <string_view>

namespace {

using sqlsync::Json;
using sqlsync::Result;
using sqlsync::Status;
using sqlsync::Tx;
using sqlsync::Value;

constexpr int kSchemaVersion = 1;

// Typed access to the fields of one mutation; rejections name the tag.
class Fields {
 public:
  Fields(const Json& json, std::string tag) : json_(json), tag_(std::move(tag)) {}

  const std::string& tag() const { return tag_; }
  bool has(std::string_view name) const { return json_.find(name) != nullptr; }

  // A required, non-empty string.
  Result<std::string> text(std::string_view name) const {
    Result<std::string> value = json_.string(name);
    if (!value.is_ok()) return value.status().with_context(tag_);
    if (value->empty()) return Status::rejected(tag_ + ": field " + Json::quote(name) + " must not be empty");
    return value;
  }

  // A required integer that fits in int64.
  Result<int64_t> integer(std::string_view name) const {
    Result<int64_t> value = json_.int64(name);
    if (!value.is_ok()) return value.status().with_context(tag_);
    return value;
  }

  Status no_task(const std::string& id) const { return Status::rejected(tag_ + ": no task with id " + Json::quote(id)); }

 private:
  const Json& json_;
  std::string tag_;
};

Status create_task(Tx& tx, const Fields& fields) {
  SQLSYNC_ASSIGN_OR_RETURN(std::string id, fields.text("id"));
  SQLSYNC_ASSIGN_OR_RETURN(std::string description, fields.text("description"));
  SQLSYNC_RETURN_IF_ERROR(
      tx.execute("INSERT INTO tasks(id, description, completed) VALUES (?1, ?2, 0) ON CONFLICT(id) DO NOTHING",
                 {id, std::move(description)}));
  if (tx.changes() == 0) {
    return Status::rejected(fields.tag() + ": a task with id " + Json::quote(id) + " already exists");
  }
  return Status::ok();
}

// Runs `sql` with the task id (?1) and `extra` parameters; rejects if it
// touched no row, i.e. the task does not exist.
Status change_task(Tx& tx, const Fields& fields, std::string_view sql, std::optional<Value> extra = {}) {
  SQLSYNC_ASSIGN_OR_RETURN(std::string id, fields.text("id"));
  std::vector<Value> params = {id};
  if (extra) params.push_back(std::move(*extra));
  SQLSYNC_RETURN_IF_ERROR(tx.execute(sql, params));
  if (tx.changes() == 0) return fields.no_task(id);
  return Status::ok();
}

Status rename_task(Tx& tx, const Fields& fields) {
  SQLSYNC_ASSIGN_OR_RETURN(std::string description, fields.text("description"));
  return change_task(tx, fields, "UPDATE tasks SET description = ?2 WHERE id = ?1", Value(std::move(description)));
}

Status increment(Tx& tx, const Fields& fields) {
  SQLSYNC_ASSIGN_OR_RETURN(std::string counter, fields.text("counter"));
  SQLSYNC_ASSIGN_OR_RETURN(int64_t by, fields.integer("by"));
  return tx.execute(
      "INSERT INTO counters(name, value) VALUES (?1, ?2) "
      "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
      {std::move(counter), by});
}

Status apply(Tx& tx, const Fields& fields) {
  const std::string& tag = fields.tag();
  if (tag == "CreateTask") return create_task(tx, fields);
  if (tag == "ToggleTask") return change_task(tx, fields, "UPDATE tasks SET completed = 1 - completed WHERE id = ?1");
  if (tag == "RenameTask") return rename_task(tx, fields);
  if (tag == "DeleteTask") return change_task(tx, fields, "DELETE FROM tasks WHERE id = ?1");
  if (tag == "ClearCompleted") return tx.execute("DELETE FROM tasks WHERE completed = 1");
  if (tag == "Increment") return increment(tx, fields);
  return Status::rejected("unknown todo mutation tag " + Json::quote(tag) +
                          " (expected CreateTask, ToggleTask, RenameTask, DeleteTask, ClearCompleted or Increment)");
}

sqlsync::Status migrate(Tx& tx, int from, int to) {
  if (from != 0 || to != kSchemaVersion) {
    return Status::rejected("todo reducer cannot migrate from schema version " + std::to_string(from) + " to " +
                            std::to_string(to) + " (it knows only 0 -> 1)");
  }
  SQLSYNC_RETURN_IF_ERROR(
      tx.execute("CREATE TABLE tasks(id TEXT PRIMARY KEY, description TEXT NOT NULL, completed INTEGER NOT NULL)"));
  SQLSYNC_RETURN_IF_ERROR(tx.execute("CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL)"));
  return tx.execute("CREATE TABLE applied(author TEXT NOT NULL, seq INTEGER NOT NULL)");
}

sqlsync::Status reduce(Tx& tx, std::string_view mutation) {
  Result<Json> parsed = Json::parse(mutation);
  if (!parsed.is_ok()) {
    return Status::rejected("todo mutation is not valid JSON (" + std::to_string(mutation.size()) + " bytes)");
  }
  const Json& json = *parsed;
  if (json.type() != sqlsync::JsonType::kObject) {
    return Status::rejected(std::string("todo mutation must be a JSON object, not ") +
                            sqlsync::json_type_name(json.type()));
  }
  const sqlsync::JsonValue* tag = json.find("tag");
  if (!tag || tag->type() != sqlsync::JsonType::kString) {
    return Status::rejected("todo mutation needs a string field \"tag\"");
  }
  Fields fields(json, *tag->string());

  std::optional<std::pair<std::string, int64_t>> attribution;
  if (fields.has("author") || fields.has("seq")) {
    SQLSYNC_ASSIGN_OR_RETURN(std::string author, fields.text("author"));
    SQLSYNC_ASSIGN_OR_RETURN(int64_t seq, fields.integer("seq"));
    attribution.emplace(std::move(author), seq);
  }

  SQLSYNC_RETURN_IF_ERROR(apply(tx, fields));
  if (attribution) {
    SQLSYNC_RETURN_IF_ERROR(
        tx.execute("INSERT INTO applied(author, seq) VALUES (?1, ?2)", {attribution->first, attribution->second}));
  }
  return Status::ok();
}

}  // namespace

SQLSYNC_REDUCER(kSchemaVersion, migrate, reduce)
