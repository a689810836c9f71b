#include "storage/storage.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "base/checksum.h"
#include "base/encoding.h"

namespace sqlsync {
namespace {

JournalId test_id(uint8_t tag) {
  std::array<uint8_t, JournalId::kSize> bytes{};
  bytes[0] = tag;
  return JournalId(bytes);
}

std::unique_ptr<Storage> open_storage(Lsn next = 0) {
  Result<std::unique_ptr<Storage>> storage = Storage::open(std::make_unique<MemoryJournal>(test_id(1), next));
  EXPECT_TRUE(storage.is_ok()) << storage.status().to_string();
  return std::move(storage).value();
}

// A copy of `log`'s entries in a new journal.
std::unique_ptr<MemoryJournal> copy_log(Journal& log) {
  auto copy = std::make_unique<MemoryJournal>(log.id(), log.range().first());
  Status status = scan_journal(log, log.range(), [&](Lsn, ByteView entry) { return copy->append(entry); });
  EXPECT_TRUE(status.is_ok()) << status.to_string();
  return copy;
}

Bytes pattern_page(uint32_t seed) {
  Bytes page(kPageSize);
  for (size_t i = 0; i < kPageSize; ++i) page[i] = static_cast<uint8_t>(seed * 31 + i * 7 + 1);
  return page;
}

Bytes read_bytes(const Storage& storage, uint64_t offset, size_t length) {
  Bytes out(length, 0xee);
  storage.read(offset, out);
  return out;
}

Bytes read_page(const Storage& storage, uint32_t page_no) {
  return read_bytes(storage, uint64_t{page_no - 1} * kPageSize, kPageSize);
}

Status write_page(Storage& storage, uint32_t page_no, const Bytes& data) {
  return storage.write(uint64_t{page_no - 1} * kPageSize, data);
}

uint32_t counter_in(const Bytes& page1) { return load_big_endian32(page1.data() + 24); }

// Page 1 as SQLite writes it at a commit: the change counter is the one read
// plus one, the schema cookie the one read, plus one for a schema change.
Bytes committed_page1(const Storage& storage, uint32_t seed, bool schema_change = false) {
  Bytes page = pattern_page(seed);
  store_big_endian32(page.data() + 24, storage.file_change_counter() + 1);
  store_big_endian32(page.data() + 40, storage.presented_schema_cookie() + (schema_change ? 1 : 0));
  return page;
}

TEST(StorageTest, EmptyStorageReadsZeros) {
  auto storage = open_storage();
  EXPECT_EQ(storage->file_size(), 0u);
  EXPECT_FALSE(storage->has_pending());
  EXPECT_EQ(read_page(*storage, 1), Bytes(kPageSize, 0));
  // No counter is stamped into a file that does not exist.
  EXPECT_EQ(read_bytes(*storage, 24, 16), Bytes(16, 0));
}

TEST(StorageTest, ReadsPartialRangesAndZeroFills) {
  auto storage = open_storage();
  const Bytes page1 = committed_page1(*storage, 1);
  const Bytes page3 = pattern_page(3);
  ASSERT_TRUE(write_page(*storage, 1, page1).is_ok());
  ASSERT_TRUE(write_page(*storage, 3, page3).is_ok());
  EXPECT_EQ(storage->file_size(), 3 * kPageSize);
  EXPECT_TRUE(storage->has_pending());

  EXPECT_EQ(read_page(*storage, 1), page1);
  EXPECT_EQ(read_page(*storage, 2), Bytes(kPageSize, 0));  // inside the file, never written
  EXPECT_EQ(read_page(*storage, 3), page3);
  EXPECT_EQ(read_page(*storage, 4), Bytes(kPageSize, 0));  // past the end
  // SQLite's header reads: 100 bytes at 0, 16 bytes at 24.
  EXPECT_EQ(read_bytes(*storage, 0, 100), Bytes(page1.begin(), page1.begin() + 100));
  EXPECT_EQ(read_bytes(*storage, 24, 16), Bytes(page1.begin() + 24, page1.begin() + 40));
  // A read across pages and past the end.
  Bytes across = read_bytes(*storage, 3 * kPageSize - 10, 20);
  EXPECT_EQ(Bytes(across.begin(), across.begin() + 10), Bytes(page3.end() - 10, page3.end()));
  EXPECT_EQ(Bytes(across.begin() + 10, across.end()), Bytes(10, 0));
}

TEST(StorageTest, WriteRejectsPartialOrMisalignedPages) {
  auto storage = open_storage();
  const Bytes page = pattern_page(1);
  EXPECT_EQ(storage->write(100, page).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(storage->write(0, ByteView(page).first(100)).code(), StatusCode::kInvalidArgument);
  Bytes bigger = page;
  bigger.push_back(0);
  EXPECT_EQ(storage->write(kPageSize, bigger).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(storage->has_pending());
  EXPECT_EQ(storage->write_count(), 0u);
}

TEST(StorageTest, CommitAppendsFrameOfPendingPages) {
  auto storage = open_storage();
  Result<bool> nothing = storage->commit();
  ASSERT_TRUE(nothing.is_ok());
  EXPECT_FALSE(*nothing);
  EXPECT_TRUE(storage->log().range().is_empty());

  const Bytes page1 = committed_page1(*storage, 1);
  ASSERT_TRUE(write_page(*storage, 1, page1).is_ok());
  ASSERT_TRUE(write_page(*storage, 2, pattern_page(2)).is_ok());
  ASSERT_TRUE(write_page(*storage, 2, pattern_page(22)).is_ok());  // the newest write wins
  const uint32_t counter = storage->file_change_counter();
  EXPECT_EQ(counter, 1u);

  Result<bool> committed = storage->commit();
  ASSERT_TRUE(committed.is_ok()) << committed.status().to_string();
  EXPECT_TRUE(*committed);
  EXPECT_FALSE(storage->has_pending());
  EXPECT_EQ(storage->file_change_counter(), counter);  // same content: caches stay valid
  EXPECT_EQ(storage->log().range(), LsnRange::inclusive(0, 0));
  EXPECT_EQ(storage->visible_next(), 1u);
  EXPECT_EQ(read_page(*storage, 2), pattern_page(22));

  Result<ByteView> entry = storage->log().read(0);
  ASSERT_TRUE(entry.is_ok());
  Result<Frame> frame = decode_frame(*entry);
  ASSERT_TRUE(frame.is_ok()) << frame.status().to_string();
  EXPECT_EQ(frame->lsn, 0u);
  EXPECT_EQ(frame->previous_checksum, 0u);
  EXPECT_EQ(frame->database_pages, 2u);
  ASSERT_EQ(frame->pages.size(), 2u);
  EXPECT_EQ(Bytes(frame->pages[1].data.begin(), frame->pages[1].data.end()), pattern_page(22));

  // The next frame chains to this one.
  ASSERT_TRUE(write_page(*storage, 3, pattern_page(3)).is_ok());
  ASSERT_TRUE(storage->commit().is_ok());
  Result<Frame> second = decode_frame(*storage->log().read(1));
  ASSERT_TRUE(second.is_ok());
  EXPECT_EQ(second->previous_checksum, frame->checksum);
  EXPECT_EQ(second->pages.size(), 1u);
}

TEST(StorageTest, ResetDropsPendingAndBumpsCounter) {
  auto storage = open_storage();
  ASSERT_TRUE(write_page(*storage, 1, committed_page1(*storage, 1)).is_ok());
  ASSERT_TRUE(storage->commit().is_ok());
  const Bytes visible1 = read_page(*storage, 1);
  EXPECT_EQ(counter_in(visible1), 1u);

  const Bytes pending1 = committed_page1(*storage, 5);
  ASSERT_TRUE(write_page(*storage, 1, pending1).is_ok());
  ASSERT_TRUE(write_page(*storage, 2, pattern_page(2)).is_ok());
  EXPECT_EQ(storage->file_change_counter(), 2u);  // follows SQLite's write
  EXPECT_EQ(read_page(*storage, 1), pending1);

  storage->reset();
  EXPECT_FALSE(storage->has_pending());
  EXPECT_EQ(storage->file_size(), kPageSize);
  EXPECT_EQ(storage->file_change_counter(), 3u);  // differs from every value a cache saw
  Bytes after = read_page(*storage, 1);
  EXPECT_EQ(counter_in(after), 3u);
  store_big_endian32(after.data() + 24, 1);
  EXPECT_EQ(after, visible1);

  storage->reset();  // nothing pending: nothing changes
  EXPECT_EQ(storage->file_change_counter(), 3u);
}

// journal_mode=memory: SQLite writes the original pages back on rollback.
TEST(StorageTest, RolledBackWritesLeaveNothingPending) {
  auto storage = open_storage();
  ASSERT_TRUE(write_page(*storage, 1, committed_page1(*storage, 1)).is_ok());
  ASSERT_TRUE(write_page(*storage, 2, pattern_page(2)).is_ok());
  ASSERT_TRUE(storage->commit().is_ok());
  const Bytes original1 = read_page(*storage, 1);  // as SQLite reads it, counter included
  const Bytes original2 = read_page(*storage, 2);
  const uint32_t counter = storage->file_change_counter();

  ASSERT_TRUE(write_page(*storage, 1, committed_page1(*storage, 9)).is_ok());
  ASSERT_TRUE(write_page(*storage, 2, pattern_page(9)).is_ok());
  ASSERT_TRUE(write_page(*storage, 3, pattern_page(10)).is_ok());
  EXPECT_EQ(storage->file_change_counter(), counter + 1);
  // Rollback: originals back, file truncated to its old size.
  ASSERT_TRUE(write_page(*storage, 2, original2).is_ok());
  ASSERT_TRUE(write_page(*storage, 1, original1).is_ok());
  ASSERT_TRUE(storage->truncate(2 * kPageSize).is_ok());
  EXPECT_FALSE(storage->has_pending());
  EXPECT_EQ(storage->file_change_counter(), counter);
  EXPECT_EQ(read_page(*storage, 1), original1);
  EXPECT_EQ(read_page(*storage, 2), original2);
  Result<bool> committed = storage->commit();
  ASSERT_TRUE(committed.is_ok());
  EXPECT_FALSE(*committed);
  EXPECT_EQ(storage->write_count(), 7u);
}

// Two histories can reach the same schema cookie with different schemas (a
// local CREATE TABLE and another one on the coordinator). SQLite reloads its
// schema only when the cookie it reads changes, so the cookie presented after
// such a rebase must be one no connection has seen.
TEST(StorageTest, PresentedSchemaCookieNeverRepeatsAcrossHistories) {
  auto coordinator = open_storage();
  auto client = open_storage();
  ASSERT_TRUE(write_page(*coordinator, 1, committed_page1(*coordinator, 1, /*schema_change=*/true)).is_ok());
  ASSERT_TRUE(coordinator->commit().is_ok());
  EXPECT_EQ(coordinator->presented_schema_cookie(), 1u);

  ASSERT_TRUE(write_page(*client, 1, committed_page1(*client, 2, /*schema_change=*/true)).is_ok());
  EXPECT_EQ(client->presented_schema_cookie(), 1u);
  ASSERT_TRUE(client->receive_frame(0, *coordinator->log().read(0)).is_ok());
  client->reset();
  ASSERT_TRUE(client->make_visible().is_ok());
  const uint32_t presented = client->presented_schema_cookie();
  EXPECT_GT(presented, 1u);
  EXPECT_EQ(load_big_endian32(read_bytes(*client, 40, 4).data()), presented);

  // SQLite's writes are translated back: a rolled-back schema change leaves
  // nothing pending, and a committed one stores the coordinator's cookie + 1.
  const Bytes original1 = read_page(*client, 1);
  ASSERT_TRUE(write_page(*client, 1, committed_page1(*client, 3, /*schema_change=*/true)).is_ok());
  EXPECT_EQ(client->presented_schema_cookie(), presented + 1);
  ASSERT_TRUE(write_page(*client, 1, original1).is_ok());
  EXPECT_FALSE(client->has_pending());
  EXPECT_EQ(client->presented_schema_cookie(), presented);
  ASSERT_TRUE(write_page(*client, 1, committed_page1(*client, 3, /*schema_change=*/true)).is_ok());
  ASSERT_TRUE(client->commit().is_ok());
  Result<Frame> frame = decode_frame(*client->log().read(1));
  ASSERT_TRUE(frame.is_ok()) << frame.status().to_string();
  ASSERT_EQ(frame->pages.size(), 1u);
  EXPECT_EQ(load_big_endian32(frame->pages[0].data.data() + 40), 2u);
  EXPECT_EQ(client->presented_schema_cookie(), presented + 1);

  // Frames that leave the stored cookie alone leave the presented one alone:
  // SQLite keeps its parsed schema.
  auto second = open_storage();
  ASSERT_TRUE(second->receive_frame(0, *coordinator->log().read(0)).is_ok());
  ASSERT_TRUE(second->make_visible().is_ok());
  const uint32_t before = second->presented_schema_cookie();
  ASSERT_TRUE(write_page(*coordinator, 1, committed_page1(*coordinator, 4)).is_ok());
  ASSERT_TRUE(write_page(*coordinator, 2, pattern_page(4)).is_ok());
  ASSERT_TRUE(coordinator->commit().is_ok());
  ASSERT_TRUE(second->receive_frame(1, *coordinator->log().read(1)).is_ok());
  ASSERT_TRUE(second->make_visible().is_ok());
  EXPECT_EQ(second->presented_schema_cookie(), before);
}

TEST(StorageTest, TruncateShrinksPendingFileAndTravelsInFrames) {
  auto coordinator = open_storage();
  for (uint32_t page_no = 1; page_no <= 5; ++page_no) {
    ASSERT_TRUE(write_page(*coordinator, page_no, pattern_page(page_no)).is_ok());
  }
  ASSERT_TRUE(coordinator->commit().is_ok());
  EXPECT_EQ(coordinator->truncate(100).code(), StatusCode::kInvalidArgument);

  ASSERT_TRUE(write_page(*coordinator, 6, pattern_page(6)).is_ok());
  ASSERT_TRUE(coordinator->truncate(3 * kPageSize).is_ok());
  EXPECT_EQ(coordinator->file_size(), 3 * kPageSize);
  EXPECT_TRUE(coordinator->has_pending());
  EXPECT_EQ(read_page(*coordinator, 4), Bytes(kPageSize, 0));
  EXPECT_EQ(read_page(*coordinator, 6), Bytes(kPageSize, 0));
  ASSERT_TRUE(coordinator->commit().is_ok());
  EXPECT_EQ(coordinator->file_size(), 3 * kPageSize);

  Result<Frame> frame = decode_frame(*coordinator->log().read(1));
  ASSERT_TRUE(frame.is_ok());
  EXPECT_EQ(frame->database_pages, 3u);
  EXPECT_TRUE(frame->pages.empty());

  auto client = open_storage();
  for (Lsn lsn = 0; lsn < 2; ++lsn) {
    ASSERT_TRUE(client->receive_frame(lsn, *coordinator->log().read(lsn)).is_ok());
    ASSERT_TRUE(client->make_visible().is_ok());
  }
  EXPECT_EQ(client->file_size(), 3 * kPageSize);
  EXPECT_EQ(read_page(*client, 3), pattern_page(3));
  EXPECT_EQ(read_page(*client, 4), Bytes(kPageSize, 0));
}

// Pages cut off by a truncate read as zeros when the file grows again, and a
// frame carries those zeros to other replicas.
TEST(StorageTest, GrowingAfterTruncateReadsZeros) {
  auto storage = open_storage();
  for (uint32_t page_no = 1; page_no <= 5; ++page_no) {
    ASSERT_TRUE(write_page(*storage, page_no, pattern_page(page_no)).is_ok());
  }
  ASSERT_TRUE(storage->commit().is_ok());
  ASSERT_TRUE(storage->truncate(2 * kPageSize).is_ok());
  ASSERT_TRUE(write_page(*storage, 4, pattern_page(40)).is_ok());
  EXPECT_EQ(read_page(*storage, 3), Bytes(kPageSize, 0));
  EXPECT_EQ(read_page(*storage, 4), pattern_page(40));
  EXPECT_EQ(read_page(*storage, 5), Bytes(kPageSize, 0));
  ASSERT_TRUE(storage->truncate(5 * kPageSize).is_ok());
  EXPECT_EQ(read_page(*storage, 5), Bytes(kPageSize, 0));
  ASSERT_TRUE(storage->commit().is_ok());

  auto reopened = Storage::open(copy_log(storage->log()));
  ASSERT_TRUE(reopened.is_ok()) << reopened.status().to_string();
  for (uint32_t page_no = 2; page_no <= 5; ++page_no) {
    EXPECT_EQ(read_page(**reopened, page_no), read_page(*storage, page_no)) << "page " << page_no;
  }
}

class ReceiveFrameTest : public ::testing::Test {
 protected:
  void SetUp() override {
    coordinator_ = open_storage();
    client_ = open_storage();
    for (uint32_t round = 1; round <= 3; ++round) {
      ASSERT_TRUE(write_page(*coordinator_, 1, committed_page1(*coordinator_, round)).is_ok());
      ASSERT_TRUE(write_page(*coordinator_, round + 1, pattern_page(round)).is_ok());
      ASSERT_TRUE(coordinator_->commit().is_ok());
    }
    ASSERT_TRUE(client_->receive_frame(0, frame(0)).is_ok());
    ASSERT_TRUE(client_->make_visible().is_ok());
    snapshot_ = snapshot();
  }

  Bytes frame(Lsn lsn) {
    Result<ByteView> entry = coordinator_->log().read(lsn);
    EXPECT_TRUE(entry.is_ok());
    return Bytes(entry->begin(), entry->end());
  }

  // Everything observable about the client.
  std::string snapshot() {
    std::string state = client_->log().range().to_string() + " visible_next=" +
                        std::to_string(client_->visible_next()) +
                        " counter=" + std::to_string(client_->file_change_counter()) +
                        " size=" + std::to_string(client_->file_size());
    for (uint32_t page_no = 1; page_no <= 5; ++page_no) {
      state += " " + std::to_string(checksum64(read_page(*client_, page_no)));
    }
    return state;
  }

  void expect_rejected(Lsn lsn, const Bytes& bytes, StatusCode code, const std::string& message) {
    Status status = client_->receive_frame(lsn, bytes);
    EXPECT_EQ(status.code(), code) << status.to_string();
    EXPECT_NE(status.message().find(message), std::string::npos) << status.to_string();
    EXPECT_EQ(snapshot(), snapshot_);
  }

  std::unique_ptr<Storage> coordinator_;
  std::unique_ptr<Storage> client_;
  std::string snapshot_;
};

TEST_F(ReceiveFrameTest, RejectsGapsAndResends) {
  expect_rejected(2, frame(2), StatusCode::kInvalidArgument, "next lsn is 1");
  expect_rejected(0, frame(0), StatusCode::kInvalidArgument, "lsn 0");
}

TEST_F(ReceiveFrameTest, RejectsFrameClaimingAnotherLsn) {
  expect_rejected(1, frame(2), StatusCode::kCorruption, "lsn 2");
}

TEST_F(ReceiveFrameTest, RejectsBrokenChain) {
  // A well-formed frame at the right lsn that follows some other history.
  std::map<uint32_t, PagePtr> pages = {{2, std::make_shared<Page>()}};
  const Bytes forged = encode_page_frame(1, 12345, 3, pages);
  expect_rejected(1, forged, StatusCode::kCorruption, "frame chain broken at lsn 1");
}

TEST_F(ReceiveFrameTest, RejectsCorruptBytes) {
  Bytes corrupt = frame(1);
  corrupt[corrupt.size() / 2] ^= 0x10;
  expect_rejected(1, corrupt, StatusCode::kCorruption, "lsn 1");
  Bytes truncated = frame(1);
  truncated.pop_back();
  expect_rejected(1, truncated, StatusCode::kCorruption, "lsn 1");
  Bytes newer = frame(1);
  newer[4] = kFrameVersion + 1;
  expect_rejected(1, newer, StatusCode::kUnsupported, "version");
}

TEST_F(ReceiveFrameTest, ReceivedFramesStayInvisibleUntilMadeVisible) {
  const uint32_t counter = client_->file_change_counter();
  ASSERT_TRUE(client_->receive_frame(1, frame(1)).is_ok());
  ASSERT_TRUE(client_->receive_frame(2, frame(2)).is_ok());
  EXPECT_TRUE(client_->has_invisible_frames());
  EXPECT_EQ(client_->visible_next(), 1u);
  EXPECT_EQ(snapshot().substr(snapshot().find(" counter")), snapshot_.substr(snapshot_.find(" counter")));

  // Pending pages block make_visible; commit is refused too.
  ASSERT_TRUE(write_page(*client_, 5, pattern_page(50)).is_ok());
  EXPECT_EQ(client_->make_visible().code(), StatusCode::kBusy);
  EXPECT_EQ(client_->commit().status().code(), StatusCode::kBusy);
  EXPECT_EQ(client_->visible_next(), 1u);
  client_->reset();

  ASSERT_TRUE(client_->make_visible().is_ok());
  EXPECT_FALSE(client_->has_invisible_frames());
  EXPECT_EQ(client_->visible_next(), 3u);
  EXPECT_EQ(client_->file_change_counter(), counter + 2);  // reset, then make_visible
  for (uint32_t page_no = 2; page_no <= 4; ++page_no) {
    EXPECT_EQ(read_page(*client_, page_no), read_page(*coordinator_, page_no)) << "page " << page_no;
  }
  const uint32_t before = client_->file_change_counter();
  ASSERT_TRUE(client_->make_visible().is_ok());  // nothing new
  EXPECT_EQ(client_->file_change_counter(), before);
}

TEST(StorageOpenTest, MakesExistingFramesVisible) {
  auto coordinator = open_storage();
  for (uint32_t round = 1; round <= 4; ++round) {
    ASSERT_TRUE(write_page(*coordinator, round, pattern_page(round)).is_ok());
    ASSERT_TRUE(coordinator->commit().is_ok());
  }
  auto reopened = Storage::open(copy_log(coordinator->log()));
  ASSERT_TRUE(reopened.is_ok()) << reopened.status().to_string();
  Storage& storage = **reopened;
  EXPECT_EQ(storage.visible_next(), 4u);
  EXPECT_FALSE(storage.has_invisible_frames());
  EXPECT_FALSE(storage.has_pending());
  EXPECT_EQ(storage.file_size(), 4 * kPageSize);
  for (uint32_t page_no = 2; page_no <= 4; ++page_no) {
    EXPECT_EQ(read_page(storage, page_no), pattern_page(page_no));
  }
  // It continues the same chain.
  ASSERT_TRUE(write_page(storage, 5, pattern_page(5)).is_ok());
  ASSERT_TRUE(storage.commit().is_ok());
  ASSERT_TRUE(write_page(*coordinator, 5, pattern_page(5)).is_ok());
  ASSERT_TRUE(coordinator->commit().is_ok());
  EXPECT_EQ(Bytes(storage.log().read(4)->begin(), storage.log().read(4)->end()),
            Bytes(coordinator->log().read(4)->begin(), coordinator->log().read(4)->end()));
}

TEST(StorageOpenTest, RejectsCorruptOrBrokenLog) {
  auto coordinator = open_storage();
  for (uint32_t round = 1; round <= 3; ++round) {
    ASSERT_TRUE(write_page(*coordinator, round, pattern_page(round)).is_ok());
    ASSERT_TRUE(coordinator->commit().is_ok());
  }
  auto build = [&](Lsn replaced, const Bytes& bytes) {
    auto log = std::make_unique<MemoryJournal>(test_id(1));
    for (Lsn lsn = 0; lsn < 3; ++lsn) {
      ByteView entry = lsn == replaced ? ByteView(bytes) : *coordinator->log().read(lsn);
      EXPECT_TRUE(log->append(entry).is_ok());
    }
    return Storage::open(std::move(log)).status();
  };
  Bytes corrupt(coordinator->log().read(1)->begin(), coordinator->log().read(1)->end());
  corrupt[40] ^= 1;
  Status status = build(1, corrupt);
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("lsn 1"), std::string::npos) << status.to_string();

  std::map<uint32_t, PagePtr> pages = {{2, std::make_shared<Page>()}};
  status = build(2, encode_page_frame(2, 99, 3, pages));
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("frame chain broken at lsn 2"), std::string::npos) << status.to_string();

  EXPECT_EQ(Storage::open(nullptr).status().code(), StatusCode::kInvalidArgument);
}

// A log that starts after LSN 0 (its beginning lives elsewhere): the first
// frame's link cannot be checked, the ones after it can.
TEST(StorageOpenTest, LogStartingAfterZeroChecksLinksFromItsFirstFrame) {
  auto coordinator = open_storage();
  for (uint32_t round = 1; round <= 3; ++round) {
    ASSERT_TRUE(write_page(*coordinator, round, pattern_page(round)).is_ok());
    ASSERT_TRUE(coordinator->commit().is_ok());
  }
  auto client = open_storage(1);
  ASSERT_TRUE(client->receive_frame(1, *coordinator->log().read(1)).is_ok());
  std::map<uint32_t, PagePtr> pages = {{2, std::make_shared<Page>()}};
  EXPECT_EQ(client->receive_frame(2, encode_page_frame(2, 7, 3, pages)).code(), StatusCode::kCorruption);
  ASSERT_TRUE(client->receive_frame(2, *coordinator->log().read(2)).is_ok());
}

TEST(ChangesTest, Intersects) {
  Changes changes;
  changes.roots = {2, 5, 9};
  EXPECT_TRUE(changes.intersects({1, 5}));
  EXPECT_TRUE(changes.intersects({9}));
  EXPECT_TRUE(changes.intersects({1, 2, 3, 4}));
  EXPECT_FALSE(changes.intersects({1, 3, 4, 6, 10}));
  EXPECT_FALSE(changes.intersects({}));
  EXPECT_FALSE(Changes().intersects({1, 2}));
  changes.full = true;
  EXPECT_TRUE(changes.intersects({3}));
  EXPECT_TRUE(changes.intersects({}));
}

// Change tracking over hand-built pages in SQLite's format: page 1 header
// with auto-vacuum on, pointer-map page(s), and pages of a few b-trees.
class ChangeTrackingTest : public ::testing::Test {
 protected:
  static constexpr uint8_t kRoot = 1, kFree = 2, kFirstOverflow = 3, kLaterOverflow = 4, kChild = 5;

