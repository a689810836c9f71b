// The C shim compiled into every AOT reducer library (wasm_aot.cc): it
// defines the module's imports and the wasm-rt.h runtime functions that
// wasm2c's output calls by forwarding them to the host through a table of
// function pointers (AotHost), and describes the module to the host
// (AotModule), which finds it through the library's one exported symbol.
#pragma once

#include <wasm-rt.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "reducer/wasm_engine.h"
#include "sqlsync/status.h"

namespace sqlsync {
namespace wasm {

// Version of the host <-> shim interface below (AotHost, AotExport,
// AotModule) and of the shim's code; part of every cache key, so a change
// never loads a library built for another version.
inline constexpr uint32_t kShimVersion = 1;

// Trap codes beyond wasm-rt.h's: an import failed (message in the frame), and
// the host could not provide memory.
inline constexpr uint32_t kTrapHost = 0x100;
inline constexpr uint32_t kTrapHostMemory = 0x101;

// The interface between the host and a library's shim, as the host sees it;
// the C declarations shim_source() writes must match these.
extern "C" {
struct AotHost {
  uint32_t version;
  void (*trap)(uint32_t code);  // never returns
  void (*allocate_memory)(wasm_rt_memory_t* memory, uint32_t initial_pages, uint32_t max_pages);
  uint32_t (*grow_memory)(wasm_rt_memory_t* memory, uint32_t delta);
  void (*free_memory)(wasm_rt_memory_t* memory);
  // Runs import `index` of the instance whose context is `context`; 0, or
  // non-zero after storing the failure for the shim to trap with kTrapHost.
  uint32_t (*call_import)(void* context, uint32_t index, const uint32_t* args, uint32_t* result);
};
struct AotExport {
  const char* name;
  uint32_t params;
  void (*call)(void* instance, const uint32_t* args, uint32_t* result);
};
struct AotModule {
  uint32_t version;
  uint32_t host_size;  // sizeof(struct AotHost) as the shim was compiled
  size_t instance_size;
  void (*init_module)(void);
  void (*instantiate)(void* instance, void* context);
  void (*free_instance)(void* instance);
  wasm_rt_memory_t* (*memory)(void* instance);  // null: no export "memory"
  uint64_t* (*fuel)(void* instance);
  uint32_t* (*grow_result)(void* instance);
  uint32_t export_count;
  const AotExport* exports;
};
// The library's one exported function, "sqlsync_aot_bind".
using AotBind = const AotModule* (*)(const AotHost* host);
}

// The C source of the shim for `module`, translated by wasm2c with `-n
// module_name` into module.c/module.h (which the shim includes). Unsupported
// when the module has imports the shim cannot bind: other than functions on
// i32s with at most one result, or from more than one import module.
Result<std::string> shim_source(const std::string& module_name, const InstrumentedModule& module);

}  // namespace wasm
}  // namespace sqlsync
