// Reducers shipped as WebAssembly modules, run sandboxed natively: compiled
// ahead of time through wasm2c (wasm_aot.h) or in wabt's interpreter. Native
// builds only (the browser runs reducers on its own engine, src/web). The
// guest/host contract is docs/reducer-abi.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "reducer/reducer_abi.h"  // WasmLogLevel, WasmLogSink
#include "sqlsync/reducer.h"
#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

// What runs a WASM reducer's guest. Both run the same instrumented module and
// give the same verdicts, except where a guest recurses deep enough to
// exhaust a call stack (the interpreter's own, or the native thread's).
enum class WasmBackend {
  kAuto,         // kAot when available, else kInterpreter (with a kWarning line to the log sink)
  kInterpreter,  // wabt's interpreter: no compiler needed, ~30x slower
  kAot,          // native code through wasm2c and the C compiler; load fails if unavailable
};

// What one reducer may consume. Every replica must use the same limits for
// their verdicts to agree (a mutation over a limit is rejected).
struct WasmLimits {
  // Cap on the guest's linear memory; a larger declared maximum is lowered to
  // it, and growing past it fails the call ("exceeded its memory limit").
  uint64_t memory_bytes = uint64_t{64} << 20;
  // Execution budget of one guest call, in fuel units: one unit per function
  // entry and per loop iteration. Refilled at every mutation_begin, so a batch
  // of n mutations may spend n + 1 budgets. The interpreter runs roughly
  // 5-10 million units per second, the AOT backend a hundred times more.
  uint64_t fuel_per_call = 10'000'000;
  // Largest module accepted by load_wasm_reducer.
  size_t module_bytes = size_t{8} << 20;

  // How to run the guest; does not change verdicts (see WasmBackend).
  WasmBackend backend = WasmBackend::kAuto;
  // Cache of compiled reducers for kAot/kAuto; empty means
  // $XDG_CACHE_HOME/sqlsync/aot or ~/.cache/sqlsync/aot (see wasm_aot.h).
  std::string aot_cache_dir;
};

// Validates and instantiates the WebAssembly reducer `module` (the bytes are
// copied; the caller may discard them).
//
// Errors: InvalidArgument "not a WebAssembly module: ..." for bytes that do
// not parse or validate, InvalidArgument naming the problem for a module over
// `limits.module_bytes`, an import the host does not provide, a missing or
// mistyped export, or an initial memory over `limits.memory_bytes`;
// Unsupported "reducer ABI version N, this host supports 1"; Rejected when
// instantiation, `_initialize` or `sqlsync_schema_version` fails in the guest.
// With WasmBackend::kAot, also the errors of compiling it (wasm_aot.h).
//
// The first load of a module with kAot or kAuto compiles it (seconds for a
// large reducer, on this thread); later loads find it in the cache. When
// kAuto cannot compile (no compiler, a module wasm2c does not support), it
// runs the interpreter and tells `log` at kWarning why.
//
// The returned Reducer implements reduce_batch with one guest call per batch
// and follows the failure rules of docs/reducer-abi.md: a trap, an exhausted
// budget or memory cap rejects the mutation it happened in, and the module is
// re-instantiated for the next call. It is not thread-safe: use it from one
// thread at a time (as Reducer requires). `log` (may be empty: messages are
// dropped) must stay callable while the reducer lives.
Result<std::shared_ptr<Reducer>> load_wasm_reducer(ByteView module, WasmLimits limits = {}, WasmLogSink log = nullptr);

}  // namespace sqlsync
