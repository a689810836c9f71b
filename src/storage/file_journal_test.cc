#include "storage/file_journal.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/fault_env.h"
#include "base/memory_env.h"
#include "sim/test_status.h"

namespace sqlsync {
namespace {

// The documented layout (docs/storage-format.md, "Journal files"), which the
// tests use to find and damage records on disk.
constexpr uint64_t kHeaderBytes = 40;
constexpr uint64_t kRecordOverhead = 28;

const std::string kDir = "/data/journal";

JournalId test_id(uint8_t tag = 0x42) {
  std::array<uint8_t, JournalId::kSize> bytes{};
  bytes[0] = tag;
  bytes[15] = 0x17;
  return JournalId(bytes);
}

// Recognizable content of `size` bytes for each LSN (distinct for sizes
// of 12 and more).
std::string entry_for(Lsn lsn, size_t size = 12) {
  std::string text = "entry-" + std::to_string(lsn) + "-";
  while (text.size() < size) text += static_cast<char>('a' + (lsn + text.size()) % 26);
  text.resize(size);
  return text;
}

std::string read_text(Journal& journal, Lsn lsn) {
  Result<ByteView> entry = journal.read(lsn);
  EXPECT_TRUE(entry.is_ok()) << "lsn " << lsn << ": " << entry.status().to_string();
  return entry.is_ok() ? std::string(as_text(*entry)) : std::string();
}

std::unique_ptr<FileJournal> open_ok(Env& env, const std::string& dir = kDir, Lsn next = 0,
                                     FileJournal::Options options = {}) {
  auto journal = FileJournal::open(&env, dir, test_id(), next, options);
  EXPECT_TRUE(journal.is_ok()) << journal.status().to_string();
  return journal.is_ok() ? std::move(journal).value() : nullptr;
}

void append_all(FileJournal& journal, Lsn from, Lsn to, size_t size = 12) {
  for (Lsn lsn = from; lsn < to; ++lsn) ASSERT_OK(journal.append(as_bytes(entry_for(lsn, size))));
}

void expect_entries(FileJournal& journal, Lsn first, Lsn next, size_t size = 12) {
  EXPECT_EQ(journal.range(), LsnRange::half_open(first, next));
  for (Lsn lsn = first; lsn < next; ++lsn) EXPECT_EQ(read_text(journal, lsn), entry_for(lsn, size));
}

std::vector<std::string> segment_files(Env& env, const std::string& dir = kDir) {
  auto names = env.list_dir(dir);
  EXPECT_TRUE(names.is_ok()) << names.status().to_string();
  std::vector<std::string> segments;
  if (!names.is_ok()) return segments;
  for (const std::string& name : *names) {
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0) segments.push_back(name);
  }
  return segments;
}

Bytes read_whole(Env& env, const std::string& path) {
  auto content = env.read_file(path);
  EXPECT_TRUE(content.is_ok()) << content.status().to_string();
  return content.is_ok() ? *content : Bytes();
}

void write_whole(Env& env, const std::string& path, const Bytes& content) {
  auto file = env.open_file(path, OpenMode::kCreateTruncate);
  ASSERT_OK(file);
  ASSERT_OK((*file)->write_at(0, content));
  ASSERT_OK((*file)->sync());
}

void flip_byte(Env& env, const std::string& path, uint64_t offset) {
  Bytes content = read_whole(env, path);
  ASSERT_LT(offset, content.size());
  content[offset] ^= 0x5a;
  write_whole(env, path, content);
}

// Offset of the record for `lsn` in a segment starting at `first` whose
// entries all have `size` bytes.
uint64_t record_offset(Lsn first, Lsn lsn, size_t size = 12) {
  return kHeaderBytes + (lsn - first) * (kRecordOverhead + size);
}

bool contains(const Bytes& haystack, const std::string& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
}

class FileJournalTest : public ::testing::Test {
 protected:
  MemoryEnv env_{1};
};

TEST_F(FileJournalTest, AppendsReadsAndReopens) {
  {
    auto journal = open_ok(env_);
    ASSERT_NE(journal, nullptr);
    EXPECT_EQ(journal->id(), test_id());
    EXPECT_EQ(journal->range(), LsnRange::empty(0));
    append_all(*journal, 0, 3);
    expect_entries(*journal, 0, 3);
    ASSERT_OK(journal->sync());
    expect_entries(*journal, 0, 3);
    ASSERT_OK(journal->append(ByteView()));  // an empty entry is an entry
    ASSERT_OK(journal->sync());
  }
  auto journal = open_ok(env_);
  ASSERT_NE(journal, nullptr);
  EXPECT_EQ(journal->range(), LsnRange::inclusive(0, 3));
  for (Lsn lsn = 0; lsn < 3; ++lsn) EXPECT_EQ(read_text(*journal, lsn), entry_for(lsn));
  ASSERT_OK(journal->read(3));
  EXPECT_TRUE(journal->read(3)->empty());
  EXPECT_EQ(journal->durable_next(), 4u);
  Status outside = journal->read(4).status();
  EXPECT_EQ(outside.code(), StatusCode::kNotFound);
  EXPECT_NE(outside.message().find("lsn 4"), std::string::npos) << outside.to_string();
  ASSERT_OK(journal->verify());
}

// A coordinator reads each new frame once per replica: a repeated read is
// served from the last record read, and must be exactly that entry.
TEST_F(FileJournalTest, RepeatedAndInterleavedReadsReturnTheirOwnEntries) {
  auto journal = open_ok(env_);
  ASSERT_NE(journal, nullptr);
  for (Lsn lsn = 0; lsn < 4; ++lsn) ASSERT_OK(journal->append(as_bytes(entry_for(lsn, 12 + 7 * lsn))));
  ASSERT_OK(journal->sync());
  ASSERT_OK(journal->append(as_bytes(entry_for(4, 40))));  // still pending, not in the file
  for (Lsn lsn : {1, 1, 1, 2, 1, 4, 1, 0, 0, 3, 4, 3}) {
    EXPECT_EQ(read_text(*journal, lsn), entry_for(lsn, lsn == 4 ? 40 : 12 + 7 * lsn)) << "lsn " << lsn;
  }
}

TEST_F(FileJournalTest, NewJournalStartsAtNextAndKeepsItAcrossReopen) {
  { ASSERT_NE(open_ok(env_, kDir, 1000), nullptr); }
  auto journal = open_ok(env_, kDir, 5);  // `next` only matters on creation
  ASSERT_NE(journal, nullptr);
  EXPECT_EQ(journal->range(), LsnRange::empty(1000));
  ASSERT_OK(journal->append(as_bytes(entry_for(1000))));
  ASSERT_OK(journal->sync());
  EXPECT_EQ(segment_files(env_), std::vector<std::string>{"00000000000003e8.log"});
}

TEST_F(FileJournalTest, SyncMakesAppendsDurableAndSyncsNothingTwice) {
  FaultInjectionEnv env(&env_);
  auto journal = open_ok(env);
  ASSERT_NE(journal, nullptr);
  append_all(*journal, 0, 2);
  EXPECT_EQ(journal->durable_next(), 0u);
  ASSERT_OK(journal->sync());
  EXPECT_EQ(journal->durable_next(), 2u);
  append_all(*journal, 2, 5);
  EXPECT_EQ(journal->durable_next(), 2u);
  env.reset_counts();
  ASSERT_OK(journal->sync());
  EXPECT_EQ(env.count(IoOp::kSync), 1u);  // one sync for three appends
  EXPECT_EQ(journal->durable_next(), 5u);

  env.reset_counts();
  ASSERT_OK(journal->sync());
  ASSERT_OK(journal->drop_prefix(0));
  ASSERT_OK(journal->drop_prefix(0));  // already dropped
  // The first drop only: the metadata file, then its directory.
  EXPECT_EQ(env.count(IoOp::kSync), 1u);
  EXPECT_EQ(env.count(IoOp::kSyncDir), 1u);
  env.reset_counts();
  ASSERT_OK(journal->sync());
  EXPECT_EQ(env.total_count(), 0u);
}

TEST_F(FileJournalTest, CrashKeepsSyncedEntriesAndAPrefixOfTheRest) {
  for (CrashMode mode : {CrashMode::kDropUnsynced, CrashMode::kCorruptUnsyncedTail}) {
    for (size_t size : {0, 1, 12, 100}) {
      SCOPED_TRACE("mode " + std::to_string(static_cast<int>(mode)) + ", entry size " + std::to_string(size));
      MemoryEnv env(3);
      {
        auto journal = open_ok(env);
        ASSERT_NE(journal, nullptr);
        append_all(*journal, 0, 6, size);
        ASSERT_OK(journal->sync());
        append_all(*journal, 6, 40, size);
        // Part of the unsynced tail reaches the file, the rest stays buffered.
        ASSERT_OK(journal->append(Bytes(70 << 10, 'x')));
        append_all(*journal, 41, 45, size);
      }
      env.simulate_crash(mode, 9);
      auto journal = open_ok(env);
      ASSERT_NE(journal, nullptr);
      EXPECT_EQ(journal->range().first(), 0u);
      EXPECT_GE(journal->range().next(), 6u);
      if (mode == CrashMode::kDropUnsynced) {
        EXPECT_EQ(journal->range().next(), 6u);
      }
      for (Lsn lsn = 0; lsn < journal->range().next() && lsn < 40; ++lsn) {
        EXPECT_EQ(read_text(*journal, lsn), entry_for(lsn, size));
      }
      EXPECT_EQ(journal->durable_next(), journal->range().next());
      ASSERT_OK(journal->verify());
      Lsn next = journal->range().next();
      ASSERT_OK(journal->append(as_bytes("after")));
      ASSERT_OK(journal->sync());
      EXPECT_EQ(read_text(*journal, next), "after");
    }
  }
}

TEST_F(FileJournalTest, RollsSegmentsNamedByFirstLsn) {
  FileJournal::Options options;
  options.segment_bytes = kHeaderBytes + 3 * (kRecordOverhead + 12);  // three entries each
  {
    auto journal = open_ok(env_, kDir, 0, options);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 10);
    expect_entries(*journal, 0, 10);
    ASSERT_OK(journal->sync());
    ASSERT_OK(journal->verify());
  }
  EXPECT_EQ(segment_files(env_), (std::vector<std::string>{"0000000000000000.log", "0000000000000003.log",
                                                           "0000000000000006.log", "0000000000000009.log"}));
  // Every segment, its creation included, is durable.
  env_.simulate_crash(CrashMode::kDropUnsynced);
  auto journal = open_ok(env_, kDir, 0, options);
  ASSERT_NE(journal, nullptr);
  expect_entries(*journal, 0, 10);
  append_all(*journal, 10, 13);
  ASSERT_OK(journal->sync());
  expect_entries(*journal, 0, 13);
  EXPECT_EQ(segment_files(env_).back(), "000000000000000c.log");
}

