#include "reducer/reducer_abi.h"

#include <cstring>
#include <string>
#include <utility>

namespace sqlsync {
namespace {

// The first bytes of every WebAssembly module.
constexpr uint8_t kWasmMagic[] = {0x00, 'a', 's', 'm'};

// Value tags of docs/reducer-abi.md.
enum ValueTag : uint8_t { kTagNull = 0, kTagInteger = 1, kTagReal = 2, kTagText = 3, kTagBlob = 4 };

// Result status bytes of the execute and query results.
constexpr uint8_t kResultOk = 0;
constexpr uint8_t kResultError = 1;

// The exports of docs/reducer-abi.md, sqlsync_abi_version first: a module for
// another ABI may lack the others.
constexpr GuestExportType kAbiVersionExport = {"sqlsync_abi_version", false, 0, 1};
constexpr GuestExportType kOtherExports[] = {
    {"memory", true, 0, 0},           {"sqlsync_schema_version", false, 0, 1}, {"sqlsync_alloc", false, 1, 1},
    {"sqlsync_free", false, 2, 0},    {"sqlsync_reduce", false, 2, 1},         {"sqlsync_migrate", false, 2, 1},
};
// Exported by reactors (-mexec-model=reactor): called once per instance.
constexpr GuestExportType kInitializeExport = {"_initialize", false, 0, 0};

// A MutationScope for reduce(): the runtime undoes a rejected mutation itself.
class NoScope final : public MutationScope {
 public:
  Status begin_mutation() override { return Status::ok(); }
  Status end_mutation(bool) override { return Status::ok(); }
};

}  // namespace

ReducerKind reducer_kind_of(ByteView bytes) {
  const bool wasm = bytes.size() >= sizeof kWasmMagic && std::memcmp(bytes.data(), kWasmMagic, sizeof kWasmMagic) == 0;
  return wasm ? ReducerKind::kWasm : ReducerKind::kSql;
}

void forward_guest_log(const WasmLogSink& sink, uint32_t level, ByteView text) {
  if (!sink) return;
  sink(static_cast<WasmLogLevel>(level > 3 ? 3 : level), as_text(text));
}

void write_abi_buffer(uint8_t* dest, ByteView payload) {
  const uint32_t length = static_cast<uint32_t>(payload.size());
  for (size_t i = 0; i < kAbiBufferHeaderBytes; ++i) dest[i] = static_cast<uint8_t>(length >> (8 * i));
  if (!payload.empty()) std::memcpy(dest + kAbiBufferHeaderBytes, payload.data(), payload.size());
}

Result<uint32_t> read_abi_buffer_length(ByteView header, std::string_view what) {
  return Decoder(header, StatusCode::kRejected, std::string(what)).u32();
}

Bytes encode_batch(std::span<const ByteView> mutations) {
  size_t size = 4;
  for (ByteView mutation : mutations) size += 4 + mutation.size();
  Bytes batch;
  batch.reserve(size);
  Encoder encoder(&batch);
  encoder.u32(static_cast<uint32_t>(mutations.size()));
  for (ByteView mutation : mutations) encoder.bytes32(mutation);
  return batch;
}

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
      return Value(std::in_place_type<std::string>, as_text(text));
    }
    case kTagBlob: {
      SQLSYNC_ASSIGN_OR_RETURN(ByteView blob, in.bytes32(in.remaining()));
      return Value(std::in_place_type<Bytes>, blob.begin(), blob.end());
    }
    default:
      return in.error("unknown value tag " + std::to_string(tag) + " at offset " + std::to_string(in.position() - 1));
  }
}

Status decode_params(ByteView params, std::vector<Value>* values) {
  values->clear();
  if (params.empty()) return Status::ok();
  Decoder decoder(params, StatusCode::kRejected, "malformed params");
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t count, decoder.u32());
  // Every value takes at least its tag byte: a larger count is a lie that must
  // not size an allocation.
  if (count > decoder.remaining()) {
    return decoder.error("count " + std::to_string(count) + " exceeds the " + std::to_string(decoder.remaining()) +
                         " bytes that follow");
  }
  values->reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    SQLSYNC_ASSIGN_OR_RETURN(Value value, decode_value(decoder));
    values->push_back(std::move(value));
  }
  return decoder.expect_end();
}

