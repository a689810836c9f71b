#include "storage/file_journal.h"

#include <algorithm>
#include <optional>

#include "base/checksum.h"
#include "base/encoding.h"

namespace sqlsync {
namespace {

// The layout is specified in docs/storage-format.md, "Journal files".
constexpr uint32_t kSegmentMagic = 0x4A535153;   // "SQSJ"
constexpr uint32_t kMetadataMagic = 0x4D535153;  // "SQSM"
constexpr uint16_t kFormatVersion = 1;
// Segment headers and the metadata file share one 40-byte layout: magic,
// version, reserved, journal id, lsn, then the checksum of the 32 before it.
constexpr size_t kHeaderBytes = 40;
constexpr size_t kHeaderChecksumOffset = 32;
// A record: u32 payload length, u64 lsn, u64 synced lsn, payload, then the
// u64 checksum of everything before it.
constexpr size_t kRecordHeaderBytes = 20;
constexpr size_t kRecordOverhead = kRecordHeaderBytes + 8;

// Buffered records are written once another would take them past this.
constexpr size_t kWriteBatchBytes = 64 << 10;
// Recovery and verify() read segments in chunks of this size.
constexpr size_t kScanChunkBytes = 1 << 20;

constexpr char kMetadataName[] = "metadata";
constexpr char kMetadataTempName[] = "metadata.tmp";  // Env::write_file_durably's temp file
constexpr char kSegmentSuffix[] = ".log";
constexpr size_t kSegmentNameDigits = 16;

std::string quoted(const std::string& text) { return "'" + text + "'"; }

// "0000000000000007.log": names sort like the LSNs they carry.
std::string segment_name(Lsn first) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string name(kSegmentNameDigits, '0');
  for (size_t i = 0; i < kSegmentNameDigits; ++i) name[kSegmentNameDigits - 1 - i] = kDigits[(first >> (4 * i)) & 15];
  return name + kSegmentSuffix;
}

std::optional<Lsn> parse_segment_name(const std::string& name) {
  if (name.size() != kSegmentNameDigits + sizeof(kSegmentSuffix) - 1) return std::nullopt;
  if (name.compare(kSegmentNameDigits, std::string::npos, kSegmentSuffix) != 0) return std::nullopt;
  Lsn first = 0;
  for (size_t i = 0; i < kSegmentNameDigits; ++i) {
    char c = name[i];
    int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return std::nullopt;
    first = (first << 4) | static_cast<Lsn>(digit);
  }
  return first;
}

Bytes encode_header(uint32_t magic, const JournalId& id, Lsn lsn) {
  Bytes out;
  out.reserve(kHeaderBytes);
  Encoder encoder(&out);
  encoder.u32(magic);
  encoder.u16(kFormatVersion);
  encoder.u16(0);
  encoder.journal_id(id);
  encoder.u64(lsn);
  encoder.u64(checksum64(out));
  return out;
}

struct Header {
  JournalId id;
  Lsn lsn = 0;
};

// `what` names the file in errors, e.g. "journal segment '/j/...log'".
Result<Header> decode_header(ByteView bytes, uint32_t magic, const std::string& what) {
  Decoder decoder(bytes, StatusCode::kCorruption, what + " header");
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t found_magic, decoder.u32());
  if (found_magic != magic) return decoder.error("bad magic " + std::to_string(found_magic));
  SQLSYNC_ASSIGN_OR_RETURN(uint16_t version, decoder.u16());
  if (version == 0) return decoder.error("version 0");
  // Before the checksum, whose position a newer version might move.
  if (version > kFormatVersion) {
    return Status::unsupported(what + " has format version " + std::to_string(version) + "; this build reads version " +
                               std::to_string(kFormatVersion) + ": upgrade sqlsync");
  }
  if (bytes.size() < kHeaderBytes) {
    return decoder.error("truncated: " + std::to_string(bytes.size()) + " of " + std::to_string(kHeaderBytes) +
                         " bytes");
  }
  Decoder checksum_field(bytes.subspan(kHeaderChecksumOffset, 8), StatusCode::kCorruption, what);
  if (*checksum_field.u64() != checksum64(bytes.first(kHeaderChecksumOffset))) {
    return decoder.error("checksum mismatch");
  }
  SQLSYNC_ASSIGN_OR_RETURN(uint16_t reserved, decoder.u16());
  if (reserved != 0) return decoder.error("reserved field is " + std::to_string(reserved) + ", not 0");
  Header header;
  SQLSYNC_ASSIGN_OR_RETURN(header.id, decoder.journal_id());
  SQLSYNC_ASSIGN_OR_RETURN(header.lsn, decoder.u64());
  return header;
}

