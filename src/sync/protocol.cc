#include "sync/protocol.h"

#include <cassert>

#include "base/checksum.h"
#include "base/encoding.h"

namespace sqlsync {

namespace {

// version u8 + type u8 before the payload, checksum u64 after it.
constexpr size_t kHeaderSize = 2;
constexpr size_t kChecksumSize = 8;

void encode_range(Encoder& encoder, const LsnRange& range) {
  encoder.u64(range.first());
  encoder.u64(range.next());
}

Result<LsnRange> decode_range(Decoder& decoder) {
  SQLSYNC_ASSIGN_OR_RETURN(uint64_t first, decoder.u64());
  SQLSYNC_ASSIGN_OR_RETURN(uint64_t next, decoder.u64());
  if (next < first) {
    return decoder.error("range goes backwards (first " + std::to_string(first) + ", next " + std::to_string(next) +
                         ")");
  }
  return LsnRange::half_open(first, next);
}

Result<Message> decode_frame(Decoder& decoder) {
  FrameMessage frame;
  SQLSYNC_ASSIGN_OR_RETURN(frame.journal, decoder.journal_id());
  SQLSYNC_ASSIGN_OR_RETURN(frame.lsn, decoder.u64());
  SQLSYNC_ASSIGN_OR_RETURN(frame.remaining, decoder.u64());
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t length, decoder.u32());
  if (length > kMaxFrameBytes) {
    return decoder.error("frame of " + std::to_string(length) + " bytes exceeds limit of " +
                         std::to_string(kMaxFrameBytes) + " (lsn " + std::to_string(frame.lsn) + ")");
  }
  SQLSYNC_ASSIGN_OR_RETURN(ByteView data, decoder.raw(length));
  frame.data.assign(data.begin(), data.end());
  return Message(std::move(frame));
}

Result<Message> decode_payload(uint8_t type, Decoder& decoder) {
  switch (static_cast<MessageType>(type)) {
    case MessageType::kRangeRequest:
    case MessageType::kRangeReply: {
      SQLSYNC_ASSIGN_OR_RETURN(JournalId journal, decoder.journal_id());
      SQLSYNC_ASSIGN_OR_RETURN(LsnRange range, decode_range(decoder));
      if (static_cast<MessageType>(type) == MessageType::kRangeRequest) return Message(RangeRequest{journal, range});
      return Message(RangeReply{journal, range});
    }
    case MessageType::kFrame:
      return decode_frame(decoder);
    case MessageType::kBatch:
      return decoder.error("a batch where one message was expected (split_batch first)");
  }
  return decoder.error("unknown message type " + std::to_string(type));
}

// The bytes before the checksum of an envelope (a message or a batch), after
// checking the version, the size and the checksum, in that order.
Result<ByteView> checked_body(ByteView bytes, const std::string& what) {
  if (bytes.empty()) return Status::invalid_argument(what + ": empty");
  if (bytes[0] != kProtocolVersion) {
    return Status::unsupported(what + ": version " + std::to_string(bytes[0]) + ", this build speaks " +
                               std::to_string(kProtocolVersion));
  }
  if (bytes.size() < kHeaderSize + kChecksumSize) {
    return Status::invalid_argument(what + ": truncated (" + std::to_string(bytes.size()) +
                                    " bytes, the smallest message has " +
                                    std::to_string(kHeaderSize + kChecksumSize) + ")");
  }
  ByteView body = bytes.first(bytes.size() - kChecksumSize);
  Decoder trailer(bytes.last(kChecksumSize), StatusCode::kInvalidArgument, what);
  SQLSYNC_ASSIGN_OR_RETURN(uint64_t stored_checksum, trailer.u64());
  if (stored_checksum != checksum64(body)) {
    return Status::corruption(what + ": checksum mismatch over " + std::to_string(body.size()) + " bytes");
  }
  return body;
}

std::string short_id(const JournalId& journal) { return journal.to_hex().substr(0, 8) + "..."; }

}  // namespace