TEST_F(FileJournalTest, OversizedEntryIsRefusedAndTheJournalCarriesOn) {
  auto journal = open_ok(env_);
  ASSERT_NE(journal, nullptr);
  Bytes huge(FileJournal::kMaxEntryBytes + 1, 7);
  Status status = journal->append(huge);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("exceeds the limit"), std::string::npos) << status.to_string();
  EXPECT_EQ(journal->range(), LsnRange::empty(0));
  append_all(*journal, 0, 1);
  ASSERT_OK(journal->sync());
  expect_entries(*journal, 0, 1);
}

TEST_F(FileJournalTest, LargeEntriesRoundTrip) {
  Bytes big(3 << 20);
  std::mt19937_64 rng(5);
  for (uint8_t& b : big) b = static_cast<uint8_t>(rng());
  {
    auto journal = open_ok(env_);
    ASSERT_NE(journal, nullptr);
    ASSERT_OK(journal->append(big));
    append_all(*journal, 1, 3);
    auto read = journal->read(0);
    ASSERT_OK(read);
    EXPECT_TRUE(std::equal(read->begin(), read->end(), big.begin(), big.end()));
    ASSERT_OK(journal->sync());
  }
  auto journal = open_ok(env_);
  ASSERT_NE(journal, nullptr);
  auto read = journal->read(0);
  ASSERT_OK(read);
  EXPECT_TRUE(std::equal(read->begin(), read->end(), big.begin(), big.end()));
  EXPECT_EQ(read_text(*journal, 2), entry_for(2));
}