// The metadata file at `path`.
Result<Header> read_metadata(Env& env, const std::string& path) {
  SQLSYNC_ASSIGN_OR_RETURN(Bytes metadata, env.read_file(path));
  std::string what = "journal metadata " + quoted(path);
  SQLSYNC_ASSIGN_OR_RETURN(Header header, decode_header(metadata, kMetadataMagic, what));
  if (metadata.size() != kHeaderBytes) {
    return Status::corruption(what + " is " + std::to_string(metadata.size()) + " bytes, not " +
                              std::to_string(kHeaderBytes));
  }
  return header;
}

// The header of `path`, which must belong to journal `id` and start at `first`.
Status check_segment_header(File& file, const std::string& path, const JournalId& id, Lsn first) {
  Bytes bytes;
  SQLSYNC_RETURN_IF_ERROR(file.read_at(0, kHeaderBytes, bytes));
  std::string what = "journal segment " + quoted(path);
  SQLSYNC_ASSIGN_OR_RETURN(Header header, decode_header(bytes, kSegmentMagic, what));
  if (header.id != id) {
    return Status::corruption(what + " belongs to journal " + header.id.to_hex() + ", not " + id.to_hex());
  }
  if (header.lsn != first) {
    return Status::corruption(what + " header says its first lsn is " + std::to_string(header.lsn) +
                              " but its name says " + std::to_string(first));
  }
  return Status::ok();
}

struct RecordHeader {
  uint32_t length = 0;
  Lsn lsn = 0;
  Lsn synced = 0;  // every entry below it was synced before this record was written
};

// Requires bytes.size() >= kRecordHeaderBytes.
RecordHeader decode_record_header(ByteView bytes) {
  Decoder decoder(bytes, StatusCode::kCorruption, "record");
  RecordHeader header;
  header.length = *decoder.u32();
  header.lsn = *decoder.u64();
  header.synced = *decoder.u64();
  return header;
}

void encode_record(Bytes* out, Lsn lsn, Lsn synced, ByteView payload) {
  size_t begin = out->size();
  Encoder encoder(out);
  encoder.u32(static_cast<uint32_t>(payload.size()));
  encoder.u64(lsn);
  encoder.u64(synced);
  encoder.raw(payload);
  encoder.u64(checksum64(ByteView(out->data() + begin, out->size() - begin)));
}

struct RecordCheck {
  enum Kind {
    kValid,
    kDamaged,    // torn or corrupt bytes
    kMisplaced,  // intact (checksum ok) but not the record expected here
  };
  Kind kind = kValid;
  std::string problem;  // why it is not valid
  RecordHeader header;
  uint64_t size = 0;  // kRecordOverhead + payload length, when valid
};

