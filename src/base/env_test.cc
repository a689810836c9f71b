#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "base/fault_env.h"
#include "base/memory_env.h"
#include "sqlsync/env.h"

namespace sqlsync {
namespace {

std::string text_of(const Bytes& bytes) { return std::string(as_text(bytes)); }

// The content of `path`, read through a fresh handle.
std::string read_all(Env& env, const std::string& path) {
  auto file = env.open_file(path, OpenMode::kRead);
  EXPECT_TRUE(file.is_ok()) << file.status().to_string();
  if (!file.is_ok()) return "";
  auto size = (*file)->size();
  EXPECT_TRUE(size.is_ok()) << size.status().to_string();
  Bytes out;
  EXPECT_TRUE((*file)->read_at(0, *size, out).is_ok());
  return text_of(out);
}

void write_all(Env& env, const std::string& path, std::string_view content) {
  auto file = env.open_file(path, OpenMode::kCreateTruncate);
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  ASSERT_TRUE((*file)->write_at(0, as_bytes(content)).is_ok());
  ASSERT_TRUE((*file)->sync().is_ok());
}

bool exists(Env& env, const std::string& path) {
  auto result = env.file_exists(path);
  EXPECT_TRUE(result.is_ok()) << result.status().to_string();
  return result.is_ok() && *result;
}

// ---------------------------------------------------------------------------
// The Env contract, run against every implementation.

enum class EnvKind { kPosix, kPosixSharedSync, kMemory };

class EnvContractTest : public testing::TestWithParam<EnvKind> {
 protected:
  void SetUp() override {
    if (GetParam() != EnvKind::kMemory) {
      char pattern[] = "/tmp/sqlsync_env_test_XXXXXX";
      ASSERT_NE(mkdtemp(pattern), nullptr);
      root_ = pattern;
      env_ = GetParam() == EnvKind::kPosix ? Env::posix() : Env::posix_shared_sync();
    } else {
      memory_ = std::make_unique<MemoryEnv>(7);
      root_ = "/test";
      env_ = memory_.get();
      ASSERT_TRUE(env_->create_dir(root_).is_ok());
    }
  }
  void TearDown() override {
    if (GetParam() != EnvKind::kMemory) std::filesystem::remove_all(root_);
  }

  std::string path(const std::string& name) const { return root_ + "/" + name; }

  std::unique_ptr<File> open(const std::string& name, OpenMode mode) {
    auto file = env_->open_file(path(name), mode);
    EXPECT_TRUE(file.is_ok()) << file.status().to_string();
    return file.is_ok() ? std::move(file).value() : nullptr;
  }

  Env* env_ = nullptr;
  std::unique_ptr<MemoryEnv> memory_;
  std::string root_;
};

TEST_P(EnvContractTest, WriteThenReadBack) {
  auto file = open("a", OpenMode::kCreate);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->write_at(0, as_bytes("hello world")).is_ok());
  EXPECT_EQ(*file->size(), 11u);

  Bytes out;
  ASSERT_TRUE(file->read_at(6, 5, out).is_ok());
  EXPECT_EQ(text_of(out), "world");
  // A read past the end returns what there is.
  ASSERT_TRUE(file->read_at(8, 100, out).is_ok());
  EXPECT_EQ(text_of(out), "rld");
  ASSERT_TRUE(file->read_at(100, 4, out).is_ok());
  EXPECT_TRUE(out.empty());

  ASSERT_TRUE(file->write_at(0, as_bytes("J")).is_ok());
  EXPECT_EQ(read_all(*env_, path("a")), "Jello world");
}

TEST_P(EnvContractTest, WritePastEndFillsTheGapWithZeros) {
  auto file = open("a", OpenMode::kCreate);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->write_at(4, as_bytes("x")).is_ok());
  Bytes out;
  ASSERT_TRUE(file->read_at(0, 10, out).is_ok());
  EXPECT_EQ(out, (Bytes{0, 0, 0, 0, 'x'}));
}

TEST_P(EnvContractTest, AppendWritesAtTheEnd) {
  auto file = open("a", OpenMode::kCreate);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->append(as_bytes("ab")).is_ok());
  ASSERT_TRUE(file->write_at(2, as_bytes("cd")).is_ok());
  ASSERT_TRUE(file->append(as_bytes("ef")).is_ok());
  EXPECT_EQ(*file->size(), 6u);
  EXPECT_EQ(read_all(*env_, path("a")), "abcdef");
}

TEST_P(EnvContractTest, TruncateShrinksAndGrows) {
  auto file = open("a", OpenMode::kCreate);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->write_at(0, as_bytes("abcdef")).is_ok());
  ASSERT_TRUE(file->truncate(2).is_ok());
  EXPECT_EQ(*file->size(), 2u);
  ASSERT_TRUE(file->truncate(4).is_ok());
  Bytes out;
  ASSERT_TRUE(file->read_at(0, 10, out).is_ok());
  EXPECT_EQ(out, (Bytes{'a', 'b', 0, 0}));
}

