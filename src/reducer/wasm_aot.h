// Ahead-of-time backend for WASM reducers (native builds only): the
// instrumented module (wasm_engine.h) is translated to C by wasm2c, compiled
// with the system's C compiler into a shared library together with a
// generated shim that binds its imports to the host, and loaded with dlopen.
// The native code runs the same instrumented module as the interpreter, so
// fuel, memory cap and memory.grow failures behave identically; traps
// (including out-of-bounds accesses caught by guard pages and native stack
// exhaustion) become trap messages, never a crash of the host.
//
// Compiled libraries are cached on disk, content-addressed by the SHA-256 of
// the instrumented module, the shim's version and the identity of wasm2c and
// of the compiler, and published durably (temp file, fsync, rename, directory
// fsync) so concurrent processes may share a cache directory. Each entry
// carries the SHA-256 of its library, checked before every dlopen: a corrupt
// entry is rebuilt. The cache directory must be private to the user: the
// process runs the code it finds there.
//
// The runtime that wasm2c's output needs (traps, linear memories) is the
// host's own (wasm_aot.cc) rather than wabt's libwasm-rt-impl, whose trap
// state and signal stack are process-wide: here they are per thread, so
// engines on different threads run in parallel. The first instantiation
// installs SIGSEGV/SIGBUS handlers that turn faults of guest code into traps
// and pass every other fault on to the handler that was there before.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "reducer/wasm_engine.h"
#include "sqlsync/status.h"

namespace sqlsync {
namespace wasm {

struct AotOptions {
  // Where compiled reducers are cached; created if missing. Empty means
  // default_aot_cache_dir().
  std::string cache_dir;
};

// $XDG_CACHE_HOME/sqlsync/aot, else $HOME/.cache/sqlsync/aot. NotFound when
// neither variable is set.
Result<std::string> default_aot_cache_dir();

// Ok when this process can compile reducers: `wasm2c` and `cc` are found on
// PATH. Unsupported naming what is missing otherwise.
Status aot_available();

// An engine running `module` as native code: loads the cached library for it
// or builds it first (seconds for a large reducer; the calling thread waits).
// Errors: Unsupported when AOT is unavailable (aot_available()) or the module
// uses something the shim does not bind (imports from more than one module,
// imports other than i32 functions); Internal when wasm2c or the compiler
// fails (the message carries the start of its output); IOError for the cache
// directory. Thread-safe; engines are independent (several libraries may be
// loaded at once, and engines of one library share it).
Result<std::unique_ptr<Engine>> new_aot_engine(InstrumentedModule module, const AotOptions& options);

// Process-wide counts of what new_aot_engine() did, for tests and
// benchmarks.
struct AotCounters {
  uint64_t compiled = 0;          // libraries built with wasm2c and the compiler
  uint64_t loaded_from_disk = 0;  // cache entries verified and dlopened
  uint64_t corrupt_entries = 0;   // cache entries refused (checksum, format) and rebuilt
};
AotCounters aot_counters();

}  // namespace wasm
}  // namespace sqlsync