// Checks the record at the start of `bytes` (which may run past its end)
// against the LSN expected at that position.
RecordCheck check_record(ByteView bytes, Lsn expected) {
  RecordCheck check;
  auto damaged = [&](std::string problem) {
    check.kind = RecordCheck::kDamaged;
    check.problem = std::move(problem);
    return check;
  };
  if (bytes.size() < kRecordHeaderBytes) {
    return damaged("truncated record header (" + std::to_string(bytes.size()) + " bytes left)");
  }
  check.header = decode_record_header(bytes);
  if (check.header.length > FileJournal::kMaxEntryBytes) {
    return damaged("record length " + std::to_string(check.header.length) + " exceeds the limit of " +
                   std::to_string(FileJournal::kMaxEntryBytes));
  }
  check.size = kRecordOverhead + check.header.length;
  if (bytes.size() < check.size) {
    return damaged("truncated record (" + std::to_string(bytes.size()) + " of " + std::to_string(check.size) +
                   " bytes)");
  }
  size_t checked = check.size - 8;
  Decoder checksum_field(bytes.subspan(checked, 8), StatusCode::kCorruption, "record");
  if (*checksum_field.u64() != checksum64(bytes.first(checked))) return damaged("record checksum mismatch");
  if (check.header.lsn != expected || check.header.synced > check.header.lsn) {
    check.kind = RecordCheck::kMisplaced;
    check.problem = "intact record holds lsn " + std::to_string(check.header.lsn) + " (synced lsn " +
                    std::to_string(check.header.synced) + ") where lsn " + std::to_string(expected) + " belongs";
  }
  return check;
}

// Sequential reads of one file in large chunks.
class ChunkedReader {
 public:
  ChunkedReader(File& file, uint64_t size) : file_(file), size_(size) {}

  // The bytes [offset, offset + length), cut short at the end of the file.
  // Valid until the next call.
  Result<ByteView> view(uint64_t offset, size_t length) {
    uint64_t end = std::min<uint64_t>(size_, offset + length);
    if (offset < buffer_offset_ || end > buffer_offset_ + buffer_.size()) {
      size_t wanted = static_cast<size_t>(std::min<uint64_t>(std::max(length, kScanChunkBytes), size_ - offset));
      SQLSYNC_RETURN_IF_ERROR(file_.read_at(offset, wanted, buffer_));
      buffer_offset_ = offset;
      if (buffer_.size() < end - offset) {
        return Status::io_error("file shrank while being read: " + std::to_string(buffer_.size()) +
                                " bytes at offset " + std::to_string(offset) + ", expected " +
                                std::to_string(end - offset));
      }
    }
    return ByteView(buffer_.data() + (offset - buffer_offset_), static_cast<size_t>(end - offset));
  }

 private:
  File& file_;
  const uint64_t size_;
  Bytes buffer_;
  uint64_t buffer_offset_ = 0;
};

struct Proof {
  uint64_t offset;
  Lsn lsn;
};

// An intact record past `offset` that was written after `lsn` was synced
// (its synced field is greater): proof that the damaged record for `lsn` at
// `offset` had been synced, so it is corrupt rather than torn. Records are
// not aligned, so every byte position is tried.
Result<std::optional<Proof>> find_synced_proof(ChunkedReader& reader, uint64_t size, uint64_t offset, Lsn lsn) {
  for (uint64_t position = offset + 1; position + kRecordOverhead <= size; ++position) {
    SQLSYNC_ASSIGN_OR_RETURN(ByteView bytes, reader.view(position, kRecordHeaderBytes));
    RecordHeader header = decode_record_header(bytes);
    // Each of the records for lsn .. header.lsn - 1 takes at least
    // kRecordOverhead bytes before `position`.
    if (header.lsn <= lsn || header.synced <= lsn || header.synced > header.lsn ||
        header.length > FileJournal::kMaxEntryBytes || position + kRecordOverhead + header.length > size ||
        (header.lsn - lsn) > (position - offset) / kRecordOverhead) {
      continue;
    }
    SQLSYNC_ASSIGN_OR_RETURN(ByteView record, reader.view(position, kRecordOverhead + header.length));
    if (check_record(record, header.lsn).kind == RecordCheck::kValid) {
      return std::optional<Proof>(Proof{position, header.lsn});
    }
  }
  return std::optional<Proof>();
}