TEST_P(EnvContractTest, OpenModes) {
  for (OpenMode mode : {OpenMode::kRead, OpenMode::kReadWrite}) {
    auto missing = env_->open_file(path("missing"), mode);
    ASSERT_FALSE(missing.is_ok());
    EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
    EXPECT_NE(missing.status().message().find(path("missing")), std::string::npos)
        << missing.status().to_string();
  }
  EXPECT_FALSE(exists(*env_, path("missing")));

  write_all(*env_, path("a"), "content");
  { auto file = open("a", OpenMode::kCreate); }
  EXPECT_EQ(read_all(*env_, path("a")), "content");
  { auto file = open("a", OpenMode::kReadWrite); }
  EXPECT_EQ(read_all(*env_, path("a")), "content");
  { auto file = open("a", OpenMode::kCreateTruncate); }
  EXPECT_EQ(read_all(*env_, path("a")), "");

  auto read_only = open("a", OpenMode::kRead);
  ASSERT_NE(read_only, nullptr);
  Status write = read_only->write_at(0, as_bytes("x"));
  EXPECT_EQ(write.code(), StatusCode::kIOError) << write.to_string();
  EXPECT_NE(write.message().find(path("a")), std::string::npos) << write.to_string();
}

TEST_P(EnvContractTest, OpeningADirectoryIsAnIOError) {
  ASSERT_TRUE(env_->create_dir(path("dir")).is_ok());
  for (OpenMode mode : {OpenMode::kRead, OpenMode::kReadWrite, OpenMode::kCreate}) {
    auto file = env_->open_file(path("dir"), mode);
    ASSERT_FALSE(file.is_ok());
    EXPECT_EQ(file.status().code(), StatusCode::kIOError) << file.status().to_string();
    EXPECT_NE(file.status().message().find(path("dir")), std::string::npos) << file.status().to_string();
  }
}

TEST_P(EnvContractTest, OpenInMissingDirectoryIsNotFound) {
  auto file = env_->open_file(path("nowhere/a"), OpenMode::kCreate);
  ASSERT_FALSE(file.is_ok());
  EXPECT_EQ(file.status().code(), StatusCode::kNotFound) << file.status().to_string();
}

TEST_P(EnvContractTest, OpenUnderAFileIsAnIOError) {
  write_all(*env_, path("a"), "x");
  auto file = env_->open_file(path("a/b"), OpenMode::kCreate);
  ASSERT_FALSE(file.is_ok());
  EXPECT_EQ(file.status().code(), StatusCode::kIOError) << file.status().to_string();
  EXPECT_FALSE(exists(*env_, path("a/b")));
}

TEST_P(EnvContractTest, RenameReplacesTheTarget) {
  write_all(*env_, path("a"), "new");
  write_all(*env_, path("b"), "old");
  ASSERT_TRUE(env_->rename_file(path("a"), path("b")).is_ok());
  EXPECT_FALSE(exists(*env_, path("a")));
  EXPECT_EQ(read_all(*env_, path("b")), "new");

  Status missing = env_->rename_file(path("a"), path("c"));
  EXPECT_EQ(missing.code(), StatusCode::kNotFound) << missing.to_string();
  EXPECT_NE(missing.message().find(path("a")), std::string::npos) << missing.to_string();
}

TEST_P(EnvContractTest, RemoveFile) {
  write_all(*env_, path("a"), "x");
  EXPECT_TRUE(exists(*env_, path("a")));
  ASSERT_TRUE(env_->remove_file(path("a")).is_ok());
  EXPECT_FALSE(exists(*env_, path("a")));
  Status again = env_->remove_file(path("a"));
  EXPECT_EQ(again.code(), StatusCode::kNotFound) << again.to_string();
  EXPECT_NE(again.message().find(path("a")), std::string::npos) << again.to_string();
}

TEST_P(EnvContractTest, CreateDirMakesParentsAndIsIdempotent) {
  ASSERT_TRUE(env_->create_dir(path("x/y/z")).is_ok());
  ASSERT_TRUE(env_->create_dir(path("x/y/z")).is_ok());
  ASSERT_TRUE(env_->create_dir(path("x/y/z/")).is_ok());
  EXPECT_TRUE(exists(*env_, path("x/y")));
  write_all(*env_, path("x/y/z/file"), "deep");
  EXPECT_EQ(read_all(*env_, path("x/y/z/file")), "deep");

  Status over_file = env_->create_dir(path("x/y/z/file/sub"));
  EXPECT_EQ(over_file.code(), StatusCode::kIOError) << over_file.to_string();
}

TEST_P(EnvContractTest, RemoveDirRemovesOnlyEmptyDirectories) {
  ASSERT_TRUE(env_->create_dir(path("d/sub")).is_ok());
  write_all(*env_, path("d/file"), "x");
  EXPECT_EQ(env_->remove_dir(path("d")).code(), StatusCode::kIOError);  // not empty
  EXPECT_EQ(env_->remove_dir(path("d/file")).code(), StatusCode::kIOError);  // not a directory
  ASSERT_TRUE(env_->remove_dir(path("d/sub")).is_ok());
  ASSERT_TRUE(env_->remove_file(path("d/file")).is_ok());
  ASSERT_TRUE(env_->remove_dir(path("d")).is_ok());
  EXPECT_FALSE(exists(*env_, path("d")));
  Status missing = env_->remove_dir(path("d"));
  EXPECT_EQ(missing.code(), StatusCode::kNotFound) << missing.to_string();
  EXPECT_NE(missing.message().find(path("d")), std::string::npos) << missing.to_string();
}

