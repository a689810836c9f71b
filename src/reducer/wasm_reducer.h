// Reducers shipped as WebAssembly modules, run sandboxed in wabt's interpreter
// (native builds only). The guest/host contract is docs/reducer-abi.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "sqlsync/reducer.h"
#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

// What one reducer may consume. Every replica must use the same limits for
// their verdicts to agree (a mutation over a limit is rejected).
struct WasmLimits {
  // Cap on the guest's linear memory; a larger declared maximum is lowered to
  // it, and growing past it fails the call ("exceeded its memory limit").
  uint64_t memory_bytes = uint64_t{64} << 20;
  // Execution budget of one guest call, in fuel units: one unit per function
  // entry and per loop iteration. Refilled at every mutation_begin, so a batch
  // of n mutations may spend n + 1 budgets. The interpreter runs roughly
  // 5-10 million units per second.
  uint64_t fuel_per_call = 10'000'000;
  // Largest module accepted by load_wasm_reducer.
  size_t module_bytes = size_t{8} << 20;
};

// Severity of a guest's log message (the `level` argument of sqlsync.log).
enum class WasmLogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Receives the guest's log messages, on the thread calling the reducer; the
// text is only valid during the call.
using WasmLogSink = std::function<void(WasmLogLevel level, std::string_view message)>;

// Validates and instantiates the WebAssembly reducer `module` (the bytes are
// copied; the caller may discard them).
//
// Errors: InvalidArgument "not a WebAssembly module: ..." for bytes that do
// not parse or validate, InvalidArgument naming the problem for a module over
// `limits.module_bytes`, an import the host does not provide, a missing or
// mistyped export, or an initial memory over `limits.memory_bytes`;
// Unsupported "reducer ABI version N, this host supports 1"; Rejected when
// instantiation, `_initialize` or `sqlsync_schema_version` fails in the guest.
//
// The returned Reducer implements reduce_batch with one guest call per batch
// and follows the failure rules of docs/reducer-abi.md: a trap, an exhausted
// budget or memory cap rejects the mutation it happened in, and the module is
// re-instantiated for the next call. It is not thread-safe: use it from one
// thread at a time (as Reducer requires). `log` (may be empty: messages are
// dropped) must stay callable while the reducer lives.
Result<std::shared_ptr<Reducer>> load_wasm_reducer(ByteView module, WasmLimits limits = {},
                                                   WasmLogSink log = nullptr);

}  // namespace sqlsync
