#include "storage/frame.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "base/checksum.h"
#include "base/encoding.h"

namespace sqlsync {
namespace {

void encode_header(Encoder& encoder, FrameKind kind, Lsn lsn, uint64_t previous_checksum, uint32_t database_pages,
                   uint32_t page_count) {
  encoder.u32(kFrameMagic);
  encoder.u8(kFrameVersion);
  encoder.u8(static_cast<uint8_t>(kind));
  encoder.u16(0);  // reserved
  encoder.u64(lsn);
  encoder.u64(previous_checksum);
  encoder.u32(database_pages);
  encoder.u32(page_count);
}

// A delta run's header (offset u16, length u16) costs 4 bytes: equal bytes
// between two runs are cheaper kept inside one run up to this many.
constexpr size_t kRunMergeGap = 4;
// A delta at least this large is stored as the full page instead (applying
// it would cost about as much as copying the page).
constexpr size_t kMaxDeltaBytes = kPageSize / 2;

struct Run {
  uint16_t offset;
  uint16_t length;
};

// The runs where `after` differs from `before`, or nothing if their encoding
// (run count u16, then offset u16, length u16 and the bytes per run) would
// reach kMaxDeltaBytes.
std::optional<std::vector<Run>> delta_runs(const uint8_t* before, const uint8_t* after) {
  std::vector<Run> runs;
  size_t encoded = 2;
  size_t i = 0;
  while (i < kPageSize) {
    if (before[i] == after[i]) {
      ++i;
      continue;
    }
    size_t end = i + 1;  // one past the run's last differing byte
    for (size_t j = end; j < kPageSize && j - end <= kRunMergeGap; ++j) {
      if (before[j] != after[j]) end = j + 1;
    }
    runs.push_back(Run{static_cast<uint16_t>(i), static_cast<uint16_t>(end - i)});
    encoded += 4 + (end - i);
    if (encoded >= kMaxDeltaBytes) return std::nullopt;
    i = end;
  }
  return runs;
}

// Reads the next page number of `frame`: above the previous page decoded
// into frame.pages and within the database size.
Result<uint32_t> read_page_no(Decoder& decoder, const Frame& frame) {
  const uint32_t index = static_cast<uint32_t>(frame.pages.size());
  const uint32_t previous = frame.pages.empty() ? 0 : frame.pages.back().page_no;
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t page_no, decoder.u32());
  if (page_no == 0) return decoder.error("page number 0 at index " + std::to_string(index));
  if (page_no <= previous) {
    return decoder.error("page numbers not sorted and unique (page " + std::to_string(page_no) + " at index " +
                         std::to_string(index) + " follows page " + std::to_string(previous) + ")");
  }
  if (page_no > frame.database_pages) {
    return decoder.error("page " + std::to_string(page_no) + " is beyond the database size of " +
                         std::to_string(frame.database_pages) + " pages");
  }
  return page_no;
}

// Version 1: every page number, then every page whole.
Result<Frame> decode_whole_pages(Decoder& decoder, size_t frame_size, uint32_t page_count, Frame frame) {
  // 64-bit arithmetic: size_t is 32 bits under emscripten.
  const uint64_t expected_size = uint64_t{kFrameHeaderSize} + uint64_t{page_count} * (4 + kPageSize) +
                                 kFrameTrailerSize;
  if (expected_size != frame_size) {
    return decoder.error("size " + std::to_string(frame_size) + " does not match " + std::to_string(page_count) +
                         " pages (expected " + std::to_string(expected_size) + " bytes)");
  }
  frame.pages.reserve(page_count);
  for (uint32_t i = 0; i < page_count; ++i) {
    SQLSYNC_ASSIGN_OR_RETURN(uint32_t page_no, read_page_no(decoder, frame));
    frame.pages.push_back(FramePage{page_no, PageEncoding::kFull, ByteView()});
  }
  for (FramePage& page : frame.pages) {
    SQLSYNC_ASSIGN_OR_RETURN(page.data, decoder.raw(kPageSize));
  }
  return frame;
}

// Version 2: per page, its number, encoding and data. `entries` is the frame
// between header and trailer, and must be consumed exactly.
Result<Frame> decode_page_entries(ByteView entries, uint32_t page_count, Frame frame) {
  Decoder decoder(entries, StatusCode::kCorruption, "page frame");
  // Every entry takes at least 7 bytes (number, encoding, empty delta).
  if (page_count > decoder.remaining() / 7) {
    return decoder.error(std::to_string(page_count) + " pages cannot fit in " +
                         std::to_string(decoder.remaining()) + " bytes");
  }
  frame.pages.reserve(page_count);
  for (uint32_t i = 0; i < page_count; ++i) {
    SQLSYNC_ASSIGN_OR_RETURN(uint32_t page_no, read_page_no(decoder, frame));
    SQLSYNC_ASSIGN_OR_RETURN(uint8_t encoding, decoder.u8());
    const size_t start = decoder.position();
    if (encoding == static_cast<uint8_t>(PageEncoding::kFull)) {
      SQLSYNC_ASSIGN_OR_RETURN(ByteView data, decoder.raw(kPageSize));
      frame.pages.push_back(FramePage{page_no, PageEncoding::kFull, data});
      continue;
    }
    if (encoding != static_cast<uint8_t>(PageEncoding::kDelta)) {
      return decoder.error("page " + std::to_string(page_no) + " has unknown encoding " + std::to_string(encoding));
    }
    SQLSYNC_ASSIGN_OR_RETURN(uint16_t runs, decoder.u16());
    size_t run_end = 0;  // runs are sorted and do not overlap
    for (uint16_t r = 0; r < runs; ++r) {
      SQLSYNC_ASSIGN_OR_RETURN(uint16_t offset, decoder.u16());
      SQLSYNC_ASSIGN_OR_RETURN(uint16_t length, decoder.u16());
      if (length == 0 || offset < run_end || size_t{offset} + length > kPageSize) {
        return decoder.error("page " + std::to_string(page_no) + " delta run " + std::to_string(r) + " (offset " +
                             std::to_string(offset) + ", length " + std::to_string(length) +
                             ") is empty, overlaps the previous run or leaves the page");
      }
      run_end = size_t{offset} + length;
      SQLSYNC_RETURN_IF_ERROR(decoder.raw(length).status());
    }
    frame.pages.push_back(FramePage{page_no, PageEncoding::kDelta, entries.subspan(start, decoder.position() - start)});
  }
  SQLSYNC_RETURN_IF_ERROR(decoder.expect_end());
  return frame;
}

}  // namespace

