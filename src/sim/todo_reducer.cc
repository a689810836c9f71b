#include "sim/todo_reducer.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

namespace sqlsync {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kSchema[] = {
    "CREATE TABLE IF NOT EXISTS tasks(id TEXT PRIMARY KEY, description TEXT NOT NULL, completed INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS applied(author TEXT NOT NULL, seq INTEGER NOT NULL)",
};

// nlohmann's dump() throws on invalid UTF-8 unless told to replace it, and the
// browser build has exceptions disabled.
std::string json_text(const Json& json) { return json.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string json_quoted(std::string_view text) { return json_text(Json(std::string(text))); }

// Typed access to the fields of one mutation. Every accessor checks the type
// before get<>() so nlohmann never throws.
class Fields {
 public:
  Fields(const Json& object, const std::string& tag) : object_(object), tag_(tag) {}

  const std::string& tag() const { return tag_; }
  bool has(const char* name) const { return object_.contains(name); }

  // A required, non-empty string.
  Result<std::string> text(const char* name) const {
    SQLSYNC_ASSIGN_OR_RETURN(const Json* field, find(name));
    if (!field->is_string()) return mistyped(name, "a string", *field);
    std::string value = field->get<std::string>();
    if (value.empty()) return Status::rejected(tag_ + ": field \"" + name + "\" must not be empty");
    return value;
  }

  // A required integer that fits in int64.
  Result<int64_t> integer(const char* name) const {
    SQLSYNC_ASSIGN_OR_RETURN(const Json* field, find(name));
    if (!field->is_number_integer()) return mistyped(name, "an integer", *field);
    if (field->is_number_unsigned() && field->get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}) {
      return Status::rejected(tag_ + ": field \"" + name + "\" is out of the 64-bit signed range");
    }
    return field->get<int64_t>();
  }

  Status no_task(const std::string& id) const {
    return Status::rejected(tag_ + ": no task with id " + json_quoted(id));
  }

 private:
  Result<const Json*> find(const char* name) const {
    auto it = object_.find(name);
    if (it == object_.end()) return Status::rejected(tag_ + ": missing field \"" + name + "\"");
    return &*it;
  }
  Status mistyped(const char* name, const char* expected, const Json& field) const {
    return Status::rejected(tag_ + ": field \"" + name + "\" must be " + expected + ", not " + field.type_name());
  }

  const Json& object_;
  const std::string& tag_;
};

Value text_value(std::string text) { return Value(std::move(text)); }

Status create_task(Transaction& tx, const Fields& fields) {
  SQLSYNC_ASSIGN_OR_RETURN(std::string id, fields.text("id"));
  SQLSYNC_ASSIGN_OR_RETURN(std::string description, fields.text("description"));
  Value params[] = {text_value(id), text_value(std::move(description))};
  SQLSYNC_RETURN_IF_ERROR(tx.execute(
      "INSERT INTO tasks(id, description, completed) VALUES (?1, ?2, 0) ON CONFLICT(id) DO NOTHING", params));
  if (tx.changes() == 0) {
    return Status::rejected(fields.tag() + ": a task with id " + json_quoted(id) + " already exists");
  }
  return Status::ok();
}

// Runs `sql` with the task id (?1) and `extra` parameters; rejects if it
// touched no row, i.e. the task does not exist.
Status change_task(Transaction& tx, const Fields& fields, std::string_view sql, std::optional<Value> extra = {}) {
  SQLSYNC_ASSIGN_OR_RETURN(std::string id, fields.text("id"));
  std::vector<Value> params = {text_value(id)};
  if (extra) params.push_back(std::move(*extra));
  SQLSYNC_RETURN_IF_ERROR(tx.execute(sql, params));
  if (tx.changes() == 0) return fields.no_task(id);
  return Status::ok();
}

Status rename_task(Transaction& tx, const Fields& fields) {
  SQLSYNC_ASSIGN_OR_RETURN(std::string description, fields.text("description"));
  return change_task(tx, fields, "UPDATE tasks SET description = ?2 WHERE id = ?1", text_value(std::move(description)));
}

Status increment(Transaction& tx, const Fields& fields) {
  SQLSYNC_ASSIGN_OR_RETURN(std::string counter, fields.text("counter"));
  SQLSYNC_ASSIGN_OR_RETURN(int64_t by, fields.integer("by"));
  Value params[] = {text_value(std::move(counter)), Value(by)};
  return tx.execute(
      "INSERT INTO counters(name, value) VALUES (?1, ?2) "
      "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
      params);
}

Status apply(Transaction& tx, const Fields& fields) {
  const std::string& tag = fields.tag();
  if (tag == "CreateTask") return create_task(tx, fields);
  if (tag == "ToggleTask") return change_task(tx, fields, "UPDATE tasks SET completed = 1 - completed WHERE id = ?1");
  if (tag == "RenameTask") return rename_task(tx, fields);
  if (tag == "DeleteTask") return change_task(tx, fields, "DELETE FROM tasks WHERE id = ?1");
  if (tag == "ClearCompleted") return tx.execute("DELETE FROM tasks WHERE completed = 1");
  if (tag == "Increment") return increment(tx, fields);
  return Status::rejected("unknown todo mutation tag " + json_quoted(tag) +
                          " (expected CreateTask, ToggleTask, RenameTask, DeleteTask, ClearCompleted or Increment)");
}

// Checks a result row's shape so a surprise in the data is an error, not a
// crash.
template <typename T>
Result<T> column(const Row& row, size_t index, const char* table) {
  if (index >= row.size() || !std::holds_alternative<T>(row[index])) {
    return Status::internal(std::string("unexpected value type in column ") + std::to_string(index) + " of table " +
                            table);
  }
  return std::get<T>(row[index]);
}

Result<std::vector<std::string>> app_tables(const TodoQuery& query) {
  SQLSYNC_ASSIGN_OR_RETURN(
      QueryResult result,
      query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "AND name NOT LIKE '\\_\\_sqlsync\\_%' ESCAPE '\\' ORDER BY name",
            {}));
  std::vector<std::string> names;
  for (const Row& row : result.rows) {
    SQLSYNC_ASSIGN_OR_RETURN(std::string name, column<std::string>(row, 0, "sqlite_schema"));
    names.push_back(std::move(name));
  }
  return names;
}