TEST_F(FileJournalTest, WrongIdIsRefused) {
  { ASSERT_NE(open_ok(env_), nullptr); }
  auto other = FileJournal::open(&env_, kDir, test_id(0x99));
  ASSERT_FALSE(other.is_ok());
  EXPECT_EQ(other.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(other.status().message().find(test_id().to_hex()), std::string::npos) << other.status().to_string();
}

TEST_F(FileJournalTest, StoredIdReadsTheMetadataWithoutOpening) {
  EXPECT_EQ(FileJournal::stored_id(&env_, kDir).status().code(), StatusCode::kNotFound);
  { ASSERT_NE(open_ok(env_), nullptr); }
  auto id = FileJournal::stored_id(&env_, kDir);
  ASSERT_OK(id);
  EXPECT_EQ(*id, test_id());
  flip_byte(env_, kDir + "/metadata", 20);
  EXPECT_EQ(FileJournal::stored_id(&env_, kDir).status().code(), StatusCode::kCorruption);
}

TEST_F(FileJournalTest, SegmentSizeAboveTheLimitIsRefused) {
  FileJournal::Options options;
  options.segment_bytes = FileJournal::kMaxSegmentBytes + 1;
  EXPECT_EQ(FileJournal::open(&env_, kDir, test_id(), 0, options).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(FileJournalTest, DropPrefixDeletesWholeSegmentsAndFirstSurvivesReopen) {
  FileJournal::Options options;
  options.segment_bytes = kHeaderBytes + 4 * (kRecordOverhead + 12);
  {
    auto journal = open_ok(env_, kDir, 0, options);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 10);  // segments at 0, 4, 8
    ASSERT_OK(journal->sync());
    ASSERT_OK(journal->drop_prefix(5));
    EXPECT_EQ(journal->range(), LsnRange::inclusive(6, 9));
    EXPECT_EQ(journal->read(5).status().code(), StatusCode::kNotFound);
    expect_entries(*journal, 6, 10);
    EXPECT_EQ(segment_files(env_), (std::vector<std::string>{"0000000000000004.log", "0000000000000008.log"}));
    ASSERT_OK(journal->verify());
  }
  env_.simulate_crash(CrashMode::kDropUnsynced);
  auto journal = open_ok(env_, kDir, 0, options);
  ASSERT_NE(journal, nullptr);
  expect_entries(*journal, 6, 10);
  ASSERT_OK(journal->drop_prefix(2));  // already dropped: nothing happens
  EXPECT_EQ(journal->range().first(), 6u);
}

TEST_F(FileJournalTest, DroppingEverythingLeavesNoEntryOnDisk) {
  FileJournal::Options options;
  options.segment_bytes = kHeaderBytes + 4 * (kRecordOverhead + 12);
  {
    auto journal = open_ok(env_, kDir, 0, options);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 7);
    ASSERT_OK(journal->sync());
    append_all(*journal, 7, 9);  // never synced: dropped all the same
    ASSERT_OK(journal->drop_prefix(1000));
    EXPECT_EQ(journal->range(), LsnRange::empty(9));
    EXPECT_EQ(journal->durable_next(), 9u);
    EXPECT_TRUE(segment_files(env_).empty());
    auto names = env_.list_dir(kDir);
    ASSERT_OK(names);
    for (const std::string& name : *names) {
      Bytes content = read_whole(env_, kDir + "/" + name);
      for (Lsn lsn = 0; lsn < 9; ++lsn) EXPECT_FALSE(contains(content, entry_for(lsn))) << name << " lsn " << lsn;
    }
  }
  env_.simulate_crash(CrashMode::kDropUnsynced);
  {
    auto journal = open_ok(env_, kDir, 0, options);
    ASSERT_NE(journal, nullptr);
    EXPECT_EQ(journal->range(), LsnRange::empty(9));
    append_all(*journal, 9, 11);
    ASSERT_OK(journal->sync());
    EXPECT_EQ(segment_files(env_), std::vector<std::string>{"0000000000000009.log"});
  }
  auto journal = open_ok(env_, kDir, 0, options);
  ASSERT_NE(journal, nullptr);
  expect_entries(*journal, 9, 11);
}

TEST_F(FileJournalTest, TornTailIsDroppedAndTheFileTruncated) {
  const std::string segment = kDir + "/0000000000000000.log";
  {
    auto journal = open_ok(env_);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 5);
    ASSERT_OK(journal->sync());
  }
  // Cut the last record in half, then add half a header of garbage.
  Bytes content = read_whole(env_, segment);
  ASSERT_EQ(content.size(), record_offset(0, 5));
  content.resize(record_offset(0, 4) + 17);
  write_whole(env_, segment, content);
  {
    auto journal = open_ok(env_);
    ASSERT_NE(journal, nullptr);
    expect_entries(*journal, 0, 4);
    EXPECT_EQ(read_whole(env_, segment).size(), record_offset(0, 4));
    ASSERT_OK(journal->verify());
    append_all(*journal, 4, 6);
    ASSERT_OK(journal->sync());
  }
  content = read_whole(env_, segment);
  content.insert(content.end(), {1, 2, 3, 4, 5, 6, 7, 8, 9});
  write_whole(env_, segment, content);
  auto journal = open_ok(env_);
  ASSERT_NE(journal, nullptr);
  expect_entries(*journal, 0, 6);
}