Status run_sql_import(Transaction& tx, SqlImport import, ByteView sql_bytes, ByteView params,
                      std::vector<Value>* values, Bytes* reply) {
  SQLSYNC_RETURN_IF_ERROR(decode_params(params, values));
  const std::string_view sql = as_text(sql_bytes);
  reply->clear();
  Encoder out(reply);
  if (import == SqlImport::kExecute) {
    Status status = tx.execute(sql, *values);
    if (status.is_ok()) {
      out.u8(kResultOk);
      out.u64(static_cast<uint64_t>(tx.changes()));
    } else {
      out.u8(kResultError);
      out.bytes32(as_bytes(status.to_string()));
    }
    return Status::ok();
  }
  Result<QueryResult> rows = tx.query(sql, *values);
  if (!rows.is_ok()) {
    out.u8(kResultError);
    out.bytes32(as_bytes(rows.status().to_string()));
    return Status::ok();
  }
  out.u8(kResultOk);
  out.u32(static_cast<uint32_t>(rows->columns.size()));
  for (const std::string& column : rows->columns) out.bytes32(as_bytes(column));
  out.u32(static_cast<uint32_t>(rows->rows.size()));
  for (const Row& row : rows->rows) {
    for (const Value& value : row) encode_value(out, value);
  }
  return Status::ok();
}

Status GuestCall::check_sql_allowed() const {
  if (tx_ == nullptr) return Status::rejected("called outside sqlsync_reduce and sqlsync_migrate");
  if (scope_ != nullptr && !open_) return Status::rejected("called outside a mutation (call mutation_begin first)");
  return Status::ok();
}

Status GuestCall::begin_mutation() {
  if (scope_ == nullptr) return Status::rejected("called outside sqlsync_reduce");
  if (open_) {
    return Status::rejected("mutation " + std::to_string(begun_ - 1) + " is still open (call mutation_end first)");
  }
  if (begun_ == count_) {
    return Status::rejected("all " + std::to_string(count_) + " mutations of the batch have already begun");
  }
  Status status = scope_->begin_mutation();
  if (!status.is_ok()) {
    host_error_ = status;
    return status;
  }
  ++begun_;
  open_ = true;
  return Status::ok();
}

Status GuestCall::end_mutation(uint32_t keep) {
  if (scope_ == nullptr) return Status::rejected("called outside sqlsync_reduce");
  if (!open_) return Status::rejected("no mutation is open (call mutation_begin first)");
  Status status = scope_->end_mutation(keep != 0);
  if (!status.is_ok()) {
    host_error_ = status;
    return status;
  }
  open_ = false;
  keeps_.push_back(keep != 0);
  return Status::ok();
}

Status GuestCall::check_batch_ended() const {
  if (open_ || keeps_.size() != count_) {
    return Status::rejected("reducer broke the ABI: sqlsync_reduce returned after ending " +
                            std::to_string(keeps_.size()) + " of " + std::to_string(count_) + " mutations");
  }
  return Status::ok();
}