TEST_P(EnvContractTest, WriteFileDurablyReplacesTheWholeContent) {
  ASSERT_TRUE(env_->write_file_durably(path("meta"), as_bytes("first version")).is_ok());
  EXPECT_EQ(read_all(*env_, path("meta")), "first version");
  ASSERT_TRUE(env_->write_file_durably(path("meta"), as_bytes("second")).is_ok());
  EXPECT_EQ(read_all(*env_, path("meta")), "second");
  EXPECT_FALSE(exists(*env_, path("meta.tmp")));
  Status no_dir = env_->write_file_durably(path("missing/meta"), as_bytes("x"));
  EXPECT_EQ(no_dir.code(), StatusCode::kNotFound) << no_dir.to_string();
}

TEST_P(EnvContractTest, CreateDirDurablyMakesMissingParents) {
  ASSERT_TRUE(env_->create_dir_durably(path("p/q/r")).is_ok());
  EXPECT_TRUE(exists(*env_, path("p/q/r")));
  ASSERT_TRUE(env_->create_dir_durably(path("p/q/r")).is_ok());
}

TEST_P(EnvContractTest, ListDirGivesSortedNamesOfDirectChildren) {
  write_all(*env_, path("b"), "");
  write_all(*env_, path("a"), "");
  ASSERT_TRUE(env_->create_dir(path("c/nested")).is_ok());
  write_all(*env_, path("c/inner"), "");
  auto names = env_->list_dir(root_);
  ASSERT_TRUE(names.is_ok()) << names.status().to_string();
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "c"}));
  auto inner = env_->list_dir(path("c"));
  ASSERT_TRUE(inner.is_ok());
  EXPECT_EQ(*inner, (std::vector<std::string>{"inner", "nested"}));
  auto empty = env_->list_dir(path("c/nested"));
  ASSERT_TRUE(empty.is_ok());
  EXPECT_TRUE(empty->empty());

  auto missing = env_->list_dir(path("missing"));
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_P(EnvContractTest, SyncAndSyncDir) {
  auto file = open("a", OpenMode::kCreate);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->append(as_bytes("x")).is_ok());
  EXPECT_TRUE(file->sync().is_ok());
  EXPECT_TRUE(env_->sync_dir(root_).is_ok());
  Status missing = env_->sync_dir(path("missing"));
  EXPECT_EQ(missing.code(), StatusCode::kNotFound) << missing.to_string();
}

TEST_P(EnvContractTest, ClockIsMonotonic) {
  uint64_t before = env_->now_micros();
  uint64_t after = env_->now_micros();
  EXPECT_GE(after, before);
}

TEST_P(EnvContractTest, RandomBytesAndJournalIdsDiffer) {
  Bytes first(37), second(37);
  env_->random_bytes(first);
  env_->random_bytes(second);
  EXPECT_NE(first, second);
  JournalId a = env_->new_journal_id();
  JournalId b = env_->new_journal_id();
  EXPECT_FALSE(a.is_zero());
  EXPECT_NE(a, b);
}

INSTANTIATE_TEST_SUITE_P(AllEnvs, EnvContractTest,
                         testing::Values(EnvKind::kPosix, EnvKind::kPosixSharedSync, EnvKind::kMemory),
                         [](const testing::TestParamInfo<EnvKind>& info) {
                           switch (info.param) {
                             case EnvKind::kPosix: return "Posix";
                             case EnvKind::kPosixSharedSync: return "PosixSharedSync";
                             default: return "Memory";
                           }
                         });