TEST_F(FileJournalTest, DamageWithinTheLastUnprovenBatchIsATornTail) {
  // Entries 0..9 were written and synced together: nothing written after
  // them proves they were synced, so damage to entry 3 with intact entries
  // after it looks exactly like a write torn by a crash (the OS may write
  // the pages of one batch in any order) and is dropped.
  const std::string segment = kDir + "/0000000000000000.log";
  {
    auto journal = open_ok(env_);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 10);
    ASSERT_OK(journal->sync());
  }
  flip_byte(env_, segment, record_offset(0, 3) + kRecordOverhead);
  auto journal = open_ok(env_);
  ASSERT_NE(journal, nullptr);
  expect_entries(*journal, 0, 3);
}

TEST_F(FileJournalTest, CorruptMiddleIsRefusedWithFileOffsetAndLsn) {
  const std::string segment = kDir + "/0000000000000000.log";
  {
    auto journal = open_ok(env_);
    ASSERT_NE(journal, nullptr);
    for (Lsn lsn = 0; lsn < 10; ++lsn) {
      append_all(*journal, lsn, lsn + 1);
      ASSERT_OK(journal->sync());
    }
  }
  const uint64_t offset = record_offset(0, 3);
  for (uint64_t damaged : {offset + 2, offset + 9, offset + kRecordOverhead + 4}) {  // length, lsn, payload
    SCOPED_TRACE("damaged byte " + std::to_string(damaged));
    flip_byte(env_, segment, damaged);
    auto journal = FileJournal::open(&env_, kDir, test_id());
    ASSERT_FALSE(journal.is_ok());
    const Status& status = journal.status();
    EXPECT_EQ(status.code(), StatusCode::kCorruption);
    EXPECT_NE(status.message().find(segment), std::string::npos) << status.to_string();
    EXPECT_NE(status.message().find("offset " + std::to_string(offset) + " (lsn 3)"), std::string::npos)
        << status.to_string();
    flip_byte(env_, segment, damaged);  // repaired
  }
  auto journal = open_ok(env_);
  ASSERT_NE(journal, nullptr);
  expect_entries(*journal, 0, 10);
}

