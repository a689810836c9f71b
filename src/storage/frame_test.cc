#include "storage/frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "base/checksum.h"
#include "base/encoding.h"

namespace sqlsync {
namespace {

PagePtr filled_page(uint8_t seed) {
  auto page = std::make_shared<Page>();
  for (size_t i = 0; i < kPageSize; ++i) (*page)[i] = static_cast<uint8_t>(seed + i * 7);
  return page;
}

uint64_t load_u64(const Bytes& bytes, size_t offset) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v |= uint64_t{bytes[offset + i]} << (8 * i);
  return v;
}

void store_u32(Bytes& bytes, size_t offset, uint32_t v) {
  for (size_t i = 0; i < 4; ++i) bytes[offset + i] = static_cast<uint8_t>(v >> (8 * i));
}

// Recomputes the trailer so a deliberately malformed frame passes the checksum
// and reaches the structural checks.
void reseal(Bytes& bytes) {
  const size_t body = bytes.size() - kFrameTrailerSize;
  const uint64_t checksum = checksum64(ByteView(bytes.data(), body));
  for (size_t i = 0; i < 8; ++i) bytes[body + i] = static_cast<uint8_t>(checksum >> (8 * i));
}

std::map<uint32_t, PagePtr> two_pages() { return {{2, filled_page(1)}, {5, filled_page(9)}}; }

TEST(FrameTest, RoundTrip) {
  const std::map<uint32_t, PagePtr> pages = two_pages();
  const Bytes bytes = encode_page_frame(7, 0x1122334455667788, 6, pages);
  ASSERT_EQ(bytes.size(), kFrameHeaderSize + 2 * (4 + 1 + kPageSize) + kFrameTrailerSize);

  Result<Frame> frame = decode_frame(bytes);
  ASSERT_TRUE(frame.is_ok()) << frame.status().to_string();
  EXPECT_EQ(frame->kind, FrameKind::kPages);
  EXPECT_EQ(frame->lsn, 7u);
  EXPECT_EQ(frame->previous_checksum, 0x1122334455667788u);
  EXPECT_EQ(frame->database_pages, 6u);
  EXPECT_EQ(frame->checksum, load_u64(bytes, bytes.size() - 8));
  ASSERT_EQ(frame->pages.size(), 2u);
  auto expected = pages.begin();
  for (const FramePage& page : frame->pages) {
    EXPECT_EQ(page.page_no, expected->first);
    EXPECT_EQ(page.encoding, PageEncoding::kFull);
    ASSERT_EQ(page.data.size(), kPageSize);
    EXPECT_EQ(std::memcmp(page.data.data(), expected->second->data(), kPageSize), 0);
    // Views into the encoded bytes, not copies.
    EXPECT_GE(page.data.data(), bytes.data());
    EXPECT_LT(page.data.data(), bytes.data() + bytes.size());
    ++expected;
  }
}

TEST(FrameTest, EmptyFrameRoundTrip) {
  const Bytes bytes = encode_page_frame(0, 0, 0, {});
  ASSERT_EQ(bytes.size(), kFrameHeaderSize + kFrameTrailerSize);
  Result<Frame> frame = decode_frame(bytes);
  ASSERT_TRUE(frame.is_ok()) << frame.status().to_string();
  EXPECT_EQ(frame->database_pages, 0u);
  EXPECT_TRUE(frame->pages.empty());
}

// Pins the byte layout of docs/storage-format.md.
TEST(FrameTest, LayoutMatchesSpec) {
  const Bytes bytes = encode_page_frame(0x0102030405060708, 0xa1a2a3a4a5a6a7a8, 9, two_pages());
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 4), "SQSF");
  EXPECT_EQ(bytes[4], kFrameVersion);
  EXPECT_EQ(bytes[5], static_cast<uint8_t>(FrameKind::kPages));
  EXPECT_EQ(bytes[6], 0);
  EXPECT_EQ(bytes[7], 0);
  EXPECT_EQ(load_u64(bytes, 8), 0x0102030405060708u);
  EXPECT_EQ(bytes[8], 0x08);  // little-endian
  EXPECT_EQ(load_u64(bytes, 16), 0xa1a2a3a4a5a6a7a8u);
  EXPECT_EQ(bytes[24], 9);  // database pages
  EXPECT_EQ(bytes[28], 2);  // page count
  EXPECT_EQ(bytes[32], 2);  // first entry: page number, encoding (full), data
  EXPECT_EQ(bytes[36], 0);
  EXPECT_EQ(bytes[37], filled_page(1)->at(0));
  EXPECT_EQ(bytes[37 + kPageSize], 5);  // second entry
  EXPECT_EQ(bytes[42 + kPageSize], filled_page(9)->at(0));
  EXPECT_EQ(load_u64(bytes, bytes.size() - 8), checksum64(ByteView(bytes).first(bytes.size() - 8)));
}

