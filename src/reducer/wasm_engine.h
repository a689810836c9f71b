// wabt's interpreter behind a narrow interface for the WASM reducer host
// (wasm_reducer.cc). wasm_engine.cc is the only file that includes wabt, and it
// is compiled as C++17: the headers of Debian's wabt 1.0.32 do not compile as
// C++20 with GCC 12 (interp-inl.h declares destructors with template-ids). So
// this header sticks to C++17 and must not include sqlsync headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
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

// A host function taking and returning only i32s. Returns "" on success (with
// the result, if any, in *result), or a message that traps the guest.
using HostFunction = std::function<std::string(const std::vector<uint32_t>& args, uint32_t* result)>;

// A compiled module and its current instance. Not thread-safe.
class Engine {
 public:
  // Parses and validates `bytes`, refuses non-function imports and modules
  // without exactly one 32-bit unshared memory, lowers the memory's maximum to
  // `memory_bytes` (refusing a larger initial size) and instruments the code:
  // every function entry and loop iteration costs one unit of fuel and traps
  // when none is left; a failed memory.grow traps. On error returns nullptr
  // with a message in *error ("not a WebAssembly module: ..." when the bytes
  // do not parse or validate).
  static std::unique_ptr<Engine> compile(const uint8_t* bytes, size_t size, uint64_t memory_bytes,
                                         uint64_t fuel_per_call, std::string* error);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const std::vector<ImportInfo>& imports() const;
  std::optional<ExportInfo> find_export(const std::string& name) const;

  // Provides the functions for imports(), in order; each must match its
  // signature (the caller checks). Call once, before instantiate().
  void set_host_functions(std::vector<HostFunction> functions);

  // Drops the current instance and makes a fresh one on a fresh interpreter
  // thread, with a full fuel budget. Returns "" or the failure.
  std::string instantiate();

  // Calls the exported function `name` (i32 params, at most one i32 result)
  // on the current instance; inside a host function, re-enters the calling
  // guest. Returns "" (with the result, if any, in *result) or the trap
  // message. Does not refuel. After a trap, instantiate() before calling again.
  std::string call(const std::string& name, const std::vector<uint32_t>& args, uint32_t* result);

  void set_fuel(uint64_t fuel);
  uint64_t fuel() const;
  // True when the last trap came from a memory.grow past the cap.
  bool memory_grow_failed() const;

  // The instance's exported memory "memory": valid until the next guest call
  // (memory.grow moves it). Null/0 before an instance exists.
  uint8_t* memory_data();
  uint64_t memory_size() const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wasm
}  // namespace sqlsync