TEST_F(FileJournalTest, DamageInAnOlderSegmentIsAlwaysCorruption) {
  FileJournal::Options options;
  options.segment_bytes = kHeaderBytes + 4 * (kRecordOverhead + 12);
  {
    auto journal = open_ok(env_, kDir, 0, options);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 6);
    ASSERT_OK(journal->sync());
  }
  const std::string segment = kDir + "/0000000000000000.log";
  flip_byte(env_, segment, record_offset(0, 3) + kRecordOverhead);
  auto journal = FileJournal::open(&env_, kDir, test_id(), 0, options);
  EXPECT_EQ(journal.status().code(), StatusCode::kCorruption);
  EXPECT_NE(journal.status().message().find("(lsn 3)"), std::string::npos) << journal.status().to_string();
}

TEST_F(FileJournalTest, MissingSegmentIsCorruption) {
  FileJournal::Options options;
  options.segment_bytes = kHeaderBytes + 2 * (kRecordOverhead + 12);
  {
    auto journal = open_ok(env_, kDir, 0, options);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 6);
    ASSERT_OK(journal->sync());
  }
  ASSERT_OK(env_.remove_file(kDir + "/0000000000000002.log"));
  auto journal = FileJournal::open(&env_, kDir, test_id(), 0, options);
  EXPECT_EQ(journal.status().code(), StatusCode::kCorruption);
  EXPECT_NE(journal.status().message().find("0000000000000004.log' starts at lsn 4 but lsn 2 should follow"),
            std::string::npos)
      << journal.status().to_string();
}

TEST_F(FileJournalTest, TornSegmentCreationIsUndone) {
  {
    auto journal = open_ok(env_);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 3);
    ASSERT_OK(journal->sync());
  }
  // A crash while the next segment's header was being written.
  Bytes header = read_whole(env_, kDir + "/0000000000000000.log");
  header.resize(23);
  write_whole(env_, kDir + "/0000000000000003.log", header);
  auto journal = open_ok(env_);
  ASSERT_NE(journal, nullptr);
  expect_entries(*journal, 0, 3);
  EXPECT_EQ(segment_files(env_), std::vector<std::string>{"0000000000000000.log"});
  append_all(*journal, 3, 4);
  ASSERT_OK(journal->sync());
  expect_entries(*journal, 0, 4);
}

TEST_F(FileJournalTest, DamagedMetadataOrSegmentHeaderIsCorruption) {
  {
    auto journal = open_ok(env_);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 3);
    ASSERT_OK(journal->sync());
  }
  for (const std::string name : {"metadata", "0000000000000000.log"}) {
    SCOPED_TRACE(name);
    flip_byte(env_, kDir + "/" + name, 20);  // inside the journal id
    auto journal = FileJournal::open(&env_, kDir, test_id());
    EXPECT_EQ(journal.status().code(), StatusCode::kCorruption);
    EXPECT_NE(journal.status().message().find("checksum mismatch"), std::string::npos) << journal.status().to_string();
    EXPECT_NE(journal.status().message().find(name), std::string::npos) << journal.status().to_string();
    flip_byte(env_, kDir + "/" + name, 20);
  }
  ASSERT_NE(open_ok(env_), nullptr);
}

TEST_F(FileJournalTest, NewerFormatVersionIsUnsupported) {
  { ASSERT_NE(open_ok(env_), nullptr); }
  Bytes metadata = read_whole(env_, kDir + "/metadata");
  metadata[4] = 2;  // version, little-endian u16
  write_whole(env_, kDir + "/metadata", metadata);
  auto journal = FileJournal::open(&env_, kDir, test_id());
  EXPECT_EQ(journal.status().code(), StatusCode::kUnsupported) << journal.status().to_string();
}

