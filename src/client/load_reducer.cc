#include "base/digest.h"
#include "reducer/reducer_abi.h"
#include "reducer/sql_reducer.h"
#include "reducer/wasm_reducer.h"
#include "sqlsync/client.h"

namespace sqlsync {

Result<LoadedReducer> load_reducer(ByteView bytes) {
  Result<std::shared_ptr<Reducer>> reducer =
      reducer_kind_of(bytes) == ReducerKind::kWasm ? load_wasm_reducer(bytes) : load_sql_reducer(as_text(bytes));
  if (!reducer.is_ok()) return reducer.status();
  return LoadedReducer{std::move(*reducer), sha256_hex(bytes)};
}

}  // namespace sqlsync