struct SegmentScan {
  std::vector<uint32_t> offsets;  // of the valid records, in order
  uint64_t end = kHeaderBytes;    // where the valid records end
};

// Reads the records of segment `path` (`size` bytes, header checked) whose
// first record holds `first`. A damaged record is Corruption unless
// `tail_may_be_torn` and no later record proves it synced: then the scan
// stops before it (end < size).
Result<SegmentScan> scan_segment(File& file, const std::string& path, uint64_t size, Lsn first, bool tail_may_be_torn) {
  ChunkedReader reader(file, size);
  SegmentScan scan;
  Lsn lsn = first;
  while (scan.end < size) {
    SQLSYNC_ASSIGN_OR_RETURN(ByteView head, reader.view(scan.end, kRecordHeaderBytes));
    size_t wanted = kRecordOverhead;
    if (head.size() == kRecordHeaderBytes) {
      uint32_t length = decode_record_header(head).length;
      if (length <= FileJournal::kMaxEntryBytes) wanted += length;
    }
    SQLSYNC_ASSIGN_OR_RETURN(ByteView bytes, reader.view(scan.end, wanted));
    RecordCheck check = check_record(bytes, lsn);
    if (check.kind == RecordCheck::kValid) {
      scan.offsets.push_back(static_cast<uint32_t>(scan.end));
      scan.end += check.size;
      ++lsn;
      continue;
    }
    std::string where = "journal segment " + quoted(path) + " at offset " + std::to_string(scan.end) + " (lsn " +
                        std::to_string(lsn) + "): " + check.problem;
    if (check.kind == RecordCheck::kMisplaced || !tail_may_be_torn) return Status::corruption(where);
    SQLSYNC_ASSIGN_OR_RETURN(std::optional<Proof> proof, find_synced_proof(reader, size, scan.end, lsn));
    if (proof.has_value()) {
      return Status::corruption(where + ", yet the intact record for lsn " + std::to_string(proof->lsn) +
                                " at offset " + std::to_string(proof->offset) + " was written after lsn " +
                                std::to_string(lsn) + " had been synced");
    }
    break;  // a torn tail: never synced, so never acknowledged
  }
  return scan;
}

}  // namespace

FileJournal::FileJournal(Env* env, std::string directory, JournalId id, Options options, Lsn first)
    : env_(env),
      directory_(std::move(directory)),
      id_(id),
      options_(options),
      first_(first),
      next_(first),
      synced_next_(first) {}

FileJournal::~FileJournal() = default;

Result<std::unique_ptr<FileJournal>> FileJournal::open(Env* env, std::string directory, JournalId id, Lsn next,
                                                       Options options) {
  if (options.segment_bytes > kMaxSegmentBytes) {
    return Status::invalid_argument("journal " + quoted(directory) + ": segment size " +
                                    std::to_string(options.segment_bytes) + " exceeds the limit of " +
                                    std::to_string(kMaxSegmentBytes));
  }
  SQLSYNC_RETURN_IF_ERROR(env->create_dir_durably(directory));
  SQLSYNC_ASSIGN_OR_RETURN(std::vector<std::string> names, env->list_dir(directory));
  const std::string metadata_path = directory + "/" + kMetadataName;

  if (!std::binary_search(names.begin(), names.end(), std::string(kMetadataName))) {
    // The metadata file is written before any segment and only remove()
    // deletes it, first: segments without it are what an interrupted
    // remove() left behind. Publishing the metadata syncs their removal.
    for (const std::string& name : names) {
      if (parse_segment_name(name).has_value() || name == kMetadataTempName) {
        SQLSYNC_RETURN_IF_ERROR(env->remove_file(directory + "/" + name));
      }
    }
    std::unique_ptr<FileJournal> journal(new FileJournal(env, std::move(directory), id, options, next));
    SQLSYNC_RETURN_IF_ERROR(journal->publish_metadata(next));
    return journal;
  }

  SQLSYNC_ASSIGN_OR_RETURN(Header header, read_metadata(*env, metadata_path));
  if (header.id != id) {
    return Status::invalid_argument("directory " + quoted(directory) + " holds journal " + header.id.to_hex() +
                                    ", not " + id.to_hex());
  }
  std::unique_ptr<FileJournal> journal(new FileJournal(env, std::move(directory), id, options, header.lsn));
  SQLSYNC_RETURN_IF_ERROR(journal->recover_segments(names));
  return journal;
}