TEST_F(FileJournalTest, VerifyFindsDamageAfterOpen) {
  FileJournal::Options options;
  options.segment_bytes = kHeaderBytes + 4 * (kRecordOverhead + 12);
  auto journal = open_ok(env_, kDir, 0, options);
  ASSERT_NE(journal, nullptr);
  append_all(*journal, 0, 6);
  ASSERT_OK(journal->sync());
  append_all(*journal, 6, 7);  // buffered: not on disk, not re-read
  ASSERT_OK(journal->verify());
  flip_byte(env_, kDir + "/0000000000000000.log", record_offset(0, 1) + kRecordOverhead);
  Status status = journal->verify();
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("(lsn 1)"), std::string::npos) << status.to_string();
  EXPECT_EQ(journal->read(1).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(read_text(*journal, 2), entry_for(2));
}

TEST_F(FileJournalTest, AnIoErrorMakesTheJournalRefuseWritesUntilReopened) {
  FaultInjectionEnv env(&env_);
  {
    auto journal = open_ok(env);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 3);
    ASSERT_OK(journal->sync());
    append_all(*journal, 3, 5);
    env.fail_after(0, IoOp::kSync);
    Status failed = journal->sync();
    EXPECT_EQ(failed.code(), StatusCode::kIOError);
    EXPECT_EQ(journal->durable_next(), 3u);
    Status refused = journal->append(as_bytes("more"));
    EXPECT_EQ(refused.code(), StatusCode::kIOError);
    EXPECT_NE(refused.message().find("reopen"), std::string::npos) << refused.to_string();
    EXPECT_FALSE(journal->sync().is_ok());
    EXPECT_FALSE(journal->drop_prefix(1).is_ok());
    expect_entries(*journal, 0, 5);  // reads still work
  }
  auto journal = open_ok(env);
  ASSERT_NE(journal, nullptr);
  expect_entries(*journal, 0, 5);  // written before the failed sync; no crash lost them
  append_all(*journal, 5, 6);
  ASSERT_OK(journal->sync());
}

TEST_F(FileJournalTest, ASegmentWhoseCreationFailedBecomesDurableOnReopen) {
  FaultInjectionEnv env(&env_);
  FileJournal::Options options;
  options.segment_bytes = kHeaderBytes + kRecordOverhead + 12;  // one entry each
  {
    auto journal = open_ok(env, kDir, 0, options);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 1);
    ASSERT_OK(journal->sync());
    env.fail_after(0, IoOp::kSyncDir);  // the next segment's directory entry
    EXPECT_EQ(journal->append(as_bytes(entry_for(1))).code(), StatusCode::kIOError);
    EXPECT_EQ(journal->range(), LsnRange::inclusive(0, 0));
  }
  // No crash: the new segment file is there, but its creation is not durable.
  EXPECT_EQ(segment_files(env_).size(), 2u);
  {
    auto journal = open_ok(env, kDir, 0, options);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 1, 2);  // into that segment: no new one to sync the directory
    ASSERT_OK(journal->sync());
  }
  env_.simulate_crash(CrashMode::kDropUnsynced);
  auto journal = open_ok(env, kDir, 0, options);
  ASSERT_NE(journal, nullptr);
  expect_entries(*journal, 0, 2);
}

TEST_F(FileJournalTest, RemoveDeletesFilesAndDirectory) {
  {
    auto journal = open_ok(env_);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 3);
    ASSERT_OK(journal->sync());
  }
  ASSERT_OK(FileJournal::remove(&env_, kDir));
  auto exists = env_.file_exists(kDir);
  ASSERT_OK(exists);
  EXPECT_FALSE(*exists);
  ASSERT_OK(FileJournal::remove(&env_, kDir));  // absent: fine
  auto journal = open_ok(env_, kDir, 7);
  ASSERT_NE(journal, nullptr);
  EXPECT_EQ(journal->range(), LsnRange::empty(7));
}

TEST_F(FileJournalTest, AnInterruptedRemoveLeavesNoJournal) {
  FaultInjectionEnv env(&env_);
  {
    auto journal = open_ok(env);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 3);
    ASSERT_OK(journal->sync());
  }
  // Crash right after the metadata file's removal was synced (list_dir,
  // remove, sync_dir).
  env.crash_after(3);
  EXPECT_FALSE(FileJournal::remove(&env, kDir).is_ok());
  env_.simulate_crash(CrashMode::kDropUnsynced);
  env.clear_faults();
  EXPECT_EQ(segment_files(env_).size(), 1u);
  auto journal = open_ok(env, kDir, 50);
  ASSERT_NE(journal, nullptr);
  EXPECT_EQ(journal->range(), LsnRange::empty(50));
  EXPECT_TRUE(segment_files(env_).empty());
}

