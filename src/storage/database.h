// A thin RAII wrapper over one sqlite3 connection with a prepared-statement
// cache. Implements Transaction so reducers run directly on it.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "sqlsync/reducer.h"
#include "sqlsync/status.h"
#include "sqlsync/types.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sqlsync {

class Database final : public Transaction {
 public:
  enum class Access { kReadWrite, kReadOnly };

  // Opens `name` on the registered VFS `vfs` (nullptr: SQLite's default).
  // kReadOnly connections also get an authorizer that allows only reads
  // (SELECT, reading columns, functions, PRAGMA reads without arguments), so a
  // query can never write, attach or change settings.
  static Result<std::unique_ptr<Database>> open(const std::string& name, const char* vfs, Access access);
  ~Database() override;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements without parameters (schema, pragmas,
  // BEGIN/COMMIT/SAVEPOINT).
  Status exec(std::string_view sql);

  // Transaction:
  Status execute(std::string_view sql, std::span<const Value> params = {}) override;
  Result<QueryResult> query(std::string_view sql, std::span<const Value> params = {}) override;
  int64_t changes() override;

  // True while a transaction is open on this connection.
  bool in_transaction() const;
  sqlite3* handle() { return db_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  // A cached prepared statement for `sql`, reset and with bindings cleared.
  Result<sqlite3_stmt*> prepare(std::string_view sql, std::span<const Value> params);
  Status error(const char* what) const;  // maps the connection's error

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace sqlsync