Result<JournalId> FileJournal::stored_id(Env* env, const std::string& directory) {
  const std::string path = directory + "/" + kMetadataName;
  SQLSYNC_ASSIGN_OR_RETURN(bool exists, env->file_exists(path));
  if (!exists) return Status::not_found("no journal in " + quoted(directory) + ": it has no metadata file");
  SQLSYNC_ASSIGN_OR_RETURN(Header header, read_metadata(*env, path));
  return header.id;
}

Status FileJournal::recover_segments(const std::vector<std::string>& names) {
  std::vector<Lsn> firsts;  // sorted: names are sorted and sort like their LSNs
  for (const std::string& name : names) {
    if (std::optional<Lsn> first = parse_segment_name(name)) firsts.push_back(*first);
  }
  bool removed_any = false;
  // Segment i ends where segment i + 1 starts: one that ends at or before
  // first_ holds dropped entries only (drop_prefix() deletes it after
  // publishing first_; a crash may have come between).
  size_t begin = 0;
  while (begin + 1 < firsts.size() && firsts[begin + 1] <= first_) {
    SQLSYNC_RETURN_IF_ERROR(env_->remove_file(segment_path(firsts[begin])));
    removed_any = true;
    ++begin;
  }

  for (size_t i = begin; i < firsts.size(); ++i) {
    const Lsn first = firsts[i];
    const std::string path = segment_path(first);
    const bool is_newest = i + 1 == firsts.size();
    Lsn expected = segments_.empty() ? first_ : segments_.back().first + segments_.back().offsets.size();
    if (segments_.empty() ? first > first_ : first != expected) {
      return Status::corruption("journal " + quoted(directory_) + ": segment " + quoted(path) + " starts at lsn " +
                                std::to_string(first) + " but lsn " + std::to_string(expected) +
                                " should follow; entries are missing or duplicated");
    }
    SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<File> file,
                             env_->open_file(path, is_newest ? OpenMode::kReadWrite : OpenMode::kRead));
    SQLSYNC_ASSIGN_OR_RETURN(uint64_t size, file->size());
    if (size > UINT32_MAX) {
      return Status::corruption("journal segment " + quoted(path) + " is " + std::to_string(size) +
                                " bytes, more than any segment can hold");
    }
    Status header = check_segment_header(*file, path, id_, first);
    if (!header.is_ok()) {
      // A new segment's header is synced, and its directory entry too,
      // before any record goes in; an older segment is synced whole before a
      // newer one is created. So only the newest can be torn, and only while
      // it holds nothing but its header.
      if (is_newest && size <= kHeaderBytes && header.code() == StatusCode::kCorruption) {
        file.reset();
        SQLSYNC_RETURN_IF_ERROR(env_->remove_file(path));
        removed_any = true;
        break;
      }
      return header;
    }
    SQLSYNC_ASSIGN_OR_RETURN(SegmentScan scan, scan_segment(*file, path, size, first, is_newest));
    if (scan.end < size) SQLSYNC_RETURN_IF_ERROR(file->truncate(scan.end));
    segments_.push_back(Segment{first, std::move(scan.offsets), scan.end});
    if (is_newest) current_file_ = std::move(file);
  }

  // Only the newest segment can end at or before first_ here (entries
  // dropped before they were ever synced).
  if (segments_.size() == 1 && segments_.back().first + segments_.back().offsets.size() <= first_) {
    current_file_.reset();
    SQLSYNC_RETURN_IF_ERROR(env_->remove_file(segment_path(segments_.back().first)));
    segments_.clear();
    removed_any = true;
  }
  if (!segments_.empty()) {
    const Segment& current = segments_.back();
    next_ = current.first + current.offsets.size();
    written_size_ = current.size;
    if (current_file_ == nullptr) {
      SQLSYNC_ASSIGN_OR_RETURN(current_file_, env_->open_file(segment_path(current.first), OpenMode::kReadWrite));
    }
    // What was read may have lived only in the OS cache (a process crash),
    // and the directory entry of a segment created just before a crash may
    // not be durable yet: both must be before entries count as durable.
    SQLSYNC_RETURN_IF_ERROR(current_file_->sync());
  }
  if (!segments_.empty() || removed_any) SQLSYNC_RETURN_IF_ERROR(env_->sync_dir(directory_));
  next_ = std::max(next_, first_);
  synced_next_ = next_;
  return Status::ok();
}