Result<bool> has_table(const TodoQuery& query, std::string_view table) {
  SQLSYNC_ASSIGN_OR_RETURN(std::vector<std::string> tables, app_tables(query));
  return std::find(tables.begin(), tables.end(), table) != tables.end();
}

}  // namespace

Status TodoReducer::reduce(Transaction& tx, ByteView mutation) {
  Json json = Json::parse(as_text(mutation), nullptr, false);
  if (json.is_discarded()) {
    return Status::rejected("todo mutation is not valid JSON (" + std::to_string(mutation.size()) + " bytes)");
  }
  if (!json.is_object()) {
    return Status::rejected(std::string("todo mutation must be a JSON object, not ") + json.type_name());
  }
  auto tag = json.find("tag");
  if (tag == json.end() || !tag->is_string()) return Status::rejected("todo mutation needs a string field \"tag\"");
  Fields fields(json, tag->get_ref<const std::string&>());

  std::optional<Row> attribution;
  if (fields.has("author") || fields.has("seq")) {
    SQLSYNC_ASSIGN_OR_RETURN(std::string author, fields.text("author"));
    SQLSYNC_ASSIGN_OR_RETURN(int64_t seq, fields.integer("seq"));
    attribution = Row{text_value(std::move(author)), Value(seq)};
  }

  for (std::string_view statement : kSchema) SQLSYNC_RETURN_IF_ERROR(tx.execute(statement));
  SQLSYNC_RETURN_IF_ERROR(apply(tx, fields));
  if (attribution) {
    SQLSYNC_RETURN_IF_ERROR(tx.execute("INSERT INTO applied(author, seq) VALUES (?1, ?2)", *attribution));
  }
  return Status::ok();
}

