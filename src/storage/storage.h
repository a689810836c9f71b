// A document's storage: the SQLite main database file as seen through the
// storage log. Reads return a page from the pending pages (local, un-synced
// writes), else from the newest visible frame holding it, through a page index
// that costs O(1) whatever the log length.
//
// Not thread-safe: one document, one thread. The VFS (vfs.h) forwards SQLite's
// file calls here.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "storage/frame.h"
#include "storage/journal.h"

namespace sqlsync {

// Which b-trees changed since the last take_changes(): `full` means "assume
// everything" (the schema changed); otherwise `roots` is the sorted set of
// changed b-tree root pages (1 = sqlite_schema).
struct Changes {
  bool full = false;
  std::vector<uint32_t> roots;

  bool empty() const { return !full && roots.empty(); }
  // True if `full`, or if `sorted_roots` (ascending) shares a root with `roots`.
  bool intersects(const std::vector<uint32_t>& sorted_roots) const;
};

class Storage {
 public:
  // `log` holds the frames this storage has (received or committed). Frames
  // already in `log` are verified and made visible.
  static Result<std::unique_ptr<Storage>> open(std::unique_ptr<Journal> log);

  Journal& log() { return *log_; }

  // --- File interface (used by the VFS) ---
  // Size of the database file in bytes (pending size if pending, else visible).
  uint64_t file_size() const;
  // Reads [offset, offset + out.size()) within one page; bytes past the end of
  // the file read as zeros (SQLite treats a short read as zero-filled).
  // Bytes 24..27 of page 1 (SQLite's file change counter) are replaced by
  // file_change_counter() and bytes 40..43 (the schema cookie) by
  // presented_schema_cookie(), so every connection's page and schema caches
  // notice changes made outside SQLite.
  void read(uint64_t offset, std::span<uint8_t> out) const;
  // Writes whole pages into the pending set. InvalidArgument unless `offset`
  // is page-aligned and `data` is exactly one page. A page written back with
  // its visible content (SQLite restoring pages on rollback) stops being
  // pending.
  Status write(uint64_t offset, ByteView data);
  // Sets the pending file size (a multiple of kPageSize, else
  // InvalidArgument). Pages past it are dropped; growing adds zero pages.
  Status truncate(uint64_t size);

  // Bumped whenever visible content changes from outside SQLite (frames made
  // visible, pending pages dropped); follows SQLite's own writes of page 1.
  uint32_t file_change_counter() const { return change_counter_; }
  // The schema cookie (page 1 offset 40) SQLite sees: the stored one plus an
  // offset that moves to a never-seen value whenever a change from outside
  // SQLite changes the stored cookie, because two histories can reach equal
  // cookies with different schemas. Writes of page 1 are translated back, so
  // frames always carry the stored cookie.
  uint32_t presented_schema_cookie() const { return schema_cookie() + schema_cookie_offset_; }

  // --- Pending pages ---
  bool has_pending() const { return !pending_.empty() || pending_pages_ != visible_.size(); }
  // Counts every page write ever made; a transaction that leaves it unchanged
  // wrote nothing (a no-op mutation).
  uint64_t write_count() const { return write_count_; }
  // Drops every pending page (rebase). Bumps the change counter if anything
  // was pending (and presents a new schema cookie if the stored one moved).
  void reset();
  // Coordinator: turns the pending pages into a frame at log().range().next(),
  // appends it and makes it visible. Returns false (and writes nothing) when
  // nothing is pending; Busy while received frames are not yet visible; the
  // log's error (and nothing changes) if the append fails.
  Result<bool> commit();

  // --- Frames from the coordinator (clients) ---
  // Verifies `bytes` as the frame at `lsn` (== log().range().next(), chained
  // to the previous frame) and appends it to the log, not yet visible.
  // InvalidArgument for any other lsn (re-sends included: skip those before),
  // Corruption/Unsupported for bad bytes or a broken chain; nothing changes on
  // error.
  Status receive_frame(Lsn lsn, ByteView bytes);
  // The frames whose pages reads see: [log first, visible_next).
  Lsn visible_next() const { return visible_next_; }
  bool has_invisible_frames() const { return visible_next_ < log_->range().next(); }
  // Makes every received frame visible. Requires !has_pending() (reset()
  // first); Busy otherwise. Bumps the change counter if any frame was applied
  // (and presents a new schema cookie if the stored one moved).
  // Corruption (and nothing changes) if a frame in the log fails to decode.
  Status make_visible();

