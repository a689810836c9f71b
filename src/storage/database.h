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

// Maps SQLite result `code` (from a call on `db`, which may be nullptr) to a
// Status whose message holds `what`, sqlite3_errmsg and an excerpt of `sql`:
// CORRUPT/NOTADB -> Corruption; IOERR/FULL/CANTOPEN/NOMEM -> IOError;
// AUTH/READONLY -> Rejected; BUSY/LOCKED -> Busy; MISUSE/INTERNAL -> Internal;
// anything else (ERROR, CONSTRAINT, ...) -> InvalidArgument.
Status sqlite_status(sqlite3* db, int code, std::string_view what, std::string_view sql);

constexpr const char* kTransactionEndedByReducer =
    "reducer ended the runtime's transaction (a ROLLBACK conflict clause or RAISE(ROLLBACK)); "
    "the mutation is refused";

class Database final : public Transaction {
 public:
  enum class Access { kReadWrite, kReadOnly };

  // Opens `name` on the registered VFS `vfs` (nullptr: SQLite's default).
  // kReadOnly connections are opened read-only and also get an authorizer that
  // allows only reads: SELECT, reading columns, functions, recursive CTEs,
  // PRAGMAs that describe or check
  // the schema (table_info, index_list, integrity_check, ...) and PRAGMAs that
  // read a setting (user_version, page_size, ...) without an argument. So a
  // query can never write, attach, change settings or hold a transaction
  // open (each query is its own snapshot): Rejected if it tries.
  static Result<std::unique_ptr<Database>> open(const std::string& name, const char* vfs, Access access);
  ~Database() override;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements without parameters (schema, pragmas,
  // BEGIN/COMMIT/SAVEPOINT).
  Status exec(std::string_view sql);

  // Transaction: `sql` is one statement, prepared once and cached by its text
  // (the cache is bounded). Rows of execute() are ignored. Errors follow
  // sqlite_status(); InvalidArgument when the parameter count differs.
  Status execute(std::string_view sql, std::span<const Value> params = {}) override;
  Result<QueryResult> query(std::string_view sql, std::span<const Value> params = {}) override;
  int64_t changes() override;

  // True while a transaction is open on this connection.
  bool in_transaction() const;
  sqlite3* handle() { return db_; }

  // While confined, the connection runs untrusted reducer code: it refuses
  // (Rejected, with the reason) ATTACH/DETACH, transaction control
  // (BEGIN/COMMIT/ROLLBACK/SAVEPOINT: the runtime owns transactions), any
  // PRAGMA a read-only connection could not run (so none that changes a
  // setting), and any access to tables named __sqlsync_* in any case (the
  // runtime's bookkeeping), also through triggers. The runtime confines the
  // read-write connection around every reducer call and lifts it for its own
  // statements. Only read-write connections can be confined.
  // A reducer can still end the transaction through SQL the authorizer does
  // not see (INSERT OR ROLLBACK, RAISE(ROLLBACK) in a trigger). Confined on
  // an open transaction, every later statement then fails with Rejected
  // kTransactionEndedByReducer instead of running in autocommit mode.
  void set_confined(bool confined);
  bool confined() const { return confined_; }
  // True if reducer code rolled back the transaction it was confined in (see
  // set_confined). Check it after each reducer call.
  bool transaction_ended_while_confined() const { return ended_by_reducer_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  // The cached prepared statement for `sql` (prepared on first use) with
  // `params` bound. InvalidArgument unless `sql` is exactly one statement
  // with params.size() parameters. The caller resets it after use.
  Result<sqlite3_stmt*> prepare(std::string_view sql, std::span<const Value> params);
  // sqlite_status(), except that a refusal of the confinement authorizer
  // reports the authorizer's reason instead of SQLite's "not authorized".
  Status error(int code, std::string_view what, std::string_view sql);
  // The authorizer of read-write connections; `self` is the Database. Allows
  // everything unless confined_, records the reason of a refusal in denial_.
  static int authorize_confined(void* self, int action, const char* arg1, const char* arg2, const char* database,
                                const char* trigger);

  sqlite3* db_;
  static void note_rollback(void* self);
  bool confined_ = false;
  bool ended_by_reducer_ = false;  // set by the rollback hook while confined
  std::string denial_;
  // SQLite authorizes a statement when it prepares it, so statements prepared
  // while confined are cached apart: one the runtime prepared unconfined must
  // never run for a reducer because its text happens to match.
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
  std::unordered_map<std::string, sqlite3_stmt*> confined_statements_;
};

// The runtime's MutationScope: one SAVEPOINT per mutation of a batch, run
// through cached statements with the connection's confinement lifted for
// them (reducer code keeps running confined). `db` must outlive the scope.
class SavepointScope final : public MutationScope {
 public:
  explicit SavepointScope(Database& db) : db_(db) {}

  Status begin_mutation() override;
  Status end_mutation(bool keep) override;
  // True between begin_mutation() and end_mutation().
  bool open() const { return open_; }

 private:
  Status runtime_statement(const char* sql);

  Database& db_;
  bool open_ = false;
};

}  // namespace sqlsync