// ---------------------------------------------------------------------------
// Randomized crashes at every kind of I/O step.

// What the test knows of a journal across crashes.
struct Model {
  std::map<Lsn, std::string> entries;  // every entry appended and not known dropped
  Lsn next = 0;
  Lsn acknowledged_first = 0;  // first LSN once the last successful drop_prefix returned
  Lsn attempted_first = 0;     // the largest first LSN any drop_prefix tried
  Lsn acknowledged_next = 0;   // durable_next() after the last successful call
};

struct CrashRun {
  uint64_t seed;
  std::mt19937_64 rng;
  MemoryEnv memory;
  FaultInjectionEnv env;
  FileJournal::Options options;
  std::unique_ptr<FileJournal> journal;
  Model model;
  std::map<std::string, int>* failed_steps;  // step name -> failures injected there

  CrashRun(uint64_t seed, std::map<std::string, int>* failed_steps)
      : seed(seed), rng(seed), memory(seed), env(&memory), failed_steps(failed_steps) {
    options.segment_bytes = 200 + rng() % 1200;
  }

  uint64_t pick(uint64_t bound) { return rng() % bound; }

  std::string make_entry(Lsn lsn) {
    uint64_t kind = pick(100);
    size_t size = kind < 2 ? (40 << 10) + pick(40 << 10) : kind < 20 ? pick(3) : pick(90);
    return entry_for(lsn, size);
  }

  void note_failure(const Status& status) {
    const std::string& message = status.message();
    ++(*failed_steps)[message.substr(0, message.find(' '))];
  }

  // Runs random operations until one fails or `budget` of them ran.
  void workload(int budget) {
    for (int i = 0; i < budget; ++i) {
      uint64_t op = pick(100);
      if (op < 55) {
        Lsn lsn = journal->range().next();
        std::string entry = make_entry(lsn);
        Status status = journal->append(as_bytes(entry));
        if (!status.is_ok()) return note_failure(status);
        model.entries[lsn] = entry;
        model.next = lsn + 1;
      } else if (op < 75) {
        Status status = journal->sync();
        if (!status.is_ok()) return note_failure(status);
        ASSERT_EQ(journal->durable_next(), journal->range().next());
        model.acknowledged_next = journal->durable_next();
      } else if (op < 85) {
        LsnRange range = journal->range();
        Lsn last = pick(10) == 0 ? range.next() + 5 : range.first() + pick(range.size() + 1);
        Lsn first = std::min(last + 1, range.next());
        model.attempted_first = std::max(model.attempted_first, first);
        Status status = journal->drop_prefix(last);
        if (!status.is_ok()) return note_failure(status);
        model.acknowledged_first = std::max(model.acknowledged_first, first);
        model.acknowledged_next = std::max(model.acknowledged_next, journal->durable_next());
        ASSERT_EQ(journal->range().first(), std::max(first, range.first()));
      } else if (op < 97) {
        LsnRange range = journal->range();
        if (range.is_empty()) continue;
        Lsn lsn = range.first() + pick(range.size());
        Result<ByteView> entry = journal->read(lsn);
        if (!entry.is_ok()) return note_failure(entry.status());
        ASSERT_EQ(std::string(as_text(*entry)), model.entries[lsn]) << "lsn " << lsn;
      } else {
        Status status = journal->verify();
        if (!status.is_ok()) return note_failure(status);
      }
    }
  }

  // Reopens after a crash (or a failure without one) and checks that every
  // acknowledged entry is intact and nothing else appeared.
  void recover_and_check() {
    journal.reset();
    // Sometimes recovery itself crashes first.
    if (pick(4) == 0) {
      static constexpr IoOp kTargets[] = {IoOp::kTruncate, IoOp::kSync, IoOp::kSyncDir, IoOp::kRemove};
      if (pick(2) == 0) {
        env.crash_after(pick(12));
      } else {
        env.crash_after(0, kTargets[pick(std::size(kTargets))]);
      }
      auto interrupted = FileJournal::open(&env, kDir, test_id(), 0, options);
      if (!interrupted.is_ok()) note_failure(interrupted.status());
      memory.simulate_crash(pick(2) == 0 ? CrashMode::kDropUnsynced : CrashMode::kCorruptUnsyncedTail, rng());
      env.clear_faults();
    }
    auto reopened = FileJournal::open(&env, kDir, test_id(), 0, options);
    ASSERT_OK(reopened);
    journal = std::move(reopened).value();
    LsnRange range = journal->range();
    ASSERT_GE(range.first(), model.acknowledged_first);
    ASSERT_LE(range.first(), std::max(model.attempted_first, model.acknowledged_first));
    ASSERT_GE(range.next(), model.acknowledged_next) << "a synced entry was lost";
    ASSERT_LE(range.next(), std::max(model.next, range.first()));
    ASSERT_EQ(journal->durable_next(), range.next());
    for (Lsn lsn = range.first(); lsn < range.next(); ++lsn) {
      ASSERT_EQ(read_text(*journal, lsn), model.entries[lsn]) << "lsn " << lsn;
    }
    ASSERT_OK(journal->verify());
    model.entries.erase(model.entries.begin(), model.entries.lower_bound(range.first()));
    model.entries.erase(model.entries.lower_bound(range.next()), model.entries.end());
    model.next = range.next();
    model.acknowledged_first = model.attempted_first = range.first();
    model.acknowledged_next = range.next();
  }

