#include "reducer/wasm_reducer.h"

#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "reducer/reducer_abi.h"
#include "reducer/wasm_aot.h"
#include "reducer/wasm_engine.h"

namespace sqlsync {
namespace {

// A wasm::Engine (wabt's interpreter or wasm2c's native code) as GuestReducer
// drives it.
class NativeGuestEngine final : public GuestEngine {
 public:
  NativeGuestEngine(std::unique_ptr<wasm::Engine> engine, uint64_t fuel_per_call)
      : engine_(std::move(engine)), fuel_per_call_(fuel_per_call) {}

  // Routes the module's imports to `host` (`imports`: what match_imports
  // found for them, in order). `host` must outlive the engine's calls.
  void bind_imports(GuestReducer& host, const std::vector<GuestImport>& imports) {
    std::vector<wasm::HostFunction> functions;
    for (GuestImport which : imports) {
      functions.push_back([&host, which](const uint32_t* args, uint32_t* result) {
        return host.run_import(which, args, result);
      });
    }
    engine_->set_host_functions(std::move(functions));
  }

  Result<bool> find_export(const GuestExportType& expected) override {
    std::optional<wasm::ExportInfo> exported = engine_->find_export(expected.name);
    if (!exported) return false;
    const std::string name = expected.name;
    if (expected.is_memory) {
      if (exported->kind != wasm::ExportInfo::Kind::kMemory) {
        return Status::invalid_argument("reducer export " + name + " is not a memory");
      }
      return true;
    }
    if (exported->kind != wasm::ExportInfo::Kind::kFunction) {
      return Status::invalid_argument("reducer export " + name + " is not a function");
    }
    const wasm::Signature signature = signature_of(expected.params, expected.results);
    if (exported->signature != signature) {
      return Status::invalid_argument("reducer export " + name + " has type " + wasm::describe(exported->signature) +
                                      ", expected " + wasm::describe(signature));
    }
    return true;
  }

  std::string instantiate() override { return engine_->instantiate(); }
  std::string call(const char* name, std::span<const uint32_t> args, uint32_t* result) override {
    return engine_->call(name, args.data(), args.size(), result);
  }
  void refill_budget() override { engine_->set_fuel(fuel_per_call_); }
  GuestLimit exceeded_limit() override {
    if (engine_->fuel() == 0) return GuestLimit::kBudget;
    return engine_->memory_grow_failed() ? GuestLimit::kMemory : GuestLimit::kNone;
  }
  uint64_t memory_size() override { return engine_->memory_size(); }
  ByteView read_memory(uint64_t ptr, uint64_t size, Bytes*) override {
    return ByteView(engine_->memory_data() + ptr, size);
  }
  void write_memory(uint64_t ptr, ByteView data) override {
    if (!data.empty()) std::memcpy(engine_->memory_data() + ptr, data.data(), data.size());
  }

  // The type of an ABI function of `params` i32 parameters and `results` i32
  // results.
  static wasm::Signature signature_of(uint32_t params, uint32_t results) {
    return {std::string(params, 'i'), std::string(results, 'i')};
  }

 private:
  const std::unique_ptr<wasm::Engine> engine_;
  const uint64_t fuel_per_call_;
};

// The import the host provides for each of `imports`, in order;
// InvalidArgument for one it does not provide or with another type.
Result<std::vector<GuestImport>> match_imports(const std::vector<wasm::ImportInfo>& imports) {
  std::vector<GuestImport> matched;
  for (const wasm::ImportInfo& import : imports) {
    const GuestImportType* match = nullptr;
    for (const GuestImportType& candidate : kGuestImports) {
      if (import.module == "sqlsync" && import.name == candidate.name) match = &candidate;
    }
    if (match == nullptr || !import.function) {
      return Status::invalid_argument("reducer imports " + import.module + "." + import.name +
                                      ", which this host does not provide: see docs/reducer-abi.md");
    }
    const wasm::Signature provided = NativeGuestEngine::signature_of(match->params, match->results);
    if (*import.function != provided) {
      return Status::invalid_argument("reducer imports sqlsync." + import.name + " as " +
                                      wasm::describe(*import.function) + ", but the host provides " +
                                      wasm::describe(provided));
    }
    matched.push_back(match->import);
  }
  return matched;
}

// An engine of limits.backend for `module`.
Result<std::unique_ptr<wasm::Engine>> new_engine(wasm::InstrumentedModule module, const WasmLimits& limits,
                                                 const WasmLogSink& log) {
  if (limits.backend != WasmBackend::kInterpreter) {
    Result<std::unique_ptr<wasm::Engine>> native = wasm::new_aot_engine(module, {limits.aot_cache_dir});
    if (native.is_ok() || limits.backend == WasmBackend::kAot) return native;
    if (log) {
      log(WasmLogLevel::kWarning, "sqlsync: running the reducer in the interpreter, AOT compilation is unavailable: " +
                                      native.status().to_string());
    }
  }
  std::string error;
  std::unique_ptr<wasm::Engine> engine = wasm::new_interpreter(std::move(module), &error);
  if (!engine) return Status::invalid_argument(error);
  return engine;
}

}  // namespace

Result<std::shared_ptr<Reducer>> load_wasm_reducer(ByteView module, WasmLimits limits, WasmLogSink log) {
  if (module.size() > limits.module_bytes) {
    return Status::invalid_argument("reducer module is " + std::to_string(module.size()) +
                                    " bytes, over the limit of " + std::to_string(limits.module_bytes) + " bytes");
  }
  if (limits.fuel_per_call == 0 || limits.memory_bytes < wasm::kWasmPageBytes) {
    return Status::invalid_argument("WasmLimits need a non-zero fuel_per_call and at least one 64 KiB page of memory");
  }
  wasm::InstrumentedModule instrumented;
  std::string error;
  if (!wasm::instrument(module.data(), module.size(), limits.memory_bytes, limits.fuel_per_call, &instrumented,
                        &error)) {
    return Status::invalid_argument(error);
  }
  SQLSYNC_ASSIGN_OR_RETURN(std::vector<GuestImport> imports, match_imports(instrumented.imports));
  SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<wasm::Engine> engine, new_engine(std::move(instrumented), limits, log));
  auto guest = std::make_unique<NativeGuestEngine>(std::move(engine), limits.fuel_per_call);
  NativeGuestEngine& native = *guest;
  auto reducer = std::make_shared<GuestReducer>(std::move(guest), GuestLimits{limits.memory_bytes, limits.fuel_per_call},
                                                std::move(log));
  native.bind_imports(*reducer, imports);
  SQLSYNC_RETURN_IF_ERROR(reducer->load());
  return std::shared_ptr<Reducer>(std::move(reducer));
}

}  // namespace sqlsync