  // Page 1 of an auto-vacuum database whose largest root is `largest_root`.
  static Bytes header_page(uint32_t schema_cookie, uint32_t largest_root, uint8_t reserved_bytes = 0) {
    Bytes page(kPageSize, 0);
    std::memcpy(page.data(), "SQLite format 3", 16);
    page[16] = 0x10;  // page size 4096, big-endian
    page[20] = reserved_bytes;
    store_big_endian32(page.data() + 40, schema_cookie);
    store_big_endian32(page.data() + 52, largest_root);
    return page;
  }

  struct Entry {
    uint32_t page_no;
    uint8_t type;
    uint32_t parent;
  };
  static Bytes ptrmap_page(uint32_t map_page, std::initializer_list<Entry> entries) {
    Bytes page(kPageSize, 0);
    for (const Entry& entry : entries) {
      const size_t offset = 5 * (entry.page_no - map_page - 1);
      page[offset] = entry.type;
      store_big_endian32(page.data() + offset + 1, entry.parent);
    }
    return page;
  }

  // Tables with roots 3 and 4; 5 and 6 under 3; 6 has an overflow chain
  // 7 -> 8; 9 is free; 10 is under 4; 11 and 12 point at each other; 13
  // points past the file.
  static Bytes base_ptrmap() {
    return ptrmap_page(2, {{3, kRoot, 0},
                           {4, kRoot, 0},
                           {5, kChild, 3},
                           {6, kChild, 5},
                           {7, kFirstOverflow, 6},
                           {8, kLaterOverflow, 7},
                           {9, kFree, 0},
                           {10, kChild, 4},
                           {11, kChild, 12},
                           {12, kChild, 11},
                           {13, kChild, 999}});
  }