  void run(int crashes) {
    Lsn start = pick(3) == 0 ? pick(1000) : 0;
    auto opened = FileJournal::open(&env, kDir, test_id(), start, options);
    ASSERT_OK(opened);
    journal = std::move(opened).value();
    model.next = model.acknowledged_first = model.attempted_first = model.acknowledged_next = start;
    for (int crash = 0; crash < crashes; ++crash) {
      SCOPED_TRACE("crash " + std::to_string(crash));
      std::optional<IoOp> only;
      static constexpr IoOp kTargets[] = {IoOp::kWrite, IoOp::kSync,   IoOp::kRename, IoOp::kSyncDir,
                                          IoOp::kOpen,  IoOp::kRemove, IoOp::kRead};
      if (pick(2) == 0) only = kTargets[pick(std::size(kTargets))];
      uint64_t after = pick(only.has_value() ? 6 : 40);
      bool is_crash = pick(4) != 0;
      if (is_crash) {
        env.crash_after(after, only);
      } else {
        env.fail_after(after, only);
      }
      workload(300);
      if (::testing::Test::HasFatalFailure()) return;
      // A failure without a crash may still be followed by a power loss.
      if (is_crash || pick(2) == 0) {
        memory.simulate_crash(pick(2) == 0 ? CrashMode::kDropUnsynced : CrashMode::kCorruptUnsyncedTail, rng());
      }
      env.clear_faults();
      recover_and_check();
      if (::testing::Test::HasFatalFailure()) return;
      ASSERT_OK(journal->append(as_bytes("continues")));
      model.entries[model.next] = "continues";
      ++model.next;
    }
  }
};

TEST(FileJournalCrashTest, RandomCrashesNeverLoseSyncedEntries) {
  constexpr uint64_t kBaseSeed = 20261127;
  constexpr int kRuns = 1000;
  constexpr int kCrashesPerRun = 5;  // 5,000 crash points
  const char* only_seed = getenv("SQLSYNC_JOURNAL_CRASH_SEED");
  std::map<std::string, int> failed_steps;
  for (int i = 0; i < kRuns; ++i) {
    uint64_t seed = only_seed != nullptr ? std::strtoull(only_seed, nullptr, 10) : kBaseSeed + i;
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun alone with SQLSYNC_JOURNAL_CRASH_SEED=" + std::to_string(seed) + ")");
    CrashRun run(seed, &failed_steps);
    run.run(kCrashesPerRun);
    if (HasFatalFailure() || only_seed != nullptr) return;
  }
  std::string summary;
  for (const auto& [step, count] : failed_steps) summary += " " + step + "=" + std::to_string(count);
  std::printf("injected failures by step:%s\n", summary.c_str());
  // Crashes and failures hit every kind of step the journal takes.
  for (const char* step : {"open", "write", "sync", "rename", "sync_dir", "remove", "read", "truncate", "list_dir"}) {
    EXPECT_TRUE(failed_steps.count(step) > 0) << "no crash at a '" << step << "' step";
  }
}

// ---------------------------------------------------------------------------
// The real file system.

TEST(FileJournalPosixTest, PersistsInADirectoryAndRemovesIt) {
  char pattern[] = "/tmp/sqlsync_file_journal_XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string dir = std::string(pattern) + "/documents/journal";
  Env* env = Env::posix();
  FileJournal::Options options;
  options.segment_bytes = 4096;
  {
    auto journal = open_ok(*env, dir, 0, options);
    ASSERT_NE(journal, nullptr);
    append_all(*journal, 0, 200);
    ASSERT_OK(journal->sync());
    ASSERT_OK(journal->drop_prefix(99));
  }
  {
    auto journal = open_ok(*env, dir, 0, options);
    ASSERT_NE(journal, nullptr);
    expect_entries(*journal, 100, 200);
    ASSERT_OK(journal->verify());
    EXPECT_GT(segment_files(*env, dir).size(), 1u);
  }
  ASSERT_OK(FileJournal::remove(env, dir));
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_TRUE(std::filesystem::exists(std::string(pattern) + "/documents"));
  std::filesystem::remove_all(pattern);
}

}  // namespace
}  // namespace sqlsync
