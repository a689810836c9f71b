#include "storage/journal.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sqlsync {
namespace {

JournalId test_id() {
  std::array<uint8_t, JournalId::kSize> bytes{};
  bytes[0] = 0x42;
  return JournalId(bytes);
}

std::string read_text(Journal& journal, Lsn lsn) {
  Result<ByteView> entry = journal.read(lsn);
  EXPECT_TRUE(entry.is_ok()) << entry.status().to_string();
  return entry.is_ok() ? std::string(as_text(*entry)) : std::string();
}

TEST(MemoryJournalTest, AppendsAtNextLsnAndReadsBack) {
  MemoryJournal journal(test_id());
  EXPECT_EQ(journal.id(), test_id());
  EXPECT_TRUE(journal.range().is_empty());
  EXPECT_EQ(journal.range().next(), 0u);
  for (const char* text : {"zero", "one", "two"}) ASSERT_TRUE(journal.append(as_bytes(text)).is_ok());
  EXPECT_EQ(journal.range(), LsnRange::inclusive(0, 2));
  EXPECT_EQ(read_text(journal, 0), "zero");
  EXPECT_EQ(read_text(journal, 1), "one");
  EXPECT_EQ(read_text(journal, 2), "two");
}

TEST(MemoryJournalTest, StartsAtGivenLsn) {
  MemoryJournal journal(test_id(), 10);
  EXPECT_EQ(journal.range(), LsnRange::empty(10));
  ASSERT_TRUE(journal.append(as_bytes("ten")).is_ok());
  EXPECT_EQ(journal.range(), LsnRange::inclusive(10, 10));
  EXPECT_EQ(read_text(journal, 10), "ten");
}

TEST(MemoryJournalTest, EmptyEntriesAreEntries) {
  MemoryJournal journal(test_id());
  ASSERT_TRUE(journal.append(ByteView()).is_ok());
  EXPECT_EQ(journal.range(), LsnRange::inclusive(0, 0));
  Result<ByteView> entry = journal.read(0);
  ASSERT_TRUE(entry.is_ok());
  EXPECT_TRUE(entry->empty());
}

TEST(MemoryJournalTest, ReadOutsideRangeIsNotFound) {
  MemoryJournal journal(test_id(), 5);
  EXPECT_EQ(journal.read(5).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(journal.append(as_bytes("five")).is_ok());
  EXPECT_EQ(journal.read(4).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(journal.read(6).status().code(), StatusCode::kNotFound);
  Status status = journal.read(6).status();
  EXPECT_NE(status.message().find("lsn 6"), std::string::npos) << status.to_string();
}

TEST(MemoryJournalTest, DropPrefixMovesFirstButNotNext) {
  MemoryJournal journal(test_id());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(journal.append(as_bytes(std::to_string(i))).is_ok());
  ASSERT_TRUE(journal.drop_prefix(1).is_ok());
  EXPECT_EQ(journal.range(), LsnRange::inclusive(2, 4));
  EXPECT_EQ(journal.read(1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(read_text(journal, 2), "2");

  // Dropping what is already gone changes nothing.
  ASSERT_TRUE(journal.drop_prefix(0).is_ok());
  EXPECT_EQ(journal.range(), LsnRange::inclusive(2, 4));

  // Dropping past the end empties the journal but keeps the next lsn.
  ASSERT_TRUE(journal.drop_prefix(100).is_ok());
  EXPECT_EQ(journal.range(), LsnRange::empty(5));
  ASSERT_TRUE(journal.append(as_bytes("5")).is_ok());
  EXPECT_EQ(journal.range(), LsnRange::inclusive(5, 5));
  EXPECT_EQ(read_text(journal, 5), "5");
}

TEST(ScanJournalTest, VisitsRangeInOrder) {
  MemoryJournal journal(test_id(), 3);
  for (int i = 3; i < 8; ++i) ASSERT_TRUE(journal.append(as_bytes(std::to_string(i))).is_ok());
  std::vector<std::string> seen;
  Status status = scan_journal(journal, LsnRange::inclusive(4, 6), [&](Lsn lsn, ByteView entry) {
    EXPECT_EQ(std::to_string(lsn), as_text(entry));
    seen.emplace_back(as_text(entry));
    return Status::ok();
  });
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(seen, (std::vector<std::string>{"4", "5", "6"}));
}

TEST(ScanJournalTest, StopsAtVisitorError) {
  MemoryJournal journal(test_id());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(journal.append(as_bytes(std::to_string(i))).is_ok());
  int visits = 0;
  Status status = scan_journal(journal, journal.range(), [&](Lsn lsn, ByteView) {
    ++visits;
    return lsn == 2 ? Status::corruption("stop at 2") : Status::ok();
  });
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_EQ(visits, 3);
}

TEST(ScanJournalTest, StopsAtMissingEntry) {
  MemoryJournal journal(test_id());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(journal.append(as_bytes(std::to_string(i))).is_ok());
  int visits = 0;
  Status status = scan_journal(journal, LsnRange::inclusive(1, 5), [&](Lsn, ByteView) {
    ++visits;
    return Status::ok();
  });
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_EQ(visits, 2);
}

TEST(ScanJournalTest, EmptyRangeVisitsNothing) {
  MemoryJournal journal(test_id());
  ASSERT_TRUE(journal.append(as_bytes("0")).is_ok());
  int visits = 0;
  Status status = scan_journal(journal, LsnRange::empty(0), [&](Lsn, ByteView) {
    ++visits;
    return Status::ok();
  });
  EXPECT_TRUE(status.is_ok());
  EXPECT_EQ(visits, 0);
}

}  // namespace
}  // namespace sqlsync
