// A durable journal kept in a directory of files through an Env: segment
// files of checksummed records plus a metadata file. The byte layout and the
// recovery rules are specified in docs/storage-format.md ("Journal files").
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sqlsync/env.h"
#include "storage/journal.h"

namespace sqlsync {

// Declared outside FileJournal so that `Options options = {}` can be a
// default argument of a FileJournal member.
struct FileJournalOptions {
  // A new segment file starts once an append would grow the current one past
  // this size (a segment always takes at least one entry). At most
  // FileJournal::kMaxSegmentBytes.
  uint64_t segment_bytes = 16 << 20;
};

// Not thread-safe: one user at a time. After an I/O error in append(),
// sync() or drop_prefix() the journal refuses every later one of them with
// that error (what reached the disk is unknown); reads keep working. Reopen
// the journal to recover.
class FileJournal final : public Journal {
 public:
  using Options = FileJournalOptions;

  // Entries larger than this are refused (InvalidArgument).
  static constexpr uint64_t kMaxEntryBytes = 64 << 20;
  static constexpr uint64_t kMaxSegmentBytes = 1 << 30;

  // Opens the journal stored in `directory`, or creates it there as an empty
  // journal with id `id` whose first entry gets LSN `next` (`next` is ignored
  // when the journal exists). Directories are created as needed, durably.
  //
  // Recovery: a torn or partially written tail record (one not proven synced
  // by a later record) is dropped and the file truncated there; a damaged
  // record proven synced or in a segment older than the newest, a damaged
  // segment header, a missing segment or a bad metadata file is Corruption
  // naming the file, offset and LSN (see docs/storage-format.md). A journal
  // with another id is InvalidArgument; a newer format version is
  // Unsupported. Every recovered entry is durable when open() returns.
  //
  // `env` must outlive the journal.
  static Result<std::unique_ptr<FileJournal>> open(Env* env, std::string directory, JournalId id, Lsn next = 0,
                                                   Options options = {});
  // The id of the journal stored in `directory`, read from its metadata
  // file without opening, recovering or changing anything (for tools that
  // inspect a directory). NotFound if `directory` holds no journal;
  // Corruption if the metadata file fails its checks.
  static Result<JournalId> stored_id(Env* env, const std::string& directory);
  // Deletes the journal's files and then its directory (ok if absent). Once
  // the metadata file is gone (the first, synced step) the journal no longer
  // exists: a crash after that leaves at most leftovers that open() deletes.
  // The directory is kept if it holds other files (IOError) or if `env`
  // cannot remove directories. The journal must not be open.
  static Status remove(Env* env, const std::string& directory);

  ~FileJournal() override;
  FileJournal(const FileJournal&) = delete;
  FileJournal& operator=(const FileJournal&) = delete;

  // Re-reads the metadata file and every record written to the segment files
  // (not entries still buffered in memory): headers, checksums, contiguous
  // LSNs, and agreement with the in-memory index. Corruption on any failure.
  Status verify();

  const std::string& directory() const { return directory_; }

  JournalId id() const override { return id_; }
  LsnRange range() const override { return LsnRange::half_open(first_, next_); }
  // Buffers the entry (written to the file in batches); it is durable only
  // after sync(). May write, and starts a new segment (two syncs) when the
  // current one is full. InvalidArgument above kMaxEntryBytes.
  Status append(ByteView entry) override;
  // Entries come back whether synced or not. The view stays valid until the
  // next call on this journal. Corruption if the record on disk is damaged.
  Result<ByteView> read(Lsn lsn) override;
  // Durable when it returns ok: publishes the new first LSN in the metadata
  // file (two syncs), then deletes every segment whose entries are all
  // dropped; dropping every entry deletes them all, so no dropped entry stays
  // on disk and the next append starts a fresh segment. No I/O if nothing is
  // dropped.
  Status drop_prefix(Lsn last) override;
  // Writes buffered entries and syncs the current segment (one sync for any
  // number of appends). No I/O when nothing was appended since the last sync.
  Status sync() override;
  Lsn durable_next() const override { return std::max(synced_next_, first_); }

 private:
  struct Segment {
    Lsn first = 0;                  // LSN of its first record; also its name
    std::vector<uint32_t> offsets;  // offset of the record for LSN first + i
    uint64_t size = 0;              // end of its last record (pending ones included)
  };

  FileJournal(Env* env, std::string directory, JournalId id, Options options, Lsn first);

  // Builds the index from the segment files among `names` (the directory's
  // entries), recovering as open() describes.
  Status recover_segments(const std::vector<std::string>& names);
  Status publish_metadata(Lsn first);
  Status append_record(ByteView entry);
  Status drop_before(Lsn first);
  // Creates, durably, the segment that starts at next_ and makes it current.
  Status start_segment();
  // Hands pending_ to the current segment's file.
  Status write_pending();
  Status sync_current();
  // The file that holds segment `index`: the current one's writable handle,
  // or a read handle (one kept open at a time).
  Result<File*> file_for(size_t index);
  Status verify_segment(size_t index);
  Status check_usable() const;
  // Returns `status`, first recording it as the journal's failure if it is
  // one (see the class comment).
  Status note_failure(Status status);
  std::string segment_path(Lsn first) const;

  Env* const env_;
  const std::string directory_;
  const JournalId id_;
  const Options options_;

  Lsn first_;
  Lsn next_;
  // Every entry below it was synced to its file. Records carry its value
  // when written: recovery's proof that an earlier record was synced.
  Lsn synced_next_;
  // Oldest first; the last one is the current segment, open in current_file_.
  std::deque<Segment> segments_;
  std::unique_ptr<File> current_file_;
  uint64_t written_size_ = 0;  // bytes of the current segment in its file
  Bytes pending_;              // records after written_size_, not yet written
  std::unique_ptr<File> read_file_;
  Lsn read_file_first_ = 0;  // the segment read_file_ belongs to
  Bytes read_buffer_;
  // The lsn whose checked record read_buffer_ holds. Entries never change
  // once appended, so a coordinator sending one new frame to every replica
  // reads and checks it from its file once, not once per replica.
  std::optional<Lsn> read_buffer_lsn_;
  Status failure_;
};

}  // namespace sqlsync
