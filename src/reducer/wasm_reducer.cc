#include "reducer/wasm_reducer.h"

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "reducer/reducer_abi.h"
#include "reducer/wasm_aot.h"
#include "reducer/wasm_engine.h"

namespace sqlsync {
namespace {

// A MutationScope for reduce(): the runtime undoes a rejected mutation itself.
class NoScope final : public MutationScope {
 public:
  Status begin_mutation() override { return Status::ok(); }
  Status end_mutation(bool) override { return Status::ok(); }
};

class WasmReducer final : public Reducer {
 public:
  WasmReducer(const WasmLimits& limits, WasmLogSink log) : limits_(limits), log_(std::move(log)) {}

  // Checks imports, makes the engine for `module`, checks exports and ABI
  // version, instantiates and reads the schema version.
  Status load(wasm::InstrumentedModule module);

  Status reduce(Transaction& tx, ByteView mutation) override {
    NoScope scope;
    Status verdict;
    ByteView mutations[] = {mutation};
    SQLSYNC_RETURN_IF_ERROR(reduce_batch(tx, scope, mutations, std::span<Status>(&verdict, 1)));
    return verdict;
  }
  Status reduce_batch(Transaction& tx, MutationScope& scope, std::span<const ByteView> mutations,
                      std::span<Status> verdicts) override;
  uint32_t schema_version() const override { return schema_version_; }
  Status migrate(Transaction& tx, uint32_t from, uint32_t to) override;

 private:
  // Sets call_ for the lifetime of one top-level guest call.
  class CallContext {
   public:
    CallContext(WasmReducer& reducer, GuestCall call) : reducer_(reducer) {
      reducer_.call_ = std::move(call);
      reducer_.out_of_memory_ = false;
    }
    ~CallContext() { reducer_.call_ = GuestCall(); }
    CallContext(const CallContext&) = delete;
    CallContext& operator=(const CallContext&) = delete;

   private:
    WasmReducer& reducer_;
  };

  using HostBody = Status (WasmReducer::*)(const uint32_t* args, uint32_t* result);

  // The host function for each of `imports`, in order; InvalidArgument for an
  // import the host does not provide.
  static Result<std::vector<HostBody>> match_imports(const std::vector<wasm::ImportInfo>& imports);
  // An engine of limits_.backend for `module`.
  Result<std::unique_ptr<wasm::Engine>> new_engine(wasm::InstrumentedModule module);
  void bind_imports(const std::vector<HostBody>& bodies);
  Status check_export(const std::string& name, const wasm::Signature& signature, bool required);
  // Makes a fresh instance (the old one may be inconsistent after a failure)
  // and calls _initialize.
  Status instantiate();

  // One sqlsync_reduce call over `mutations`. Returns how many mutations got
  // their verdict: all, or after a guest failure at least one.
  Result<size_t> reduce_some(Transaction& tx, MutationScope& scope, std::span<const ByteView> mutations,
                             std::span<Status> verdicts);
  Status run_reduce(std::span<const ByteView> mutations, std::span<Status> verdicts);
  Status run_migrate(uint32_t from, uint32_t to);

  // A top-level guest call with a full budget; failures are classified by
  // guest_failure().
  Status call_guest(const char* name, std::initializer_list<uint32_t> args, uint32_t* result);
  // The Status of a failed guest call whose raw description is `detail`; marks
  // the instance for replacement.
  Status guest_failure(const std::string& detail);

  // A view of guest memory [ptr, ptr + size), valid until the next guest call.
  Result<ByteView> guest_view(uint64_t ptr, uint64_t size, const std::string& what);
  // Copies `payload` into a fresh guest buffer (u32 length + payload) from
  // sqlsync_alloc; returns its address. Re-enters the guest when called from
  // a host function.
  Result<uint32_t> send_buffer(ByteView payload);
  // Copies the payload of the guest buffer at `ptr` and frees it in the guest.
  Result<Bytes> receive_buffer(uint32_t ptr, const std::string& what);