// Threads syncing at the same time share flushes; every sync still returns
// only after its own writes are in a flush (here: it returns ok, and what it
// wrote reads back).
TEST(PosixEnvTest, SharedSyncServesConcurrentThreads) {
  char pattern[] = "/tmp/sqlsync_env_test_XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string root = pattern;
  Env* env = Env::posix_shared_sync();
  constexpr int kThreads = 6;
  constexpr int kSyncs = 20;
  std::vector<std::thread> threads;
  std::vector<Status> failures(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto file = env->open_file(root + "/f" + std::to_string(t), OpenMode::kCreate);
      if (!file.is_ok()) {
        failures[t] = file.status();
        return;
      }
      for (int i = 0; i < kSyncs; ++i) {
        const Bytes data(100, static_cast<uint8_t>(t * kSyncs + i));
        Status status = (*file)->append(data);
        if (status.is_ok()) status = (*file)->sync();
        if (!status.is_ok()) {
          failures[t] = status;
          return;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(failures[t].is_ok()) << failures[t].to_string();
    auto bytes = env->read_file(root + "/f" + std::to_string(t));
    ASSERT_TRUE(bytes.is_ok());
    ASSERT_EQ(bytes->size(), size_t{100} * kSyncs);
    EXPECT_EQ((*bytes)[100 * kSyncs - 1], static_cast<uint8_t>(t * kSyncs + kSyncs - 1));
  }
  std::filesystem::remove_all(root);
}

// ---------------------------------------------------------------------------
// POSIX specifics.

TEST(PosixEnvTest, NoSpaceIsReportedAsSuch) {
  // Writes to /dev/full fail with ENOSPC.
  auto file = Env::posix()->open_file("/dev/full", OpenMode::kReadWrite);
  if (!file.is_ok()) GTEST_SKIP() << "no /dev/full: " << file.status().to_string();
  Status status = (*file)->write_at(0, as_bytes("x"));
  EXPECT_EQ(status.code(), StatusCode::kIOError);
  EXPECT_EQ(status.message(), "write '/dev/full' at offset 0: no space left on device");
}

TEST(PosixEnvTest, LargeReadsAndWritesComplete) {
  char pattern[] = "/tmp/sqlsync_env_test_XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  std::string path = std::string(pattern) + "/big";
  Env* env = Env::posix();
  Bytes data(3 * 1024 * 1024 + 17);
  env->random_bytes(data);
  {
    auto file = env->open_file(path, OpenMode::kCreateTruncate);
    ASSERT_TRUE(file.is_ok());
    ASSERT_TRUE((*file)->append(data).is_ok());
    Bytes back;
    ASSERT_TRUE((*file)->read_at(0, data.size() + 10, back).is_ok());
    EXPECT_EQ(back, data);
  }
  std::filesystem::remove_all(pattern);
}

// ---------------------------------------------------------------------------
// MemoryEnv: durability and crashes.

class MemoryEnvCrashTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env_.create_dir("/db").is_ok());
    ASSERT_TRUE(env_.sync_dir("/").is_ok());
  }

  // A file with synced content whose directory entry is durable.
  void make_durable(const std::string& path, std::string_view content) {
    write_all(env_, path, content);
    ASSERT_TRUE(env_.sync_dir("/db").is_ok());
  }

  MemoryEnv env_{1};
};

TEST_F(MemoryEnvCrashTest, UnsyncedWritesAreLost) {
  auto file = env_.open_file("/db/a", OpenMode::kCreate);
  ASSERT_TRUE(file.is_ok());
  ASSERT_TRUE(env_.sync_dir("/db").is_ok());
  ASSERT_TRUE((*file)->append(as_bytes("never synced")).is_ok());
  env_.simulate_crash();
  EXPECT_TRUE(exists(env_, "/db/a"));
  EXPECT_EQ(read_all(env_, "/db/a"), "");
}

TEST_F(MemoryEnvCrashTest, SyncedWritesAreKept) {
  auto file = env_.open_file("/db/a", OpenMode::kCreate);
  ASSERT_TRUE(file.is_ok());
  ASSERT_TRUE(env_.sync_dir("/db").is_ok());
  ASSERT_TRUE((*file)->append(as_bytes("kept")).is_ok());
  ASSERT_TRUE((*file)->sync().is_ok());
  ASSERT_TRUE((*file)->append(as_bytes(" lost")).is_ok());
  ASSERT_TRUE((*file)->write_at(0, as_bytes("K")).is_ok());
  env_.simulate_crash();
  EXPECT_EQ(read_all(env_, "/db/a"), "kept");
}

TEST_F(MemoryEnvCrashTest, UnsyncedTruncateIsUndone) {
  make_durable("/db/a", "abcdef");
  auto file = env_.open_file("/db/a", OpenMode::kReadWrite);
  ASSERT_TRUE(file.is_ok());
  ASSERT_TRUE((*file)->truncate(1).is_ok());
  env_.simulate_crash();
  EXPECT_EQ(read_all(env_, "/db/a"), "abcdef");
}

TEST_F(MemoryEnvCrashTest, CreationNeedsSyncDir) {
  write_all(env_, "/db/a", "synced data, but no sync_dir");
  env_.simulate_crash();
  EXPECT_FALSE(exists(env_, "/db/a"));
}

TEST_F(MemoryEnvCrashTest, UnsyncedRenameIsUndone) {
  make_durable("/db/a", "A");
  make_durable("/db/b", "B");
  ASSERT_TRUE(env_.rename_file("/db/a", "/db/b").is_ok());
  env_.simulate_crash();
  EXPECT_EQ(read_all(env_, "/db/a"), "A");
  EXPECT_EQ(read_all(env_, "/db/b"), "B");
}

TEST_F(MemoryEnvCrashTest, SyncDirMakesRenameDurable) {
  make_durable("/db/a", "A");
  make_durable("/db/b", "B");
  ASSERT_TRUE(env_.rename_file("/db/a", "/db/b").is_ok());
  ASSERT_TRUE(env_.sync_dir("/db").is_ok());
  env_.simulate_crash();
  EXPECT_FALSE(exists(env_, "/db/a"));
  EXPECT_EQ(read_all(env_, "/db/b"), "A");
}

