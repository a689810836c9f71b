// Messages of the replication protocol (DESIGN section 4) and their versioned,
// checksummed wire codec, specified byte by byte in docs/protocol.md.
#pragma once

#include <variant>

#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

constexpr uint8_t kProtocolVersion = 1;
// Largest journal entry a Frame may carry (a page frame of 256 pages plus
// header); larger messages are refused before allocation.
constexpr uint32_t kMaxFrameBytes = 16u << 20;

// "What do you have of this journal?", sent by the side that owns the journal
// (the source) when a connection starts.
struct RangeRequest {
  JournalId journal;
  LsnRange source_range;  // what the source holds
};

// The receiver's range of a journal: the answer to a RangeRequest and the
// acknowledgement of frames.
struct RangeReply {
  JournalId journal;
  LsnRange range;
};

// One journal entry. `remaining` is the frames hint: how many more frames the
// sender has ready right now.
struct FrameMessage {
  JournalId journal;
  Lsn lsn = 0;
  uint64_t remaining = 0;
  Bytes data;
};

using Message = std::variant<RangeRequest, RangeReply, FrameMessage>;

// A FrameMessage's data must not exceed kMaxFrameBytes.
Bytes encode_message(const Message& message);
// Unsupported for another protocol version, Corruption for a checksum
// mismatch, InvalidArgument for truncated or malformed input (type, range,
// length, trailing bytes). Never reads past `bytes`.
Result<Message> decode_message(ByteView bytes);

// "Frame(j=0a1b..., lsn=4, remaining=2, 4128 bytes)" for logs and errors.
std::string describe(const Message& message);

}  // namespace sqlsync