  Status host_sql(const uint32_t* args, uint32_t* result, bool is_query);
  Status host_execute(const uint32_t* args, uint32_t* result) { return host_sql(args, result, false); }
  Status host_query(const uint32_t* args, uint32_t* result) { return host_sql(args, result, true); }
  Status host_mutation_begin(const uint32_t* args, uint32_t* result);
  Status host_mutation_end(const uint32_t* args, uint32_t* result);
  Status host_log(const uint32_t* args, uint32_t* result);

  const WasmLimits limits_;
  const WasmLogSink log_;
  std::unique_ptr<wasm::Engine> engine_;
  uint32_t schema_version_ = 0;
  bool needs_reset_ = false;
  // The current top-level guest call, and whether it ran out of memory in a
  // way the engine cannot see (sqlsync_alloc returning 0).
  GuestCall call_;
  bool out_of_memory_ = false;
  // Scratch space of the SQL imports, reused across calls.
  std::vector<Value> sql_params_;
  Bytes sql_reply_;
};

const wasm::Signature kNoArgsI32{"", "i"};

Status WasmReducer::load(wasm::InstrumentedModule module) {
  SQLSYNC_ASSIGN_OR_RETURN(std::vector<HostBody> bodies, match_imports(module.imports));
  SQLSYNC_ASSIGN_OR_RETURN(engine_, new_engine(std::move(module)));
  bind_imports(bodies);
  SQLSYNC_RETURN_IF_ERROR(check_export("sqlsync_abi_version", kNoArgsI32, true));
  SQLSYNC_RETURN_IF_ERROR(check_export("_initialize", {"", ""}, false));
  SQLSYNC_RETURN_IF_ERROR(instantiate());

  // The version comes first: a module for another ABI may lack our exports.
  uint32_t abi_version = 0;
  SQLSYNC_RETURN_IF_ERROR(
      call_guest("sqlsync_abi_version", {}, &abi_version).with_context("sqlsync_abi_version failed"));
  if (abi_version != kReducerAbiVersion) {
    return Status::unsupported("reducer ABI version " + std::to_string(static_cast<int32_t>(abi_version)) +
                               ", this host supports " + std::to_string(kReducerAbiVersion));
  }
  std::optional<wasm::ExportInfo> memory = engine_->find_export("memory");
  if (!memory) return Status::invalid_argument("reducer does not export memory (see docs/reducer-abi.md)");
  if (memory->kind != wasm::ExportInfo::Kind::kMemory) {
    return Status::invalid_argument("reducer export memory is not a memory");
  }
  SQLSYNC_RETURN_IF_ERROR(check_export("sqlsync_schema_version", kNoArgsI32, true));
  SQLSYNC_RETURN_IF_ERROR(check_export("sqlsync_alloc", {"i", "i"}, true));
  SQLSYNC_RETURN_IF_ERROR(check_export("sqlsync_free", {"ii", ""}, true));
  SQLSYNC_RETURN_IF_ERROR(check_export("sqlsync_reduce", {"ii", "i"}, true));
  SQLSYNC_RETURN_IF_ERROR(check_export("sqlsync_migrate", {"ii", "i"}, true));

  uint32_t schema_version = 0;
  SQLSYNC_RETURN_IF_ERROR(
      call_guest("sqlsync_schema_version", {}, &schema_version).with_context("sqlsync_schema_version failed"));
  if (static_cast<int32_t>(schema_version) < 0) {
    return Status::invalid_argument("reducer reports a negative schema version " +
                                    std::to_string(static_cast<int32_t>(schema_version)));
  }
  schema_version_ = schema_version;
  return Status::ok();
}

Result<std::vector<WasmReducer::HostBody>> WasmReducer::match_imports(const std::vector<wasm::ImportInfo>& imports) {
  struct HostImport {
    const char* name;
    wasm::Signature signature;
    HostBody body;
  };
  const HostImport host_imports[] = {
      {"execute", {"iiii", "i"}, &WasmReducer::host_execute},
      {"query", {"iiii", "i"}, &WasmReducer::host_query},
      {"mutation_begin", {"", "i"}, &WasmReducer::host_mutation_begin},
      {"mutation_end", {"i", "i"}, &WasmReducer::host_mutation_end},
      {"log", {"iii", ""}, &WasmReducer::host_log},
  };
  std::vector<HostBody> bodies;
  for (const wasm::ImportInfo& import : imports) {
    const HostImport* match = nullptr;
    for (const HostImport& candidate : host_imports) {
      if (import.module == "sqlsync" && import.name == candidate.name) match = &candidate;
    }
    if (match == nullptr || !import.function) {
      return Status::invalid_argument("reducer imports " + import.module + "." + import.name +
                                      ", which this host does not provide: see docs/reducer-abi.md");
    }
    if (*import.function != match->signature) {
      return Status::invalid_argument("reducer imports sqlsync." + import.name + " as " +
                                      wasm::describe(*import.function) + ", but the host provides " +
                                      wasm::describe(match->signature));
    }
    bodies.push_back(match->body);
  }
  return bodies;
}

Result<std::unique_ptr<wasm::Engine>> WasmReducer::new_engine(wasm::InstrumentedModule module) {
  if (limits_.backend != WasmBackend::kInterpreter) {
    Result<std::unique_ptr<wasm::Engine>> native = wasm::new_aot_engine(module, {limits_.aot_cache_dir});
    if (native.is_ok() || limits_.backend == WasmBackend::kAot) return native;
    if (log_) {
      log_(WasmLogLevel::kWarning, "sqlsync: running the reducer in the interpreter, AOT compilation is unavailable: " +
                                       native.status().to_string());
    }
  }
  std::string error;
  std::unique_ptr<wasm::Engine> engine = wasm::new_interpreter(std::move(module), &error);
  if (!engine) return Status::invalid_argument(error);
  return engine;
}

void WasmReducer::bind_imports(const std::vector<HostBody>& bodies) {
  const std::vector<wasm::ImportInfo>& imports = engine_->imports();
  std::vector<wasm::HostFunction> functions;
  for (size_t i = 0; i < bodies.size(); ++i) {
    functions.push_back([this, body = bodies[i], name = imports[i].name](const uint32_t* args, uint32_t* result) {
      Status status = (this->*body)(args, result);
      return status.is_ok() ? std::string() : name + ": " + status.message();
    });
  }
  engine_->set_host_functions(std::move(functions));
}

Status WasmReducer::check_export(const std::string& name, const wasm::Signature& signature, bool required) {
  std::optional<wasm::ExportInfo> exported = engine_->find_export(name);
  if (!exported) {
    if (!required) return Status::ok();
    return Status::invalid_argument("reducer does not export " + name + " (see docs/reducer-abi.md)");
  }
  if (exported->kind != wasm::ExportInfo::Kind::kFunction) {
    return Status::invalid_argument("reducer export " + name + " is not a function");
  }
  if (exported->signature != signature) {
    return Status::invalid_argument("reducer export " + name + " has type " + wasm::describe(exported->signature) +
                                    ", expected " + wasm::describe(signature));
  }
  return Status::ok();
}

Status WasmReducer::instantiate() {
  CallContext context(*this, GuestCall());
  std::string failure = engine_->instantiate();
  if (!failure.empty()) {
    needs_reset_ = true;
    return Status::rejected("reducer failed to instantiate: " + failure);
  }
  needs_reset_ = false;
  if (engine_->find_export("_initialize")) {
    SQLSYNC_RETURN_IF_ERROR(call_guest("_initialize", {}, nullptr).with_context("_initialize failed"));
  }
  return Status::ok();
}

Status WasmReducer::call_guest(const char* name, std::initializer_list<uint32_t> args, uint32_t* result) {
  engine_->set_fuel(limits_.fuel_per_call);
  std::string trap = engine_->call(name, args.begin(), args.size(), result);
  if (!trap.empty()) return guest_failure(trap);
  return Status::ok();
}

Status WasmReducer::guest_failure(const std::string& detail) {
  needs_reset_ = true;
  if (!call_.host_error().is_ok()) return call_.host_error();
  if (engine_->fuel() == 0) {
    return Status::rejected("reducer exceeded its execution budget (" + std::to_string(limits_.fuel_per_call) +
                            " units)");
  }
  if (engine_->memory_grow_failed() || out_of_memory_) {
    return Status::rejected("reducer exceeded its memory limit (" + std::to_string(limits_.memory_bytes) + " bytes)");
  }
  return Status::rejected("reducer trapped: " + detail);
}

Result<ByteView> WasmReducer::guest_view(uint64_t ptr, uint64_t size, const std::string& what) {
  const uint64_t memory_size = engine_->memory_size();
  if (ptr > memory_size || size > memory_size - ptr) {
    return Status::rejected(what + " (address " + std::to_string(ptr) + ", " + std::to_string(size) +
                            " bytes) is outside the reducer's memory of " + std::to_string(memory_size) + " bytes");
  }
  return ByteView(engine_->memory_data() + ptr, size);
}

Result<uint32_t> WasmReducer::send_buffer(ByteView payload) {
  const uint64_t size = 4 + uint64_t{payload.size()};
  if (size > limits_.memory_bytes) {
    out_of_memory_ = true;
    return Status::rejected("a " + std::to_string(size) + "-byte buffer does not fit the reducer's memory");
  }
  uint32_t ptr = 0;
  const uint32_t alloc_size = static_cast<uint32_t>(size);
  std::string trap = engine_->call("sqlsync_alloc", &alloc_size, 1, &ptr);
  if (!trap.empty()) return Status::rejected("sqlsync_alloc failed: " + trap);
  if (ptr == 0) {
    out_of_memory_ = true;
    return Status::rejected("sqlsync_alloc returned 0 for " + std::to_string(size) + " bytes");
  }
  // sqlsync_alloc may have grown (and moved) the memory: view it afresh.
  SQLSYNC_ASSIGN_OR_RETURN(ByteView target, guest_view(ptr, size, "buffer returned by sqlsync_alloc"));
  write_abi_buffer(engine_->memory_data() + ptr, payload);
  return ptr;
}

Result<Bytes> WasmReducer::receive_buffer(uint32_t ptr, const std::string& what) {
  Result<ByteView> header = guest_view(ptr, 4, what);
  if (!header.is_ok()) return guest_failure(header.status().message());
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t length, read_abi_buffer_length(*header, what));
  Result<ByteView> payload = guest_view(uint64_t{ptr} + 4, length, what + " payload");
  if (!payload.is_ok()) return guest_failure(payload.status().message());
  Bytes copy(payload->begin(), payload->end());
  SQLSYNC_RETURN_IF_ERROR(call_guest("sqlsync_free", {ptr, static_cast<uint32_t>(4 + uint64_t{length})}, nullptr));
  return copy;
}

Status WasmReducer::reduce_batch(Transaction& tx, MutationScope& scope, std::span<const ByteView> mutations,
                                 std::span<Status> verdicts) {
  if (verdicts.size() != mutations.size()) {
    return Status::invalid_argument("reduce_batch: " + std::to_string(mutations.size()) + " mutations but " +
                                    std::to_string(verdicts.size()) + " verdict slots");
  }
  size_t done = 0;
  while (done < mutations.size()) {
    SQLSYNC_ASSIGN_OR_RETURN(size_t handled, reduce_some(tx, scope, mutations.subspan(done), verdicts.subspan(done)));
    done += handled;
  }
  return Status::ok();
}

Result<size_t> WasmReducer::reduce_some(Transaction& tx, MutationScope& scope, std::span<const ByteView> mutations,
                                        std::span<Status> verdicts) {
  if (needs_reset_) SQLSYNC_RETURN_IF_ERROR(instantiate());
  CallContext context(*this, GuestCall(tx, scope, mutations.size()));
  Status failure = run_reduce(mutations, verdicts);
  if (failure.is_ok()) return mutations.size();
  needs_reset_ = true;
  if (!call_.host_error().is_ok()) return call_.host_error();
  return call_.settle_failure(failure, verdicts);
}

Status WasmReducer::run_reduce(std::span<const ByteView> mutations, std::span<Status> verdicts) {
  const Bytes batch = encode_batch(mutations);
  engine_->set_fuel(limits_.fuel_per_call);
  Result<uint32_t> batch_ptr = send_buffer(batch);
  if (!batch_ptr.is_ok()) return guest_failure(batch_ptr.status().message());
  uint32_t verdicts_ptr = 0;
  SQLSYNC_RETURN_IF_ERROR(
      call_guest("sqlsync_reduce", {*batch_ptr, static_cast<uint32_t>(batch.size())}, &verdicts_ptr));
  SQLSYNC_RETURN_IF_ERROR(call_.check_batch_ended());
  SQLSYNC_ASSIGN_OR_RETURN(Bytes payload, receive_buffer(verdicts_ptr, "verdicts buffer"));
  return call_.finish_reduce(payload, verdicts);
}

Status WasmReducer::migrate(Transaction& tx, uint32_t from, uint32_t to) {
  if (from >= to || to != schema_version_) {
    return Status::invalid_argument("cannot migrate from schema version " + std::to_string(from) + " to " +
                                    std::to_string(to) + ": the reducer expects version " +
                                    std::to_string(schema_version_));
  }
  if (needs_reset_) SQLSYNC_RETURN_IF_ERROR(instantiate());
  CallContext context(*this, GuestCall(tx));
  return run_migrate(from, to).with_context("migration from schema version " + std::to_string(from) + " to " +
                                            std::to_string(to) + " failed");
}

Status WasmReducer::run_migrate(uint32_t from, uint32_t to) {
  uint32_t error_ptr = 0;
  SQLSYNC_RETURN_IF_ERROR(call_guest("sqlsync_migrate", {from, to}, &error_ptr));
  if (error_ptr == 0) return Status::ok();
  SQLSYNC_ASSIGN_OR_RETURN(Bytes message, receive_buffer(error_ptr, "migrate error buffer"));
  return Status::rejected(std::string(as_text(message)));
}

Status WasmReducer::host_sql(const uint32_t* args, uint32_t* result, bool is_query) {
  SQLSYNC_RETURN_IF_ERROR(call_.check_sql_allowed());
  SQLSYNC_ASSIGN_OR_RETURN(ByteView sql, guest_view(args[0], args[1], "sql"));
  ByteView params;
  if (args[3] != 0) {
    SQLSYNC_ASSIGN_OR_RETURN(params, guest_view(args[2], args[3], "params"));
  }
  SQLSYNC_RETURN_IF_ERROR(run_sql_import(call_.transaction(), is_query ? SqlImport::kQuery : SqlImport::kExecute, sql,
                                         params, &sql_params_, &sql_reply_));
  SQLSYNC_ASSIGN_OR_RETURN(*result, send_buffer(sql_reply_));
  return Status::ok();
}

Status WasmReducer::host_mutation_begin(const uint32_t*, uint32_t* result) {
  SQLSYNC_RETURN_IF_ERROR(call_.begin_mutation());
  engine_->set_fuel(limits_.fuel_per_call);
  *result = 0;
  return Status::ok();
}

Status WasmReducer::host_mutation_end(const uint32_t* args, uint32_t* result) {
  SQLSYNC_RETURN_IF_ERROR(call_.end_mutation(args[0]));
  *result = 0;
  return Status::ok();
}

Status WasmReducer::host_log(const uint32_t* args, uint32_t*) {
  SQLSYNC_ASSIGN_OR_RETURN(ByteView text, guest_view(args[1], args[2], "message"));
  forward_guest_log(log_, args[0], text);
  return Status::ok();
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
  auto reducer = std::make_shared<WasmReducer>(limits, std::move(log));
  SQLSYNC_RETURN_IF_ERROR(reducer->load(std::move(instrumented)));
  return std::shared_ptr<Reducer>(std::move(reducer));
}

}  // namespace sqlsync
