// Messages of the replication protocol (DESIGN section 4) and their versioned,
// checksummed wire codec, specified byte by byte in docs/protocol.md.
#pragma once

#include <variant>
#include <vector>

#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

constexpr uint8_t kProtocolVersion = 2;
// Largest journal entry a Frame may carry (a page frame of 256 pages plus
// header); larger messages are refused before allocation.
constexpr uint32_t kMaxFrameBytes = 16u << 20;
// A sender packs queued messages into one batch while their sizes sum to at
// most this; a larger message travels alone.
constexpr size_t kMaxBatchBytes = 64u << 10;

// The envelope's type byte (offset 1), docs/protocol.md.
enum class MessageType : uint8_t {
  kRangeRequest = 1,
  kRangeReply = 2,
  kFrame = 3,
  kBatch = 4,
};
constexpr size_t kTypeOffset = 1;

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

// One transport message (a WebSocket message) carrying `messages`, which come
// from encode_message, in order: the message itself if there is one, else a
// batch. Callers keep batches within kMaxBatchBytes.
Bytes encode_batch(std::vector<Bytes> messages);
// The protocol messages one transport message carries, in order, as views
// into `bytes`: `bytes` itself unless it is a batch. A batch's envelope is
// checked here (version, checksum, lengths; errors as decode_message's); the
// messages inside are checked by decode_message.
Result<std::vector<ByteView>> split_batch(ByteView bytes);

// "Frame(j=0a1b..., lsn=4, remaining=2, 4128 bytes)" for logs and errors.
std::string describe(const Message& message);

}  // namespace sqlsync
