// The benchmarks' InsertReducer (bench/bench_util.h) as a WASM guest, built
// into insert_reducer.wasm: the same mutations and the same SQL, so
// reducer_bench compares only how the reducer is run.
//
// Mutation: 8-byte little-endian id followed by the body text, one INSERT;
// the empty mutation creates the table. Schema version 0 (no migrations), as
// the native reducer.
#include <sqlsync/guest.h>

#include <string>
#include <string_view>

namespace {

using sqlsync::Status;
using sqlsync::Tx;

Status migrate(Tx&, int, int) { return Status::ok(); }

Status reduce(Tx& tx, std::string_view mutation) {
  if (mutation.empty()) {
    return tx.execute("CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  }
  if (mutation.size() < 8) return Status::rejected("insert mutation shorter than 8 bytes");
  uint64_t id = 0;
  for (int i = 0; i < 8; ++i) id |= static_cast<uint64_t>(static_cast<uint8_t>(mutation[i])) << (8 * i);
  return tx.execute("INSERT INTO items(id, body) VALUES (?1, ?2)",
                    {static_cast<int64_t>(id), std::string(mutation.substr(8))});
}

}  // namespace

SQLSYNC_REDUCER(0, migrate, reduce)