TEST_F(MemoryEnvCrashTest, RenameAcrossDirectoriesNeedsBothSynced) {
  ASSERT_TRUE(env_.create_dir("/other").is_ok());
  ASSERT_TRUE(env_.sync_dir("/").is_ok());
  make_durable("/db/a", "A");
  ASSERT_TRUE(env_.rename_file("/db/a", "/other/a").is_ok());
  ASSERT_TRUE(env_.sync_dir("/other").is_ok());
  env_.simulate_crash();
  // Only the new name was made durable: the old one comes back too.
  EXPECT_EQ(read_all(env_, "/db/a"), "A");
  EXPECT_EQ(read_all(env_, "/other/a"), "A");

  ASSERT_TRUE(env_.remove_file("/db/a").is_ok());
  ASSERT_TRUE(env_.sync_dir("/db").is_ok());
  env_.simulate_crash();
  EXPECT_FALSE(exists(env_, "/db/a"));
  EXPECT_EQ(read_all(env_, "/other/a"), "A");
}

TEST_F(MemoryEnvCrashTest, RemovalNeedsSyncDir) {
  make_durable("/db/a", "A");
  ASSERT_TRUE(env_.remove_file("/db/a").is_ok());
  env_.simulate_crash();
  EXPECT_EQ(read_all(env_, "/db/a"), "A");

  ASSERT_TRUE(env_.remove_file("/db/a").is_ok());
  ASSERT_TRUE(env_.sync_dir("/db").is_ok());
  env_.simulate_crash();
  EXPECT_FALSE(exists(env_, "/db/a"));
}

TEST_F(MemoryEnvCrashTest, EntriesOfALostDirectoryAreLost) {
  ASSERT_TRUE(env_.create_dir("/db/sub").is_ok());
  write_all(env_, "/db/sub/a", "A");
  ASSERT_TRUE(env_.sync_dir("/db/sub").is_ok());
  env_.simulate_crash();  // "/db" was never synced after "sub" was made
  EXPECT_FALSE(exists(env_, "/db/sub"));
  EXPECT_FALSE(exists(env_, "/db/sub/a"));
  auto names = env_.list_dir("/db");
  ASSERT_TRUE(names.is_ok());
  EXPECT_TRUE(names->empty());
}

TEST_F(MemoryEnvCrashTest, FilesOpenedBeforeACrashAreDead) {
  make_durable("/db/a", "A");
  auto file = env_.open_file("/db/a", OpenMode::kReadWrite);
  ASSERT_TRUE(file.is_ok());
  env_.simulate_crash();
  Bytes out;
  Status read = (*file)->read_at(0, 1, out);
  EXPECT_EQ(read.code(), StatusCode::kIOError);
  EXPECT_NE(read.message().find("crash"), std::string::npos) << read.to_string();
  EXPECT_FALSE((*file)->append(as_bytes("zombie")).is_ok());
  EXPECT_FALSE((*file)->sync().is_ok());
  EXPECT_EQ(read_all(env_, "/db/a"), "A");
}

// A file with 5 synced bytes and 40 un-synced ones, crashed in `mode`.
std::string crash_with_unsynced_tail(CrashMode mode, uint64_t seed) {
  MemoryEnv env(1);
  EXPECT_TRUE(env.sync_dir("/").is_ok());
  auto file = env.open_file("/log", OpenMode::kCreate);
  EXPECT_TRUE(file.is_ok());
  EXPECT_TRUE(env.sync_dir("/").is_ok());
  EXPECT_TRUE((*file)->append(as_bytes("hello")).is_ok());
  EXPECT_TRUE((*file)->sync().is_ok());
  EXPECT_TRUE((*file)->append(as_bytes(std::string(40, 'T'))).is_ok());
  env.simulate_crash(mode, seed);
  return read_all(env, "/log");
}

TEST(MemoryEnvCorruptionTest, DropModeLosesTheTail) {
  EXPECT_EQ(crash_with_unsynced_tail(CrashMode::kDropUnsynced, 3), "hello");
}

TEST(MemoryEnvCorruptionTest, CorruptModeFlipsBytesInEveryBlockOfTheTail) {
  std::string content = crash_with_unsynced_tail(CrashMode::kCorruptUnsyncedTail, 3);
  ASSERT_EQ(content.size(), 45u);
  EXPECT_EQ(content.substr(0, 5), "hello");
  for (size_t block = 5; block < content.size(); block += 16) {
    std::string chunk = content.substr(block, 16);
    EXPECT_NE(chunk, std::string(chunk.size(), 'T')) << "block at offset " << block;
  }
  // Reproducible from the seed, and the seed matters.
  EXPECT_EQ(content, crash_with_unsynced_tail(CrashMode::kCorruptUnsyncedTail, 3));
  EXPECT_NE(content, crash_with_unsynced_tail(CrashMode::kCorruptUnsyncedTail, 4));
}

TEST(MemoryEnvCorruptionTest, CorruptionIsDurable) {
  MemoryEnv env(1);
  auto file = env.open_file("/log", OpenMode::kCreate);
  ASSERT_TRUE(file.is_ok());
  ASSERT_TRUE(env.sync_dir("/").is_ok());
  ASSERT_TRUE((*file)->append(as_bytes("tail")).is_ok());
  env.simulate_crash(CrashMode::kCorruptUnsyncedTail, 9);
  std::string after_first = read_all(env, "/log");
  env.simulate_crash();
  EXPECT_EQ(read_all(env, "/log"), after_first);
}

