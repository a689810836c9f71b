#include "reducer/reducer_abi.h"

#include <cstring>
#include <string>
#include <utility>

namespace sqlsync {
namespace {

// Value tags of docs/reducer-abi.md.
enum ValueTag : uint8_t { kTagNull = 0, kTagInteger = 1, kTagReal = 2, kTagText = 3, kTagBlob = 4 };

// Result status bytes of the execute and query results.
constexpr uint8_t kResultOk = 0;
constexpr uint8_t kResultError = 1;

}  // namespace

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

}  // namespace sqlsync