TEST(FrameTest, EverySingleByteCorruptionIsRejected) {
  const Bytes original = encode_page_frame(3, 42, 5, two_pages());
  for (size_t position = 0; position < original.size(); ++position) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      Bytes corrupt = original;
      corrupt[position] ^= flip;
      Result<Frame> frame = decode_frame(corrupt);
      ASSERT_FALSE(frame.is_ok()) << "corruption at byte " << position << " (xor " << int{flip}
                                  << ") was accepted";
      const StatusCode expected = position == 4 && corrupt[4] > kFrameVersion ? StatusCode::kUnsupported
                                                                              : StatusCode::kCorruption;
      ASSERT_EQ(frame.status().code(), expected) << "byte " << position << ": " << frame.status().to_string();
    }
  }
}

TEST(FrameTest, TruncatedOrExtendedInputIsRejected) {
  const Bytes original = encode_page_frame(3, 42, 5, two_pages());
  for (size_t length = 0; length < original.size(); ++length) {
    Result<Frame> frame = decode_frame(ByteView(original).first(length));
    ASSERT_EQ(frame.status().code(), StatusCode::kCorruption) << "length " << length;
  }
  for (size_t extra : {size_t{1}, size_t{8}, size_t{4 + kPageSize}}) {
    Bytes extended = original;
    extended.insert(extended.end(), extra, 0);
    EXPECT_EQ(decode_frame(extended).status().code(), StatusCode::kCorruption) << "extra " << extra;
  }
}

TEST(FrameTest, NewerVersionIsUnsupported) {
  Bytes bytes = encode_page_frame(0, 0, 5, two_pages());
  bytes[4] = kFrameVersion + 1;
  reseal(bytes);
  Result<Frame> frame = decode_frame(bytes);
  EXPECT_EQ(frame.status().code(), StatusCode::kUnsupported) << frame.status().to_string();
  EXPECT_NE(frame.status().message().find("version 2"), std::string::npos) << frame.status().to_string();

  bytes[4] = 0;
  reseal(bytes);
  EXPECT_EQ(decode_frame(bytes).status().code(), StatusCode::kCorruption);
}

// Each malformed field is caught by its own check, not only by the checksum.
TEST(FrameTest, StructuralErrorsAreCorruptionEvenWithValidChecksum) {
  struct Case {
    const char* name;
    void (*mutate)(Bytes&);
    const char* message;
  };
  const Case cases[] = {
      {"magic", [](Bytes& b) { b[0] = 'X'; }, "magic"},
      {"kind", [](Bytes& b) { b[5] = 3; }, "kind"},
      {"reserved", [](Bytes& b) { b[7] = 1; }, "reserved"},
      {"unsorted", [](Bytes& b) { store_u32(b, 32, 5); store_u32(b, 37 + kPageSize, 2); }, "sorted"},
      {"duplicate", [](Bytes& b) { store_u32(b, 37 + kPageSize, 2); }, "sorted"},
      {"page zero", [](Bytes& b) { store_u32(b, 32, 0); }, "page number 0"},
      {"beyond size", [](Bytes& b) { store_u32(b, 24, 4); }, "beyond the database size"},
      {"encoding", [](Bytes& b) { b[36] = 7; }, "unknown encoding"},
      {"page count", [](Bytes& b) { store_u32(b, 28, 3); }, "truncated"},
      {"page count past size", [](Bytes& b) { store_u32(b, 28, 100000); }, "cannot fit"},
  };
  for (const Case& c : cases) {
    Bytes bytes = encode_page_frame(0, 0, 5, two_pages());
    c.mutate(bytes);
    reseal(bytes);
    Result<Frame> frame = decode_frame(bytes);
    ASSERT_EQ(frame.status().code(), StatusCode::kCorruption) << c.name;
    EXPECT_NE(frame.status().message().find(c.message), std::string::npos)
        << c.name << ": " << frame.status().to_string();
  }
}

TEST(FrameTest, LastPageMayEqualDatabaseSize) {
  std::map<uint32_t, PagePtr> pages = {{1, filled_page(0)}, {4, filled_page(4)}};
  Result<Frame> frame = decode_frame(encode_page_frame(0, 0, 4, pages));
  ASSERT_TRUE(frame.is_ok()) << frame.status().to_string();
  EXPECT_EQ(frame->pages.back().page_no, 4u);
}

