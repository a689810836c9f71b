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

// The runtime's bookkeeping tables (and their indexes and triggers) are named
// with this prefix; a confined connection may not touch them.
constexpr std::string_view kInternalPrefix = "__sqlsync_";

bool contains(std::span<const char* const> names, const char* name) {
  if (name == nullptr) return false;
  for (const char* candidate : names) {
    if (sqlite3_stricmp(candidate, name) == 0) return true;
  }
  return false;
}

// Whether PRAGMA `name` with `argument` (nullptr if none) only reads: it
// describes or checks the schema, or reads a setting without changing it.
bool pragma_only_reads(const char* name, const char* argument) {
  return contains(kSchemaPragmas, name) || (argument == nullptr && contains(kSettingPragmas, name));
}

bool is_internal(const char* name) {
  return name != nullptr &&
         sqlite3_strnicmp(name, kInternalPrefix.data(), static_cast<int>(kInternalPrefix.size())) == 0;
}

std::string internal_access_denial(const char* name) {
  return std::string("reducer may not access ") + name + " (tables named " + std::string(kInternalPrefix) +
         "* belong to the sqlsync runtime)";
}

// Why a confined connection refuses `action` (arguments as SQLite passes them
// to an authorizer), or "" if it allows it. SQLite's own schema updates (CREATE,
// ALTER, DROP) reach the authorizer as writes to sqlite_master, so those are
// allowed; direct writes to it need PRAGMA writable_schema, refused here.
std::string confined_denial(int action, const char* arg1, const char* arg2) {
  switch (action) {
    case SQLITE_ATTACH:
      return "reducer may not ATTACH a database";
    case SQLITE_DETACH:
      return "reducer may not DETACH a database";
    case SQLITE_TRANSACTION:
      // arg1 is BEGIN, COMMIT or ROLLBACK.
      return std::string("reducer may not run ") + arg1 + ": the runtime owns the transaction";
    case SQLITE_SAVEPOINT:
      // arg2 is the savepoint's name.
      return std::string("reducer may not create, release or roll back savepoint \"") + arg2 +
             "\": the runtime owns the transaction";
    case SQLITE_PRAGMA:
      // arg1 is the pragma's name, arg2 its argument (nullptr if none).
      if (pragma_only_reads(arg1, arg2)) return {};
      if (arg2 != nullptr) return std::string("reducer may not set PRAGMA ") + arg1 + " (to " + arg2 + ")";
      return std::string("reducer may not run PRAGMA ") + arg1 +
             ": only PRAGMAs that read a setting or describe the schema are allowed";
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_CREATE_TEMP_VIEW:
    case SQLITE_CREATE_TEMP_INDEX:
    case SQLITE_CREATE_TEMP_TRIGGER:
      // TEMP objects live on one connection and are never replicated: a
      // reducer could carry state that differs between replicas.
      return "reducer may not create temporary objects: they are not part of the document";
    case SQLITE_ANALYZE:
      // ANALYZE writes pages without changing a row, which the coordinator's
      // no-op detection cannot see.
      return "reducer may not run ANALYZE";
    case SQLITE_READ:
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
    case SQLITE_CREATE_TABLE:
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_CREATE_VIEW:
    case SQLITE_DROP_VIEW:
    case SQLITE_DROP_TEMP_VIEW:
    case SQLITE_CREATE_VTABLE:
    case SQLITE_DROP_VTABLE:
    case SQLITE_REINDEX:
      // arg1 names the table (the view; the index for REINDEX).
      return is_internal(arg1) ? internal_access_denial(arg1) : std::string();
    case SQLITE_CREATE_INDEX:
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_TEMP_INDEX:
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_DROP_TRIGGER:
    case SQLITE_DROP_TEMP_TRIGGER:
      // arg1 names the index or trigger, arg2 its table.
      if (is_internal(arg2)) return internal_access_denial(arg2);
      return is_internal(arg1) ? internal_access_denial(arg1) : std::string();
    case SQLITE_ALTER_TABLE:
      // arg1 names the database, arg2 the table.
      return is_internal(arg2) ? internal_access_denial(arg2) : std::string();
    default:
      return {};
  }
}

