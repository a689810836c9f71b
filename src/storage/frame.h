// The storage-log entry: one commit's changed pages (a "page frame"), in the
// versioned, checksummed format of docs/storage-format.md. Reader and writer
// share the constants below.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

constexpr uint32_t kPageSize = 4096;
using Page = std::array<uint8_t, kPageSize>;
using PagePtr = std::shared_ptr<const Page>;

constexpr uint32_t kFrameMagic = 0x46535153;  // "SQSF" little-endian
// Version 2 stores a page either whole or as the byte runs where it differs
// from the page's previous version; version 1 (every page whole) is still
// read.
constexpr uint8_t kFrameVersion = 2;
enum class FrameKind : uint8_t {
  kPages = 1,   // a set of pages one commit changed
  kEndLog = 2,  // the last frame of a compacted log: names its successor
};
// magic u32, version u8, kind u8, reserved u16, lsn u64, previous checksum
// u64, database size in pages u32, page count u32.
constexpr size_t kFrameHeaderSize = 32;
constexpr size_t kFrameTrailerSize = 8;  // checksum u64
// An end-log frame has no pages; after the header: next log id (16 bytes),
// snapshot hash (16 bytes).
constexpr size_t kEndLogPayloadSize = 32;

// XXH3-128 of a snapshot frame's bytes: low 64 bits then high 64 bits, each
// little-endian (docs/storage-format.md, "End-log frame").
using SnapshotHash = std::array<uint8_t, 16>;
SnapshotHash snapshot_hash(ByteView snapshot_frame);

enum class PageEncoding : uint8_t {
  kFull = 0,   // data: the kPageSize bytes of the page
  kDelta = 1,  // data: runs replacing bytes of the page's previous version
};

struct FramePage {
  uint32_t page_no;  // 1-based SQLite page number
  PageEncoding encoding = PageEncoding::kFull;
  ByteView data;     // as `encoding` says; a delta's runs are verified
};

// Writes into `out` the content page `page` has after its frame. `base` is
// the page's content before the frame (nullptr: zeros); a full page ignores
// it. Frames apply in log order, so the base of each page is what the
// frames before it left.
void materialize_page(const FramePage& page, const Page* base, Page& out);

// A decoded frame. Page data are views into the encoded bytes.
struct Frame {
  FrameKind kind = FrameKind::kPages;
  Lsn lsn = 0;
  // Checksum of the previous frame in the log (0 for the first), so a chain
  // of frames can be verified link by link.
  uint64_t previous_checksum = 0;
  uint32_t database_pages = 0;     // database size after this commit
  std::vector<FramePage> pages;    // sorted by page_no, unique (kPages)
  // kEndLog: the log that continues this one, starting with the snapshot
  // frame whose hash is `snapshot_hash`.
  JournalId next_log;
  SnapshotHash snapshot_hash{};
  uint64_t checksum = 0;           // of the whole encoded frame
};

// Encodes a page frame. `pages` must be sorted and unique (a std::map is).
// With `base` (the pages before this frame: page p is base[p - 1], zeros if
// null or past the end), a page that differs from its base in few bytes is
// stored as a delta; without it every page is stored whole (snapshots).
Bytes encode_page_frame(Lsn lsn, uint64_t previous_checksum, uint32_t database_pages,
                        const std::map<uint32_t, PagePtr>& pages, const std::vector<PagePtr>* base = nullptr);

// Encodes an end-log frame (no pages; `database_pages` is the unchanged
// database size).
Bytes encode_end_log_frame(Lsn lsn, uint64_t previous_checksum, uint32_t database_pages,
                           const JournalId& next_log, const SnapshotHash& hash);

// The checksum stored in an encoded frame's trailer. `frame` must be at least
// kFrameTrailerSize bytes (any frame this file encoded is).
uint64_t encoded_frame_checksum(ByteView frame);

// Decodes and verifies a frame: magic, version, kind, sizes, page order and
// checksum. Corruption (with the reason) on any mismatch; nothing is trusted
// before the checksum matches. Views point into `bytes`.
Result<Frame> decode_frame(ByteView bytes);

}  // namespace sqlsync