void materialize_page(const FramePage& page, const Page* base, Page& out) {
  if (page.encoding == PageEncoding::kFull) {
    std::memcpy(out.data(), page.data.data(), kPageSize);
    return;
  }
  if (base != nullptr) {
    out = *base;
  } else {
    out.fill(0);
  }
  // Verified by decode_frame: runs lie within the page.
  const uint8_t* p = page.data.data();
  const uint16_t runs = load_little_endian16(p);
  p += 2;
  for (uint16_t r = 0; r < runs; ++r) {
    const uint16_t offset = load_little_endian16(p);
    const uint16_t length = load_little_endian16(p + 2);
    std::memcpy(out.data() + offset, p + 4, length);
    p += 4 + length;
  }
}

SnapshotHash snapshot_hash(ByteView snapshot_frame) {
  const XXH128_hash_t hash = XXH3_128bits(snapshot_frame.data(), snapshot_frame.size());
  SnapshotHash out{};
  Bytes bytes;
  Encoder encoder(&bytes);
  encoder.u64(hash.low64);
  encoder.u64(hash.high64);
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

uint64_t encoded_frame_checksum(ByteView frame) {
  Decoder trailer(frame.last(kFrameTrailerSize), StatusCode::kInternal, "encoded frame");
  return trailer.u64().value();
}

Bytes encode_end_log_frame(Lsn lsn, uint64_t previous_checksum, uint32_t database_pages,
                           const JournalId& next_log, const SnapshotHash& hash) {
  Bytes out;
  Encoder encoder(&out);
  encode_header(encoder, FrameKind::kEndLog, lsn, previous_checksum, database_pages, 0);
  encoder.journal_id(next_log);
  encoder.raw(ByteView(hash.data(), hash.size()));
  encoder.u64(checksum64(ByteView(out.data(), out.size())));
  return out;
}

Bytes encode_page_frame(Lsn lsn, uint64_t previous_checksum, uint32_t database_pages,
                        const std::map<uint32_t, PagePtr>& pages, const std::vector<PagePtr>* base) {
  static const Page kZeroPage{};
  Bytes out;
  Encoder encoder(&out);
  encode_header(encoder, FrameKind::kPages, lsn, previous_checksum, database_pages,
                static_cast<uint32_t>(pages.size()));
  for (const auto& [page_no, page] : pages) {
    encoder.u32(page_no);
    std::optional<std::vector<Run>> runs;
    if (base != nullptr) {
      const Page* before = page_no <= base->size() ? (*base)[page_no - 1].get() : nullptr;
      runs = delta_runs((before != nullptr ? *before : kZeroPage).data(), page->data());
    }
    if (!runs) {
      encoder.u8(static_cast<uint8_t>(PageEncoding::kFull));
      encoder.raw(ByteView(page->data(), page->size()));
      continue;
    }
    encoder.u8(static_cast<uint8_t>(PageEncoding::kDelta));
    encoder.u16(static_cast<uint16_t>(runs->size()));
    for (const Run& run : *runs) {
      encoder.u16(run.offset);
      encoder.u16(run.length);
      encoder.raw(ByteView(page->data() + run.offset, run.length));
    }
  }
  encoder.u64(checksum64(ByteView(out.data(), out.size())));
  return out;
}

Result<Frame> decode_frame(ByteView bytes) {
  Decoder header(bytes, StatusCode::kCorruption, "page frame");
  if (bytes.size() < kFrameHeaderSize + kFrameTrailerSize) {
    return header.error("too short (" + std::to_string(bytes.size()) + " bytes, a frame has at least " +
                        std::to_string(kFrameHeaderSize + kFrameTrailerSize) + ")");
  }
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t magic, header.u32());
  if (magic != kFrameMagic) return header.error("bad magic (not a sqlsync page frame)");
  SQLSYNC_ASSIGN_OR_RETURN(uint8_t version, header.u8());
  if (version > kFrameVersion) {
    return Status::unsupported("page frame version " + std::to_string(version) + " is newer than version " +
                               std::to_string(kFrameVersion) + " this build reads; upgrade sqlsync");
  }
  if (version == 0) return header.error("invalid version 0");

  // Nothing past the version is trusted until the checksum matches.
  const size_t body_size = bytes.size() - kFrameTrailerSize;
  Decoder trailer(bytes.subspan(body_size), StatusCode::kCorruption, "page frame trailer");
  SQLSYNC_ASSIGN_OR_RETURN(uint64_t stored_checksum, trailer.u64());
  const uint64_t actual_checksum = checksum64(bytes.first(body_size));
  if (stored_checksum != actual_checksum) return header.error("checksum mismatch");

  Frame frame;
  frame.checksum = stored_checksum;
  SQLSYNC_ASSIGN_OR_RETURN(uint8_t kind, header.u8());
  if (kind != static_cast<uint8_t>(FrameKind::kPages) && kind != static_cast<uint8_t>(FrameKind::kEndLog)) {
    return header.error("unknown kind " + std::to_string(kind));
  }
  frame.kind = static_cast<FrameKind>(kind);
  SQLSYNC_ASSIGN_OR_RETURN(uint16_t reserved, header.u16());
  if (reserved != 0) return header.error("reserved field is " + std::to_string(reserved) + ", must be 0");
  SQLSYNC_ASSIGN_OR_RETURN(frame.lsn, header.u64());
  SQLSYNC_ASSIGN_OR_RETURN(frame.previous_checksum, header.u64());
  SQLSYNC_ASSIGN_OR_RETURN(frame.database_pages, header.u32());
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t page_count, header.u32());

  if (frame.kind == FrameKind::kEndLog) {
    constexpr size_t kEndLogSize = kFrameHeaderSize + kEndLogPayloadSize + kFrameTrailerSize;
    if (page_count != 0 || bytes.size() != kEndLogSize) {
      return header.error("end-log frame with " + std::to_string(page_count) + " pages and " +
                          std::to_string(bytes.size()) + " bytes (expected 0 pages, " +
                          std::to_string(kEndLogSize) + " bytes)");
    }
    SQLSYNC_ASSIGN_OR_RETURN(frame.next_log, header.journal_id());
    SQLSYNC_ASSIGN_OR_RETURN(ByteView hash, header.raw(frame.snapshot_hash.size()));
    std::copy(hash.begin(), hash.end(), frame.snapshot_hash.begin());
    return frame;
  }
  if (version == 1) return decode_whole_pages(header, bytes.size(), page_count, std::move(frame));
  return decode_page_entries(bytes.subspan(kFrameHeaderSize, body_size - kFrameHeaderSize), page_count,
                             std::move(frame));
}

}  // namespace sqlsync
