#include "storage/storage.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "base/encoding.h"

namespace sqlsync {
namespace {

// SQLite's database header (page 1), https://www.sqlite.org/fileformat2.html.
constexpr size_t kChangeCounterOffset = 24;  // u32 big-endian
constexpr size_t kReservedBytesOffset = 20;  // u8: unused bytes at the end of each page
constexpr size_t kSchemaCookieOffset = 40;   // u32 big-endian
constexpr size_t kLargestRootOffset = 52;    // u32 big-endian, nonzero in auto-vacuum mode

// Pointer-map entry types.
constexpr uint8_t kPtrmapRootPage = 1;
constexpr uint8_t kPtrmapFirstOverflow = 3;
constexpr uint8_t kPtrmapLaterOverflow = 4;
constexpr uint8_t kPtrmapNonRootBtree = 5;
constexpr uint32_t kPtrmapEntrySize = 5;  // type u8, parent page u32 big-endian

// The page holding the byte at offset 2^30 is never used by SQLite; a
// pointer-map page that would fall on it moves to the next page.
constexpr uint32_t kPendingBytePage = 0x40000000 / kPageSize + 1;

// The pointer-map page describing `page_no` (>= 2), as SQLite places them:
// page 2, then one every `pages_per_map` pages (the map and what it describes).
uint32_t ptrmap_page_for(uint32_t page_no, uint32_t pages_per_map) {
  uint32_t map_page = (page_no - 2) / pages_per_map * pages_per_map + 2;
  if (map_page == kPendingBytePage) ++map_page;
  return map_page;
}

// Whether writing `data` to page `page_no` leaves `page` as it is. The change
// counter of page 1 is ignored: reads replace it with the storage's own.
bool same_content(uint32_t page_no, const Page& page, const Page& data) {
  if (page_no != 1) return std::memcmp(page.data(), data.data(), kPageSize) == 0;
  constexpr size_t kCounterEnd = kChangeCounterOffset + 4;
  return std::memcmp(page.data(), data.data(), kChangeCounterOffset) == 0 &&
         std::memcmp(page.data() + kCounterEnd, data.data() + kCounterEnd, kPageSize - kCounterEnd) == 0;
}

// Replaces the bytes of the big-endian u32 header field at `field` that fall
// within `out`, a read of the file at `offset`.
void overlay_field(uint64_t offset, std::span<uint8_t> out, uint64_t field, uint32_t value) {
  const uint64_t begin = std::max<uint64_t>(offset, field);
  const uint64_t end = std::min<uint64_t>(offset + out.size(), field + 4);
  if (begin >= end) return;
  uint8_t bytes[4];
  store_big_endian32(bytes, value);
  for (uint64_t i = begin; i < end; ++i) out[i - offset] = bytes[i - field];
}

std::string lsn_context(Lsn lsn) { return "page frame at lsn " + std::to_string(lsn); }

}  // namespace

bool Changes::intersects(const std::vector<uint32_t>& sorted_roots) const {
  if (full) return true;
  auto mine = roots.begin();
  auto theirs = sorted_roots.begin();
  while (mine != roots.end() && theirs != sorted_roots.end()) {
    if (*mine == *theirs) return true;
    if (*mine < *theirs) {
      ++mine;
    } else {
      ++theirs;
    }
  }
  return false;
}

Storage::Storage(std::unique_ptr<Journal> log) : log_(std::move(log)) {}

Result<std::unique_ptr<Storage>> Storage::open(std::unique_ptr<Journal> log) {
  if (log == nullptr) return Status::invalid_argument("Storage::open needs a log");
  std::unique_ptr<Storage> storage(new Storage(std::move(log)));
  const LsnRange range = storage->log_->range();
  if (range.first() == 0) storage->last_checksum_ = 0;
  SQLSYNC_RETURN_IF_ERROR(scan_journal(*storage->log_, range, [&storage](Lsn lsn, ByteView bytes) -> Status {
    Result<Frame> frame = decode_frame(bytes);
    if (!frame.is_ok()) return frame.status().with_context(lsn_context(lsn));
    SQLSYNC_RETURN_IF_ERROR(storage->check_link(lsn, *frame));
    storage->apply_frame(*frame);
    storage->last_checksum_ = frame->checksum;
    storage->log_ended_ = frame->kind == FrameKind::kEndLog;
    storage->log_bytes_ += bytes.size();
    return Status::ok();
  }));
  storage->visible_next_ = range.next();
  storage->pending_pages_ = static_cast<uint32_t>(storage->visible_.size());
  storage->schema_cookie_ = storage->schema_cookie();
  storage->largest_presented_cookie_ = storage->schema_cookie_;
  return storage;
}

uint64_t Storage::file_size() const { return uint64_t{pending_pages_} * kPageSize; }

const uint8_t* Storage::page_data(uint32_t page_no) const {
  if (page_no == 0 || page_no > pending_pages_) return nullptr;
  if (auto pending = pending_.find(page_no); pending != pending_.end()) return pending->second->data();
  if (page_no > visible_.size() || visible_[page_no - 1] == nullptr) return nullptr;
  return visible_[page_no - 1]->data();
}

void Storage::read(uint64_t offset, std::span<uint8_t> out) const {
  for (size_t done = 0; done < out.size();) {
    const uint64_t position = offset + done;
    const uint64_t page_index = position / kPageSize;
    const size_t in_page = static_cast<size_t>(position % kPageSize);
    const size_t length = std::min<size_t>(out.size() - done, kPageSize - in_page);
    const uint8_t* page =
        page_index < pending_pages_ ? page_data(static_cast<uint32_t>(page_index + 1)) : nullptr;
    if (page == nullptr) {
      std::memset(out.data() + done, 0, length);
    } else {
      std::memcpy(out.data() + done, page + in_page, length);
    }
    done += length;
  }
  if (pending_pages_ > 0) {
    overlay_field(offset, out, kChangeCounterOffset, change_counter_);
    overlay_field(offset, out, kSchemaCookieOffset, presented_schema_cookie());
  }
}

Status Storage::write(uint64_t offset, ByteView data) {
  if (data.size() != kPageSize || offset % kPageSize != 0) {
    return Status::invalid_argument("write of " + std::to_string(data.size()) + " bytes at offset " +
                                    std::to_string(offset) + ": storage takes only whole " +
                                    std::to_string(kPageSize) + "-byte pages at page-aligned offsets");
  }
  const uint64_t page_index = offset / kPageSize;
  if (page_index >= std::numeric_limits<uint32_t>::max()) {
    return Status::invalid_argument("write at offset " + std::to_string(offset) +
                                    " is beyond the largest page");
  }
  const uint32_t page_no = static_cast<uint32_t>(page_index + 1);
  ++write_count_;
  changed_pages_.insert(page_no);
  // A pending page that nothing else shares (no frame, no snapshot) is
  // rewritten in place: a mutation rewrites the same few pages, and this
  // keeps allocation off that path. Pending pages are created mutable here.
  if (page_no > pending_pages_) grow(page_no);
  std::shared_ptr<Page> page;
  auto pending = pending_.find(page_no);
  if (pending != pending_.end() && pending->second.use_count() == 1) {
    page = std::const_pointer_cast<Page>(pending->second);
  } else {
    page = std::make_shared<Page>();
  }
  std::memcpy(page->data(), data.data(), kPageSize);
  if (page_no == 1) {
    // SQLite writes counter + 1 on each commit and the old value when it
    // rolls back; following it keeps its own page cache valid.
    change_counter_ = load_big_endian32(data.data() + kChangeCounterOffset);
    const uint32_t cookie = load_big_endian32(data.data() + kSchemaCookieOffset);
    largest_presented_cookie_ = std::max(largest_presented_cookie_, cookie);
    store_big_endian32(page->data() + kSchemaCookieOffset, cookie - schema_cookie_offset_);
  }
  // Rolling back, SQLite writes original pages back: those are not pending.
  if (page_no <= visible_.size() && visible_[page_no - 1] != nullptr &&
      same_content(page_no, *visible_[page_no - 1], *page)) {
    if (pending != pending_.end()) pending_.erase(pending);
    return Status::ok();
  }
  if (pending == pending_.end()) pending_.emplace(page_no, std::move(page));
  else pending->second = std::move(page);
  return Status::ok();
}

Status Storage::truncate(uint64_t size) {
  if (size % kPageSize != 0 || size / kPageSize > std::numeric_limits<uint32_t>::max()) {
    return Status::invalid_argument("truncate to " + std::to_string(size) +
                                    " bytes: the size must be a multiple of " + std::to_string(kPageSize) +
                                    " and at most 2^32-1 pages");
  }
  const auto pages = static_cast<uint32_t>(size / kPageSize);
  if (pages > pending_pages_) {
    grow(pages);
  } else {
    pending_pages_ = pages;
    pending_.erase(pending_.upper_bound(pending_pages_), pending_.end());
  }
  return Status::ok();
}

void Storage::grow(uint32_t pages) {
  // Visible pages cut off by an earlier truncate() come back as zeros, and the
  // next frame must say so: pages it leaves out keep their visible content.
  static const PagePtr kZeroPage = std::make_shared<const Page>();
  const uint32_t last_visible = std::min(pages, static_cast<uint32_t>(visible_.size()));
  for (uint32_t page_no = pending_pages_ + 1; page_no <= last_visible; ++page_no) {
    if (visible_[page_no - 1] != nullptr) pending_.emplace(page_no, kZeroPage);
  }
  pending_pages_ = pages;
}

void Storage::reset() {
  if (!has_pending()) return;
  const uint32_t cookie_before = schema_cookie();
  // A dropped page counts for the b-tree that owned it under the pending
  // content and for the one owning it again under the visible content.
  std::vector<uint32_t> dropped;
  dropped.reserve(pending_.size());
  for (const auto& [page_no, page] : pending_) dropped.push_back(page_no);
  changed_pages_.insert(dropped.begin(), dropped.end());
  resolve_changed_pages();
  pending_.clear();
  pending_pages_ = static_cast<uint32_t>(visible_.size());
  changed_pages_.insert(dropped.begin(), dropped.end());
  note_outside_change(cookie_before);
}

void Storage::note_outside_change(uint32_t schema_cookie_before) {
  ++change_counter_;
  // Within one history an equal cookie means an equal schema (SQLite bumps it
  // on every schema change), so only a moved cookie needs a new presentation.
  // A connection may have cached any value presented so far: go past them all.
  const uint32_t cookie = schema_cookie();
  if (cookie == schema_cookie_before) return;
  ++largest_presented_cookie_;
  schema_cookie_offset_ = largest_presented_cookie_ - cookie;
}

Result<bool> Storage::commit() {
  if (has_invisible_frames()) {
    return Status::busy("commit: received frames up to lsn " + std::to_string(log_->range().next() - 1) +
                        " are not visible yet");
  }
  if (!has_pending()) return false;
  const Lsn lsn = log_->range().next();
  if (log_ended_) {
    return Status::busy("commit at lsn " + std::to_string(lsn) + ": log " + log_->id().to_hex() +
                        " has ended (compacted); switch to its successor first");
  }
  const Bytes frame = encode_page_frame(lsn, last_checksum_.value_or(0), pending_pages_, pending_, &visible_);
  const uint64_t checksum = encoded_frame_checksum(frame);
  SQLSYNC_RETURN_IF_ERROR(log_->append(frame).with_context("commit of " + lsn_context(lsn)));
  log_bytes_ += frame.size();
  // The pending pages become the visible ones as they are: same content, so
  // the change counter stays and SQLite's caches remain valid.
  visible_.resize(pending_pages_);
  for (auto& [page_no, page] : pending_) visible_[page_no - 1] = std::move(page);
  pending_.clear();
  visible_next_ = lsn + 1;
  last_checksum_ = checksum;
  return true;
}

Status Storage::check_link(Lsn lsn, const Frame& frame) const {
  if (frame.lsn != lsn) {
    return Status::corruption(lsn_context(lsn) + " says it is at lsn " + std::to_string(frame.lsn));
  }
  if (last_checksum_.has_value() && frame.previous_checksum != *last_checksum_) {
    return Status::corruption("frame chain broken at lsn " + std::to_string(lsn) +
                              ": it follows a frame with another checksum than the log's previous frame");
  }
  return Status::ok();
}

void Storage::apply_frame(const Frame& frame) {
  if (frame.kind == FrameKind::kEndLog) {
    end_of_log_ = EndOfLog{frame.next_log, frame.snapshot_hash};
    return;
  }
  if (replace_visible_) {
    visible_.clear();
    replace_visible_ = false;
  }
  visible_.resize(frame.database_pages);
  for (const FramePage& page : frame.pages) {
    PagePtr& slot = visible_[page.page_no - 1];
    auto content = std::make_shared<Page>();
    materialize_page(page, slot.get(), *content);
    slot = std::move(content);
  }
}

Status Storage::receive_frame(Lsn lsn, ByteView bytes) {
  const Lsn next = log_->range().next();
  if (lsn != next) {
    return Status::invalid_argument("received page frame at lsn " + std::to_string(lsn) +
                                    ", but the log's next lsn is " + std::to_string(next));
  }
  if (log_ended_) {
    return Status::invalid_argument("received page frame at lsn " + std::to_string(lsn) + " after the end of log " +
                                    log_->id().to_hex());
  }
  Result<Frame> frame = decode_frame(bytes);
  if (!frame.is_ok()) return frame.status().with_context("received " + lsn_context(lsn));
  SQLSYNC_RETURN_IF_ERROR(check_link(lsn, *frame));
  SQLSYNC_RETURN_IF_ERROR(log_->append(bytes).with_context("appending received " + lsn_context(lsn)));
  last_checksum_ = frame->checksum;
  log_ended_ = frame->kind == FrameKind::kEndLog;
  log_bytes_ += bytes.size();
  return Status::ok();
}

Status Storage::make_visible() {
  const Lsn next = log_->range().next();
  if (visible_next_ == next) return Status::ok();
  if (has_pending()) {
    return Status::busy("make_visible: pending pages must be dropped (reset) before frames up to lsn " +
                        std::to_string(next - 1) + " become visible");
  }
  // Decode everything first so a corrupt log leaves the index untouched.
  // The views stay valid: reading does not modify the log.
  std::vector<Frame> frames;
  frames.reserve(next - visible_next_);
  for (Lsn lsn = visible_next_; lsn < next; ++lsn) {
    SQLSYNC_ASSIGN_OR_RETURN(ByteView bytes, log_->read(lsn));
    Result<Frame> frame = decode_frame(bytes);
    if (!frame.is_ok()) return frame.status().with_context(lsn_context(lsn));
    frames.push_back(std::move(frame).value());
  }
  // Pages count for their owners under the old content and the new one.
  std::vector<uint32_t> touched;
  for (const Frame& frame : frames) {
    for (const FramePage& page : frame.pages) touched.push_back(page.page_no);
  }
  changed_pages_.insert(touched.begin(), touched.end());
  resolve_changed_pages();
  // A snapshot replacing every page may drop pages of any b-tree.
  if (replace_visible_) changed_full_ = true;
  const uint32_t cookie_before = schema_cookie();
  for (const Frame& frame : frames) apply_frame(frame);
  pending_pages_ = static_cast<uint32_t>(visible_.size());
  visible_next_ = next;
  changed_pages_.insert(touched.begin(), touched.end());
  note_outside_change(cookie_before);
  return Status::ok();
}

Status Storage::check_settled(const char* what) const {
  if (has_pending() || has_invisible_frames()) {
    return Status::busy(std::string(what) + " on log " + log_->id().to_hex() +
                        ": pages are pending or received frames are not visible yet");
  }
  return Status::ok();
}

Bytes Storage::snapshot_frame() const {
  std::map<uint32_t, PagePtr> pages;
  for (uint32_t page_no = 1; page_no <= visible_.size(); ++page_no) {
    if (visible_[page_no - 1] != nullptr) pages.emplace(page_no, visible_[page_no - 1]);
  }
  return encode_page_frame(0, 0, static_cast<uint32_t>(visible_.size()), pages);
}

Status Storage::end_log(const JournalId& next_log, const SnapshotHash& hash) {
  SQLSYNC_RETURN_IF_ERROR(check_settled("end_log"));
  const Lsn lsn = log_->range().next();
  if (log_ended_) return Status::busy("end_log at lsn " + std::to_string(lsn) + ": log has ended already");
  const Bytes frame =
      encode_end_log_frame(lsn, last_checksum_.value_or(0), static_cast<uint32_t>(visible_.size()), next_log, hash);
  SQLSYNC_RETURN_IF_ERROR(log_->append(frame).with_context("appending the end-log frame at lsn " +
                                                           std::to_string(lsn)));
  last_checksum_ = encoded_frame_checksum(frame);
  log_bytes_ += frame.size();
  log_ended_ = true;
  end_of_log_ = EndOfLog{next_log, hash};
  visible_next_ = lsn + 1;
  return Status::ok();
}

Result<std::unique_ptr<Journal>> Storage::switch_log(std::unique_ptr<Journal> log) {
  if (log == nullptr) return Status::invalid_argument("switch_log needs a log");
  const LsnRange range = log->range();
  if (!holds_nothing() || !range.is_empty()) SQLSYNC_RETURN_IF_ERROR(check_settled("switch_log"));
  uint64_t checksum = 0;
  uint64_t bytes = 0;
  if (range.first() != 0 || range.next() > 1) {
    return Status::invalid_argument("switch_log to log " + log->id().to_hex() + " holding lsns [" +
                                    std::to_string(range.first()) + ", " + std::to_string(range.next()) +
                                    "): it must be empty or hold only the snapshot at lsn 0");
  }
  if (range.next() == 1) {
    SQLSYNC_ASSIGN_OR_RETURN(ByteView first, log->read(0));
    const Bytes snapshot = snapshot_frame();
    if (!std::equal(first.begin(), first.end(), snapshot.begin(), snapshot.end())) {
      return Status::invalid_argument("switch_log to log " + log->id().to_hex() +
                                      ": its lsn 0 is not the snapshot of the visible pages");
    }
    checksum = encoded_frame_checksum(snapshot);
    bytes = snapshot.size();
  }
  replace_visible_ = range.next() == 0 && !visible_.empty();
  std::unique_ptr<Journal> previous = std::move(log_);
  log_ = std::move(log);
  visible_next_ = range.next();
  last_checksum_ = checksum;
  log_ended_ = false;
  log_bytes_ = bytes;
  end_of_log_.reset();
  return previous;
}

uint32_t Storage::schema_cookie() const {
  const uint8_t* header = page_data(1);
  return header == nullptr ? 0 : load_big_endian32(header + kSchemaCookieOffset);
}

uint32_t Storage::root_of(uint32_t page_no, std::map<uint32_t, uint32_t>& roots) const {
  const uint8_t* header = page_data(1);
  const uint32_t usable_size = kPageSize - header[kReservedBytesOffset];
  const uint32_t pages_per_map = usable_size / kPtrmapEntrySize + 1;
  std::vector<uint32_t> path;
  uint32_t page = page_no;
  uint32_t root = 0;
  // A chain of parents longer than the file is a cycle in a corrupt map.
  for (uint32_t steps = 0; steps <= pending_pages_; ++steps) {
    if (auto known = roots.find(page); known != roots.end()) {
      root = known->second;
      break;
    }
    path.push_back(page);
    if (page == 1) {  // sqlite_schema, the only b-tree without a ptrmap entry
      root = 1;
      break;
    }
    if (page < 2 || page > pending_pages_ || page == kPendingBytePage) break;
    const uint32_t map_page = ptrmap_page_for(page, pages_per_map);
    if (map_page == page) break;  // a pointer-map page belongs to no b-tree
    const uint8_t* map = page_data(map_page);
    if (map == nullptr) break;
    const uint8_t* entry = map + kPtrmapEntrySize * (page - map_page - 1);
    const uint8_t type = entry[0];
    if (type == kPtrmapRootPage) {
      root = page;
      break;
    }
    if (type != kPtrmapFirstOverflow && type != kPtrmapLaterOverflow && type != kPtrmapNonRootBtree) {
      break;  // a free page, or garbage
    }
    page = load_big_endian32(entry + 1);
  }
  for (uint32_t visited : path) roots[visited] = root;
  return root;
}

void Storage::resolve_changed_pages() {
  const uint32_t cookie = schema_cookie();
  if (cookie != schema_cookie_) {
    changed_full_ = true;
    schema_cookie_ = cookie;
  }
  if (changed_pages_.empty()) return;
  const uint8_t* header = page_data(1);
  // Without pointer maps (not auto-vacuum) pages cannot be mapped to b-trees.
  if (header == nullptr || load_big_endian32(header + kLargestRootOffset) == 0) changed_full_ = true;
  if (!changed_full_) {
    std::map<uint32_t, uint32_t> roots;
    for (uint32_t page_no : changed_pages_) {
      const uint32_t root = root_of(page_no, roots);
      if (root != 0) changed_roots_.insert(root);
    }
  }
  changed_pages_.clear();
}

Changes Storage::take_changes() {
  resolve_changed_pages();
  Changes changes;
  changes.full = changed_full_;
  if (!changed_full_) changes.roots.assign(changed_roots_.begin(), changed_roots_.end());
  changed_roots_.clear();
  changed_full_ = false;
  return changes;
}

}  // namespace sqlsync