// ---------------------------------------------------------------------------
// MemoryEnv: clock and randomness.

TEST(MemoryEnvTest, ClockMovesOnlyWhenTold) {
  MemoryEnv env(1);
  EXPECT_EQ(env.now_micros(), 0u);
  EXPECT_EQ(env.now_micros(), 0u);
  env.advance_micros(250);
  EXPECT_EQ(env.now_micros(), 250u);
  env.set_now_micros(1000000);
  EXPECT_EQ(env.now_micros(), 1000000u);
}

TEST(MemoryEnvTest, RandomnessIsAFunctionOfTheSeed) {
  MemoryEnv a(42), b(42), c(43);
  EXPECT_EQ(a.seed(), 42u);
  Bytes from_a(21), from_b(21), from_c(21);
  a.random_bytes(from_a);
  b.random_bytes(from_b);
  c.random_bytes(from_c);
  EXPECT_EQ(from_a, from_b);
  EXPECT_NE(from_a, from_c);
  EXPECT_EQ(a.new_journal_id(), b.new_journal_id());
}

TEST(MemoryEnvTest, PathsAreNormalized) {
  MemoryEnv env(1);
  ASSERT_TRUE(env.create_dir("/a//b/").is_ok());
  write_all(env, "/a/b//f", "x");
  EXPECT_EQ(read_all(env, "/a/b/f"), "x");
  auto names = env.list_dir("/a/b/");
  ASSERT_TRUE(names.is_ok());
  EXPECT_EQ(*names, std::vector<std::string>{"f"});
}

TEST(MemoryEnvTest, RelativePathsLiveUnderTheRelativeRoot) {
  MemoryEnv env(1);
  ASSERT_TRUE(env.create_dir("data").is_ok());
  write_all(env, "top", "1");
  write_all(env, "data/inner", "2");
  auto names = env.list_dir("");
  ASSERT_TRUE(names.is_ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"data", "top"}));
  EXPECT_FALSE(exists(env, "/top"));
}

TEST(MemoryEnvTest, ConcurrentUseIsSafe) {
  MemoryEnv env(1);
  constexpr int kThreads = 4;
  constexpr int kAppends = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&env, t] {
      std::string path = "/f" + std::to_string(t);
      auto file = env.open_file(path, OpenMode::kCreate);
      ASSERT_TRUE(file.is_ok());
      for (int i = 0; i < kAppends; ++i) {
        ASSERT_TRUE((*file)->append(as_bytes("x")).is_ok());
        ASSERT_TRUE(env.sync_dir("/").is_ok());
        env.new_journal_id();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  auto names = env.list_dir("/");
  ASSERT_TRUE(names.is_ok());
  EXPECT_EQ(names->size(), size_t{kThreads});
  for (const std::string& name : *names) EXPECT_EQ(read_all(env, "/" + name).size(), size_t{kAppends});
}

TEST(MemoryEnvTest, FilesMayOutliveTheEnv) {
  std::unique_ptr<File> file;
  {
    MemoryEnv env(1);
    auto opened = env.open_file("/a", OpenMode::kCreate);
    ASSERT_TRUE(opened.is_ok());
    file = std::move(opened).value();
  }
  ASSERT_TRUE(file->append(as_bytes("still here")).is_ok());
  EXPECT_EQ(*file->size(), 10u);
}

// ---------------------------------------------------------------------------
// FaultInjectionEnv.

class FaultInjectionEnvTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(memory_.create_dir("/db").is_ok()); }

  MemoryEnv memory_{5};
  FaultInjectionEnv env_{&memory_};
};

TEST_F(FaultInjectionEnvTest, OperationNamesAreDistinct) {
  std::set<std::string> names;
  for (size_t i = 0; i < kIoOpCount; ++i) names.insert(io_op_name(static_cast<IoOp>(i)));
  EXPECT_EQ(names.size(), kIoOpCount);
  EXPECT_STREQ(io_op_name(IoOp::kSyncDir), "sync_dir");
}

TEST_F(FaultInjectionEnvTest, FailsTheOperationAfterTheGivenCount) {
  env_.fail_after(2);
  auto file = env_.open_file("/db/a", OpenMode::kCreate);  // 1st
  ASSERT_TRUE(file.is_ok());
  ASSERT_TRUE((*file)->write_at(0, as_bytes("x")).is_ok());  // 2nd
  Status third = (*file)->append(as_bytes("y"));
  EXPECT_EQ(third.code(), StatusCode::kIOError);
  EXPECT_EQ(third.message(), "append '/db/a': injected fault");
  // One failure only; the failed append did not reach the file.
  EXPECT_TRUE((*file)->append(as_bytes("z")).is_ok());
  EXPECT_FALSE(env_.crashed());
  EXPECT_EQ(read_all(env_, "/db/a"), "xz");
}