TEST(FrameTest, EndLogRoundTripAndChecks) {
  std::array<uint8_t, JournalId::kSize> id_bytes{};
  id_bytes[3] = 7;
  const JournalId next_log(id_bytes);
  const SnapshotHash hash = snapshot_hash(encode_page_frame(0, 0, 6, two_pages()));
  const Bytes bytes = encode_end_log_frame(9, 0xabc, 6, next_log, hash);
  ASSERT_EQ(bytes.size(), kFrameHeaderSize + kEndLogPayloadSize + kFrameTrailerSize);
  Result<Frame> frame = decode_frame(bytes);
  ASSERT_TRUE(frame.is_ok()) << frame.status().to_string();
  EXPECT_EQ(frame->kind, FrameKind::kEndLog);
  EXPECT_EQ(frame->lsn, 9u);
  EXPECT_EQ(frame->previous_checksum, 0xabcu);
  EXPECT_EQ(frame->next_log, next_log);
  EXPECT_EQ(frame->snapshot_hash, hash);
  EXPECT_TRUE(frame->pages.empty());
  EXPECT_EQ(frame->checksum, encoded_frame_checksum(bytes));

  Bytes with_page_count = bytes;
  store_u32(with_page_count, 28, 1);
  reseal(with_page_count);
  EXPECT_EQ(decode_frame(with_page_count).status().code(), StatusCode::kCorruption);
  Bytes flipped = bytes;
  flipped[40] ^= 1;
  EXPECT_EQ(decode_frame(flipped).status().code(), StatusCode::kCorruption);
}

TEST(FrameTest, SnapshotHashIsDeterministicAndSensitive) {
  const Bytes a = encode_page_frame(0, 0, 6, two_pages());
  EXPECT_EQ(snapshot_hash(a), snapshot_hash(encode_page_frame(0, 0, 6, two_pages())));
  Bytes b = a;
  b[kFrameHeaderSize + 8 + 100] ^= 1;
  EXPECT_NE(snapshot_hash(a), snapshot_hash(b));
}

// A base page and the same page with a few bytes changed, as a commit that
// inserts one row leaves a b-tree page.
struct Edit {
  std::vector<PagePtr> base;
  std::map<uint32_t, PagePtr> pages;
};

Edit small_edits() {
  Edit edit;
  edit.base = {filled_page(1), nullptr, filled_page(3)};  // page 2 is zeros
  auto page1 = std::make_shared<Page>(*edit.base[0]);
  (*page1)[24] ^= 1;                      // a header field
  for (size_t i = 3000; i < 3040; ++i) (*page1)[i] = 0xee;  // a new cell
  auto page2 = std::make_shared<Page>();  // from zeros
  (*page2)[0] = 13;
  (*page2)[4095] = 1;
  auto page4 = filled_page(4);            // past the base: from zeros, stored whole
  edit.pages = {{1, page1}, {2, page2}, {4, page4}};
  return edit;
}

Page materialized(const FramePage& page, const Page* base) {
  Page out;
  out.fill(0xaa);
  materialize_page(page, base, out);
  return out;
}

TEST(FrameTest, PagesWithFewChangesAreStoredAsDeltas) {
  const Edit edit = small_edits();
  const Bytes bytes = encode_page_frame(4, 1, 4, edit.pages, &edit.base);
  // Two small deltas and one whole page.
  EXPECT_LT(bytes.size(), kFrameHeaderSize + 3 * 5 + kPageSize + 200 + kFrameTrailerSize);
  Result<Frame> frame = decode_frame(bytes);
  ASSERT_TRUE(frame.is_ok()) << frame.status().to_string();
  ASSERT_EQ(frame->pages.size(), 3u);
  EXPECT_EQ(frame->pages[0].encoding, PageEncoding::kDelta);
  EXPECT_EQ(frame->pages[1].encoding, PageEncoding::kDelta);
  EXPECT_EQ(frame->pages[2].encoding, PageEncoding::kFull);
  EXPECT_EQ(materialized(frame->pages[0], edit.base[0].get()), *edit.pages.at(1));
  EXPECT_EQ(materialized(frame->pages[1], nullptr), *edit.pages.at(2));
  EXPECT_EQ(materialized(frame->pages[2], edit.base[2].get()), *edit.pages.at(4));
  // Without a base (a snapshot) every page is whole.
  Result<Frame> whole = decode_frame(encode_page_frame(4, 1, 4, edit.pages));
  ASSERT_TRUE(whole.is_ok());
  for (const FramePage& page : whole->pages) EXPECT_EQ(page.encoding, PageEncoding::kFull);
}

