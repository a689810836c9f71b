#include "sync/protocol.h"

#include <gtest/gtest.h>

#include "base/checksum.h"
#include "base/encoding.h"

namespace sqlsync {
namespace {

JournalId test_id(uint8_t seed) {
  std::array<uint8_t, JournalId::kSize> bytes{};
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(seed + i);
  return JournalId(bytes);
}

// Replaces the trailing checksum so a hand-edited message passes the
// checksum and reaches the check under test.
void reseal(Bytes& message) {
  message.resize(message.size() - 8);
  uint64_t checksum = checksum64(message);
  Encoder(&message).u64(checksum);
}

std::vector<Message> sample_messages() {
  FrameMessage frame{test_id(3), 42, 7, Bytes{}};
  for (int i = 0; i < 300; ++i) frame.data.push_back(static_cast<uint8_t>(i * 31));
  return {
      RangeRequest{test_id(1), LsnRange::inclusive(3, 9)},
      RangeReply{test_id(2), LsnRange::empty(12)},
      frame,
      FrameMessage{test_id(4), 0, 0, Bytes{}},
  };
}

void expect_equal(const Message& expected, const Message& actual) {
  ASSERT_EQ(expected.index(), actual.index()) << describe(actual);
  if (const auto* request = std::get_if<RangeRequest>(&expected)) {
    EXPECT_EQ(request->journal, std::get<RangeRequest>(actual).journal);
    EXPECT_EQ(request->source_range, std::get<RangeRequest>(actual).source_range);
  } else if (const auto* reply = std::get_if<RangeReply>(&expected)) {
    EXPECT_EQ(reply->journal, std::get<RangeReply>(actual).journal);
    EXPECT_EQ(reply->range, std::get<RangeReply>(actual).range);
  } else {
    const auto& frame = std::get<FrameMessage>(expected);
    const auto& decoded = std::get<FrameMessage>(actual);
    EXPECT_EQ(frame.journal, decoded.journal);
    EXPECT_EQ(frame.lsn, decoded.lsn);
    EXPECT_EQ(frame.remaining, decoded.remaining);
    EXPECT_EQ(frame.data, decoded.data);
  }
}

TEST(ProtocolTest, EveryMessageRoundTrips) {
  for (const Message& message : sample_messages()) {
    SCOPED_TRACE(describe(message));
    Result<Message> decoded = decode_message(encode_message(message));
    ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
    expect_equal(message, *decoded);
  }
}

TEST(ProtocolTest, LargestFrameRoundTrips) {
  FrameMessage frame{test_id(5), 1, 0, Bytes(kMaxFrameBytes, 0xab)};
  Result<Message> decoded = decode_message(encode_message(frame));
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  expect_equal(frame, *decoded);
}

// The byte layout docs/protocol.md specifies.
TEST(ProtocolTest, RangeRequestLayoutMatchesTheSpec) {
  Bytes expected = {2, 1};
  JournalId journal = test_id(1);
  expected.insert(expected.end(), journal.bytes().begin(), journal.bytes().end());
  Bytes tail = {3, 0, 0, 0, 0, 0, 0, 0, 0x0a, 1, 0, 0, 0, 0, 0, 0};  // first 3, next 266
  expected.insert(expected.end(), tail.begin(), tail.end());
  Encoder(&expected).u64(checksum64(expected));
  Bytes encoded = encode_message(RangeRequest{journal, LsnRange::half_open(3, 266)});
  EXPECT_EQ(expected, encoded);
}

TEST(ProtocolTest, FrameLayoutMatchesTheSpec) {
  Bytes expected = {2, 3};
  JournalId journal = test_id(9);
  expected.insert(expected.end(), journal.bytes().begin(), journal.bytes().end());
  Bytes tail = {5, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 'a', 'b', 'c'};
  expected.insert(expected.end(), tail.begin(), tail.end());
  Encoder(&expected).u64(checksum64(expected));
  Bytes encoded = encode_message(FrameMessage{journal, 5, 2, Bytes{'a', 'b', 'c'}});
  EXPECT_EQ(expected, encoded);
}

TEST(ProtocolTest, EveryTruncationIsRejected) {
  for (const Message& message : sample_messages()) {
    Bytes encoded = encode_message(message);
    for (size_t length = 0; length < encoded.size(); ++length) {
      SCOPED_TRACE(describe(message) + " cut to " + std::to_string(length) + " bytes");
      Result<Message> decoded = decode_message(ByteView(encoded).first(length));
      ASSERT_FALSE(decoded.is_ok());
      StatusCode code = decoded.status().code();
      EXPECT_TRUE(code == StatusCode::kInvalidArgument || code == StatusCode::kCorruption)
          << decoded.status().to_string();
    }
  }
}

TEST(ProtocolTest, EverySingleBitFlipIsRejected) {
  for (const Message& message : sample_messages()) {
    const Bytes encoded = encode_message(message);
    for (size_t bit = 0; bit < encoded.size() * 8; ++bit) {
      SCOPED_TRACE(describe(message) + " with bit " + std::to_string(bit) + " flipped");
      Bytes flipped = encoded;
      flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      Result<Message> decoded = decode_message(flipped);
      ASSERT_FALSE(decoded.is_ok());
      // The version byte comes first: a flip there reads as another version.
      StatusCode expected = bit < 8 ? StatusCode::kUnsupported : StatusCode::kCorruption;
      EXPECT_EQ(expected, decoded.status().code()) << decoded.status().to_string();
    }
  }
}

TEST(ProtocolTest, EmptyInputIsRejected) {
  Result<Message> decoded = decode_message(ByteView());
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(StatusCode::kInvalidArgument, decoded.status().code());
}

TEST(ProtocolTest, OtherVersionIsUnsupported) {
  Bytes encoded = encode_message(RangeReply{test_id(1), LsnRange::empty(0)});
  encoded[0] = kProtocolVersion + 1;
  reseal(encoded);
  Result<Message> decoded = decode_message(encoded);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(StatusCode::kUnsupported, decoded.status().code());
  EXPECT_NE(std::string::npos, decoded.status().message().find("version 3, this build speaks 2")) << decoded.status().to_string();

  // Even a message too short to be ours names the version problem.
  Result<Message> short_message = decode_message(Bytes{kProtocolVersion + 1});
  EXPECT_EQ(StatusCode::kUnsupported, short_message.status().code());
}

TEST(ProtocolTest, UnknownTypeIsInvalid) {
  for (uint8_t type : {0, 5, 255}) {
    Bytes encoded = encode_message(RangeReply{test_id(1), LsnRange::empty(0)});
    encoded[1] = type;
    reseal(encoded);
    Result<Message> decoded = decode_message(encoded);
    ASSERT_FALSE(decoded.is_ok());
    EXPECT_EQ(StatusCode::kInvalidArgument, decoded.status().code());
    EXPECT_NE(std::string::npos, decoded.status().message().find("unknown message type " + std::to_string(type)))
        << decoded.status().to_string();
  }
}

TEST(ProtocolTest, BackwardsRangeIsInvalid) {
  for (uint8_t type : {1, 2}) {
    Bytes encoded;
    Encoder encoder(&encoded);
    encoder.u8(kProtocolVersion);
    encoder.u8(type);
    encoder.journal_id(test_id(1));
    encoder.u64(9);  // first
    encoder.u64(8);  // next
    encoder.u64(0);
    reseal(encoded);
    Result<Message> decoded = decode_message(encoded);
    ASSERT_FALSE(decoded.is_ok());
    EXPECT_EQ(StatusCode::kInvalidArgument, decoded.status().code());
    EXPECT_NE(std::string::npos, decoded.status().message().find("backwards")) << decoded.status().to_string();
  }
}

Bytes frame_with_declared_length(uint32_t declared_length, size_t actual_length) {
  Bytes encoded;
  Encoder encoder(&encoded);
  encoder.u8(kProtocolVersion);
  encoder.u8(3);
  encoder.journal_id(test_id(1));
  encoder.u64(4);  // lsn
  encoder.u64(0);  // remaining
  encoder.u32(declared_length);
  encoded.resize(encoded.size() + actual_length, 0x5a);
  encoder.u64(0);
  reseal(encoded);
  return encoded;
}

TEST(ProtocolTest, OverLimitFrameIsInvalid) {
  Result<Message> decoded = decode_message(frame_with_declared_length(kMaxFrameBytes + 1, 0));
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(StatusCode::kInvalidArgument, decoded.status().code());
  EXPECT_NE(std::string::npos,
            decoded.status().message().find("frame of " + std::to_string(kMaxFrameBytes + 1) + " bytes exceeds limit"))
      << decoded.status().to_string();
}

TEST(ProtocolTest, FrameLengthBeyondTheMessageIsInvalid) {
  Result<Message> decoded = decode_message(frame_with_declared_length(10, 9));
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(StatusCode::kInvalidArgument, decoded.status().code());
  EXPECT_NE(std::string::npos, decoded.status().message().find("truncated")) << decoded.status().to_string();
}

TEST(ProtocolTest, TrailingBytesAreInvalid) {
  Result<Message> decoded = decode_message(frame_with_declared_length(9, 10));
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(StatusCode::kInvalidArgument, decoded.status().code());
  EXPECT_NE(std::string::npos, decoded.status().message().find("1 trailing bytes")) << decoded.status().to_string();

  // Bytes appended after the checksum move it: the checksum no longer matches.
  Bytes appended = encode_message(RangeReply{test_id(1), LsnRange::empty(0)});
  appended.push_back(0);
  EXPECT_EQ(StatusCode::kCorruption, decode_message(appended).status().code());
}

std::vector<Bytes> encoded_samples() {
  std::vector<Bytes> encoded;
  for (const Message& message : sample_messages()) encoded.push_back(encode_message(message));
  return encoded;
}

TEST(ProtocolTest, BatchRoundTripsInOrder) {
  const std::vector<Bytes> messages = encoded_samples();
  const Bytes batch = encode_batch(messages);
  Result<std::vector<ByteView>> split = split_batch(batch);
  ASSERT_TRUE(split.is_ok()) << split.status().to_string();
  ASSERT_EQ(messages.size(), split->size());
  for (size_t i = 0; i < messages.size(); ++i) {
    EXPECT_EQ(messages[i], Bytes((*split)[i].begin(), (*split)[i].end())) << "message " << i;
    EXPECT_TRUE(decode_message((*split)[i]).is_ok());
  }
  // A batch is not one message.
  Result<Message> whole = decode_message(batch);
  ASSERT_FALSE(whole.is_ok());
  EXPECT_NE(std::string::npos, whole.status().message().find("a batch where one message was expected"))
      << whole.status().to_string();
}

TEST(ProtocolTest, OneMessageIsItsOwnTransportMessage) {
  const Bytes message = encode_message(RangeReply{test_id(1), LsnRange::empty(5)});
  EXPECT_EQ(message, encode_batch({message}));
  Result<std::vector<ByteView>> split = split_batch(message);
  ASSERT_TRUE(split.is_ok());
  ASSERT_EQ(1u, split->size());
  EXPECT_EQ(message.data(), split->front().data());
  EXPECT_EQ(message.size(), split->front().size());
}

// A batch's count and lengths are checked after its checksum, so hand-made
// batches are resealed to reach each check.
Bytes batch_of(uint32_t count, const std::vector<Bytes>& entries, size_t extra_bytes = 0) {
  Bytes batch;
  Encoder encoder(&batch);
  encoder.u8(kProtocolVersion);
  encoder.u8(static_cast<uint8_t>(MessageType::kBatch));
  encoder.u32(count);
  for (const Bytes& entry : entries) encoder.bytes32(entry);
  batch.resize(batch.size() + extra_bytes, 0);
  encoder.u64(0);
  reseal(batch);
  return batch;
}

TEST(ProtocolTest, BatchLayoutMatchesTheSpec) {
  const std::vector<Bytes> messages = encoded_samples();
  EXPECT_EQ(batch_of(static_cast<uint32_t>(messages.size()), messages), encode_batch(messages));
}

TEST(ProtocolTest, MalformedBatchesAreRefused) {
  const std::vector<Bytes> messages = encoded_samples();
  struct Case {
    std::string name;
    Bytes batch;
    StatusCode code;
    std::string says;
  };
  Bytes flipped = encode_batch(messages);
  flipped[20] ^= 1;
  Bytes lengthened = batch_of(2, {messages[0], messages[1]});
  lengthened[6] += 1;  // first entry's length now swallows a byte of the next
  reseal(lengthened);
  const std::vector<Case> cases = {
      {"checksum", flipped, StatusCode::kCorruption, "protocol batch: checksum mismatch"},
      {"empty", batch_of(0, {}), StatusCode::kInvalidArgument, "holds no message"},
      {"count above entries", batch_of(3, {messages[0], messages[1]}), StatusCode::kInvalidArgument,
       "message 2 of 3: protocol batch: truncated"},
      {"count below entries", batch_of(1, {messages[0], messages[1]}), StatusCode::kInvalidArgument,
       "trailing bytes"},
      {"length beyond the batch", lengthened, StatusCode::kInvalidArgument, "message 1 of 2"},
      {"trailing bytes", batch_of(2, {messages[0], messages[1]}, 3), StatusCode::kInvalidArgument,
       "3 trailing bytes"},
      {"nested", batch_of(2, {messages[0], encode_batch({messages[1], messages[2]})}),
       StatusCode::kInvalidArgument, "message 1 is itself a batch"},
  };
  for (const Case& test : cases) {
    SCOPED_TRACE(test.name);
    Result<std::vector<ByteView>> split = split_batch(test.batch);
    ASSERT_FALSE(split.is_ok());
    EXPECT_EQ(test.code, split.status().code());
    EXPECT_NE(std::string::npos, split.status().message().find(test.says)) << split.status().to_string();
  }
}

TEST(ProtocolTest, BatchOfAnotherVersionIsPassedOnForDecodeToRefuse) {
  Bytes batch = encode_batch(encoded_samples());
  batch[0] = kProtocolVersion - 1;
  Result<std::vector<ByteView>> split = split_batch(batch);
  ASSERT_TRUE(split.is_ok());
  ASSERT_EQ(1u, split->size());
  EXPECT_EQ(StatusCode::kUnsupported, decode_message(split->front()).status().code());
}

TEST(ProtocolTest, DescribeNamesTheFields) {
  EXPECT_EQ("RangeRequest(j=01020304..., source=[3, 9])", describe(RangeRequest{test_id(1), LsnRange::inclusive(3, 9)}));
  EXPECT_EQ("RangeReply(j=02030405..., range=empty@12)", describe(RangeReply{test_id(2), LsnRange::empty(12)}));
  EXPECT_EQ("Frame(j=03040506..., lsn=4, remaining=2, 3 bytes)",
            describe(FrameMessage{test_id(3), 4, 2, Bytes{1, 2, 3}}));
}

}  // namespace
}  // namespace sqlsync