  void SetUp() override {
    storage_ = open_storage();
    ASSERT_TRUE(write_page(*storage_, 1, header_page(1, 4)).is_ok());
    ASSERT_TRUE(write_page(*storage_, 2, base_ptrmap()).is_ok());
    for (uint32_t page_no = 3; page_no <= 13; ++page_no) {
      ASSERT_TRUE(write_page(*storage_, page_no, pattern_page(page_no)).is_ok());
    }
    ASSERT_TRUE(storage_->commit().is_ok());
    Changes initial = storage_->take_changes();
    EXPECT_TRUE(initial.full);  // the schema cookie went from nothing to 1
    EXPECT_TRUE(storage_->take_changes().empty());
  }

  std::vector<uint32_t> roots_after_writing(std::initializer_list<uint32_t> pages) {
    for (uint32_t page_no : pages) {
      EXPECT_TRUE(write_page(*storage_, page_no, pattern_page(page_no + 100)).is_ok());
    }
    Changes changes = storage_->take_changes();
    EXPECT_FALSE(changes.full);
    return changes.roots;
  }

  std::unique_ptr<Storage> storage_;
};

TEST_F(ChangeTrackingTest, PagesMapToTheirRoots) {
  EXPECT_EQ(roots_after_writing({3}), (std::vector<uint32_t>{3}));
  EXPECT_EQ(roots_after_writing({6}), (std::vector<uint32_t>{3}));
  EXPECT_EQ(roots_after_writing({8}), (std::vector<uint32_t>{3}));  // overflow chain
  EXPECT_EQ(roots_after_writing({7, 10}), (std::vector<uint32_t>{3, 4}));
  EXPECT_EQ(roots_after_writing({10, 5, 4}), (std::vector<uint32_t>{3, 4}));
}

TEST_F(ChangeTrackingTest, SchemaPageIsRootOne) {
  ASSERT_TRUE(write_page(*storage_, 1, header_page(1, 4)).is_ok());
  Changes changes = storage_->take_changes();
  EXPECT_FALSE(changes.full);
  EXPECT_EQ(changes.roots, (std::vector<uint32_t>{1}));
}

TEST_F(ChangeTrackingTest, IgnoresPtrmapFreeCyclicAndDanglingPages) {
  EXPECT_EQ(roots_after_writing({2, 9, 11, 12, 13}), (std::vector<uint32_t>{}));
  EXPECT_EQ(roots_after_writing({20}), (std::vector<uint32_t>{}));  // no ptrmap entry: type 0
}

TEST_F(ChangeTrackingTest, SchemaCookieChangeIsFull) {
  ASSERT_TRUE(write_page(*storage_, 1, header_page(2, 4)).is_ok());
  ASSERT_TRUE(write_page(*storage_, 3, pattern_page(1)).is_ok());
  Changes changes = storage_->take_changes();
  EXPECT_TRUE(changes.full);
  EXPECT_TRUE(changes.intersects({42}));
  EXPECT_TRUE(storage_->take_changes().empty());
}

TEST_F(ChangeTrackingTest, SchemaChangeDroppedByResetIsStillFull) {
  ASSERT_TRUE(write_page(*storage_, 1, header_page(2, 4)).is_ok());
  storage_->reset();  // cookie back to 1, but queries saw 2
  EXPECT_TRUE(storage_->take_changes().full);
}

TEST_F(ChangeTrackingTest, WithoutAutoVacuumAnyChangeIsFull) {
  ASSERT_TRUE(write_page(*storage_, 1, header_page(1, 0)).is_ok());
  Changes changes = storage_->take_changes();
  EXPECT_TRUE(changes.full);
  EXPECT_TRUE(storage_->take_changes().empty());

  auto empty = open_storage();  // no page 1 at all
  ASSERT_TRUE(write_page(*empty, 3, pattern_page(3)).is_ok());
  EXPECT_TRUE(empty->take_changes().full);
}

// A page dropped by reset() counts for the table owning it in the pending
// content and for the one owning it in the visible content.
TEST_F(ChangeTrackingTest, ResetCountsOwnersBeforeAndAfter) {
  // Pending: page 10 moves from table 4 to table 3.
  const Bytes moved = ptrmap_page(2, {{3, kRoot, 0}, {4, kRoot, 0}, {10, kChild, 3}});
  ASSERT_TRUE(write_page(*storage_, 2, moved).is_ok());
  ASSERT_TRUE(write_page(*storage_, 10, pattern_page(77)).is_ok());
  storage_->reset();
  Changes changes = storage_->take_changes();
  EXPECT_FALSE(changes.full);
  EXPECT_EQ(changes.roots, (std::vector<uint32_t>{3, 4}));
}

TEST_F(ChangeTrackingTest, FramesMadeVisibleAreChanges) {
  auto client = open_storage();
  ASSERT_TRUE(client->receive_frame(0, *storage_->log().read(0)).is_ok());
  ASSERT_TRUE(client->make_visible().is_ok());
  EXPECT_TRUE(client->take_changes().full);

  ASSERT_TRUE(write_page(*storage_, 8, pattern_page(88)).is_ok());
  ASSERT_TRUE(write_page(*storage_, 10, pattern_page(99)).is_ok());
  ASSERT_TRUE(storage_->commit().is_ok());
  ASSERT_TRUE(client->receive_frame(1, *storage_->log().read(1)).is_ok());
  EXPECT_TRUE(client->take_changes().empty());  // received, not yet visible
  ASSERT_TRUE(client->make_visible().is_ok());
  Changes changes = client->take_changes();
  EXPECT_FALSE(changes.full);
  EXPECT_EQ(changes.roots, (std::vector<uint32_t>{3, 4}));
}

// The usable page size (page size minus reserved bytes) decides how many
// pages each pointer-map page describes, hence where the next one is.
TEST_F(ChangeTrackingTest, SecondPtrmapPageFollowsUsableSize) {
  constexpr uint8_t kReserved = 5;
  constexpr uint32_t kPagesPerMap = (kPageSize - kReserved) / 5 + 1;  // 819: the map and 818 pages
  constexpr uint32_t kSecondMap = 2 + kPagesPerMap;
  auto storage = open_storage();
  ASSERT_TRUE(write_page(*storage, 1, header_page(1, kSecondMap + 1, kReserved)).is_ok());
  ASSERT_TRUE(write_page(*storage, 2, ptrmap_page(2, {{3, kRoot, 0}, {kSecondMap - 1, kChild, 3}})).is_ok());
  const Bytes second_map =
      ptrmap_page(kSecondMap, {{kSecondMap + 1, kRoot, 0}, {kSecondMap + 2, kChild, kSecondMap - 1}});
  ASSERT_TRUE(write_page(*storage, kSecondMap, second_map).is_ok());
  ASSERT_TRUE(write_page(*storage, kSecondMap + 2, pattern_page(1)).is_ok());
  EXPECT_TRUE(storage->take_changes().full);  // the schema cookie appeared

  for (uint32_t page_no : {kSecondMap - 1, kSecondMap + 1, kSecondMap + 2}) {
    ASSERT_TRUE(write_page(*storage, page_no, pattern_page(page_no)).is_ok());
  }
  Changes changes = storage->take_changes();
  EXPECT_FALSE(changes.full);
  EXPECT_EQ(changes.roots, (std::vector<uint32_t>{3, kSecondMap + 1}));
}

// --- Randomized comparison against a reference model ---

// A database file as a list of pages; a missing page reads as zeros.
using ModelFile = std::vector<Bytes>;

const Bytes& model_page(const ModelFile& file, uint32_t page_no) {
  static const Bytes kZeros(kPageSize, 0);
  if (page_no == 0 || page_no > file.size() || file[page_no - 1].empty()) return kZeros;
  return file[page_no - 1];
}

// Page 1's change counter and schema cookie are what the storage presents to
// SQLite, checked on their own; everything else must match byte for byte.
bool is_presented_field(uint32_t page_no, size_t offset) {
  return page_no == 1 && ((offset >= 24 && offset < 28) || (offset >= 40 && offset < 44));
}

bool same_page(uint32_t page_no, const Bytes& x, const Bytes& y) {
  if (page_no != 1) return x == y;
  for (size_t i = 0; i < kPageSize; ++i) {
    if (x[i] != y[i] && !is_presented_field(1, i)) return false;
  }
  return true;
}

bool same_file(const ModelFile& a, const ModelFile& b) {
  if (a.size() != b.size()) return false;
  for (uint32_t page_no = 1; page_no <= a.size(); ++page_no) {
    if (!same_page(page_no, model_page(a, page_no), model_page(b, page_no))) return false;
  }
  return true;
}

// The state of a file: its pages and which schema they hold (an id the model
// hands out at each schema change; 0 for the empty schema).
struct ModelState {
  ModelFile file;
  uint64_t schema = 0;
};

// A replica under test and what it should contain.
struct Replica {
  std::unique_ptr<Storage> storage = open_storage();
  ModelState current;  // what reads return
  // What SQLite's caches assume: one change counter, one content; one
  // presented schema cookie, one schema.
  std::map<uint32_t, uint64_t> content_at_counter;
  std::map<uint32_t, uint64_t> schema_at_cookie;