Status GuestCall::finish_reduce(ByteView payload, std::span<Status> verdicts) const {
  SQLSYNC_RETURN_IF_ERROR(check_batch_ended());
  Decoder decoder(payload, StatusCode::kRejected, "reducer returned a malformed verdicts buffer");
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t count, decoder.u32());
  if (count != count_) {
    return decoder.error(std::to_string(count) + " verdicts for a batch of " + std::to_string(count_));
  }
  for (size_t i = 0; i < count; ++i) {
    SQLSYNC_ASSIGN_OR_RETURN(uint8_t verdict, decoder.u8());
    SQLSYNC_ASSIGN_OR_RETURN(ByteView message, decoder.bytes32(decoder.remaining()));
    if (verdict > 1) return decoder.error("verdict " + std::to_string(i) + " is " + std::to_string(verdict));
    if ((verdict == 0) != keeps_[i]) {
      return decoder.error("verdict " + std::to_string(i) + (verdict == 0 ? " is ok" : " is rejected") +
                           " but the mutation ended with keep=" + (keeps_[i] ? "1" : "0"));
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

Result<size_t> GuestCall::settle_failure(const Status& failure, std::span<Status> verdicts) {
  const size_t ended = keeps_.size();
  for (size_t i = 0; i < ended; ++i) {
    verdicts[i] = keeps_[i] ? Status::ok()
                            : Status::rejected(
                                  "reducer rejected the mutation (its message was lost when the "
                                  "reducer failed later in the batch: " +
                                  failure.message() + ")");
  }
  if (ended == count_) return ended;
  if (!open_) SQLSYNC_RETURN_IF_ERROR(scope_->begin_mutation());
  open_ = false;
  SQLSYNC_RETURN_IF_ERROR(scope_->end_mutation(false));
  verdicts[ended] = failure;
  return ended + 1;
}

GuestReducer::GuestReducer(std::unique_ptr<GuestEngine> engine, GuestLimits limits, WasmLogSink log)
    : engine_(std::move(engine)), limits_(limits), log_(std::move(log)) {}

Status GuestReducer::load() {
  SQLSYNC_RETURN_IF_ERROR(instantiate());
  SQLSYNC_RETURN_IF_ERROR(require_export(kAbiVersionExport));
  uint32_t abi_version = 0;
  SQLSYNC_RETURN_IF_ERROR(
      call_guest(kAbiVersionExport.name, {}, &abi_version).with_context("sqlsync_abi_version failed"));
  if (abi_version != kReducerAbiVersion) {
    return Status::unsupported("reducer ABI version " + std::to_string(static_cast<int32_t>(abi_version)) +
                               ", this host supports " + std::to_string(kReducerAbiVersion));
  }
  for (const GuestExportType& expected : kOtherExports) SQLSYNC_RETURN_IF_ERROR(require_export(expected));
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

Status GuestReducer::require_export(const GuestExportType& expected) {
  SQLSYNC_ASSIGN_OR_RETURN(bool found, engine_->find_export(expected));
  if (!found) {
    return Status::invalid_argument("reducer does not export " + std::string(expected.name) +
                                    " (see docs/reducer-abi.md)");
  }
  return Status::ok();
}

Status GuestReducer::instantiate() {
  call_ = GuestCall();
  out_of_memory_ = false;
  std::string failure = engine_->instantiate();
  if (!failure.empty()) {
    needs_reset_ = true;
    return Status::rejected("reducer failed to instantiate: " + failure);
  }
  needs_reset_ = false;
  SQLSYNC_ASSIGN_OR_RETURN(bool reactor, engine_->find_export(kInitializeExport));
  if (reactor) {
    SQLSYNC_RETURN_IF_ERROR(call_guest(kInitializeExport.name, {}, nullptr).with_context("_initialize failed"));
  }
  return Status::ok();
}

Status GuestReducer::call_guest(const char* name, std::initializer_list<uint32_t> args, uint32_t* result) {
  engine_->refill_budget();
  uint32_t value = 0;
  std::string trap = engine_->call(name, std::span<const uint32_t>(args.begin(), args.size()), &value);
  if (!trap.empty()) return guest_failure(trap);
  // The browser enforces only the module's declared maximum while the guest
  // runs.
  if (engine_->memory_size() > limits_.memory_bytes) {
    out_of_memory_ = true;
    return guest_failure("memory grew past the cap");
  }
  if (result != nullptr) *result = value;
  return Status::ok();
}

Status GuestReducer::guest_failure(const std::string& detail) {
  needs_reset_ = true;
  if (!call_.host_error().is_ok()) return call_.host_error();
  const GuestLimit limit = engine_->exceeded_limit();
  if (limit == GuestLimit::kBudget) {
    return Status::rejected("reducer exceeded its execution budget (" + std::to_string(limits_.fuel_per_call) +
                            " units)");
  }
  if (limit == GuestLimit::kMemory || out_of_memory_) {
    return Status::rejected("reducer exceeded its memory limit (" + std::to_string(limits_.memory_bytes) + " bytes)");
  }
  return Status::rejected("reducer trapped: " + detail);
}

Status GuestReducer::check_range(uint64_t ptr, uint64_t size, const std::string& what) {
  const uint64_t memory_size = engine_->memory_size();
  if (ptr > memory_size || size > memory_size - ptr) {
    return Status::rejected(what + " (address " + std::to_string(ptr) + ", " + std::to_string(size) +
                            " bytes) is outside the reducer's memory of " + std::to_string(memory_size) + " bytes");
  }
  return Status::ok();
}

Result<ByteView> GuestReducer::read_guest(uint64_t ptr, uint64_t size, const std::string& what, Bytes* scratch) {
  SQLSYNC_RETURN_IF_ERROR(check_range(ptr, size, what));
  return engine_->read_memory(ptr, size, scratch);
}

Result<uint32_t> GuestReducer::send_buffer(ByteView payload) {
  const uint64_t size = kAbiBufferHeaderBytes + uint64_t{payload.size()};
  if (size > limits_.memory_bytes) {
    out_of_memory_ = true;
    return Status::rejected("a " + std::to_string(size) + "-byte buffer does not fit the reducer's memory");
  }
  uint32_t ptr = 0;
  const uint32_t alloc_size = static_cast<uint32_t>(size);
  std::string trap = engine_->call("sqlsync_alloc", std::span<const uint32_t>(&alloc_size, 1), &ptr);
  if (!trap.empty()) return Status::rejected("sqlsync_alloc failed: " + trap);
  if (ptr == 0) {
    out_of_memory_ = true;
    return Status::rejected("sqlsync_alloc returned 0 for " + std::to_string(size) + " bytes");
  }
  // sqlsync_alloc may have grown the memory: check against its new size.
  SQLSYNC_RETURN_IF_ERROR(check_range(ptr, size, "buffer returned by sqlsync_alloc"));
  outgoing_.resize(size);
  write_abi_buffer(outgoing_.data(), payload);
  engine_->write_memory(ptr, outgoing_);
  return ptr;
}

Result<Bytes> GuestReducer::receive_buffer(uint32_t ptr, const std::string& what) {
  Bytes scratch;
  Result<ByteView> header = read_guest(ptr, kAbiBufferHeaderBytes, what, &scratch);
  if (!header.is_ok()) return guest_failure(header.status().message());
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t length, read_abi_buffer_length(*header, what));
  Result<ByteView> payload = read_guest(uint64_t{ptr} + kAbiBufferHeaderBytes, length, what + " payload", &scratch);
  if (!payload.is_ok()) return guest_failure(payload.status().message());
  Bytes copy(payload->begin(), payload->end());
  SQLSYNC_RETURN_IF_ERROR(call_guest(
      "sqlsync_free", {ptr, static_cast<uint32_t>(kAbiBufferHeaderBytes + uint64_t{length})}, nullptr));
  return copy;
}

Status GuestReducer::reduce(Transaction& tx, ByteView mutation) {
  NoScope scope;
  Status verdict;
  ByteView mutations[] = {mutation};
  SQLSYNC_RETURN_IF_ERROR(reduce_batch(tx, scope, mutations, std::span<Status>(&verdict, 1)));
  return verdict;
}

Status GuestReducer::reduce_batch(Transaction& tx, MutationScope& scope, std::span<const ByteView> mutations,
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

Result<size_t> GuestReducer::reduce_some(Transaction& tx, MutationScope& scope, std::span<const ByteView> mutations,
                                         std::span<Status> verdicts) {
  if (needs_reset_) SQLSYNC_RETURN_IF_ERROR(instantiate());
  call_ = GuestCall(tx, scope, mutations.size());
  out_of_memory_ = false;
  Status failure = run_reduce(mutations, verdicts);
  // The GuestCall must not outlive `tx` and `scope`.
  GuestCall call = std::move(call_);
  call_ = GuestCall();
  if (failure.is_ok()) return mutations.size();
  needs_reset_ = true;
  if (!call.host_error().is_ok()) return call.host_error();
  return call.settle_failure(failure, verdicts);
}

Status GuestReducer::run_reduce(std::span<const ByteView> mutations, std::span<Status> verdicts) {
  const Bytes batch = encode_batch(mutations);
  // sqlsync_alloc of the batch runs on the budget of this call.
  engine_->refill_budget();
  Result<uint32_t> batch_ptr = send_buffer(batch);
  if (!batch_ptr.is_ok()) return guest_failure(batch_ptr.status().message());
  uint32_t verdicts_ptr = 0;
  SQLSYNC_RETURN_IF_ERROR(
      call_guest("sqlsync_reduce", {*batch_ptr, static_cast<uint32_t>(batch.size())}, &verdicts_ptr));
  SQLSYNC_RETURN_IF_ERROR(call_.check_batch_ended());
  SQLSYNC_ASSIGN_OR_RETURN(Bytes payload, receive_buffer(verdicts_ptr, "verdicts buffer"));
  return call_.finish_reduce(payload, verdicts);
}

Status GuestReducer::migrate(Transaction& tx, uint32_t from, uint32_t to) {
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

Status GuestReducer::run_migrate(uint32_t from, uint32_t to) {
  uint32_t error_ptr = 0;
  SQLSYNC_RETURN_IF_ERROR(call_guest("sqlsync_migrate", {from, to}, &error_ptr));
  if (error_ptr == 0) return Status::ok();
  SQLSYNC_ASSIGN_OR_RETURN(Bytes message, receive_buffer(error_ptr, "migrate error buffer"));
  return Status::rejected(std::string(as_text(message)));
}

std::string GuestReducer::run_import(GuestImport which, const uint32_t* args, uint32_t* result) {
  Status status;
  switch (which) {
    case GuestImport::kExecute:
      status = sql_import(SqlImport::kExecute, args, result);
      break;
    case GuestImport::kQuery:
      status = sql_import(SqlImport::kQuery, args, result);
      break;
    case GuestImport::kMutationBegin:
      status = call_.begin_mutation();
      // Each mutation of a batch gets the budget of a whole call.
      if (status.is_ok()) engine_->refill_budget();
      *result = 0;
      break;
    case GuestImport::kMutationEnd:
      status = call_.end_mutation(args[0]);
      *result = 0;
      break;
    case GuestImport::kLog:
      status = log_import(args);
      break;
  }
  if (status.is_ok()) return std::string();
  return std::string(kGuestImports[static_cast<size_t>(which)].name) + ": " + status.message();
}

Status GuestReducer::sql_import(SqlImport import, const uint32_t* args, uint32_t* result) {
  SQLSYNC_RETURN_IF_ERROR(call_.check_sql_allowed());
  SQLSYNC_ASSIGN_OR_RETURN(ByteView sql, read_guest(args[0], args[1], "sql", &sql_text_));
  ByteView params;
  if (args[3] != 0) {
    SQLSYNC_ASSIGN_OR_RETURN(params, read_guest(args[2], args[3], "params", &sql_params_bytes_));
  }
  SQLSYNC_RETURN_IF_ERROR(run_sql_import(call_.transaction(), import, sql, params, &sql_params_, &sql_reply_));
  SQLSYNC_ASSIGN_OR_RETURN(*result, send_buffer(sql_reply_));
  return Status::ok();
}

Status GuestReducer::log_import(const uint32_t* args) {
  Bytes scratch;
  SQLSYNC_ASSIGN_OR_RETURN(ByteView text, read_guest(args[1], args[2], "message", &scratch));
  forward_guest_log(log_, args[0], text);
  return Status::ok();
}

}  // namespace sqlsync
