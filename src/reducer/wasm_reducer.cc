#include "reducer/wasm_reducer.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "base/encoding.h"
#include "reducer/wasm_engine.h"

namespace sqlsync {
namespace {

constexpr uint32_t kAbiVersion = 1;
constexpr uint64_t kWasmPageBytes = 65536;

// Value tags of docs/reducer-abi.md.
enum ValueTag : uint8_t { kTagNull = 0, kTagInteger = 1, kTagReal = 2, kTagText = 3, kTagBlob = 4 };

void encode_value(Encoder& out, const Value& value) {
  switch (value.index()) {
    case 0:
      out.u8(kTagNull);
      break;
    case 1:
      out.u8(kTagInteger);
      out.u64(static_cast<uint64_t>(std::get<int64_t>(value)));
      break;
    case 2: {
      uint64_t bits;
      double real = std::get<double>(value);
      std::memcpy(&bits, &real, sizeof bits);
      out.u8(kTagReal);
      out.u64(bits);
      break;
    }
    case 3:
      out.u8(kTagText);
      out.bytes32(as_bytes(std::get<std::string>(value)));
      break;
    default:
      out.u8(kTagBlob);
      out.bytes32(std::get<Bytes>(value));
      break;
  }
}

Result<Value> decode_value(Decoder& in) {
  SQLSYNC_ASSIGN_OR_RETURN(uint8_t tag, in.u8());
  switch (tag) {
    case kTagNull:
      return Value();
    case kTagInteger: {
      SQLSYNC_ASSIGN_OR_RETURN(uint64_t bits, in.u64());
      return Value(static_cast<int64_t>(bits));
    }
    case kTagReal: {
      SQLSYNC_ASSIGN_OR_RETURN(uint64_t bits, in.u64());
      double real;
      std::memcpy(&real, &bits, sizeof real);
      return Value(real);
    }
    case kTagText: {
      SQLSYNC_ASSIGN_OR_RETURN(ByteView text, in.bytes32(in.remaining()));
      return Value(std::string(as_text(text)));
    }
    case kTagBlob: {
      SQLSYNC_ASSIGN_OR_RETURN(ByteView blob, in.bytes32(in.remaining()));
      return Value(Bytes(blob.begin(), blob.end()));
    }
    default:
      return in.error("unknown value tag " + std::to_string(tag) + " at offset " + std::to_string(in.position() - 1));
  }
}

// A MutationScope for reduce(): the runtime undoes a rejected mutation itself.
class NoScope final : public MutationScope {
 public:
  Status begin_mutation() override { return Status::ok(); }
  Status end_mutation(bool) override { return Status::ok(); }
};

class WasmReducer final : public Reducer {
 public:
  WasmReducer(const WasmLimits& limits, WasmLogSink log, std::unique_ptr<wasm::Engine> engine)
      : limits_(limits), log_(std::move(log)), engine_(std::move(engine)) {}

  // Checks imports, exports and ABI version, instantiates and reads the
  // schema version.
  Status load();

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
  // What the host functions may do during the current guest call.
  struct Call {
    Transaction* tx = nullptr;       // null: no SQL allowed (instantiation, load)
    MutationScope* scope = nullptr;  // null: no mutations (migrate)
    size_t count = 0;                // mutations in the batch
    size_t begun = 0;
    bool open = false;
    std::vector<bool> keeps;  // `keep` of each ended mutation, in order
    Status host_error;        // a failure of the host side: fails the whole batch
    bool out_of_memory = false;
  };

  // Sets call_ for the lifetime of one top-level guest call.
  class CallContext {
   public:
    CallContext(Call& slot, Transaction* tx, MutationScope* scope, size_t count) : slot_(slot) {
      slot_ = Call();
      slot_.tx = tx;
      slot_.scope = scope;
      slot_.count = count;
    }
    ~CallContext() { slot_ = Call(); }
    CallContext(const CallContext&) = delete;
    CallContext& operator=(const CallContext&) = delete;

   private:
    Call& slot_;
  };

  using HostBody = Status (WasmReducer::*)(const std::vector<uint32_t>& args, uint32_t* result);

  Status bind_imports();
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
  Status call_guest(const char* name, const std::vector<uint32_t>& args, uint32_t* result);
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

  Status host_sql(const std::vector<uint32_t>& args, uint32_t* result, bool is_query);
  Status host_execute(const std::vector<uint32_t>& args, uint32_t* result) { return host_sql(args, result, false); }
  Status host_query(const std::vector<uint32_t>& args, uint32_t* result) { return host_sql(args, result, true); }
  Status host_mutation_begin(const std::vector<uint32_t>& args, uint32_t* result);
  Status host_mutation_end(const std::vector<uint32_t>& args, uint32_t* result);
  Status host_log(const std::vector<uint32_t>& args, uint32_t* result);

