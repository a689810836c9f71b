#include "storage/database.h"

#include <sqlite3.h>

#include <type_traits>
#include <utility>

namespace sqlsync {
namespace {

// The statement cache is bounded so that callers building SQL text with
// literals cannot grow it without limit; when full it starts over.
constexpr size_t kMaxCachedStatements = 128;
constexpr size_t kMaxSqlInMessage = 200;

// PRAGMAs a read-only connection may run whatever their argument: they only
// describe the schema (the argument names a table or an index) or check it.
constexpr const char* kSchemaPragmas[] = {
    "foreign_key_check", "foreign_key_list", "index_info", "index_list", "index_xinfo",
    "integrity_check",   "quick_check",      "table_info", "table_list", "table_xinfo",
};
// PRAGMAs a read-only connection may only read: with an argument they would
// change a setting.
constexpr const char* kSettingPragmas[] = {
    "application_id", "auto_vacuum", "data_version", "encoding",       "foreign_keys", "freelist_count",
    "journal_mode",   "page_count",  "page_size",    "schema_version", "user_version",
};

bool contains(std::span<const char* const> names, const char* name) {
  if (name == nullptr) return false;
  for (const char* candidate : names) {
    if (sqlite3_stricmp(candidate, name) == 0) return true;
  }
  return false;
}

// Authorizer of read-only connections. Transactions and savepoints are allowed
// so a caller can group several reads into one consistent snapshot.
int authorize_read_only(void*, int action, const char* arg1, const char* arg2, const char*, const char*) {
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
      return SQLITE_OK;
    case SQLITE_PRAGMA:
      // arg1 is the pragma's name, arg2 its argument (nullptr if none).
      if (contains(kSchemaPragmas, arg1)) return SQLITE_OK;
      if (arg2 == nullptr && contains(kSettingPragmas, arg1)) return SQLITE_OK;
      return SQLITE_DENY;
    default:
      return SQLITE_DENY;
  }
}

std::string excerpt(std::string_view sql) {
  if (sql.size() <= kMaxSqlInMessage) return std::string(sql);
  return std::string(sql.substr(0, kMaxSqlInMessage)) + "...";
}

StatusCode status_code_for(int code) {
  switch (code & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return StatusCode::kCorruption;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
    case SQLITE_NOLFS:
      return StatusCode::kIOError;
    case SQLITE_AUTH:
    case SQLITE_READONLY:
      return StatusCode::kRejected;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return StatusCode::kBusy;
    case SQLITE_MISUSE:
    case SQLITE_INTERNAL:
      return StatusCode::kInternal;
    default:  // SQLITE_ERROR, SQLITE_CONSTRAINT, SQLITE_MISMATCH, SQLITE_RANGE, ...
      return StatusCode::kInvalidArgument;
  }
}

// Resets a statement and clears its bindings when a use ends, on every path,
// so a cached statement never holds a lock or a view of the caller's values.
class StatementUse {
 public:
  explicit StatementUse(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementUse() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

Value column_value(sqlite3_stmt* stmt, int column) {
  switch (sqlite3_column_type(stmt, column)) {
    case SQLITE_INTEGER:
      return static_cast<int64_t>(sqlite3_column_int64(stmt, column));
    case SQLITE_FLOAT:
      return sqlite3_column_double(stmt, column);
    case SQLITE_TEXT: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
      return std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt, column)));
    }
    case SQLITE_BLOB: {
      const auto* data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, column));
      return Bytes(data, data + sqlite3_column_bytes(stmt, column));
    }
    default:
      return std::monostate{};
  }
}

}  // namespace

Status sqlite_status(sqlite3* db, int code, std::string_view what, std::string_view sql) {
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  if (status_code_for(code) == StatusCode::kRejected) message += " (not allowed on a read-only connection)";
  message += " [SQLite code " + std::to_string(code) + "]";
  if (!sql.empty()) message += " in \"" + excerpt(sql) + "\"";
  return Status(status_code_for(code), std::move(message));
}

Result<std::unique_ptr<Database>> Database::open(const std::string& name, const char* vfs, Access access) {
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  flags |= access == Access::kReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &db, flags, vfs);
  if (rc != SQLITE_OK) {
    Status status = sqlite_status(db, rc, "cannot open database \"" + name + "\"", {});
    sqlite3_close_v2(db);  // a no-op for nullptr
    return status;
  }
  std::unique_ptr<Database> database(new Database(db));
  if (access == Access::kReadOnly) {
    rc = sqlite3_set_authorizer(db, authorize_read_only, nullptr);
    if (rc != SQLITE_OK) return sqlite_status(db, rc, "cannot install the read-only authorizer", {});
  }
  return database;
}