  uint64_t content_hash() const {
    uint64_t hash = current.file.size();
    Bytes page;
    for (uint32_t page_no = 1; page_no <= current.file.size(); ++page_no) {
      page = model_page(current.file, page_no);
      if (page_no == 1) {
        store_big_endian32(page.data() + 24, 0);
        store_big_endian32(page.data() + 40, 0);
      }
      hash = checksum64_seeded(page, hash);
    }
    return hash;
  }

  void check(std::mt19937& random, const std::string& where) {
    SCOPED_TRACE(where);
    const Storage& s = *storage;
    const ModelFile& file = current.file;
    ASSERT_EQ(s.file_size(), file.size() * kPageSize);
    Bytes page(kPageSize);
    for (uint32_t page_no = 1; page_no <= file.size() + 1; ++page_no) {
      s.read(uint64_t{page_no - 1} * kPageSize, page);
      ASSERT_TRUE(same_page(page_no, page, model_page(file, page_no))) << "page " << page_no;
      if (page_no == 1 && !file.empty()) {
        ASSERT_EQ(counter_in(page), s.file_change_counter());
        ASSERT_EQ(load_big_endian32(page.data() + 40), s.presented_schema_cookie());
      }
    }
    // A read at a random place, possibly across pages and past the end.
    const uint64_t offset = random() % ((file.size() + 1) * kPageSize);
    const size_t length = 1 + random() % (2 * kPageSize);
    const Bytes bytes = read_bytes(s, offset, length);
    for (size_t i = 0; i < length; ++i) {
      const uint64_t position = offset + i;
      const auto page_no = static_cast<uint32_t>(position / kPageSize + 1);
      if (is_presented_field(page_no, position % kPageSize) && !file.empty()) {
        page = read_page(s, 1);
        ASSERT_EQ(bytes[i], page[position]) << "read of " << length << " at " << offset;
      } else {
        ASSERT_EQ(bytes[i], model_page(file, page_no)[position % kPageSize])
            << "read of " << length << " at " << offset << ", byte " << i;
      }
    }

    if (!file.empty()) {
      const uint64_t hash = content_hash();
      auto [content, new_counter] = content_at_counter.emplace(s.file_change_counter(), hash);
      ASSERT_TRUE(new_counter || content->second == hash)
          << "change counter " << s.file_change_counter() << " reused for other content";
      auto [schema, new_cookie] = schema_at_cookie.emplace(s.presented_schema_cookie(), current.schema);
      ASSERT_TRUE(new_cookie || schema->second == current.schema)
          << "schema cookie " << s.presented_schema_cookie() << " reused for another schema";
    }
  }

