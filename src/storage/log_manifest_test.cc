// The LOGS manifest on its own (docs/storage-format.md, "Log manifest"):
// byte layout, round trip, refusal of every kind of damage, and a crash at
// every I/O step of a publish.
#include "storage/log_manifest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "base/checksum.h"
#include "base/fault_env.h"
#include "base/memory_env.h"
#include "sim/test_status.h"
#include "storage/file_journal.h"

namespace sqlsync {
namespace {

constexpr const char* kDir = "/doc";
constexpr const char* kPath = "/doc/LOGS";

std::string describe(const LogManifest& manifest) {
  std::string out = "current " + manifest.current.to_hex() + " retained [";
  for (const JournalId& log : manifest.retained) out += " " + log.to_hex();
  return out + " ]";
}

void put_u32(Bytes& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

void put_u64(Bytes& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

void put_id(Bytes& out, const JournalId& id) { out.insert(out.end(), id.view().begin(), id.view().end()); }

// A manifest file built by hand from the doc's byte table: `count` is
// written as given, so it may disagree with `retained`.
Bytes handmade(uint32_t magic, uint8_t version, const JournalId& current, uint32_t count,
               const std::vector<JournalId>& retained) {
  Bytes out;
  put_u32(out, magic);
  out.push_back(version);
  put_id(out, current);
  put_u32(out, count);
  for (const JournalId& log : retained) put_id(out, log);
  put_u64(out, checksum64(out));
  return out;
}

class LogManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(env_.create_dir_durably(kDir));
    document_ = env_.new_journal_id();
    for (int i = 0; i < 3; ++i) logs_.push_back(env_.new_journal_id());
  }

  void write_raw(const Bytes& bytes) {
    auto file = env_.open_file(kPath, OpenMode::kCreateTruncate);
    ASSERT_OK(file);
    ASSERT_OK((*file)->write_at(0, bytes));
    ASSERT_OK((*file)->sync());
  }

  // Reads the manifest and expects it refused with `code`, the message
  // naming the file and containing `reason`.
  void expect_refused(const Bytes& bytes, StatusCode code, const std::string& reason) {
    write_raw(bytes);
    Result<LogManifest> read = read_log_manifest(env_, kDir, document_);
    ASSERT_FALSE(read.is_ok()) << "accepted " << bytes.size() << " bytes as " << describe(*read);
    EXPECT_EQ(read.status().code(), code) << read.status().to_string();
    EXPECT_NE(read.status().message().find(kPath), std::string::npos) << read.status().to_string();
    EXPECT_NE(read.status().message().find(reason), std::string::npos) << read.status().to_string();
  }

  MemoryEnv env_{42};
  JournalId document_;
  std::vector<JournalId> logs_;
};

TEST_F(LogManifestTest, AbsentFileNamesTheFirstLogAlone) {
  auto read = read_log_manifest(env_, kDir, document_);
  ASSERT_OK(read);
  EXPECT_EQ(describe(*read), describe(LogManifest{document_, {}}));
  // Reading creates nothing.
  auto names = env_.list_dir(kDir);
  ASSERT_OK(names);
  EXPECT_TRUE(names->empty());
}

TEST_F(LogManifestTest, RoundTripsCurrentAndRetainedLogsInOrder) {
  for (size_t retained = 0; retained <= logs_.size(); ++retained) {
    LogManifest manifest{env_.new_journal_id(), {}};
    // Newest first on purpose: the order written is the order read.
    for (size_t i = retained; i > 0; --i) manifest.retained.push_back(logs_[i - 1]);
    ASSERT_OK(publish_log_manifest(env_, kDir, manifest));
    auto read = read_log_manifest(env_, kDir, document_);
    ASSERT_OK(read);
    EXPECT_EQ(describe(*read), describe(manifest));
  }
}

TEST_F(LogManifestTest, FileMatchesTheDocumentedByteTable) {
  const LogManifest manifest{logs_[2], {document_, logs_[0]}};
  ASSERT_OK(publish_log_manifest(env_, kDir, manifest));
  auto bytes = env_.read_file(kPath);
  ASSERT_OK(bytes);
  ASSERT_EQ(bytes->size(), 25u + 16 * 2 + 8);
  // "SQQM" at offset 0, version 1 at offset 4.
  EXPECT_EQ(std::string(bytes->begin(), bytes->begin() + 4), "SQQM");
  EXPECT_EQ((*bytes)[4], 1);
  EXPECT_EQ(*bytes, handmade(0x4d515153, 1, logs_[2], 2, {document_, logs_[0]}));
}

TEST_F(LogManifestTest, PublishReplacesTheWholeFileAndLeavesNoTemporary) {
  ASSERT_OK(publish_log_manifest(env_, kDir, LogManifest{logs_[0], {document_, logs_[1], logs_[2]}}));
  const LogManifest shorter{logs_[2], {}};
  ASSERT_OK(publish_log_manifest(env_, kDir, shorter));
  auto read = read_log_manifest(env_, kDir, document_);
  ASSERT_OK(read);
  EXPECT_EQ(describe(*read), describe(shorter));
  auto names = env_.list_dir(kDir);
  ASSERT_OK(names);
  EXPECT_EQ(*names, std::vector<std::string>{"LOGS"});
  // Durable: a crash right after the publish keeps it.
  env_.simulate_crash();
  read = read_log_manifest(env_, kDir, document_);
  ASSERT_OK(read);
  EXPECT_EQ(describe(*read), describe(shorter));
}

TEST_F(LogManifestTest, PublishIntoAMissingDirectoryFails) {
  Status status = publish_log_manifest(env_, "/nowhere", LogManifest{logs_[0], {}});
  EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.to_string();
}

TEST_F(LogManifestTest, RefusesAShortFile) {
  expect_refused({}, StatusCode::kCorruption, "too short (0 bytes)");
  expect_refused(Bytes(7, 0), StatusCode::kCorruption, "too short (7 bytes)");
}

TEST_F(LogManifestTest, RefusesATruncatedFile) {
  const Bytes good = handmade(kLogManifestMagic, kLogManifestVersion, logs_[0], 2, {logs_[1], logs_[2]});
  for (size_t size : {good.size() - 1, good.size() - 8, good.size() - 16, size_t{8}}) {
    SCOPED_TRACE("truncated to " + std::to_string(size) + " bytes");
    expect_refused(Bytes(good.begin(), good.begin() + static_cast<ptrdiff_t>(size)), StatusCode::kCorruption,
                   "checksum mismatch");
  }
}

TEST_F(LogManifestTest, RefusesTrailingBytes) {
  Bytes longer = handmade(kLogManifestMagic, kLogManifestVersion, logs_[0], 1, {logs_[1]});
  longer.push_back(0);
  expect_refused(longer, StatusCode::kCorruption, "checksum mismatch");
  // A whole extra id with a checksum that covers it: the count disagrees.
  expect_refused(handmade(kLogManifestMagic, kLogManifestVersion, logs_[0], 1, {logs_[1], logs_[2]}),
                 StatusCode::kCorruption, "size does not match 1 retained logs");
}

TEST_F(LogManifestTest, RefusesEveryFlippedByte) {
  const Bytes good = handmade(kLogManifestMagic, kLogManifestVersion, logs_[0], 2, {logs_[1], logs_[2]});
  for (size_t position = 0; position < good.size(); ++position) {
    SCOPED_TRACE("byte " + std::to_string(position) + " flipped");
    Bytes bad = good;
    bad[position] ^= 0x10;
    expect_refused(bad, StatusCode::kCorruption, "checksum mismatch");
  }
}

TEST_F(LogManifestTest, RefusesBadMagicEvenWithAValidChecksum) {
  expect_refused(handmade(0x46535153, kLogManifestVersion, logs_[0], 0, {}), StatusCode::kCorruption, "bad magic");
}

TEST_F(LogManifestTest, RefusesNewerVersionsAsUnsupported) {
  for (uint8_t version : {uint8_t{2}, uint8_t{255}}) {
    SCOPED_TRACE("version " + std::to_string(version));
    expect_refused(handmade(kLogManifestMagic, version, logs_[0], 0, {}), StatusCode::kUnsupported,
                   "has version " + std::to_string(version));
  }
}

TEST_F(LogManifestTest, RefusesVersionZero) {
  write_raw(handmade(kLogManifestMagic, 0, logs_[0], 0, {}));
  Result<LogManifest> read = read_log_manifest(env_, kDir, document_);
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.status().message().find(kPath), std::string::npos) << read.status().to_string();
}

TEST_F(LogManifestTest, RefusesACountThatDisagreesWithTheSize) {
  expect_refused(handmade(kLogManifestMagic, kLogManifestVersion, logs_[0], 3, {logs_[1], logs_[2]}),
                 StatusCode::kCorruption, "size does not match 3 retained logs");
  // No overflow in the size check.
  expect_refused(handmade(kLogManifestMagic, kLogManifestVersion, logs_[0], 0xffffffff, {}),
                 StatusCode::kCorruption, "size does not match 4294967295 retained logs");
}

// A crash at any I/O step of a publish, with the un-synced bytes dropped or
// torn, leaves the old manifest or the new one, never a broken file; the
// next publish (over a stale LOGS.tmp) then succeeds.
TEST_F(LogManifestTest, CrashAtEveryStepOfPublishLeavesOldOrNew) {
  const LogManifest old_manifest{logs_[0], {document_}};
  const LogManifest new_manifest{logs_[1], {document_, logs_[0]}};
  for (bool had_manifest : {false, true}) {
    for (CrashMode mode : {CrashMode::kDropUnsynced, CrashMode::kCorruptUnsyncedTail}) {
      int crashes = 0;
      int kept_old = 0;
      for (uint64_t step = 0;; ++step) {
        SCOPED_TRACE("had manifest " + std::to_string(had_manifest) + ", mode " + std::to_string(static_cast<int>(mode)) +
                     ", crash at step " + std::to_string(step));
        MemoryEnv memory(step);
        FaultInjectionEnv faulty(&memory);
        ASSERT_OK(memory.create_dir_durably(kDir));
        const LogManifest before = had_manifest ? old_manifest : LogManifest{document_, {}};
        if (had_manifest) ASSERT_OK(publish_log_manifest(memory, kDir, old_manifest));

        faulty.crash_after(step);
        Status published = publish_log_manifest(faulty, kDir, new_manifest);
        if (published.is_ok()) {
          ASSERT_FALSE(faulty.crashed());
          break;
        }
        ASSERT_TRUE(faulty.crashed()) << published.to_string();
        EXPECT_NE(published.message().find("injected crash"), std::string::npos) << published.to_string();
        ++crashes;
        memory.simulate_crash(mode, step);

        auto read = read_log_manifest(memory, kDir, document_);
        ASSERT_OK(read);
        const std::string found = describe(*read);
        ASSERT_TRUE(found == describe(before) || found == describe(new_manifest)) << found;
        kept_old += found == describe(before);

        ASSERT_OK(publish_log_manifest(memory, kDir, new_manifest));
        read = read_log_manifest(memory, kDir, document_);
        ASSERT_OK(read);
        EXPECT_EQ(describe(*read), describe(new_manifest));
      }
      // open, write, sync, read back, rename, sync_dir: each can crash, and
      // the steps before the directory sync keep the old manifest.
      EXPECT_GE(crashes, 6);
      EXPECT_GE(kept_old, 5);
    }
  }
}

TEST_F(LogManifestTest, LogDirectoriesFollowTheLayout) {
  EXPECT_EQ(log_directory(kDir, document_, document_), "/doc/storage");
  EXPECT_EQ(log_directory(kDir, document_, logs_[0]), "/doc/logs/" + logs_[0].to_hex());
}

// Logs the manifest does not name (a compaction or switch that crashed
// before publishing it) are deleted; the first log too once the manifest
// has moved past it.
TEST_F(LogManifestTest, RemovesExactlyTheUnlistedLogs) {
  for (const JournalId& log : {document_, logs_[0], logs_[1], logs_[2]}) {
    auto journal = FileJournal::open(&env_, log_directory(kDir, document_, log), log);
    ASSERT_OK(journal);
  }
  ASSERT_OK(remove_unlisted_logs(env_, kDir, document_, LogManifest{document_, {}}));
  auto logs = env_.list_dir("/doc/logs");
  ASSERT_OK(logs);
  EXPECT_TRUE(logs->empty());
  auto exists = env_.file_exists("/doc/storage");
  ASSERT_OK(exists);
  EXPECT_TRUE(*exists);

  for (const JournalId& log : {logs_[0], logs_[1], logs_[2]}) {
    auto journal = FileJournal::open(&env_, log_directory(kDir, document_, log), log);
    ASSERT_OK(journal);
  }
  ASSERT_OK(remove_unlisted_logs(env_, kDir, document_, LogManifest{logs_[2], {logs_[0]}}));
  logs = env_.list_dir("/doc/logs");
  ASSERT_OK(logs);
  std::vector<std::string> expected{logs_[0].to_hex(), logs_[2].to_hex()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(*logs, expected);
  exists = env_.file_exists("/doc/storage");
  ASSERT_OK(exists);
  EXPECT_FALSE(*exists);
}

}  // namespace
}  // namespace sqlsync
