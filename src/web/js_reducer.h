// WASM reducers in the browser: the guest module runs on the browser's own
// WebAssembly engine, as a second instance next to the core, and this host
// drives it through JavaScript (web/client/src/guest-host.ts) with
// synchronous calls. Guest memory is another ArrayBuffer, so every byte that
// crosses is copied; the ABI v1 logic (docs/reducer-abi.md) is the native
// host's, from src/reducer/reducer_abi.h, so verdicts and messages match.
//
// Differences from the native host (docs/browser.md, "WASM reducers"):
// - No execution budget: the browser cannot meter a guest. A runaway loop
//   blocks the worker until the client's watchdog terminates it; the
//   mutation never commits.
// - The memory cap is checked after each guest call (the browser enforces
//   only the module's declared maximum while it runs).
// - Import signatures cannot be checked by JavaScript (only names and
//   kinds); a mistyped import misbehaves instead of failing to load.
// Emscripten builds only.
#pragma once

#include <cstdint>
#include <memory>

#include "sqlsync/reducer.h"
#include "sqlsync/status.h"

namespace sqlsync {

// Cap on a guest's linear memory, as natively (WasmLimits::memory_bytes).
inline constexpr uint64_t kJsGuestMemoryBytes = uint64_t{64} << 20;

// Loads the reducer whose compiled module the JavaScript object
// `Module.sqlsyncGuests.get(guest)` holds: checks its imports and exports,
// instantiates it, calls `_initialize`, checks the ABI version and reads the
// schema version. Errors as load_wasm_reducer (src/reducer/wasm_reducer.h):
// InvalidArgument for a missing export or a foreign import, Unsupported for
// another ABI version, Rejected when the guest traps while loading;
// NotFound if no such JavaScript object exists.
//
// The reducer keeps using that object (its instances and memory) until it is
// destroyed; the object must stay registered until then. Single-threaded.
Result<std::shared_ptr<Reducer>> load_js_wasm_reducer(int32_t guest);

}  // namespace sqlsync
