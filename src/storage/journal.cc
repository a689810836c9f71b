#include "storage/journal.h"

namespace sqlsync {

Status scan_journal(Journal& journal, LsnRange range, const std::function<Status(Lsn, ByteView)>& visit) {
  for (Lsn lsn = range.first(); lsn < range.next(); ++lsn) {
    SQLSYNC_ASSIGN_OR_RETURN(ByteView entry, journal.read(lsn));
    SQLSYNC_RETURN_IF_ERROR(visit(lsn, entry));
  }
  return Status::ok();
}

Status MemoryJournal::append(ByteView entry) {
  entries_.emplace_back(entry.begin(), entry.end());
  return Status::ok();
}

Result<ByteView> MemoryJournal::read(Lsn lsn) {
  if (!range().contains(lsn)) {
    return Status::not_found("lsn " + std::to_string(lsn) + " is outside journal " + id_.to_hex() + " range " +
                             range().to_string());
  }
  const Bytes& entry = entries_[lsn - first_];
  return ByteView(entry.data(), entry.size());
}

Status MemoryJournal::drop_prefix(Lsn last) {
  while (!entries_.empty() && first_ <= last) {
    entries_.pop_front();
    ++first_;
  }
  return Status::ok();
}

}  // namespace sqlsync
