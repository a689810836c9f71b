#include "web/js_reducer.h"

#include <emscripten/emscripten.h>

#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "reducer/reducer_abi.h"

// The guest's engine, reached through the JavaScript object
// Module.sqlsyncGuests.get(guest) (web/client/src/guest-host.ts). Functions
// returning char* return null on success or a message from malloc (the
// caller frees it) naming what the browser threw; sqlsync_error_to_c is
// defined in src/web/pre.js.

EM_JS(char*, sqlsync_js_guest_instantiate, (int guest), {
  try {
    Module.sqlsyncGuests.get(guest).instantiate();
    return 0;
  } catch (e) {
    return sqlsync_error_to_c(e);
  }
});

EM_JS(char*, sqlsync_js_guest_call, (int guest, const char* name, int argc, uint32_t a, uint32_t b, uint32_t* result),
      {
        try {
          const args = [ a >>> 0, b >>> 0 ].slice(0, argc);
          const value = Module.sqlsyncGuests.get(guest).call(UTF8ToString(name), args);
          HEAPU32[result >> 2] = value >>> 0;
          return 0;
        } catch (e) {
          return sqlsync_error_to_c(e);
        }
      });

// "" when absent, "memory", "function/<parameter count>", or another kind.
EM_JS(char*, sqlsync_js_guest_export_kind, (int guest, const char* name), {
  return sqlsync_string_to_c(Module.sqlsyncGuests.get(guest).exportKind(UTF8ToString(name)));
});

// The first import that is not a function of module "sqlsync" named in
// `allowed` (comma-separated), as "module.name", or "".
EM_JS(char*, sqlsync_js_guest_foreign_import, (int guest, const char* allowed), {
  return sqlsync_string_to_c(Module.sqlsyncGuests.get(guest).foreignImport(UTF8ToString(allowed).split(',')));
});

EM_JS(double, sqlsync_js_guest_memory_size, (int guest), { return Module.sqlsyncGuests.get(guest).memorySize(); });

EM_JS(void, sqlsync_js_guest_read, (int guest, uint32_t ptr, uint32_t size, uint8_t* out), {
  HEAPU8.set(Module.sqlsyncGuests.get(guest).read(ptr >>> 0, size >>> 0), out);
});

EM_JS(void, sqlsync_js_guest_write, (int guest, uint32_t ptr, const uint8_t* data, uint32_t size), {
  Module.sqlsyncGuests.get(guest).write(ptr >>> 0, HEAPU8.subarray(data, data + (size >>> 0)));
});

EM_JS(void, sqlsync_js_guest_log, (int guest, int level, const char* text, uint32_t size), {
  Module.sqlsyncGuests.get(guest).log(level, UTF8ToString(text, size >>> 0));
});

EM_JS(int, sqlsync_js_guest_exists, (int guest), {
  return Module.sqlsyncGuests !== undefined && Module.sqlsyncGuests.has(guest) ? 1 : 0;
});

namespace sqlsync {
namespace {

// Imports this host provides, in the order of sqlsync_guest_import's `which`.
enum class Import : int32_t { kExecute = 0, kQuery = 1, kMutationBegin = 2, kMutationEnd = 3, kLog = 4 };
constexpr const char* kImportNames = "execute,query,mutation_begin,mutation_end,log";

std::string take_js_string(char* text) {
  if (text == nullptr) return std::string();
  std::string copy(text);
  std::free(text);
  return copy;
}

class NoScope final : public MutationScope {
 public:
  Status begin_mutation() override { return Status::ok(); }
  Status end_mutation(bool) override { return Status::ok(); }
};

class JsWasmReducer;

// The reducers alive, by guest id, for sqlsync_guest_import.
std::map<int32_t, JsWasmReducer*>& live_reducers() {
  static auto* reducers = new std::map<int32_t, JsWasmReducer*>();
  return *reducers;
}

class JsWasmReducer final : public Reducer {
 public:
  explicit JsWasmReducer(int32_t guest) : guest_(guest) { live_reducers()[guest_] = this; }
  ~JsWasmReducer() override { live_reducers().erase(guest_); }
  JsWasmReducer(const JsWasmReducer&) = delete;
  JsWasmReducer& operator=(const JsWasmReducer&) = delete;

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

