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

// Native C++ reducer (tests and embedded use; WASM and SQL reducers implement
// the same interface). Must be deterministic in spirit: the same mutation on
// the same state should give the same result on every replica.
class Reducer {
 public:
  virtual ~Reducer() = default;
  // Applies one mutation. Returning a non-ok Status rejects it: the runtime
  // rolls back everything it wrote (a savepoint per mutation), and neighbours
  // in the same batch are unaffected.
  virtual Status reduce(Transaction& tx, ByteView mutation) = 0;
};

}  // namespace sqlsync