  // --- Log compaction (docs/storage-format.md, "Log compaction") ---
  // The snapshot frame of the visible pages: a page frame at LSN 0 with
  // previous checksum 0 holding every nonzero page, so equal visible pages
  // give equal bytes on every replica. Pending pages are not included.
  Bytes snapshot_frame() const;
  // The visible end-log marker, if the log has ended: no frame follows it
  // and commit() refuses.
  struct EndOfLog {
    JournalId next_log;
    SnapshotHash snapshot_hash{};
  };
  const std::optional<EndOfLog>& end_of_log() const { return end_of_log_; }
  // Coordinator: appends the end-log marker naming `next_log` and `hash` at
  // log().range().next() and makes it visible. Busy while pages are pending
  // or frames invisible; the log's error (nothing changes) if the append
  // fails.
  Status end_log(const JournalId& next_log, const SnapshotHash& hash);
  // Moves to `log`, returning the previous log (for the caller to keep
  // serving or to delete). `log` either holds exactly snapshot_frame() at LSN
  // 0 (what reads see does not change), or is empty at LSN 0: then the
  // current pages stay visible until its first frame, which must be a
  // snapshot, becomes visible and replaces them all. Busy while pages are
  // pending or frames invisible (except from an empty log with nothing
  // visible to an empty log: pending pages then stay, nothing reads see
  // changes); InvalidArgument (nothing changes) for any other log.
  Result<std::unique_ptr<Journal>> switch_log(std::unique_ptr<Journal> log);
  // No frame in the log and no page visible (a replica that never synced).
  bool holds_nothing() const { return visible_.empty() && log_->range().is_empty(); }
  // Bytes of the frames in log() (the compaction policy compares it with the
  // database size).
  uint64_t log_bytes() const { return log_bytes_; }

  // --- Change tracking (reactive queries) ---
  // The b-trees changed since the last call. Pages are mapped to their roots
  // through SQLite's pointer-map pages (auto_vacuum=incremental), each under
  // the content it had when changed, so pages dropped by reset() count for
  // the tables that owned them. A schema cookie change gives `full`.
  Changes take_changes();

 private:
  explicit Storage(std::unique_ptr<Journal> log);
  // Checks `frame` (decoded from the entry at `lsn`) against the chain so far.
  Status check_link(Lsn lsn, const Frame& frame) const;
  // Makes a verified frame visible in the page index.
  void apply_frame(const Frame& frame);
  // Busy unless the visible pages are all there is (nothing pending or
  // invisible); `what` names the caller in the message.
  Status check_settled(const char* what) const;
  const uint8_t* page_data(uint32_t page_no) const;  // nullptr: zeros
  void grow(uint32_t pages);                          // pending file, zero-filled
  void resolve_changed_pages();                       // pages -> roots, now
  // The b-tree root owning `page_no` under the current content, 0 if none.
  // `roots` memoizes pages resolved during one resolve_changed_pages().
  uint32_t root_of(uint32_t page_no, std::map<uint32_t, uint32_t>& roots) const;
  uint32_t schema_cookie() const;  // stored in page 1 (0 without page 1)
  // After reset() or make_visible() changed content: bumps the change counter
  // and, if the stored schema cookie moved, presents a new one.
  void note_outside_change(uint32_t schema_cookie_before);

  std::unique_ptr<Journal> log_;
  // Page index: visible_[p - 1] is the newest visible version of page p
  // (nullptr: zeros); visible_.size() is the visible database size in pages.
  std::vector<PagePtr> visible_;
  Lsn visible_next_ = 0;
  // Checksum of the newest frame in the log; unknown (any link accepted) only
  // for a log that starts empty after LSN 0, whose predecessor we never saw.
  std::optional<uint64_t> last_checksum_;
  // The visible marker of an ended log, and whether the log (visible or not)
  // holds one: nothing may follow it.
  std::optional<EndOfLog> end_of_log_;
  bool log_ended_ = false;
  // After switch_log() to an empty log: the next frame made visible replaces
  // every visible page.
  bool replace_visible_ = false;
  uint64_t log_bytes_ = 0;
  std::map<uint32_t, PagePtr> pending_;
  uint32_t pending_pages_ = 0;  // file size in pages including pending writes
  uint32_t change_counter_ = 0;
  uint32_t schema_cookie_offset_ = 0;
  uint32_t largest_presented_cookie_ = 0;
  uint64_t write_count_ = 0;
  // Change tracking.
  std::set<uint32_t> changed_pages_;
  std::set<uint32_t> changed_roots_;
  bool changed_full_ = false;
  uint32_t schema_cookie_ = 0;  // the stored cookie when changes were last resolved
};

}  // namespace sqlsync
