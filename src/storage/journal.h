// An append-only log of entries addressed by LSN, which can drop a prefix.
// Storage logs (page frames) and timelines (mutations) are both journals.
#pragma once

#include <deque>
#include <functional>

#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

class Journal {
 public:
  virtual ~Journal() = default;

  virtual JournalId id() const = 0;
  // The entries currently held. After drop_prefix() first() moves forward;
  // next() never moves backward.
  virtual LsnRange range() const = 0;
  // Appends an entry at range().next().
  virtual Status append(ByteView entry) = 0;
  // The entry at `lsn`; NotFound if outside range(). The view stays valid
  // until the next call that modifies this journal.
  virtual Result<ByteView> read(Lsn lsn) = 0;
  // Drops every entry with an LSN <= `last` (no-op for LSNs already dropped).
  virtual Status drop_prefix(Lsn last) = 0;

  // Makes every entry appended so far durable: many appends, one sync (group
  // commit). Entries at or after durable_next() may vanish in a crash, so
  // they must not be sent or acknowledged to anyone yet.
  virtual Status sync() = 0;
  virtual Lsn durable_next() const = 0;
};

// Visits entries in [range.first(), range.next()) in order, stopping at the
// first error (from the journal or from `visit`).
Status scan_journal(Journal& journal, LsnRange range, const std::function<Status(Lsn, ByteView)>& visit);

// A journal held in memory. Not thread-safe.
class MemoryJournal final : public Journal {
 public:
  // An empty journal whose first entry will get LSN `next`.
  explicit MemoryJournal(JournalId id, Lsn next = 0) : id_(id), first_(next) {}

  JournalId id() const override { return id_; }
  LsnRange range() const override { return LsnRange::half_open(first_, first_ + entries_.size()); }
  Status append(ByteView entry) override;
  Result<ByteView> read(Lsn lsn) override;
  Status drop_prefix(Lsn last) override;
  // Memory lives as long as the process: every entry counts as durable.
  Status sync() override { return Status::ok(); }
  Lsn durable_next() const override { return range().next(); }

 private:
  JournalId id_;
  Lsn first_;
  std::deque<Bytes> entries_;
};

}  // namespace sqlsync