// Authorizer of read-only connections. Each query is its own snapshot:
// BEGIN is refused, since a read transaction left open would block the
// writer's commits and see pages change under it at a rebase.
int authorize_read_only(void*, int action, const char* arg1, const char* arg2, const char*, const char*) {
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    case SQLITE_PRAGMA:
      // arg1 is the pragma's name, arg2 its argument (nullptr if none).
      return pragma_only_reads(arg1, arg2) ? SQLITE_OK : SQLITE_DENY;
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
  } else {
    rc = sqlite3_set_authorizer(db, authorize_confined, database.get());
    if (rc != SQLITE_OK) return sqlite_status(db, rc, "cannot install the confinement authorizer", {});
    sqlite3_rollback_hook(db, note_rollback, database.get());
    // Defensive mode refuses what would corrupt the file behind the
    // authorizer's back (writable_schema, journal_mode=OFF, ...). It stays on:
    // changing it expires every prepared statement, and set_confined() runs
    // twice per mutation.
    rc = sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    if (rc != SQLITE_OK) return sqlite_status(db, rc, "cannot enable defensive mode", {});
  }
  return database;
}

Database::~Database() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  for (auto& [sql, stmt] : confined_statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

int Database::authorize_confined(void* self, int action, const char* arg1, const char* arg2, const char*, const char*) {
  auto* database = static_cast<Database*>(self);
  if (!database->confined_) return SQLITE_OK;
  std::string denial = confined_denial(action, arg1, arg2);
  if (denial.empty()) return SQLITE_OK;
  database->denial_ = std::move(denial);
  return SQLITE_DENY;
}

void Database::note_rollback(void* self) {
  auto* database = static_cast<Database*>(self);
  if (database->confined_) database->ended_by_reducer_ = true;
}

void Database::set_confined(bool confined) {
  // The authorizer runs when a statement is prepared, so each state has its
  // own statement cache (prepare() picks it).
  confined_ = confined;
  // Confining inside a transaction starts a reducer call; re-confining after
  // the transaction ended (the runtime's savepoint statements do that) must
  // not forget that the reducer ended it.
  if (confined && in_transaction()) ended_by_reducer_ = false;
}

Status Database::error(int code, std::string_view what, std::string_view sql) {
  std::string denial = std::move(denial_);
  denial_.clear();
  if ((code & 0xff) != SQLITE_AUTH || denial.empty()) return sqlite_status(db_, code, what, sql);
  std::string message = std::string(what) + ": " + denial;
  if (!sql.empty()) message += " in \"" + excerpt(sql) + "\"";
  return Status::rejected(std::move(message));
}

Status Database::exec(std::string_view sql) {
  std::string text(sql);
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return error(rc, "exec failed", sql);
  return Status::ok();
}

Result<sqlite3_stmt*> Database::prepare(std::string_view sql, std::span<const Value> params) {
  std::string key(sql);
  auto& statements = confined_ ? confined_statements_ : statements_;
  sqlite3_stmt* stmt = nullptr;
  if (auto it = statements.find(key); it != statements.end()) {
    stmt = it->second;
  } else {
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, key.data(), static_cast<int>(key.size()), SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) return error(rc, "cannot prepare statement", sql);
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
    if (statements.size() >= kMaxCachedStatements) {
      for (auto& [cached_sql, cached] : statements) sqlite3_finalize(cached);
      statements.clear();
    }
    statements.emplace(std::move(key), stmt);
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
      return error(rc, "cannot bind parameter " + std::to_string(index), sql);
    }
  }
  return stmt;
}

Status Database::execute(std::string_view sql, std::span<const Value> params) {
  if (confined_ && ended_by_reducer_) return Status::rejected(kTransactionEndedByReducer);
  SQLSYNC_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, prepare(sql, params));
  StatementUse use(stmt);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return error(rc, "statement failed", sql);
  return Status::ok();
}

Result<QueryResult> Database::query(std::string_view sql, std::span<const Value> params) {
  if (confined_ && ended_by_reducer_) return Status::rejected(kTransactionEndedByReducer);
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
  if (rc != SQLITE_DONE) return error(rc, "query failed", sql);
  return result;
}

int64_t Database::changes() { return sqlite3_changes64(db_); }

bool Database::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

Status SavepointScope::begin_mutation() {
  if (open_) return Status::invalid_argument("begin_mutation: the previous mutation was not ended");
  SQLSYNC_RETURN_IF_ERROR(runtime_statement("SAVEPOINT sqlsync_mutation"));
  open_ = true;
  return Status::ok();
}

Status SavepointScope::end_mutation(bool keep) {
  if (!open_) return Status::invalid_argument("end_mutation without begin_mutation");
  open_ = false;
  if (!keep) SQLSYNC_RETURN_IF_ERROR(runtime_statement("ROLLBACK TO sqlsync_mutation"));
  return runtime_statement("RELEASE sqlsync_mutation");
}

Status SavepointScope::runtime_statement(const char* sql) {
  const bool confined = db_.confined();
  db_.set_confined(false);
  Status status = db_.execute(sql);
  db_.set_confined(confined);
  return status;
}

}  // namespace sqlsync