Status FileJournal::remove(Env* env, const std::string& directory) {
  Result<std::vector<std::string>> names = env->list_dir(directory);
  if (!names.is_ok()) return names.status().code() == StatusCode::kNotFound ? Status::ok() : names.status();
  if (std::binary_search(names->begin(), names->end(), std::string(kMetadataName))) {
    SQLSYNC_RETURN_IF_ERROR(env->remove_file(directory + "/" + kMetadataName));
    SQLSYNC_RETURN_IF_ERROR(env->sync_dir(directory));
  }
  for (const std::string& name : *names) {
    if (parse_segment_name(name).has_value() || name == kMetadataTempName) {
      SQLSYNC_RETURN_IF_ERROR(env->remove_file(directory + "/" + name));
    }
  }
  Status removed = env->remove_dir(directory);
  if (removed.code() == StatusCode::kUnsupported) return Status::ok();
  return removed;
}

Status FileJournal::append(ByteView entry) {
  SQLSYNC_RETURN_IF_ERROR(check_usable());
  if (entry.size() > kMaxEntryBytes) {
    return Status::invalid_argument("journal " + quoted(directory_) + ": entry of " + std::to_string(entry.size()) +
                                    " bytes for lsn " + std::to_string(next_) + " exceeds the limit of " +
                                    std::to_string(kMaxEntryBytes) + " bytes");
  }
  return note_failure(append_record(entry));
}

Status FileJournal::append_record(ByteView entry) {
  const uint64_t record_size = kRecordOverhead + entry.size();
  if (segments_.empty()) {
    SQLSYNC_RETURN_IF_ERROR(start_segment());
  } else if (!segments_.back().offsets.empty() && segments_.back().size + record_size > options_.segment_bytes) {
    // The full segment is synced whole before the next one exists: recovery
    // relies on only the newest segment having an unsynced tail.
    SQLSYNC_RETURN_IF_ERROR(sync_current());
    SQLSYNC_RETURN_IF_ERROR(start_segment());
  }
  if (!pending_.empty() && pending_.size() + record_size > kWriteBatchBytes) SQLSYNC_RETURN_IF_ERROR(write_pending());
  Segment& current = segments_.back();
  current.offsets.push_back(static_cast<uint32_t>(current.size));
  current.size += record_size;
  encode_record(&pending_, next_, synced_next_, entry);
  ++next_;
  return Status::ok();
}

Status FileJournal::start_segment() {
  const std::string path = segment_path(next_);
  SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env_->open_file(path, OpenMode::kCreateTruncate));
  SQLSYNC_RETURN_IF_ERROR(file->write_at(0, encode_header(kSegmentMagic, id_, next_)));
  SQLSYNC_RETURN_IF_ERROR(file->sync());
  SQLSYNC_RETURN_IF_ERROR(env_->sync_dir(directory_));
  segments_.push_back(Segment{next_, {}, kHeaderBytes});
  current_file_ = std::move(file);
  written_size_ = kHeaderBytes;
  return Status::ok();
}

