#include "base/digest.h"
#include "reducer/sql_reducer.h"
#include "reducer/wasm_reducer.h"
#include "sqlsync/client.h"

namespace sqlsync {

Result<LoadedReducer> load_reducer(ByteView bytes) {
  static constexpr uint8_t kWasmMagic[] = {0x00, 'a', 's', 'm'};
  const bool is_wasm = bytes.size() >= sizeof(kWasmMagic) && std::equal(std::begin(kWasmMagic), std::end(kWasmMagic), bytes.begin());
  Result<std::shared_ptr<Reducer>> reducer = is_wasm ? load_wasm_reducer(bytes) : load_sql_reducer(as_text(bytes));
  if (!reducer.is_ok()) return reducer.status();
  return LoadedReducer{std::move(*reducer), sha256_hex(bytes)};
}

}  // namespace sqlsync
