// The reducer: user code that turns a mutation (application-defined bytes,
// usually JSON such as {"tag":"CreateTask",...}) into SQL. The same reducer
// runs on every replica; the coordinator's result is authoritative.
#pragma once

#include <span>
#include <string_view>

#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

// The SQL a reducer may run, inside a transaction the runtime owns (never
// BEGIN/COMMIT it). Statements run on the replica's read-write connection.
class Transaction {
 public:
  virtual ~Transaction() = default;
  // Runs one statement with `params` bound to ?1, ?2, ... (or ?, ?).
  virtual Status execute(std::string_view sql, std::span<const Value> params = {}) = 0;
  // Runs one statement and returns its rows.
  virtual Result<QueryResult> query(std::string_view sql, std::span<const Value> params = {}) = 0;
  // Rows inserted, updated or deleted by the most recent statement.
  virtual int64_t changes() = 0;
};

// Isolates the mutations of a batch from each other: the runtime implements
// it with one SAVEPOINT per mutation.
class MutationScope {
 public:
  virtual ~MutationScope() = default;
  // Starts the next mutation of the batch.
  virtual Status begin_mutation() = 0;
  // Ends it: keeps its writes if `keep`, else undoes exactly its writes.
  virtual Status end_mutation(bool keep) = 0;
};

// A reducer: native C++ (tests and embedded use), WASM (src/reducer/
// wasm_reducer.h) or SQL (src/reducer/sql_reducer.h). Must be deterministic in
// spirit: the same mutation on the same state should give the same result on
// every replica. Called from one thread at a time.
class Reducer {
 public:
  virtual ~Reducer() = default;

  // Applies one mutation. Returning a non-ok Status rejects it: the runtime
  // undoes everything it wrote (a savepoint per mutation).
  virtual Status reduce(Transaction& tx, ByteView mutation) = 0;

  // Applies `mutations` in order and stores each one's verdict in
  // `verdicts[i]` (same size). Every mutation must be bracketed by
  // scope.begin_mutation() / scope.end_mutation(verdict.is_ok()), so one bad
  // mutation never fails its neighbours. A non-ok return means the batch
  // itself broke (scope or database failure): the runtime rolls back the
  // whole transaction. The default calls reduce() once per mutation;
  // reducers that cross a boundary per call (WASM) override it to cross once.
  virtual Status reduce_batch(Transaction& tx, MutationScope& scope, std::span<const ByteView> mutations,
                              std::span<Status> verdicts);

  // The schema version this reducer's code expects; 0 means it has no
  // migrations.
  virtual uint32_t schema_version() const { return 0; }

  // Migrates the document's schema from version `from` to `to`
  // (from < to == schema_version()), inside a transaction the runtime owns. A
  // brand-new document migrates from 0. An error aborts the migration and
  // leaves the document at `from`.
  virtual Status migrate(Transaction& tx, uint32_t from, uint32_t to);
};

}  // namespace sqlsync
