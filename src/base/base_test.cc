#include <array>
#include <limits>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "base/checksum.h"
#include "base/encoding.h"
#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {
namespace {

// ---------------------------------------------------------------------------
// Status and Result.

TEST(StatusTest, DefaultIsOk) {
  Status status;
  EXPECT_TRUE(status.is_ok());
  EXPECT_EQ(status.code(), StatusCode::kOk);
  EXPECT_EQ(status.to_string(), "OK");
  EXPECT_TRUE(Status::ok().is_ok());
}

TEST(StatusTest, FactoriesSetCodeAndMessage) {
  struct Case {
    Status status;
    StatusCode code;
    const char* text;
  };
  const Case cases[] = {
      {Status::corruption("m"), StatusCode::kCorruption, "Corruption: m"},
      {Status::io_error("m"), StatusCode::kIOError, "IOError: m"},
      {Status::invalid_argument("m"), StatusCode::kInvalidArgument, "InvalidArgument: m"},
      {Status::not_found("m"), StatusCode::kNotFound, "NotFound: m"},
      {Status::rejected("m"), StatusCode::kRejected, "Rejected: m"},
      {Status::busy("m"), StatusCode::kBusy, "Busy: m"},
      {Status::unsupported("m"), StatusCode::kUnsupported, "Unsupported: m"},
      {Status::internal("m"), StatusCode::kInternal, "Internal: m"},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(c.status.is_ok());
    EXPECT_EQ(c.status.code(), c.code);
    EXPECT_EQ(c.status.message(), "m");
    EXPECT_EQ(c.status.to_string(), c.text);
  }
  EXPECT_STREQ(status_code_name(StatusCode::kOk), "OK");
}

TEST(StatusTest, WithContextPrefixesTheMessage) {
  Status status = Status::corruption("checksum mismatch").with_context("frame at lsn 7");
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_EQ(status.to_string(), "Corruption: frame at lsn 7: checksum mismatch");
  // Ok stays ok and gains no message.
  Status ok = Status::ok().with_context("ignored");
  EXPECT_TRUE(ok.is_ok());
  EXPECT_EQ(ok.message(), "");
}

TEST(ResultTest, HoldsAValueOrAStatus) {
  Result<std::string> value = std::string("text");
  ASSERT_TRUE(value.is_ok());
  EXPECT_TRUE(value.status().is_ok());
  EXPECT_EQ(*value, "text");
  EXPECT_EQ(value->size(), 4u);

  Result<std::string> error = Status::not_found("no such thing");
  ASSERT_FALSE(error.is_ok());
  EXPECT_EQ(error.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(error.status().message(), "no such thing");
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<int>> result = std::make_unique<int>(5);
  ASSERT_TRUE(result.is_ok());
  std::unique_ptr<int> owned = std::move(result).value();
  EXPECT_EQ(*owned, 5);
}

Status fail_if(bool fail) { return fail ? Status::busy("try later") : Status::ok(); }

Result<int> half(int n) {
  if (n % 2 != 0) return Status::invalid_argument(std::to_string(n) + " is odd");
  return n / 2;
}

Status steps(bool fail, int* reached) {
  *reached = 0;
  SQLSYNC_RETURN_IF_ERROR(fail_if(fail));
  *reached = 1;
  return Status::ok();
}

Result<int> quarter(int n) {
  SQLSYNC_ASSIGN_OR_RETURN(int h, half(n));
  SQLSYNC_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtTheFirstError) {
  int reached = -1;
  EXPECT_TRUE(steps(false, &reached).is_ok());
  EXPECT_EQ(reached, 1);
  Status status = steps(true, &reached);
  EXPECT_EQ(status.code(), StatusCode::kBusy);
  EXPECT_EQ(reached, 0);
}

TEST(StatusMacrosTest, AssignOrReturnPropagatesTheError) {
  EXPECT_EQ(*quarter(8), 2);
  Result<int> odd_half = quarter(6);
  ASSERT_FALSE(odd_half.is_ok());
  EXPECT_EQ(odd_half.status().to_string(), "InvalidArgument: 3 is odd");
  EXPECT_EQ(quarter(7).status().message(), "7 is odd");
}

// ---------------------------------------------------------------------------
// JournalId.

TEST(JournalIdTest, HexRoundTrip) {
  std::array<uint8_t, JournalId::kSize> raw{};
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 17);
  JournalId id(raw);
  EXPECT_EQ(id.to_hex(), "00112233445566778899aabbccddeeff");
  auto parsed = JournalId::from_hex(id.to_hex());
  ASSERT_TRUE(parsed.is_ok());
  EXPECT_EQ(*parsed, id);
  auto upper = JournalId::from_hex("00112233445566778899AABBCCDDEEFF");
  ASSERT_TRUE(upper.is_ok());
  EXPECT_EQ(*upper, id);
}

TEST(JournalIdTest, BadHexIsRejected) {
  for (const char* bad : {"", "0011", "00112233445566778899aabbccddeef", "00112233445566778899aabbccddeeff0",
                          "g0112233445566778899aabbccddeeff", "00112233445566778899aabbccddee-f"}) {
    auto parsed = JournalId::from_hex(bad);
    ASSERT_FALSE(parsed.is_ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(parsed.status().message().find(std::string("'") + bad + "'"), std::string::npos)
        << parsed.status().to_string();
  }
}

TEST(JournalIdTest, FromBytesChecksTheSize) {
  Bytes raw(JournalId::kSize, 0xab);
  auto id = JournalId::from_bytes(raw);
  ASSERT_TRUE(id.is_ok());
  EXPECT_EQ(id->to_hex(), "abababababababababababababababab");
  EXPECT_EQ(Bytes(id->view().begin(), id->view().end()), raw);

  for (size_t size : {size_t{0}, JournalId::kSize - 1, JournalId::kSize + 1}) {
    auto wrong = JournalId::from_bytes(Bytes(size, 1));
    ASSERT_FALSE(wrong.is_ok());
    EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(wrong.status().message(), "journal id must be 16 bytes, got " + std::to_string(size));
  }
}

TEST(JournalIdTest, ZeroAndOrdering) {
  JournalId zero;
  EXPECT_TRUE(zero.is_zero());
  std::array<uint8_t, JournalId::kSize> raw{};
  raw[15] = 1;
  JournalId one(raw);
  EXPECT_FALSE(one.is_zero());
  EXPECT_TRUE(zero < one);
  EXPECT_FALSE(one < zero);
  EXPECT_NE(zero, one);
}

// ---------------------------------------------------------------------------
// LsnRange.

TEST(LsnRangeTest, Empty) {
  LsnRange range = LsnRange::empty(8);
  EXPECT_TRUE(range.is_empty());
  EXPECT_EQ(range.size(), 0u);
  EXPECT_EQ(range.next(), 8u);
  EXPECT_FALSE(range.contains(8));
  EXPECT_FALSE(range.contains(7));
  EXPECT_EQ(range.to_string(), "empty@8");
  EXPECT_EQ(LsnRange(), LsnRange::empty(0));
}

TEST(LsnRangeTest, Inclusive) {
  LsnRange range = LsnRange::inclusive(3, 7);
  EXPECT_FALSE(range.is_empty());
  EXPECT_EQ(range.first(), 3u);
  EXPECT_EQ(range.last(), 7u);
  EXPECT_EQ(range.next(), 8u);
  EXPECT_EQ(range.size(), 5u);
  EXPECT_EQ(range.to_string(), "[3, 7]");
  EXPECT_EQ(range, LsnRange::half_open(3, 8));
  EXPECT_FALSE(range == LsnRange::inclusive(3, 6));

  LsnRange single = LsnRange::inclusive(0, 0);
  EXPECT_EQ(single.size(), 1u);
  EXPECT_EQ(single.to_string(), "[0, 0]");
}

TEST(LsnRangeTest, ContainsIsInclusiveOfBothEnds) {
  LsnRange range = LsnRange::inclusive(3, 7);
  EXPECT_FALSE(range.contains(2));
  EXPECT_TRUE(range.contains(3));
  EXPECT_TRUE(range.contains(5));
  EXPECT_TRUE(range.contains(7));
  EXPECT_FALSE(range.contains(8));
}

// ---------------------------------------------------------------------------
// Encoder and Decoder.

TEST(EncodingTest, RoundTrip) {
  std::array<uint8_t, JournalId::kSize> raw{};
  raw[0] = 0x42;
  JournalId id(raw);
  Bytes buffer;
  Encoder encoder(&buffer);
  encoder.u8(0xfe);
  encoder.u16(0xbeef);
  encoder.u32(0xdeadbeef);
  encoder.u64(0x0123456789abcdefULL);
  encoder.bytes32(as_bytes("payload"));
  encoder.journal_id(id);
  encoder.raw(as_bytes("!"));
  EXPECT_EQ(encoder.size(), 1u + 2 + 4 + 8 + (4 + 7) + 16 + 1);

  Decoder decoder(buffer, StatusCode::kCorruption, "test record");
  EXPECT_EQ(*decoder.u8(), 0xfe);
  EXPECT_EQ(*decoder.u16(), 0xbeef);
  EXPECT_EQ(*decoder.u32(), 0xdeadbeefu);
  EXPECT_EQ(*decoder.u64(), 0x0123456789abcdefULL);
  EXPECT_EQ(as_text(*decoder.bytes32(100)), "payload");
  EXPECT_EQ(*decoder.journal_id(), id);
  EXPECT_EQ(as_text(*decoder.raw(1)), "!");
  EXPECT_EQ(decoder.remaining(), 0u);
  EXPECT_TRUE(decoder.expect_end().is_ok());
}

TEST(EncodingTest, IntegersAreLittleEndian) {
  Bytes buffer;
  Encoder encoder(&buffer);
  encoder.u32(0x04030201);
  EXPECT_EQ(buffer, (Bytes{1, 2, 3, 4}));
}

TEST(EncodingTest, TruncatedInputGivesTheDecodersErrorCode) {
  Bytes buffer{1, 2, 3};
  Decoder wire(buffer, StatusCode::kInvalidArgument, "Frame message");
  EXPECT_EQ(*wire.u16(), 0x0201);
  auto truncated = wire.u32();
  ASSERT_FALSE(truncated.is_ok());
  EXPECT_EQ(truncated.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(truncated.status().message(), "Frame message: truncated (needed 4 bytes at offset 2, 1 left)");
  // A failed read consumes nothing.
  EXPECT_EQ(wire.position(), 2u);

  Decoder disk(buffer, StatusCode::kCorruption, "storage frame");
  auto raw = disk.raw(4);
  ASSERT_FALSE(raw.is_ok());
  EXPECT_EQ(raw.status().code(), StatusCode::kCorruption);
}

TEST(EncodingTest, Bytes32RespectsItsLimit) {
  Bytes buffer;
  Encoder encoder(&buffer);
  encoder.bytes32(as_bytes("0123456789"));

  Decoder within(buffer, StatusCode::kCorruption, "blob");
  EXPECT_EQ(as_text(*within.bytes32(10)), "0123456789");

  Decoder over(buffer, StatusCode::kCorruption, "blob");
  auto result = over.bytes32(9);
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(result.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(result.status().message(), "blob: length 10 exceeds limit 9");

  // A length prefix pointing past the end is truncation, not a crash.
  Bytes lying{0xff, 0, 0, 0, 'x'};
  Decoder short_input(lying, StatusCode::kCorruption, "blob");
  auto truncated = short_input.bytes32(1000);
  ASSERT_FALSE(truncated.is_ok());
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos);
}

TEST(EncodingTest, ExpectEndReportsTrailingBytes) {
  Bytes buffer{1, 2, 3};
  Decoder decoder(buffer, StatusCode::kInvalidArgument, "Range message");
  ASSERT_TRUE(decoder.u8().is_ok());
  Status status = decoder.expect_end();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "Range message: 2 trailing bytes");
  EXPECT_EQ(decoder.error("bad version 9").to_string(), "InvalidArgument: Range message: bad version 9");
}

TEST(EncodingTest, BigEndianHelpers) {
  uint8_t bytes[4];
  store_big_endian32(bytes, 0x01020304);
  EXPECT_EQ(bytes[0], 1);
  EXPECT_EQ(bytes[3], 4);
  EXPECT_EQ(load_big_endian32(bytes), 0x01020304u);
}

// ---------------------------------------------------------------------------
// checksum64: XXH3-64. The expected values are XXH3's published test vectors
// (xxHash's own sanity checks); they pin the on-disk and wire formats.

TEST(ChecksumTest, KnownAnswers) {
  EXPECT_EQ(checksum64(ByteView()), 0x2D06800538D394C2ULL);
  EXPECT_EQ(checksum64(as_bytes("abc")), 0x78AF5F94892F3950ULL);
  EXPECT_EQ(checksum64(as_bytes("a")), 0xE6C632B61E964E1FULL);
  // The seed xxHash's sanity checks call PRIME64, on empty input.
  EXPECT_EQ(checksum64_seeded(ByteView(), 11400714785074694797ULL), 0xA8A6B918B2F0364AULL);
  EXPECT_EQ(checksum64_seeded(as_bytes("abc"), 0), checksum64(as_bytes("abc")));
}

TEST(ChecksumTest, DifferentInputsAndSeedsDiffer) {
  EXPECT_NE(checksum64(as_bytes("abc")), checksum64(as_bytes("abd")));
  EXPECT_NE(checksum64(as_bytes("abc")), checksum64(as_bytes("ab")));
  EXPECT_NE(checksum64_seeded(as_bytes("abc"), 1), checksum64_seeded(as_bytes("abc"), 2));
  // Long inputs take another code path in XXH3: a one-bit change still shows.
  Bytes big(10000, 0x5a);
  uint64_t before = checksum64(big);
  big[7777] ^= 1;
  EXPECT_NE(checksum64(big), before);
  EXPECT_EQ(checksum64(big), checksum64(big));
}

// ---------------------------------------------------------------------------
// value_to_string.

TEST(ValueToStringTest, RendersEachKind) {
  EXPECT_EQ(value_to_string(Value()), "NULL");
  EXPECT_EQ(value_to_string(Value(int64_t{-42})), "-42");
  EXPECT_EQ(value_to_string(Value(std::numeric_limits<int64_t>::min())), "-9223372036854775808");
  EXPECT_EQ(value_to_string(Value(1.5)), "1.5");
  EXPECT_EQ(value_to_string(Value(0.1)), "0.10000000000000001");  // round-trips exactly
  EXPECT_EQ(value_to_string(Value(std::string("it's"))), "'it''s'");
  EXPECT_EQ(value_to_string(Value(std::string())), "''");
  EXPECT_EQ(value_to_string(Value(Bytes{0x00, 0xff, 0x1a})), "x'00ff1a'");
  EXPECT_EQ(value_to_string(Value(Bytes{})), "x''");
}

}  // namespace
}  // namespace sqlsync