Status FileJournal::write_pending() {
  if (pending_.empty()) return Status::ok();
  SQLSYNC_RETURN_IF_ERROR(current_file_->write_at(written_size_, pending_));
  written_size_ += pending_.size();
  pending_.clear();
  // One huge entry should not pin its size in memory for good.
  if (pending_.capacity() > 2 * kWriteBatchBytes) Bytes().swap(pending_);
  return Status::ok();
}

Status FileJournal::sync_current() {
  if (synced_next_ == next_) return Status::ok();
  SQLSYNC_RETURN_IF_ERROR(write_pending());
  SQLSYNC_RETURN_IF_ERROR(current_file_->sync());
  synced_next_ = next_;
  return Status::ok();
}

Status FileJournal::sync() {
  SQLSYNC_RETURN_IF_ERROR(check_usable());
  if (durable_next() == next_) return Status::ok();
  return note_failure(sync_current());
}

Status FileJournal::drop_prefix(Lsn last) {
  SQLSYNC_RETURN_IF_ERROR(check_usable());
  Lsn first = last >= next_ ? next_ : last + 1;
  if (first <= first_) return Status::ok();
  return note_failure(drop_before(first));
}

Status FileJournal::drop_before(Lsn first) {
  SQLSYNC_RETURN_IF_ERROR(publish_metadata(first));
  first_ = first;
  // Deleting a segment before first_ is durable would lose entries a crash
  // must bring back; deleting after is safe even if the deletion is lost,
  // as recovery deletes such segments again.
  while (!segments_.empty()) {
    Lsn end = segments_.size() > 1 ? segments_[1].first : next_;
    if (end > first_) break;
    Lsn segment_first = segments_.front().first;
    if (segments_.size() == 1) {
      current_file_.reset();
      pending_.clear();
      written_size_ = 0;
    }
    if (read_file_ != nullptr && read_file_first_ == segment_first) read_file_.reset();
    segments_.pop_front();
    SQLSYNC_RETURN_IF_ERROR(env_->remove_file(segment_path(segment_first)));
  }
  return Status::ok();
}

Result<ByteView> FileJournal::read(Lsn lsn) {
  if (!range().contains(lsn)) {
    return Status::not_found("lsn " + std::to_string(lsn) + " is outside journal " + id_.to_hex() + " range " +
                             range().to_string());
  }
  // The segment holding `lsn` is the last one starting at or before it.
  auto after = std::upper_bound(segments_.begin(), segments_.end(), lsn,
                                [](Lsn value, const Segment& segment) { return value < segment.first; });
  size_t index = static_cast<size_t>(after - segments_.begin()) - 1;
  const Segment& segment = segments_[index];
  size_t position = static_cast<size_t>(lsn - segment.first);
  uint64_t offset = segment.offsets[position];
  uint64_t end = position + 1 < segment.offsets.size() ? segment.offsets[position + 1] : segment.size;
  ByteView record;
  const bool from_file = index + 1 < segments_.size() || offset < written_size_;
  if (!from_file) {
    record = ByteView(pending_).subspan(static_cast<size_t>(offset - written_size_), static_cast<size_t>(end - offset));
  } else if (read_buffer_lsn_ == lsn) {
    return ByteView(read_buffer_).subspan(kRecordHeaderBytes, read_buffer_.size() - kRecordOverhead);
  } else {
    read_buffer_lsn_.reset();
    SQLSYNC_ASSIGN_OR_RETURN(File * file, file_for(index));
    SQLSYNC_RETURN_IF_ERROR(file->read_at(offset, static_cast<size_t>(end - offset), read_buffer_));
    record = read_buffer_;
  }
  RecordCheck check = check_record(record, lsn);
  if (check.kind != RecordCheck::kValid || check.size != record.size()) {
    std::string problem = check.kind != RecordCheck::kValid ? check.problem : "record is shorter than its slot";
    return Status::corruption("journal segment " + quoted(segment_path(segment.first)) + " at offset " +
                              std::to_string(offset) + " (lsn " + std::to_string(lsn) + "): " + problem);
  }
  if (from_file) read_buffer_lsn_ = lsn;
  return record.subspan(kRecordHeaderBytes, check.header.length);
}