TEST_F(FaultInjectionEnvTest, FailsTheNthOperationOfOneKind) {
  auto file = env_.open_file("/db/a", OpenMode::kCreate);
  ASSERT_TRUE(file.is_ok());
  env_.fail_after(1, IoOp::kSync);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*file)->append(as_bytes("x")).is_ok());
  EXPECT_TRUE((*file)->sync().is_ok());
  EXPECT_TRUE((*file)->append(as_bytes("x")).is_ok());
  Status second_sync = (*file)->sync();
  EXPECT_EQ(second_sync.code(), StatusCode::kIOError);
  EXPECT_EQ(second_sync.message(), "sync '/db/a': injected fault");
  EXPECT_TRUE((*file)->sync().is_ok());
}

TEST_F(FaultInjectionEnvTest, PredicateFailsEveryMatchingOperation) {
  env_.set_failure_predicate([](IoOp op, const std::string& path) {
    return op != IoOp::kCreateDir && path.size() > 4 && path.compare(path.size() - 4, 4, ".tmp") == 0;
  });
  auto temp = env_.open_file("/db/x.tmp", OpenMode::kCreate);
  ASSERT_FALSE(temp.is_ok());
  EXPECT_EQ(temp.status().to_string(), "IOError: open '/db/x.tmp': injected fault");
  EXPECT_FALSE(env_.open_file("/db/y.tmp", OpenMode::kCreate).is_ok());
  ASSERT_TRUE(env_.open_file("/db/x", OpenMode::kCreate).is_ok());
  // A rename fails if either end matches.
  Status rename = env_.rename_file("/db/x", "/db/x.tmp");
  EXPECT_EQ(rename.message(), "rename '/db/x' to '/db/x.tmp': injected fault");
  EXPECT_TRUE(env_.create_dir("/db/dir.tmp").is_ok());

  env_.clear_faults();
  EXPECT_TRUE(env_.rename_file("/db/x", "/db/x.tmp").is_ok());
}

TEST_F(FaultInjectionEnvTest, CountsOperationsPerKind) {
  auto file = env_.open_file("/db/a", OpenMode::kCreate);
  ASSERT_TRUE(file.is_ok());
  ASSERT_TRUE((*file)->append(as_bytes("ab")).is_ok());
  ASSERT_TRUE((*file)->append(as_bytes("cd")).is_ok());
  ASSERT_TRUE((*file)->sync().is_ok());
  ASSERT_TRUE((*file)->size().is_ok());
  ASSERT_TRUE(env_.file_exists("/db/a").is_ok());
  ASSERT_TRUE(env_.sync_dir("/db").is_ok());
  env_.fail_after(0, IoOp::kRemove);
  EXPECT_FALSE(env_.remove_file("/db/a").is_ok());  // failed ones count too

  EXPECT_EQ(env_.count(IoOp::kOpen), 1u);
  EXPECT_EQ(env_.count(IoOp::kAppend), 2u);
  EXPECT_EQ(env_.count(IoOp::kSync), 1u);
  EXPECT_EQ(env_.count(IoOp::kStat), 2u);
  EXPECT_EQ(env_.count(IoOp::kSyncDir), 1u);
  EXPECT_EQ(env_.count(IoOp::kRemove), 1u);
  EXPECT_EQ(env_.count(IoOp::kWrite), 0u);
  EXPECT_EQ(env_.total_count(), 8u);
  env_.reset_counts();
  EXPECT_EQ(env_.total_count(), 0u);
}

TEST_F(FaultInjectionEnvTest, CrashMakesEveryLaterOperationFail) {
  auto file = env_.open_file("/db/a", OpenMode::kCreate);
  ASSERT_TRUE(file.is_ok());
  env_.crash_after(1);
  ASSERT_TRUE((*file)->append(as_bytes("x")).is_ok());
  Status crash = (*file)->sync();
  EXPECT_EQ(crash.message(), "sync '/db/a': injected crash");
  EXPECT_TRUE(env_.crashed());
  Status later = env_.create_dir("/other");
  EXPECT_EQ(later.code(), StatusCode::kIOError);
  EXPECT_NE(later.message().find("create_dir '/other'"), std::string::npos) << later.to_string();
  EXPECT_FALSE((*file)->append(as_bytes("y")).is_ok());
  EXPECT_FALSE(env_.list_dir("/db").is_ok());

  env_.clear_faults();
  EXPECT_FALSE(env_.crashed());
  EXPECT_TRUE(env_.create_dir("/other").is_ok());
}

TEST_F(FaultInjectionEnvTest, ClockAndRandomnessPassThrough) {
  memory_.advance_micros(77);
  EXPECT_EQ(env_.now_micros(), 77u);
  MemoryEnv twin(5);
  EXPECT_EQ(env_.new_journal_id(), twin.new_journal_id());
  EXPECT_EQ(env_.total_count(), 0u);
}