Bytes encode_message(const Message& message) {
  Bytes out;
  // One allocation: a frame's pages would otherwise regrow the vector twice.
  const auto* frame = std::get_if<FrameMessage>(&message);
  out.reserve(kHeaderSize + JournalId::kSize + 8 + 8 + 4 + (frame != nullptr ? frame->data.size() : 0) +
              kChecksumSize);
  Encoder encoder(&out);
  encoder.u8(kProtocolVersion);
  if (const auto* request = std::get_if<RangeRequest>(&message)) {
    encoder.u8(static_cast<uint8_t>(MessageType::kRangeRequest));
    encoder.journal_id(request->journal);
    encode_range(encoder, request->source_range);
  } else if (const auto* reply = std::get_if<RangeReply>(&message)) {
    encoder.u8(static_cast<uint8_t>(MessageType::kRangeReply));
    encoder.journal_id(reply->journal);
    encode_range(encoder, reply->range);
  } else {
    assert(frame != nullptr && frame->data.size() <= kMaxFrameBytes);
    encoder.u8(static_cast<uint8_t>(MessageType::kFrame));
    encoder.journal_id(frame->journal);
    encoder.u64(frame->lsn);
    encoder.u64(frame->remaining);
    encoder.bytes32(frame->data);
  }
  encoder.u64(checksum64(out));
  return out;
}

// The order of checks makes every failure name its real cause and never
// reads out of bounds: the version first (another version may lay out the
// rest differently), then the checksum over everything the transport
// delivered (so no length field is trusted before it is verified), then the
// type and the payload through a bounds-checked Decoder, then the end.
Result<Message> decode_message(ByteView bytes) {
  SQLSYNC_ASSIGN_OR_RETURN(ByteView body, checked_body(bytes, "protocol message"));
  Decoder decoder(body, StatusCode::kInvalidArgument, "protocol message");
  SQLSYNC_RETURN_IF_ERROR(decoder.raw(1).status());  // the version, checked first
  SQLSYNC_ASSIGN_OR_RETURN(uint8_t type, decoder.u8());
  Result<Message> message = decode_payload(type, decoder);
  if (message.is_ok()) SQLSYNC_RETURN_IF_ERROR(decoder.expect_end());
  return message;
}

Bytes encode_batch(std::vector<Bytes> messages) {
  assert(!messages.empty());
  if (messages.size() == 1) return std::move(messages.front());
  size_t size = kHeaderSize + 4 + kChecksumSize;
  for (const Bytes& message : messages) size += 4 + message.size();
  Bytes out;
  out.reserve(size);
  Encoder encoder(&out);
  encoder.u8(kProtocolVersion);
  encoder.u8(static_cast<uint8_t>(MessageType::kBatch));
  encoder.u32(static_cast<uint32_t>(messages.size()));
  for (const Bytes& message : messages) {
    assert(message.size() > kTypeOffset && message[kTypeOffset] != static_cast<uint8_t>(MessageType::kBatch));
    encoder.bytes32(message);
  }
  encoder.u64(checksum64(out));
  return out;
}

Result<std::vector<ByteView>> split_batch(ByteView bytes) {
  if (bytes.size() <= kTypeOffset || bytes[0] != kProtocolVersion ||
      bytes[kTypeOffset] != static_cast<uint8_t>(MessageType::kBatch)) {
    return std::vector<ByteView>{bytes};  // one message; decode_message checks it
  }
  SQLSYNC_ASSIGN_OR_RETURN(ByteView body, checked_body(bytes, "protocol batch"));
  Decoder decoder(body.subspan(kHeaderSize), StatusCode::kInvalidArgument, "protocol batch");
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t count, decoder.u32());
  if (count == 0) return decoder.error("holds no message");
  std::vector<ByteView> messages;
  for (uint32_t i = 0; i < count; ++i) {
    Result<ByteView> message = decoder.bytes32(body.size());
    if (!message.is_ok()) {
      return message.status().with_context("message " + std::to_string(i) + " of " + std::to_string(count));
    }
    if (message->size() > kTypeOffset && (*message)[kTypeOffset] == static_cast<uint8_t>(MessageType::kBatch)) {
      return decoder.error("message " + std::to_string(i) + " is itself a batch (batches do not nest)");
    }
    messages.push_back(*message);
  }
  SQLSYNC_RETURN_IF_ERROR(decoder.expect_end());
  return messages;
}

std::string describe(const Message& message) {
  if (const auto* request = std::get_if<RangeRequest>(&message)) {
    return "RangeRequest(j=" + short_id(request->journal) + ", source=" + request->source_range.to_string() + ")";
  }
  if (const auto* reply = std::get_if<RangeReply>(&message)) {
    return "RangeReply(j=" + short_id(reply->journal) + ", range=" + reply->range.to_string() + ")";
  }
  const auto& frame = std::get<FrameMessage>(message);
  return "Frame(j=" + short_id(frame.journal) + ", lsn=" + std::to_string(frame.lsn) +
         ", remaining=" + std::to_string(frame.remaining) + ", " + std::to_string(frame.data.size()) + " bytes)";
}

}  // namespace sqlsync