Result<File*> FileJournal::file_for(size_t index) {
  if (index + 1 == segments_.size()) return current_file_.get();
  Lsn first = segments_[index].first;
  if (read_file_ == nullptr || read_file_first_ != first) {
    read_file_.reset();
    SQLSYNC_ASSIGN_OR_RETURN(read_file_, env_->open_file(segment_path(first), OpenMode::kRead));
    read_file_first_ = first;
  }
  return read_file_.get();
}

Status FileJournal::verify() {
  const std::string path = directory_ + "/" + kMetadataName;
  SQLSYNC_ASSIGN_OR_RETURN(Header header, read_metadata(*env_, path));
  if (header.id != id_ || header.lsn != first_) {
    return Status::corruption("journal metadata " + quoted(path) + " holds journal " + header.id.to_hex() +
                              " from lsn " + std::to_string(header.lsn) + ", expected " + id_.to_hex() +
                              " from lsn " + std::to_string(first_));
  }
  for (size_t index = 0; index < segments_.size(); ++index) SQLSYNC_RETURN_IF_ERROR(verify_segment(index));
  return Status::ok();
}

Status FileJournal::verify_segment(size_t index) {
  const Segment& segment = segments_[index];
  const bool is_current = index + 1 == segments_.size();
  const std::string path = segment_path(segment.first);
  SQLSYNC_ASSIGN_OR_RETURN(File * file, file_for(index));
  SQLSYNC_ASSIGN_OR_RETURN(uint64_t size, file->size());
  uint64_t expected_size = is_current ? written_size_ : segment.size;
  if (size != expected_size) {
    return Status::corruption("journal segment " + quoted(path) + " is " + std::to_string(size) + " bytes, expected " +
                              std::to_string(expected_size));
  }
  SQLSYNC_RETURN_IF_ERROR(check_segment_header(*file, path, id_, segment.first));
  SQLSYNC_ASSIGN_OR_RETURN(SegmentScan scan, scan_segment(*file, path, size, segment.first, false));
  // Records still in pending_ come after the written ones.
  size_t written = static_cast<size_t>(std::lower_bound(segment.offsets.begin(), segment.offsets.end(), expected_size) -
                                       segment.offsets.begin());
  if (scan.offsets.size() != written ||
      !std::equal(scan.offsets.begin(), scan.offsets.end(), segment.offsets.begin())) {
    return Status::corruption("journal segment " + quoted(path) + " holds " + std::to_string(scan.offsets.size()) +
                              " records where the index expects " + std::to_string(written));
  }
  return Status::ok();
}

Status FileJournal::publish_metadata(Lsn first) {
  return env_->write_file_durably(directory_ + "/" + kMetadataName, encode_header(kMetadataMagic, id_, first));
}

Status FileJournal::check_usable() const {
  if (failure_.is_ok()) return Status::ok();
  return Status(failure_.code(),
                "journal " + quoted(directory_) +
                    " is unusable after an earlier error (reopen it to recover): " + failure_.message());
}

Status FileJournal::note_failure(Status status) {
  if (!status.is_ok() && failure_.is_ok()) failure_ = status;
  return status;
}

std::string FileJournal::segment_path(Lsn first) const { return directory_ + "/" + segment_name(first); }

}  // namespace sqlsync