TEST(FrameTest, PageChangedEverywhereIsStoredWhole) {
  const std::vector<PagePtr> base = {filled_page(1)};
  const std::map<uint32_t, PagePtr> pages = {{1, filled_page(2)}};
  Result<Frame> frame = decode_frame(encode_page_frame(0, 0, 1, pages, &base));
  ASSERT_TRUE(frame.is_ok());
  EXPECT_EQ(frame->pages[0].encoding, PageEncoding::kFull);
}

TEST(FrameTest, DeltaFrameCorruptionIsRejected) {
  const Edit edit = small_edits();
  const Bytes original = encode_page_frame(4, 1, 4, edit.pages, &edit.base);
  for (size_t position = 0; position < original.size(); ++position) {
    Bytes corrupt = original;
    corrupt[position] ^= 0x40;
    ASSERT_FALSE(decode_frame(corrupt).is_ok()) << "corruption at byte " << position << " was accepted";
  }
}

TEST(FrameTest, MalformedDeltaRunsAreCorruption) {
  // Page 1 as a delta of one run: entry at 32 (page u32, encoding u8, run
  // count u16 at 37, offset u16 at 39, length u16 at 41, byte at 43).
  const std::vector<PagePtr> base = {std::make_shared<Page>()};
  auto page = std::make_shared<Page>();
  (*page)[100] = 1;
  const Bytes original = encode_page_frame(0, 0, 1, {{1, page}}, &base);
  ASSERT_EQ(original.size(), kFrameHeaderSize + 4 + 1 + 2 + 4 + 1 + kFrameTrailerSize);
  struct Case {
    const char* name;
    uint16_t offset;
    uint16_t length;
  };
  for (const Case& c : {Case{"empty run", 100, 0}, Case{"past the page", 4095, 2}}) {
    Bytes bytes = original;
    bytes[39] = static_cast<uint8_t>(c.offset);
    bytes[40] = static_cast<uint8_t>(c.offset >> 8);
    bytes[41] = static_cast<uint8_t>(c.length);
    bytes[42] = static_cast<uint8_t>(c.length >> 8);
    reseal(bytes);
    Result<Frame> frame = decode_frame(bytes);
    ASSERT_EQ(frame.status().code(), StatusCode::kCorruption) << c.name;
    EXPECT_NE(frame.status().message().find("delta run 0"), std::string::npos) << frame.status().to_string();
  }
  // Two runs out of order.
  auto two = std::make_shared<Page>();
  (*two)[100] = 1;
  (*two)[200] = 2;
  Bytes bytes = encode_page_frame(0, 0, 1, {{1, two}}, &base);
  store_u32(bytes, 44, 0x00010050);  // second run: offset 80, length 1, before the first run
  reseal(bytes);
  Result<Frame> frame = decode_frame(bytes);
  ASSERT_EQ(frame.status().code(), StatusCode::kCorruption);
  EXPECT_NE(frame.status().message().find("overlaps"), std::string::npos) << frame.status().to_string();
}

// Frames written before deltas (version 1: page numbers, then whole pages)
// are still read.
TEST(FrameTest, VersionOneFramesAreRead) {
  Bytes bytes;
  Encoder encoder(&bytes);
  encoder.u32(kFrameMagic);
  encoder.u8(1);
  encoder.u8(static_cast<uint8_t>(FrameKind::kPages));
  encoder.u16(0);
  encoder.u64(3);
  encoder.u64(77);
  encoder.u32(5);
  encoder.u32(2);
  encoder.u32(2);
  encoder.u32(5);
  encoder.raw(ByteView(filled_page(1)->data(), kPageSize));
  encoder.raw(ByteView(filled_page(9)->data(), kPageSize));
  encoder.u64(checksum64(ByteView(bytes.data(), bytes.size())));
  Result<Frame> frame = decode_frame(bytes);
  ASSERT_TRUE(frame.is_ok()) << frame.status().to_string();
  EXPECT_EQ(frame->lsn, 3u);
  ASSERT_EQ(frame->pages.size(), 2u);
  EXPECT_EQ(frame->pages[1].page_no, 5u);
  EXPECT_EQ(materialized(frame->pages[1], nullptr), *filled_page(9));
  bytes.pop_back();
  EXPECT_EQ(decode_frame(bytes).status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace sqlsync