namespace todo {

std::string create_task(std::string_view id, std::string_view description) {
  return json_text({{"tag", "CreateTask"}, {"id", std::string(id)}, {"description", std::string(description)}});
}
std::string toggle_task(std::string_view id) { return json_text({{"tag", "ToggleTask"}, {"id", std::string(id)}}); }
std::string rename_task(std::string_view id, std::string_view description) {
  return json_text({{"tag", "RenameTask"}, {"id", std::string(id)}, {"description", std::string(description)}});
}
std::string delete_task(std::string_view id) { return json_text({{"tag", "DeleteTask"}, {"id", std::string(id)}}); }
std::string clear_completed() { return json_text({{"tag", "ClearCompleted"}}); }
std::string increment(std::string_view counter, int64_t by) {
  return json_text({{"tag", "Increment"}, {"counter", std::string(counter)}, {"by", by}});
}

}  // namespace todo

TodoQuery todo_query(LocalDocument& document) {
  return [&document](std::string_view sql, std::span<const Value> params) { return document.query(sql, params); };
}
TodoQuery todo_query(CoordinatorDocument& document) {
  return [&document](std::string_view sql, std::span<const Value> params) { return document.query(sql, params); };
}
TodoQuery todo_query(Transaction& transaction) {
  return [&transaction](std::string_view sql, std::span<const Value> params) { return transaction.query(sql, params); };
}

Result<std::vector<TodoTask>> todo_tasks(const TodoQuery& query) {
  std::vector<TodoTask> tasks;
  SQLSYNC_ASSIGN_OR_RETURN(bool exists, has_table(query, "tasks"));
  if (!exists) return tasks;
  SQLSYNC_ASSIGN_OR_RETURN(QueryResult result, query("SELECT id, description, completed FROM tasks ORDER BY id", {}));
  for (const Row& row : result.rows) {
    TodoTask task;
    SQLSYNC_ASSIGN_OR_RETURN(task.id, column<std::string>(row, 0, "tasks"));
    SQLSYNC_ASSIGN_OR_RETURN(task.description, column<std::string>(row, 1, "tasks"));
    SQLSYNC_ASSIGN_OR_RETURN(int64_t completed, column<int64_t>(row, 2, "tasks"));
    task.completed = completed != 0;
    tasks.push_back(std::move(task));
  }
  return tasks;
}

Result<int64_t> todo_counter(const TodoQuery& query, std::string_view name) {
  SQLSYNC_ASSIGN_OR_RETURN(bool exists, has_table(query, "counters"));
  if (!exists) return int64_t{0};
  Value params[] = {text_value(std::string(name))};
  SQLSYNC_ASSIGN_OR_RETURN(QueryResult result, query("SELECT value FROM counters WHERE name = ?1", params));
  if (result.rows.empty()) return int64_t{0};
  return column<int64_t>(result.rows[0], 0, "counters");
}

Result<std::string> todo_dump(const TodoQuery& query) {
  struct Section {
    const char* table;
    const char* sql;
  };
  static constexpr Section kSections[] = {
      {"tasks", "SELECT id, description, completed FROM tasks ORDER BY id"},
      {"counters", "SELECT name, value FROM counters ORDER BY name"},
      {"applied", "SELECT author, seq FROM applied ORDER BY author, seq"},
  };
  SQLSYNC_ASSIGN_OR_RETURN(std::vector<std::string> tables, app_tables(query));
  std::string out = "tables:";
  for (const std::string& table : tables) out += " " + table;
  out += "\n";
  for (const Section& section : kSections) {
    if (std::find(tables.begin(), tables.end(), section.table) == tables.end()) continue;
    SQLSYNC_ASSIGN_OR_RETURN(QueryResult result, query(section.sql, {}));
    out += std::string(section.table) + " (" + std::to_string(result.rows.size()) + " rows):\n";
    for (const Row& row : result.rows) {
      out += " ";
      for (const Value& value : row) out += " " + value_to_string(value);
      out += "\n";
    }
  }
  return out;
}

}  // namespace sqlsync