  // A SQLite-like write transaction: a few pages, maybe a truncate, then page 1
  // with the change counter plus one and the schema cookie, plus one when the
  // schema changes.
  void transaction(std::mt19937& random, const ModelFile& visible, uint64_t& schemas) {
    const int writes = 1 + random() % 3;
    for (int i = 0; i < writes; ++i) {
      const uint32_t page_no = 2 + random() % 12;
      Bytes data = pattern_page(random());
      // Sometimes the visible content again, as a rollback writes it back.
      if (random() % 4 == 0 && page_no <= visible.size() && !visible[page_no - 1].empty()) {
        data = visible[page_no - 1];
      }
      ASSERT_TRUE(write_page(*storage, page_no, data).is_ok());
      if (current.file.size() < page_no) current.file.resize(page_no);
      current.file[page_no - 1] = data;
    }
    if (random() % 6 == 0) {
      const uint32_t pages = 1 + random() % 14;
      ASSERT_TRUE(storage->truncate(uint64_t{pages} * kPageSize).is_ok());
      current.file.resize(pages);
    }
    const bool schema_change = random() % 5 == 0;
    Bytes page1 = committed_page1(*storage, random(), schema_change);
    ASSERT_TRUE(write_page(*storage, 1, page1).is_ok());
    if (current.file.empty()) current.file.resize(1);
    current.file[0] = page1;
    if (schema_change) current.schema = ++schemas;
  }
};

TEST(StorageModelTest, RandomOperationsMatchModel) {
  const uint32_t seed = 20240611;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  uint64_t schemas = 0;

  // The coordinator commits frames; the client writes locally, receives those
  // frames, resets and makes them visible.
  Replica coordinator;
  std::vector<ModelState> committed;  // the coordinator's state after frame i
  Replica client;
  size_t client_visible = 0;  // frames the client's model has made visible

  auto visible_of = [&](size_t frames) { return frames == 0 ? ModelState() : committed[frames - 1]; };

  for (int step = 0; step < 4000; ++step) {
    const std::string where = "step " + std::to_string(step);
    const int op = random() % 100;
    if (op < 20) {
      coordinator.transaction(random, visible_of(committed.size()).file, schemas);
    } else if (op < 30) {
      const bool expected = !same_file(coordinator.current.file, visible_of(committed.size()).file);
      EXPECT_EQ(coordinator.storage->has_pending(), expected) << where;
      Result<bool> result = coordinator.storage->commit();
      ASSERT_TRUE(result.is_ok()) << where << ": " << result.status().to_string();
      ASSERT_EQ(*result, expected) << where;
      if (*result) committed.push_back(coordinator.current);
    } else if (op < 55) {
      client.transaction(random, visible_of(client_visible).file, schemas);
    } else if (op < 65) {
      client.storage->reset();
      client.current = visible_of(client_visible);
    } else if (op < 85) {
      const Lsn next = client.storage->log().range().next();
      if (next < committed.size()) {
        Status received = client.storage->receive_frame(next, *coordinator.storage->log().read(next));
        ASSERT_TRUE(received.is_ok()) << where << ": " << received.to_string();
      }
    } else if (op < 95) {
      const bool pending = !same_file(client.current.file, visible_of(client_visible).file);
      ASSERT_EQ(client.storage->has_pending(), pending) << where;
      Status status = client.storage->make_visible();
      if (pending && client.storage->has_invisible_frames()) {
        ASSERT_EQ(status.code(), StatusCode::kBusy) << where;
      } else {
        ASSERT_TRUE(status.is_ok()) << where << ": " << status.to_string();
        client_visible = client.storage->log().range().next();
        if (!pending) client.current = visible_of(client_visible);
      }
    } else {
      // Change tracking must cope with whatever the pages hold.
      client.storage->take_changes();
      coordinator.storage->take_changes();
    }
    ASSERT_NO_FATAL_FAILURE(coordinator.check(random, where + " (coordinator)"));
    ASSERT_NO_FATAL_FAILURE(client.check(random, where + " (client)"));
  }
  EXPECT_GT(committed.size(), 100u);
  EXPECT_GT(client_visible, 50u);
  EXPECT_GT(client.schema_at_cookie.size(), 50u);

  // Both logs reopen to the state they made visible.
  for (Replica* replica : {&coordinator, &client}) {
    auto reopened = Storage::open(copy_log(replica->storage->log()));
    ASSERT_TRUE(reopened.is_ok()) << reopened.status().to_string();
    const ModelFile expected = visible_of((*reopened)->visible_next()).file;
    ASSERT_EQ((*reopened)->file_size(), expected.size() * kPageSize);
    for (uint32_t page_no = 1; page_no <= expected.size(); ++page_no) {
      ASSERT_TRUE(same_page(page_no, read_page(**reopened, page_no), model_page(expected, page_no)))
          << "page " << page_no;
    }
  }
}

// --- Log compaction ---

// A storage with two committed frames over pages 1..3 (page 2 zero).
std::unique_ptr<Storage> storage_with_history() {
  std::unique_ptr<Storage> storage = open_storage();
  EXPECT_TRUE(write_page(*storage, 1, committed_page1(*storage, 1)).is_ok());
  EXPECT_TRUE(write_page(*storage, 3, pattern_page(3)).is_ok());
  EXPECT_TRUE(storage->commit().is_ok());
  EXPECT_TRUE(write_page(*storage, 3, pattern_page(4)).is_ok());
  EXPECT_TRUE(storage->commit().is_ok());
  return storage;
}

TEST(StorageCompactionTest, SnapshotHoldsVisiblePagesOnly) {
  std::unique_ptr<Storage> storage = storage_with_history();
  const Bytes snapshot = storage->snapshot_frame();
  ASSERT_TRUE(write_page(*storage, 3, pattern_page(9)).is_ok());  // pending: not in the snapshot
  EXPECT_EQ(storage->snapshot_frame(), snapshot);
  Result<Frame> frame = decode_frame(snapshot);
  ASSERT_TRUE(frame.is_ok()) << frame.status().to_string();
  EXPECT_EQ(frame->lsn, 0u);
  EXPECT_EQ(frame->previous_checksum, 0u);
  EXPECT_EQ(frame->database_pages, 3u);
  ASSERT_EQ(frame->pages.size(), 2u);  // the zero page 2 is left out
  EXPECT_EQ(Bytes(frame->pages[1].data.begin(), frame->pages[1].data.end()), pattern_page(4));
}

TEST(StorageCompactionTest, EndLogThenSwitchToSnapshotKeepsContent) {
  std::unique_ptr<Storage> storage = storage_with_history();
  const Bytes snapshot = storage->snapshot_frame();
  ASSERT_TRUE(storage->end_log(test_id(2), snapshot_hash(snapshot)).is_ok());
  ASSERT_TRUE(storage->end_of_log().has_value());
  EXPECT_EQ(storage->end_of_log()->next_log, test_id(2));
  EXPECT_EQ(storage->log().range().next(), 3u);
  ASSERT_TRUE(write_page(*storage, 3, pattern_page(8)).is_ok());
  EXPECT_EQ(storage->commit().status().code(), StatusCode::kBusy);  // the log has ended
  storage->reset();
  const Bytes before = read_bytes(*storage, 0, 3 * kPageSize);

  // A reopened copy of the ended log sees the marker too.
  std::unique_ptr<Storage> reopened = Storage::open(copy_log(storage->log())).value();
  ASSERT_TRUE(reopened->end_of_log().has_value());
  EXPECT_EQ(reopened->end_of_log()->snapshot_hash, snapshot_hash(snapshot));

  auto wrong = std::make_unique<MemoryJournal>(test_id(2));
  ASSERT_TRUE(wrong->append(encode_page_frame(0, 0, 1, {})).is_ok());
  EXPECT_EQ(storage->switch_log(std::move(wrong)).status().code(), StatusCode::kInvalidArgument);

  auto next = std::make_unique<MemoryJournal>(test_id(2));
  ASSERT_TRUE(next->append(snapshot).is_ok());
  Result<std::unique_ptr<Journal>> previous = storage->switch_log(std::move(next));
  ASSERT_TRUE(previous.is_ok()) << previous.status().to_string();
  EXPECT_EQ((*previous)->id(), test_id(1));
  EXPECT_EQ(storage->log().id(), test_id(2));
  EXPECT_FALSE(storage->end_of_log().has_value());
  EXPECT_EQ(read_bytes(*storage, 0, 3 * kPageSize), before);
  // Commits continue in the new log, chained to the snapshot.
  ASSERT_TRUE(write_page(*storage, 2, pattern_page(5)).is_ok());
  ASSERT_TRUE(storage->commit().is_ok());
  EXPECT_EQ(storage->log().range().next(), 2u);
  ASSERT_TRUE(Storage::open(copy_log(storage->log())).is_ok());
}

TEST(StorageCompactionTest, SwitchToEmptyLogKeepsPagesUntilSnapshotArrives) {
  std::unique_ptr<Storage> source = storage_with_history();
  const Bytes snapshot = source->snapshot_frame();
  const Bytes expected = read_bytes(*source, 0, 3 * kPageSize);

  // A replica whose pages differ (one extra page).
  std::unique_ptr<Storage> replica = storage_with_history();
  ASSERT_TRUE(write_page(*replica, 4, pattern_page(6)).is_ok());
  ASSERT_TRUE(replica->commit().is_ok());
  const Bytes stale = read_bytes(*replica, 0, 4 * kPageSize);
  ASSERT_TRUE(replica->switch_log(std::make_unique<MemoryJournal>(test_id(2))).is_ok());
  EXPECT_EQ(read_bytes(*replica, 0, 4 * kPageSize), stale);
  (void)replica->take_changes();
  ASSERT_TRUE(replica->receive_frame(0, snapshot).is_ok());
  ASSERT_TRUE(replica->make_visible().is_ok());
  EXPECT_EQ(replica->file_size(), 3 * kPageSize);
  Bytes now = read_bytes(*replica, 0, 3 * kPageSize);
  // The change counter is the replica's own; everything else is the source's.
  store_big_endian32(now.data() + 24, counter_in(expected));
  EXPECT_EQ(now, expected);
  EXPECT_TRUE(replica->take_changes().full);
}

}  // namespace
}  // namespace sqlsync