Database::~Database() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Status Database::exec(std::string_view sql) {
  std::string text(sql);
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return sqlite_status(db_, rc, "exec failed", sql);
  return Status::ok();
}

Result<sqlite3_stmt*> Database::prepare(std::string_view sql, std::span<const Value> params) {
  std::string key(sql);
  sqlite3_stmt* stmt = nullptr;
  if (auto it = statements_.find(key); it != statements_.end()) {
    stmt = it->second;
  } else {
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, key.data(), static_cast<int>(key.size()), SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) return sqlite_status(db_, rc, "cannot prepare statement", sql);
    if (stmt == nullptr) return Status::invalid_argument("no SQL statement in \"" + excerpt(sql) + "\"");
    // Only whitespace, comments and semicolons may follow the statement.
    const char* end = key.data() + key.size();
    while (tail != nullptr && tail < end) {
      sqlite3_stmt* extra = nullptr;
      const char* next = nullptr;
      rc = sqlite3_prepare_v2(db_, tail, static_cast<int>(end - tail), &extra, &next);
      sqlite3_finalize(extra);
      if (rc != SQLITE_OK || extra != nullptr || next == tail) {
        sqlite3_finalize(stmt);
        return Status::invalid_argument("more than one SQL statement in \"" + excerpt(sql) +
                                        "\"; run one statement per call");
      }
      tail = next;
    }
    if (statements_.size() >= kMaxCachedStatements) {
      for (auto& [cached_sql, cached] : statements_) sqlite3_finalize(cached);
      statements_.clear();
    }
    statements_.emplace(std::move(key), stmt);
  }

  int expected = sqlite3_bind_parameter_count(stmt);
  if (static_cast<size_t>(expected) != params.size()) {
    return Status::invalid_argument("statement expects " + std::to_string(expected) + " parameters but " +
                                    std::to_string(params.size()) + " were given: \"" + excerpt(sql) + "\"");
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    // Values stay alive and the bindings are cleared before the caller's call
    // returns (StatementUse), so SQLite need not copy them.
    int rc = std::visit(
        [&](const auto& value) -> int {
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, std::monostate>) {
            return sqlite3_bind_null(stmt, index);
          } else if constexpr (std::is_same_v<T, int64_t>) {
            return sqlite3_bind_int64(stmt, index, value);
          } else if constexpr (std::is_same_v<T, double>) {
            return sqlite3_bind_double(stmt, index, value);
          } else if constexpr (std::is_same_v<T, std::string>) {
            return sqlite3_bind_text64(stmt, index, value.data(), value.size(), SQLITE_STATIC, SQLITE_UTF8);
          } else {
            // An empty vector may have no storage; bind_blob with nullptr would
            // bind NULL instead of an empty blob.
            if (value.empty()) return sqlite3_bind_zeroblob(stmt, index, 0);
            return sqlite3_bind_blob64(stmt, index, value.data(), value.size(), SQLITE_STATIC);
          }
        },
        params[i]);
    if (rc != SQLITE_OK) {
      sqlite3_clear_bindings(stmt);
      return sqlite_status(db_, rc, "cannot bind parameter " + std::to_string(index), sql);
    }
  }
  return stmt;
}

Status Database::execute(std::string_view sql, std::span<const Value> params) {
  SQLSYNC_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, prepare(sql, params));
  StatementUse use(stmt);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return sqlite_status(db_, rc, "statement failed", sql);
  return Status::ok();
}

Result<QueryResult> Database::query(std::string_view sql, std::span<const Value> params) {
  SQLSYNC_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, prepare(sql, params));
  StatementUse use(stmt);
  QueryResult result;
  const int columns = sqlite3_column_count(stmt);
  result.columns.reserve(static_cast<size_t>(columns));
  for (int i = 0; i < columns; ++i) {
    const char* column_name = sqlite3_column_name(stmt, i);
    result.columns.emplace_back(column_name != nullptr ? column_name : "");
  }
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    Row row;
    row.reserve(static_cast<size_t>(columns));
    for (int i = 0; i < columns; ++i) row.push_back(column_value(stmt, i));
    result.rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return sqlite_status(db_, rc, "query failed", sql);
  return result;
}

int64_t Database::changes() { return sqlite3_changes64(db_); }

bool Database::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

}  // namespace sqlsync
