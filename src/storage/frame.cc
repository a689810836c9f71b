#include "storage/frame.h"

#include <algorithm>
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

}  // namespace

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
                        const std::map<uint32_t, PagePtr>& pages) {
  Bytes out;
  out.reserve(kFrameHeaderSize + pages.size() * (4 + kPageSize) + kFrameTrailerSize);
  Encoder encoder(&out);
  encode_header(encoder, FrameKind::kPages, lsn, previous_checksum, database_pages,
                static_cast<uint32_t>(pages.size()));
  for (const auto& [page_no, page] : pages) encoder.u32(page_no);
  for (const auto& [page_no, page] : pages) encoder.raw(ByteView(page->data(), page->size()));
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
  // 64-bit arithmetic: size_t is 32 bits under emscripten.
  const uint64_t expected_size = uint64_t{kFrameHeaderSize} + uint64_t{page_count} * (4 + kPageSize) +
                                 kFrameTrailerSize;
  if (expected_size != bytes.size()) {
    return header.error("size " + std::to_string(bytes.size()) + " does not match " +
                        std::to_string(page_count) + " pages (expected " + std::to_string(expected_size) +
                        " bytes)");
  }
  frame.pages.reserve(page_count);
  uint32_t previous_page_no = 0;
  for (uint32_t i = 0; i < page_count; ++i) {
    SQLSYNC_ASSIGN_OR_RETURN(uint32_t page_no, header.u32());
    if (page_no == 0) return header.error("page number 0 at index " + std::to_string(i));
    if (page_no <= previous_page_no) {
      return header.error("page numbers not sorted and unique (page " + std::to_string(page_no) +
                          " at index " + std::to_string(i) + " follows page " + std::to_string(previous_page_no) +
                          ")");
    }
    if (page_no > frame.database_pages) {
      return header.error("page " + std::to_string(page_no) + " is beyond the database size of " +
                          std::to_string(frame.database_pages) + " pages");
    }
    previous_page_no = page_no;
    frame.pages.push_back(FramePage{page_no, ByteView()});
  }
  for (FramePage& page : frame.pages) {
    SQLSYNC_ASSIGN_OR_RETURN(page.data, header.raw(kPageSize));
  }
  return frame;
}

}  // namespace sqlsync