  // An import called by the guest. Returns its result, or a message that
  // must trap the guest (in `*trap`).
  uint32_t run_import(Import which, const uint32_t args[4], std::string* trap);

 private:
  Status check_export(const std::string& name, const std::string& kind, bool required);
  Status instantiate();
  Result<size_t> reduce_some(Transaction& tx, MutationScope& scope, std::span<const ByteView> mutations,
                             std::span<Status> verdicts);
  Status run_reduce(std::span<const ByteView> mutations, std::span<Status> verdicts);
  Status run_migrate(uint32_t from, uint32_t to);
  // A top-level guest call (at most two arguments).
  Status call_guest(const char* name, const std::vector<uint32_t>& args, uint32_t* result);
  Status guest_failure(const std::string& detail);
  // Copies guest memory [ptr, ptr + size) into `out`; Rejected if outside.
  Status read_guest(uint64_t ptr, uint64_t size, const std::string& what, Bytes& out);
  Result<uint32_t> send_buffer(ByteView payload);
  Result<Bytes> receive_buffer(uint32_t ptr, const std::string& what);

  Status host_sql(const uint32_t args[4], SqlImport import, uint32_t* result);

  const int32_t guest_;
  uint32_t schema_version_ = 0;
  bool needs_reset_ = false;
  bool out_of_memory_ = false;
  GuestCall call_;
  Bytes sql_text_;
  Bytes sql_params_bytes_;
  std::vector<Value> sql_params_;
  Bytes sql_reply_;
};

Status JsWasmReducer::load() {
  std::string foreign = take_js_string(sqlsync_js_guest_foreign_import(guest_, kImportNames));
  if (!foreign.empty()) {
    return Status::invalid_argument("reducer imports " + foreign +
                                    ", which this host does not provide: see docs/reducer-abi.md");
  }
  // JavaScript sees a function's parameter count only on an instance.
  SQLSYNC_RETURN_IF_ERROR(instantiate());
  SQLSYNC_RETURN_IF_ERROR(check_export("sqlsync_abi_version", "function/0", true));
  uint32_t abi_version = 0;
  SQLSYNC_RETURN_IF_ERROR(
      call_guest("sqlsync_abi_version", {}, &abi_version).with_context("sqlsync_abi_version failed"));
  if (abi_version != kReducerAbiVersion) {
    return Status::unsupported("reducer ABI version " + std::to_string(static_cast<int32_t>(abi_version)) +
                               ", this host supports " + std::to_string(kReducerAbiVersion));
  }
  SQLSYNC_RETURN_IF_ERROR(check_export("memory", "memory", true));
  SQLSYNC_RETURN_IF_ERROR(check_export("sqlsync_schema_version", "function/0", true));
  SQLSYNC_RETURN_IF_ERROR(check_export("sqlsync_alloc", "function/1", true));
  SQLSYNC_RETURN_IF_ERROR(check_export("sqlsync_free", "function/2", true));
  SQLSYNC_RETURN_IF_ERROR(check_export("sqlsync_reduce", "function/2", true));
  SQLSYNC_RETURN_IF_ERROR(check_export("sqlsync_migrate", "function/2", true));
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

Status JsWasmReducer::check_export(const std::string& name, const std::string& kind, bool required) {
  std::string found = take_js_string(sqlsync_js_guest_export_kind(guest_, name.c_str()));
  if (found.empty()) {
    if (!required) return Status::ok();
    return Status::invalid_argument("reducer does not export " + name + " (see docs/reducer-abi.md)");
  }
  if (found != kind) {
    return Status::invalid_argument("reducer export " + name + " is " + found + ", expected " + kind);
  }
  return Status::ok();
}

Status JsWasmReducer::instantiate() {
  call_ = GuestCall();
  std::string failure = take_js_string(sqlsync_js_guest_instantiate(guest_));
  if (!failure.empty()) {
    needs_reset_ = true;
    return Status::rejected("reducer failed to instantiate: " + failure);
  }
  needs_reset_ = false;
  SQLSYNC_RETURN_IF_ERROR(check_export("_initialize", "function/0", false));
  if (!take_js_string(sqlsync_js_guest_export_kind(guest_, "_initialize")).empty()) {
    SQLSYNC_RETURN_IF_ERROR(call_guest("_initialize", {}, nullptr).with_context("_initialize failed"));
  }
  return Status::ok();
}

Status JsWasmReducer::call_guest(const char* name, const std::vector<uint32_t>& args, uint32_t* result) {
  uint32_t value = 0;
  std::string trap = take_js_string(sqlsync_js_guest_call(guest_, name, static_cast<int>(args.size()),
                                                          args.size() > 0 ? args[0] : 0,
                                                          args.size() > 1 ? args[1] : 0, &value));
  if (!trap.empty()) return guest_failure(trap);
  if (sqlsync_js_guest_memory_size(guest_) > static_cast<double>(kJsGuestMemoryBytes)) {
    out_of_memory_ = true;
    return guest_failure("memory grew past the cap");
  }
  if (result != nullptr) *result = value;
  return Status::ok();
}

Status JsWasmReducer::guest_failure(const std::string& detail) {
  needs_reset_ = true;
  if (!call_.host_error().is_ok()) return call_.host_error();
  if (out_of_memory_) {
    return Status::rejected("reducer exceeded its memory limit (" + std::to_string(kJsGuestMemoryBytes) + " bytes)");
  }
  return Status::rejected("reducer trapped: " + detail);
}

Status JsWasmReducer::read_guest(uint64_t ptr, uint64_t size, const std::string& what, Bytes& out) {
  const uint64_t memory_size = static_cast<uint64_t>(sqlsync_js_guest_memory_size(guest_));
  if (ptr > memory_size || size > memory_size - ptr) {
    return Status::rejected(what + " (address " + std::to_string(ptr) + ", " + std::to_string(size) +
                            " bytes) is outside the reducer's memory of " + std::to_string(memory_size) + " bytes");
  }
  out.resize(size);
  if (size > 0) {
    sqlsync_js_guest_read(guest_, static_cast<uint32_t>(ptr), static_cast<uint32_t>(size), out.data());
  }
  return Status::ok();
}

Result<uint32_t> JsWasmReducer::send_buffer(ByteView payload) {
  const uint64_t size = kAbiBufferHeaderBytes + uint64_t{payload.size()};
  if (size > kJsGuestMemoryBytes) {
    out_of_memory_ = true;
    return Status::rejected("a " + std::to_string(size) + "-byte buffer does not fit the reducer's memory");
  }
  uint32_t ptr = 0;
  std::string trap = take_js_string(
      sqlsync_js_guest_call(guest_, "sqlsync_alloc", 1, static_cast<uint32_t>(size), 0, &ptr));
  if (!trap.empty()) return Status::rejected("sqlsync_alloc failed: " + trap);
  if (ptr == 0) {
    out_of_memory_ = true;
    return Status::rejected("sqlsync_alloc returned 0 for " + std::to_string(size) + " bytes");
  }
  const uint64_t memory_size = static_cast<uint64_t>(sqlsync_js_guest_memory_size(guest_));
  if (ptr > memory_size || size > memory_size - ptr) {
    return Status::rejected("buffer returned by sqlsync_alloc (address " + std::to_string(ptr) + ", " +
                            std::to_string(size) + " bytes) is outside the reducer's memory of " +
                            std::to_string(memory_size) + " bytes");
  }
  Bytes buffer(size);
  write_abi_buffer(buffer.data(), payload);
  sqlsync_js_guest_write(guest_, ptr, buffer.data(), static_cast<uint32_t>(buffer.size()));
  return ptr;
}

Result<Bytes> JsWasmReducer::receive_buffer(uint32_t ptr, const std::string& what) {
  Bytes header;
  Status read = read_guest(ptr, kAbiBufferHeaderBytes, what, header);
  if (!read.is_ok()) return guest_failure(read.message());
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t length, read_abi_buffer_length(header, what));
  Bytes payload;
  read = read_guest(uint64_t{ptr} + kAbiBufferHeaderBytes, length, what + " payload", payload);
  if (!read.is_ok()) return guest_failure(read.message());
  SQLSYNC_RETURN_IF_ERROR(call_guest(
      "sqlsync_free", {ptr, static_cast<uint32_t>(kAbiBufferHeaderBytes + uint64_t{length})}, nullptr));
  return payload;
}

Status JsWasmReducer::reduce_batch(Transaction& tx, MutationScope& scope, std::span<const ByteView> mutations,
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

Result<size_t> JsWasmReducer::reduce_some(Transaction& tx, MutationScope& scope,
                                          std::span<const ByteView> mutations, std::span<Status> verdicts) {
  if (needs_reset_) SQLSYNC_RETURN_IF_ERROR(instantiate());
  call_ = GuestCall(tx, scope, mutations.size());
  out_of_memory_ = false;
  Status failure = run_reduce(mutations, verdicts);
  GuestCall call = std::move(call_);
  call_ = GuestCall();
  if (failure.is_ok()) return mutations.size();
  needs_reset_ = true;
  if (!call.host_error().is_ok()) return call.host_error();
  return call.settle_failure(failure, verdicts);
}

Status JsWasmReducer::run_reduce(std::span<const ByteView> mutations, std::span<Status> verdicts) {
  const Bytes batch = encode_batch(mutations);
  Result<uint32_t> batch_ptr = send_buffer(batch);
  if (!batch_ptr.is_ok()) return guest_failure(batch_ptr.status().message());
  uint32_t verdicts_ptr = 0;
  SQLSYNC_RETURN_IF_ERROR(
      call_guest("sqlsync_reduce", {*batch_ptr, static_cast<uint32_t>(batch.size())}, &verdicts_ptr));
  SQLSYNC_RETURN_IF_ERROR(call_.check_batch_ended());
  SQLSYNC_ASSIGN_OR_RETURN(Bytes payload, receive_buffer(verdicts_ptr, "verdicts buffer"));
  return call_.finish_reduce(payload, verdicts);
}

Status JsWasmReducer::migrate(Transaction& tx, uint32_t from, uint32_t to) {
  if (from >= to || to != schema_version_) {
    return Status::invalid_argument("cannot migrate from schema version " + std::to_string(from) + " to " +
                                    std::to_string(to) + ": the reducer expects version " +
                                    std::to_string(schema_version_));
  }
  if (needs_reset_) SQLSYNC_RETURN_IF_ERROR(instantiate());
  call_ = GuestCall(tx);
  out_of_memory_ = false;
  Status status = run_migrate(from, to);
  call_ = GuestCall();
  return status.with_context("migration from schema version " + std::to_string(from) + " to " +
                             std::to_string(to) + " failed");
}

Status JsWasmReducer::run_migrate(uint32_t from, uint32_t to) {
  uint32_t error_ptr = 0;
  SQLSYNC_RETURN_IF_ERROR(call_guest("sqlsync_migrate", {from, to}, &error_ptr));
  if (error_ptr == 0) return Status::ok();
  SQLSYNC_ASSIGN_OR_RETURN(Bytes message, receive_buffer(error_ptr, "migrate error buffer"));
  return Status::rejected(std::string(as_text(message)));
}

Status JsWasmReducer::host_sql(const uint32_t args[4], SqlImport import, uint32_t* result) {
  SQLSYNC_RETURN_IF_ERROR(call_.check_sql_allowed());
  SQLSYNC_RETURN_IF_ERROR(read_guest(args[0], args[1], "sql", sql_text_));
  sql_params_bytes_.clear();
  if (args[3] != 0) SQLSYNC_RETURN_IF_ERROR(read_guest(args[2], args[3], "params", sql_params_bytes_));
  SQLSYNC_RETURN_IF_ERROR(
      run_sql_import(call_.transaction(), import, sql_text_, sql_params_bytes_, &sql_params_, &sql_reply_));
  SQLSYNC_ASSIGN_OR_RETURN(*result, send_buffer(sql_reply_));
  return Status::ok();
}

uint32_t JsWasmReducer::run_import(Import which, const uint32_t args[4], std::string* trap) {
  uint32_t result = 0;
  Status status;
  const char* name = "log";
  switch (which) {
    case Import::kExecute:
      name = "execute";
      status = host_sql(args, SqlImport::kExecute, &result);
      break;
    case Import::kQuery:
      name = "query";
      status = host_sql(args, SqlImport::kQuery, &result);
      break;
    case Import::kMutationBegin:
      name = "mutation_begin";
      status = call_.begin_mutation();
      break;
    case Import::kMutationEnd:
      name = "mutation_end";
      status = call_.end_mutation(args[0]);
      break;
    case Import::kLog: {
      Bytes text;
      status = read_guest(args[1], args[2], "message", text);
      if (status.is_ok()) {
        text.push_back(0);
        sqlsync_js_guest_log(guest_, static_cast<int>(args[0] > 3 ? 3 : args[0]),
                             reinterpret_cast<const char*>(text.data()), static_cast<uint32_t>(text.size() - 1));
      }
      break;
    }
  }
  if (!status.is_ok()) *trap = std::string(name) + ": " + status.message();
  return result;
}

std::string& import_trap() {
  static auto* trap = new std::string();
  return *trap;
}

}  // namespace

Result<std::shared_ptr<Reducer>> load_js_wasm_reducer(int32_t guest) {
  if (sqlsync_js_guest_exists(guest) == 0) {
    return Status::not_found("no WebAssembly reducer registered as guest " + std::to_string(guest));
  }
  if (live_reducers().count(guest) > 0) {
    return Status::invalid_argument("guest " + std::to_string(guest) + " already backs a reducer");
  }
  auto reducer = std::make_shared<JsWasmReducer>(guest);
  SQLSYNC_RETURN_IF_ERROR(reducer->load());
  return std::shared_ptr<Reducer>(std::move(reducer));
}

}  // namespace sqlsync

extern "C" {

// Called by the guest's imports (web/client/src/guest-host.ts): `which` is
// 0 execute, 1 query, 2 mutation_begin, 3 mutation_end, 4 log, with the
// import's arguments. Returns the import's result; afterwards
// sqlsync_guest_import_trap() is null, or the message the import must trap
// with (valid until the next import call).
EMSCRIPTEN_KEEPALIVE uint32_t sqlsync_guest_import(int32_t guest, int32_t which, uint32_t a0, uint32_t a1,
                                                   uint32_t a2, uint32_t a3) {
  std::string& trap = sqlsync::import_trap();
  trap.clear();
  auto it = sqlsync::live_reducers().find(guest);
  if (it == sqlsync::live_reducers().end()) {
    trap = "no reducer is running guest " + std::to_string(guest);
    return 0;
  }
  if (which < 0 || which > 4) {
    trap = "unknown import " + std::to_string(which);
    return 0;
  }
  const uint32_t args[4] = {a0, a1, a2, a3};
  return it->second->run_import(static_cast<sqlsync::Import>(which), args, &trap);
}

EMSCRIPTEN_KEEPALIVE const char* sqlsync_guest_import_trap() {
  const std::string& trap = sqlsync::import_trap();
  return trap.empty() ? nullptr : trap.c_str();
}

}  // extern "C"