  const WasmLimits limits_;
  const WasmLogSink log_;
  std::unique_ptr<wasm::Engine> engine_;
  uint32_t schema_version_ = 0;
  bool needs_reset_ = false;
  Call call_;
};

const wasm::Signature kNoArgsI32{"", "i"};

Status WasmReducer::load() {
  SQLSYNC_RETURN_IF_ERROR(bind_imports());
  SQLSYNC_RETURN_IF_ERROR(check_export("sqlsync_abi_version", kNoArgsI32, true));
  SQLSYNC_RETURN_IF_ERROR(check_export("_initialize", {"", ""}, false));
  SQLSYNC_RETURN_IF_ERROR(instantiate());

  // The version comes first: a module for another ABI may lack our exports.
  uint32_t abi_version = 0;
  SQLSYNC_RETURN_IF_ERROR(
      call_guest("sqlsync_abi_version", {}, &abi_version).with_context("sqlsync_abi_version failed"));
  if (abi_version != kAbiVersion) {
    return Status::unsupported("reducer ABI version " + std::to_string(static_cast<int32_t>(abi_version)) +
                               ", this host supports " + std::to_string(kAbiVersion));
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

Status WasmReducer::bind_imports() {
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
  std::vector<wasm::HostFunction> functions;
  for (const wasm::ImportInfo& import : engine_->imports()) {
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
    functions.push_back([this, body = match->body, name = import.name](const std::vector<uint32_t>& args,
                                                                        uint32_t* result) {
      Status status = (this->*body)(args, result);
      return status.is_ok() ? std::string() : name + ": " + status.message();
    });
  }
  engine_->set_host_functions(std::move(functions));
  return Status::ok();
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
  CallContext context(call_, nullptr, nullptr, 0);
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

Status WasmReducer::call_guest(const char* name, const std::vector<uint32_t>& args, uint32_t* result) {
  engine_->set_fuel(limits_.fuel_per_call);
  std::string trap = engine_->call(name, args, result);
  if (!trap.empty()) return guest_failure(trap);
  return Status::ok();
}

Status WasmReducer::guest_failure(const std::string& detail) {
  needs_reset_ = true;
  if (!call_.host_error.is_ok()) return call_.host_error;
  if (engine_->fuel() == 0) {
    return Status::rejected("reducer exceeded its execution budget (" + std::to_string(limits_.fuel_per_call) +
                            " units)");
  }
  if (engine_->memory_grow_failed() || call_.out_of_memory) {
    return Status::rejected("reducer exceeded its memory limit (" + std::to_string(limits_.memory_bytes) +
                            " bytes)");
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
    call_.out_of_memory = true;
    return Status::rejected("a " + std::to_string(size) + "-byte buffer does not fit the reducer's memory");
  }
  uint32_t ptr = 0;
  std::string trap = engine_->call("sqlsync_alloc", {static_cast<uint32_t>(size)}, &ptr);
  if (!trap.empty()) return Status::rejected("sqlsync_alloc failed: " + trap);
  if (ptr == 0) {
    call_.out_of_memory = true;
    return Status::rejected("sqlsync_alloc returned 0 for " + std::to_string(size) + " bytes");
  }
  // sqlsync_alloc may have grown (and moved) the memory: view it afresh.
  SQLSYNC_ASSIGN_OR_RETURN(ByteView target, guest_view(ptr, size, "buffer returned by sqlsync_alloc"));
  Bytes header;
  Encoder(&header).u32(static_cast<uint32_t>(payload.size()));
  uint8_t* out = engine_->memory_data() + ptr;
  std::memcpy(out, header.data(), header.size());
  if (!payload.empty()) std::memcpy(out + header.size(), payload.data(), payload.size());
  return ptr;
}

Result<Bytes> WasmReducer::receive_buffer(uint32_t ptr, const std::string& what) {
  Result<ByteView> header = guest_view(ptr, 4, what);
  if (!header.is_ok()) return guest_failure(header.status().message());
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t length, Decoder(*header, StatusCode::kRejected, what).u32());
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
    SQLSYNC_ASSIGN_OR_RETURN(size_t handled,
                             reduce_some(tx, scope, mutations.subspan(done), verdicts.subspan(done)));
    done += handled;
  }
  return Status::ok();
}

Result<size_t> WasmReducer::reduce_some(Transaction& tx, MutationScope& scope, std::span<const ByteView> mutations,
                                        std::span<Status> verdicts) {
  if (needs_reset_) SQLSYNC_RETURN_IF_ERROR(instantiate());
  CallContext context(call_, &tx, &scope, mutations.size());
  Status failure = run_reduce(mutations, verdicts);
  if (failure.is_ok()) return mutations.size();
  needs_reset_ = true;
  if (!call_.host_error.is_ok()) return call_.host_error;

  // The guest failed: settle what it did, blame the mutation it was in (or
  // would have begun next), and let the caller retry the rest.
  const size_t ended = call_.keeps.size();
  for (size_t i = 0; i < ended; ++i) {
    verdicts[i] = call_.keeps[i] ? Status::ok()
                                 : Status::rejected("reducer rejected the mutation (its message was lost when the "
                                                    "reducer failed later in the batch: " +
                                                    failure.message() + ")");
  }
  if (ended == mutations.size()) return ended;
  if (!call_.open) SQLSYNC_RETURN_IF_ERROR(scope.begin_mutation());
  SQLSYNC_RETURN_IF_ERROR(scope.end_mutation(false));
  verdicts[ended] = failure;
  return ended + 1;
}

Status WasmReducer::run_reduce(std::span<const ByteView> mutations, std::span<Status> verdicts) {
  Bytes batch;
  Encoder encoder(&batch);
  encoder.u32(static_cast<uint32_t>(mutations.size()));
  for (ByteView mutation : mutations) encoder.bytes32(mutation);

  engine_->set_fuel(limits_.fuel_per_call);
  Result<uint32_t> batch_ptr = send_buffer(batch);
  if (!batch_ptr.is_ok()) return guest_failure(batch_ptr.status().message());
  uint32_t verdicts_ptr = 0;
  SQLSYNC_RETURN_IF_ERROR(
      call_guest("sqlsync_reduce", {*batch_ptr, static_cast<uint32_t>(batch.size())}, &verdicts_ptr));
  if (call_.open || call_.keeps.size() != mutations.size()) {
    return Status::rejected("reducer broke the ABI: sqlsync_reduce returned after ending " +
                            std::to_string(call_.keeps.size()) + " of " + std::to_string(mutations.size()) +
                            " mutations");
  }
  SQLSYNC_ASSIGN_OR_RETURN(Bytes payload, receive_buffer(verdicts_ptr, "verdicts buffer"));

  Decoder decoder(payload, StatusCode::kRejected, "reducer returned a malformed verdicts buffer");
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t count, decoder.u32());
  if (count != mutations.size()) {
    return decoder.error(std::to_string(count) + " verdicts for a batch of " + std::to_string(mutations.size()));
  }
  for (size_t i = 0; i < count; ++i) {
    SQLSYNC_ASSIGN_OR_RETURN(uint8_t verdict, decoder.u8());
    SQLSYNC_ASSIGN_OR_RETURN(ByteView message, decoder.bytes32(decoder.remaining()));
    if (verdict > 1) return decoder.error("verdict " + std::to_string(i) + " is " + std::to_string(verdict));
    if ((verdict == 0) != call_.keeps[i]) {
      return decoder.error("verdict " + std::to_string(i) + (verdict == 0 ? " is ok" : " is rejected") +
                           " but the mutation ended with keep=" + (call_.keeps[i] ? "1" : "0"));
    }
    if (verdict == 0) {
      verdicts[i] = Status::ok();
    } else {
      verdicts[i] = Status::rejected(message.empty() ? std::string("reducer rejected the mutation")
                                                     : std::string(as_text(message)));
    }
  }
  return decoder.expect_end();
}

Status WasmReducer::migrate(Transaction& tx, uint32_t from, uint32_t to) {
  if (from >= to || to != schema_version_) {
    return Status::invalid_argument("cannot migrate from schema version " + std::to_string(from) + " to " +
                                    std::to_string(to) + ": the reducer expects version " +
                                    std::to_string(schema_version_));
  }
  if (needs_reset_) SQLSYNC_RETURN_IF_ERROR(instantiate());
  CallContext context(call_, &tx, nullptr, 0);
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

Status WasmReducer::host_sql(const std::vector<uint32_t>& args, uint32_t* result, bool is_query) {
  if (call_.tx == nullptr) return Status::rejected("called outside sqlsync_reduce and sqlsync_migrate");
  if (call_.scope != nullptr && !call_.open) {
    return Status::rejected("called outside a mutation (call mutation_begin first)");
  }
  SQLSYNC_ASSIGN_OR_RETURN(ByteView sql_bytes, guest_view(args[0], args[1], "sql"));
  const std::string sql(as_text(sql_bytes));
  std::vector<Value> values;
  if (args[3] != 0) {
    SQLSYNC_ASSIGN_OR_RETURN(ByteView encoded, guest_view(args[2], args[3], "params"));
    Decoder decoder(encoded, StatusCode::kRejected, "malformed params");
    SQLSYNC_ASSIGN_OR_RETURN(uint32_t count, decoder.u32());
    for (uint32_t i = 0; i < count; ++i) {
      SQLSYNC_ASSIGN_OR_RETURN(Value value, decode_value(decoder));
      values.push_back(std::move(value));
    }
    SQLSYNC_RETURN_IF_ERROR(decoder.expect_end());
  }

  Bytes reply;
  Encoder out(&reply);
  if (!is_query) {
    Status status = call_.tx->execute(sql, values);
    if (status.is_ok()) {
      out.u8(0);
      out.u64(static_cast<uint64_t>(call_.tx->changes()));
    } else {
      out.u8(1);
      out.bytes32(as_bytes(status.to_string()));
    }
  } else {
    Result<QueryResult> rows = call_.tx->query(sql, values);
    if (rows.is_ok()) {
      out.u8(0);
      out.u32(static_cast<uint32_t>(rows->columns.size()));
      for (const std::string& column : rows->columns) out.bytes32(as_bytes(column));
      out.u32(static_cast<uint32_t>(rows->rows.size()));
      for (const Row& row : rows->rows) {
        for (const Value& value : row) encode_value(out, value);
      }
    } else {
      out.u8(1);
      out.bytes32(as_bytes(rows.status().to_string()));
    }
  }
  SQLSYNC_ASSIGN_OR_RETURN(*result, send_buffer(reply));
  return Status::ok();
}

Status WasmReducer::host_mutation_begin(const std::vector<uint32_t>&, uint32_t* result) {
  if (call_.scope == nullptr) return Status::rejected("called outside sqlsync_reduce");
  if (call_.open) {
    return Status::rejected("mutation " + std::to_string(call_.begun - 1) + " is still open (call mutation_end first)");
  }
  if (call_.begun == call_.count) {
    return Status::rejected("all " + std::to_string(call_.count) + " mutations of the batch have already begun");
  }
  Status status = call_.scope->begin_mutation();
  if (!status.is_ok()) {
    call_.host_error = status;
    return status;
  }
  ++call_.begun;
  call_.open = true;
  engine_->set_fuel(limits_.fuel_per_call);
  *result = 0;
  return Status::ok();
}

Status WasmReducer::host_mutation_end(const std::vector<uint32_t>& args, uint32_t* result) {
  if (call_.scope == nullptr) return Status::rejected("called outside sqlsync_reduce");
  if (!call_.open) return Status::rejected("no mutation is open (call mutation_begin first)");
  const bool keep = args[0] != 0;
  Status status = call_.scope->end_mutation(keep);
  if (!status.is_ok()) {
    call_.host_error = status;
    return status;
  }
  call_.open = false;
  call_.keeps.push_back(keep);
  *result = 0;
  return Status::ok();
}

Status WasmReducer::host_log(const std::vector<uint32_t>& args, uint32_t*) {
  SQLSYNC_ASSIGN_OR_RETURN(ByteView text, guest_view(args[1], args[2], "message"));
  if (log_) log_(static_cast<WasmLogLevel>(args[0] > 3 ? 3 : args[0]), as_text(text));
  return Status::ok();
}

}  // namespace

Result<std::shared_ptr<Reducer>> load_wasm_reducer(ByteView module, WasmLimits limits, WasmLogSink log) {
  if (module.size() > limits.module_bytes) {
    return Status::invalid_argument("reducer module is " + std::to_string(module.size()) +
                                    " bytes, over the limit of " + std::to_string(limits.module_bytes) + " bytes");
  }
  if (limits.fuel_per_call == 0 || limits.memory_bytes < kWasmPageBytes) {
    return Status::invalid_argument("WasmLimits need a non-zero fuel_per_call and at least one 64 KiB page of memory");
  }
  std::string error;
  std::unique_ptr<wasm::Engine> engine =
      wasm::Engine::compile(module.data(), module.size(), limits.memory_bytes, limits.fuel_per_call, &error);
  if (!engine) return Status::invalid_argument(error);
  auto reducer = std::make_shared<WasmReducer>(limits, std::move(log), std::move(engine));
  SQLSYNC_RETURN_IF_ERROR(reducer->load());
  return std::shared_ptr<Reducer>(std::move(reducer));
}

}  // namespace sqlsync