// The durable-publish recipe (write temp, sync, rename, sync dir) crashed at
// every one of its steps: afterwards the target holds the old content or the
// new one, never anything else. This is the shape of the crash tests the
// rest of sqlsync writes on top of FaultInjectionEnv + MemoryEnv.
Status publish(Env& env, const std::string& content) {
  SQLSYNC_ASSIGN_OR_RETURN(auto file, env.open_file("/db/target.tmp", OpenMode::kCreateTruncate));
  SQLSYNC_RETURN_IF_ERROR(file->append(as_bytes(content.substr(0, 3))));
  SQLSYNC_RETURN_IF_ERROR(file->append(as_bytes(content.substr(3))));
  SQLSYNC_RETURN_IF_ERROR(file->sync());
  SQLSYNC_RETURN_IF_ERROR(env.rename_file("/db/target.tmp", "/db/target"));
  return env.sync_dir("/db");
}

TEST(FaultInjectionCrashTest, DurablePublishSurvivesACrashAtEveryStep) {
  uint64_t steps = 0;
  {
    MemoryEnv memory(1);
    FaultInjectionEnv env(&memory);
    ASSERT_TRUE(memory.create_dir("/db").is_ok());
    ASSERT_TRUE(publish(env, "new content").is_ok());
    steps = env.total_count();
  }
  ASSERT_EQ(steps, 6u);

  for (CrashMode mode : {CrashMode::kDropUnsynced, CrashMode::kCorruptUnsyncedTail}) {
    for (uint64_t step = 0; step <= steps; ++step) {
      SCOPED_TRACE("crash at step " + std::to_string(step));
      MemoryEnv memory(1);
      FaultInjectionEnv env(&memory);
      ASSERT_TRUE(memory.create_dir("/db").is_ok());
      ASSERT_TRUE(memory.sync_dir("/").is_ok());
      write_all(memory, "/db/target", "old content");
      ASSERT_TRUE(memory.sync_dir("/db").is_ok());

      env.crash_after(step);
      Status published = publish(env, "new content");
      EXPECT_EQ(published.is_ok(), step == steps) << published.to_string();
      memory.simulate_crash(mode, step);
      env.clear_faults();

      std::string target = read_all(env, "/db/target");
      if (step == steps) {
        EXPECT_EQ(target, "new content");
      } else {
        EXPECT_TRUE(target == "old content" || target == "new content") << target;
      }
    }
  }
}

// Env::write_file_durably crashed at every step: the target holds the old
// content or the new one, and the new one once the call returned ok.
TEST(FaultInjectionCrashTest, WriteFileDurablySurvivesACrashAtEveryStep) {
  uint64_t steps = 0;
  {
    MemoryEnv memory(1);
    FaultInjectionEnv env(&memory);
    ASSERT_TRUE(memory.create_dir("/db").is_ok());
    ASSERT_TRUE(env.write_file_durably("/db/target", as_bytes("new content")).is_ok());
    steps = env.total_count();
  }
  ASSERT_EQ(steps, 6u);  // open, write, sync, read back, rename, sync_dir

  for (CrashMode mode : {CrashMode::kDropUnsynced, CrashMode::kCorruptUnsyncedTail}) {
    for (uint64_t step = 0; step <= steps; ++step) {
      SCOPED_TRACE("crash at step " + std::to_string(step));
      MemoryEnv memory(1);
      FaultInjectionEnv env(&memory);
      ASSERT_TRUE(memory.create_dir("/db").is_ok());
      ASSERT_TRUE(memory.sync_dir("/").is_ok());
      write_all(memory, "/db/target", "old content");
      ASSERT_TRUE(memory.sync_dir("/db").is_ok());

      env.crash_after(step);
      Status published = env.write_file_durably("/db/target", as_bytes("new content"));
      EXPECT_EQ(published.is_ok(), step == steps) << published.to_string();
      memory.simulate_crash(mode, step);
      env.clear_faults();

      std::string target = read_all(env, "/db/target");
      if (step == steps) {
        EXPECT_EQ(target, "new content");
      } else {
        EXPECT_TRUE(target == "old content" || target == "new content") << target;
      }
    }
  }
}

TEST(FaultInjectionCrashTest, CreateDirDurablySurvivesACrash) {
  MemoryEnv memory(1);
  ASSERT_TRUE(memory.create_dir_durably("/a/b/c").is_ok());
  memory.simulate_crash(CrashMode::kDropUnsynced);
  EXPECT_TRUE(exists(memory, "/a/b/c"));
  ASSERT_TRUE(memory.create_dir("/a/x/y").is_ok());  // not durable
  memory.simulate_crash(CrashMode::kDropUnsynced);
  EXPECT_FALSE(exists(memory, "/a/x"));
}

TEST(EnvReadFile, ReadsWholeFilesAndReportsMissingOnes) {
  MemoryEnv env(7);
  ASSERT_TRUE(env.create_dir("/d").is_ok());
  auto file = env.open_file("/d/module.wasm", OpenMode::kCreate);
  ASSERT_TRUE(file.is_ok());
  const Bytes content = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  ASSERT_TRUE((*file)->append(content).is_ok());
  auto read = env.read_file("/d/module.wasm");
  ASSERT_TRUE(read.is_ok()) << read.status().to_string();
  EXPECT_EQ(*read, content);
  EXPECT_EQ(env.read_file("/d/missing.wasm").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace sqlsync
