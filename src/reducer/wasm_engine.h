// The engines that run a WASM reducer's guest for the host (wasm_reducer.cc):
// one module rewritten for the host's limits (instrument()), run either by
// wabt's interpreter (new_interpreter(), wasm_engine.cc) or as native code
// compiled through wasm2c (wasm_aot.h). wasm_engine.cc is the only file that
// includes wabt's interpreter, and it is compiled as C++17: the headers of
// Debian's wabt 1.0.32 do not compile as C++20 with GCC 12 (interp-inl.h
// declares destructors with template-ids). So this header sticks to C++17 and
// must not include sqlsync headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sqlsync {
namespace wasm {

// A function type, one letter per value: i (i32), I (i64), f (f32), F (f64),
// v (v128), r (reference).
struct Signature {
  std::string params;
  std::string results;
  bool operator==(const Signature& other) const { return params == other.params && results == other.results; }
  bool operator!=(const Signature& other) const { return !(*this == other); }
};
// "(i32, i32) -> (i32)".
std::string describe(const Signature& signature);

struct ImportInfo {
  std::string module;
  std::string name;
  std::optional<Signature> function;  // nullopt for a table, memory, global or tag import
};

struct ExportInfo {
  enum class Kind { kFunction, kMemory, kOther };
  Kind kind = Kind::kOther;
  Signature signature;  // for functions
};

// Bytes in a page of linear memory.
inline constexpr uint64_t kWasmPageBytes = 65536;

// Exports instrument() adds: the i64 fuel global and the i32 global holding
// the result of the last memory.grow.
inline constexpr const char* kFuelExport = "__sqlsync_fuel";
inline constexpr const char* kGrowResultExport = "__sqlsync_grow_result";

// A module rewritten by instrument(): what every engine runs, so the budget,
// the memory cap and memory.grow failures behave the same on all of them.
struct InstrumentedModule {
  std::vector<uint8_t> binary;
  std::vector<ImportInfo> imports;  // in import order
  std::vector<std::pair<std::string, ExportInfo>>
      exports;  // in export order, kFuelExport and kGrowResultExport included

  std::optional<ExportInfo> find_export(const std::string& name) const;
};

// Parses and validates `bytes`, refuses non-function imports, modules without
// exactly one 32-bit unshared memory and modules that export kFuelExport or
// kGrowResultExport themselves, lowers the memory's maximum to `memory_bytes`
// (refusing a larger initial size) and instruments the code: every function
// entry and loop iteration costs one unit of fuel and traps when none is left
// (the fuel global starts at `fuel_per_call`, which bounds the start
// function); a failed memory.grow stores -1 in the grow-result global and
// traps. On error returns false with a message in *error ("not a WebAssembly
// module: ..." when the bytes do not parse or validate).
bool instrument(const uint8_t* bytes, size_t size, uint64_t memory_bytes, uint64_t fuel_per_call,
                InstrumentedModule* module, std::string* error);

// A host function taking and returning only i32s: `args` holds one value per
// parameter. Returns "" on success (with the result, if any, in *result), or
// a message that traps the guest.
using HostFunction = std::function<std::string(const uint32_t* args, uint32_t* result)>;

// A loaded module and its current instance. Not thread-safe: one thread at a
// time. Distinct engines are independent and may run on different threads.
class Engine {
 public:
  explicit Engine(InstrumentedModule module) : module_(std::move(module)) {}
  virtual ~Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const std::vector<ImportInfo>& imports() const { return module_.imports; }
  std::optional<ExportInfo> find_export(const std::string& name) const { return module_.find_export(name); }

  // Provides the functions for imports(), in order; each must match its
  // signature (the caller checks). Call once, before instantiate().
  virtual void set_host_functions(std::vector<HostFunction> functions) = 0;

  // Drops the current instance and makes a fresh one, with a full fuel budget
  // (the start function, if any, runs). Returns "" or the failure.
  virtual std::string instantiate() = 0;

  // Calls the exported function `name` (i32 params, `count` of them in
  // `args`, at most one i32 result) on the current instance; inside a host
  // function, re-enters the calling guest. Returns "" (with the result, if
  // any, in *result) or the trap message. Does not refuel. After a trap,
  // instantiate() before calling again.
  virtual std::string call(const std::string& name, const uint32_t* args, size_t count, uint32_t* result) = 0;

  // The current instance's fuel global (ignored / 0 without an instance).
  virtual void set_fuel(uint64_t fuel) = 0;
  virtual uint64_t fuel() const = 0;
  // True when the last trap came from a memory.grow past the cap.
  virtual bool memory_grow_failed() const = 0;

  // The instance's exported memory "memory": valid until the next guest call
  // (memory.grow may move it). Null/0 before an instance exists or when the
  // module exports no memory of that name.
  virtual uint8_t* memory_data() = 0;
  virtual uint64_t memory_size() const = 0;

 protected:
  const InstrumentedModule& module() const { return module_; }

 private:
  const InstrumentedModule module_;
};

// An engine running `module` in wabt's interpreter. On error (the binary does
// not load) returns nullptr with a message in *error.
std::unique_ptr<Engine> new_interpreter(InstrumentedModule module, std::string* error);

}  // namespace wasm
}  // namespace sqlsync
