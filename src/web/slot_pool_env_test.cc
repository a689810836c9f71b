#include "web/slot_pool_env.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "sim/test_status.h"
#include "sqlsync/env.h"

namespace sqlsync {
namespace {

// A SlotStore in memory with the durability of a disk: crash() reverts every
// slot to its last flush(). `fail_writes_after` makes the nth write from now
// (and every later one) fail, like a full disk.
class MemorySlotStore final : public SlotStore {
 public:
  explicit MemorySlotStore(uint32_t slots) : slots_(slots) {}

  uint32_t slot_count() override { return static_cast<uint32_t>(slots_.size()); }
  Status read(uint32_t slot, uint64_t offset, size_t length, Bytes& out) override {
    const Bytes& data = slots_.at(slot).data;
    out.clear();
    if (offset < data.size()) {
      out.assign(data.begin() + static_cast<ptrdiff_t>(offset),
                 data.begin() + static_cast<ptrdiff_t>(std::min<uint64_t>(data.size(), offset + length)));
    }
    return Status::ok();
  }
  Status write(uint32_t slot, uint64_t offset, ByteView bytes) override {
    if (fail_writes_after >= 0 && writes_++ >= fail_writes_after) {
      return Status::io_error("QuotaExceededError: the origin is over its quota");
    }
    Bytes& data = slots_.at(slot).data;
    if (data.size() < offset + bytes.size()) data.resize(offset + bytes.size());
    std::copy(bytes.begin(), bytes.end(), data.begin() + static_cast<ptrdiff_t>(offset));
    return Status::ok();
  }
  Result<uint64_t> size(uint32_t slot) override { return slots_.at(slot).data.size(); }
  Status truncate(uint32_t slot, uint64_t size) override {
    slots_.at(slot).data.resize(size);
    return Status::ok();
  }
  Status flush(uint32_t slot) override {
    slots_.at(slot).synced = slots_.at(slot).data;
    return Status::ok();
  }
  void request_slots(uint32_t count) override { requested = std::max(requested, count); }

  // What the asynchronous opener would do later.
  void grow() { slots_.resize(std::max<size_t>(slots_.size(), requested)); }
  void crash() {
    for (Slot& slot : slots_) slot.data = slot.synced;
  }
  Bytes& raw(uint32_t slot) { return slots_.at(slot).data; }

  uint32_t requested = 0;
  int fail_writes_after = -1;

 private:
  struct Slot {
    Bytes data;
    Bytes synced;
  };
  std::vector<Slot> slots_;
  int writes_ = 0;
};

std::unique_ptr<SlotPoolEnv> open_env(MemorySlotStore& store) {
  Result<std::unique_ptr<SlotPoolEnv>> env = SlotPoolEnv::open(&store, Env::posix(), {});
  EXPECT_TRUE(env.is_ok()) << env.status().to_string();
  return env.is_ok() ? std::move(env).value() : nullptr;
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

void write_file(Env& env, const std::string& path, const std::string& content, bool sync) {
  Result<std::unique_ptr<File>> file = env.open_file(path, OpenMode::kCreateTruncate);
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  ASSERT_OK((*file)->append(text(content)));
  if (sync) ASSERT_OK((*file)->sync());
}

std::string read_text(Env& env, const std::string& path) {
  Result<Bytes> bytes = env.read_file(path);
  if (!bytes.is_ok()) return "<" + bytes.status().to_string() + ">";
  return std::string(bytes->begin(), bytes->end());
}

TEST(SlotPoolEnvTest, FilesAndNamesSurviveAReopen) {
  MemorySlotStore store(8);
  auto env = open_env(store);
  ASSERT_OK(env->create_dir("/doc/storage"));
  write_file(*env, "/doc/storage/segment-0", "hello", true);
  write_file(*env, "/doc/meta", "v1", true);
  ASSERT_OK(env->sync_dir("/doc"));
  env.reset();

  env = open_env(store);
  EXPECT_EQ(read_text(*env, "/doc/storage/segment-0"), "hello");
  EXPECT_EQ(read_text(*env, "/doc/meta"), "v1");
  Result<std::vector<std::string>> names = env->list_dir("/doc");
  ASSERT_TRUE(names.is_ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"meta", "storage"}));
  EXPECT_TRUE(*env->file_exists("/doc/storage"));
  EXPECT_FALSE(*env->file_exists("/doc/nothing"));
}

TEST(SlotPoolEnvTest, OpenModesAndErrorsFollowTheEnvContract) {
  MemorySlotStore store(8);
  auto env = open_env(store);
  EXPECT_EQ(env->open_file("/a/b", OpenMode::kRead).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env->open_file("/missing/b", OpenMode::kCreate).status().code(), StatusCode::kNotFound);
  ASSERT_OK(env->create_dir("/a"));
  write_file(*env, "/a/b", "abc", false);
  Result<std::unique_ptr<File>> reader = env->open_file("/a/b", OpenMode::kRead);
  ASSERT_TRUE(reader.is_ok());
  EXPECT_EQ((*reader)->write_at(0, text("x")).code(), StatusCode::kIOError);
  Bytes out;
  ASSERT_OK((*reader)->read_at(1, 10, out));
  EXPECT_EQ(out, text("bc"));
  EXPECT_EQ(*(*reader)->size(), 3u);
  EXPECT_EQ(env->open_file("/a", OpenMode::kCreate).status().code(), StatusCode::kIOError);
  EXPECT_EQ(env->remove_file("/a/zz").code(), StatusCode::kNotFound);
  EXPECT_EQ(env->rename_file("/a/zz", "/a/c").code(), StatusCode::kNotFound);
  EXPECT_EQ(env->remove_dir("/a").code(), StatusCode::kIOError);
  EXPECT_EQ(env->list_dir("/nowhere").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env->create_dir("/a/b").code(), StatusCode::kIOError);
}

TEST(SlotPoolEnvTest, ARemovedFileStaysReadableWhileOpenAndItsSlotIsReusedAfter) {
  MemorySlotStore store(1);
  auto env = open_env(store);
  ASSERT_OK(env->create_dir("/d"));
  Result<std::unique_ptr<File>> file = env->open_file("/d/x", OpenMode::kCreate);
  ASSERT_TRUE(file.is_ok());
  ASSERT_OK((*file)->append(text("data")));
  ASSERT_OK(env->remove_file("/d/x"));
  EXPECT_FALSE(*env->file_exists("/d/x"));
  Bytes out;
  ASSERT_OK((*file)->read_at(0, 4, out));
  EXPECT_EQ(out, text("data"));
  // The only slot is still in use: creating a file fails and asks for more.
  Status full = env->open_file("/d/y", OpenMode::kCreate).status();
  EXPECT_EQ(full.code(), StatusCode::kIOError);
  EXPECT_NE(full.message().find("all 1 files of the storage pool are in use"), std::string::npos) << full.message();
  EXPECT_GT(store.requested, 1u);
  file->reset();
  write_file(*env, "/d/y", "new", true);
  EXPECT_EQ(read_text(*env, "/d/y"), "new");
}

TEST(SlotPoolEnvTest, ThePoolGrowsWhenTheStoreAddsSlots) {
  MemorySlotStore store(2);
  SlotPoolEnv::Options options;
  options.min_free_slots = 2;
  options.growth = 4;
  auto env = std::move(SlotPoolEnv::open(&store, Env::posix(), options)).value();
  ASSERT_OK(env->create_dir("/d"));
  write_file(*env, "/d/a", "a", true);
  EXPECT_EQ(store.requested, 6u) << "one slot left free: the env asks for more";
  store.grow();
  write_file(*env, "/d/b", "b", true);
  write_file(*env, "/d/c", "c", true);
  EXPECT_EQ(read_text(*env, "/d/c"), "c");
  EXPECT_EQ(env->free_slots(), 3u);
}

TEST(SlotPoolEnvTest, UnsyncedCreationsAndRemovalsAreLostInACrash) {
  MemorySlotStore store(8);
  auto env = open_env(store);
  ASSERT_OK(env->create_dir("/d"));
  write_file(*env, "/d/kept", "kept", true);
  ASSERT_OK(env->sync_dir("/d"));
  write_file(*env, "/d/new", "new", false);
  ASSERT_OK(env->remove_file("/d/kept"));
  env.reset();
  store.crash();

  env = open_env(store);
  EXPECT_EQ(read_text(*env, "/d/kept"), "kept") << "the removal was not made durable";
  EXPECT_FALSE(*env->file_exists("/d/new")) << "the creation was not made durable";
}

TEST(SlotPoolEnvTest, ARenameIsAtomicAcrossACrash) {
  MemorySlotStore store(8);
  auto env = open_env(store);
  ASSERT_OK(env->create_dir("/d"));
  write_file(*env, "/d/meta", "old", true);
  ASSERT_OK(env->sync_dir("/d"));
  write_file(*env, "/d/meta.tmp", "new", true);
  ASSERT_OK(env->rename_file("/d/meta.tmp", "/d/meta"));
  // No sync_dir: the crash hits before the old target's slot is freed on
  // disk, so two slots claim "meta"; the newer claim wins.
  env.reset();
  store.crash();
  env = open_env(store);
  EXPECT_EQ(read_text(*env, "/d/meta"), "new");
  EXPECT_FALSE(*env->file_exists("/d/meta.tmp"));
  EXPECT_EQ(env->free_slots(), 7u) << "the losing claim was freed";
}

TEST(SlotPoolEnvTest, ATornOrForeignHeaderMarksAFreeSlot) {
  MemorySlotStore store(3);
  auto env = open_env(store);
  ASSERT_OK(env->create_dir("/d"));
  write_file(*env, "/d/a", "a", true);
  write_file(*env, "/d/b", "b", true);
  ASSERT_OK(env->sync_dir("/d"));
  env.reset();
  store.raw(1)[20] ^= 0xff;  // inside b's header
  store.raw(2) = text("not a pool file");
  env = open_env(store);
  EXPECT_EQ(read_text(*env, "/d/a"), "a");
  EXPECT_FALSE(*env->file_exists("/d/b"));
  EXPECT_EQ(env->free_slots(), 2u);
}

TEST(SlotPoolEnvTest, StoreErrorsSurfaceWithThePathAndTheBrowsersMessage) {
  MemorySlotStore store(4);
  auto env = open_env(store);
  ASSERT_OK(env->create_dir("/d"));
  Result<std::unique_ptr<File>> file = env->open_file("/d/log", OpenMode::kCreate);
  ASSERT_TRUE(file.is_ok());
  store.fail_writes_after = 0;
  Status status = (*file)->append(text("x"));
  EXPECT_EQ(status.code(), StatusCode::kIOError);
  EXPECT_NE(status.message().find("'/d/log'"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("QuotaExceededError"), std::string::npos) << status.message();
  EXPECT_EQ(env->open_file("/d/other", OpenMode::kCreate).status().code(), StatusCode::kIOError);
}

// Random operations with random syncs, a crash at a random point, then a
// reopen: every file whose content and name were made durable reads back
// exactly, and nothing else is corrupt (every file reads).
TEST(SlotPoolEnvTest, RandomCrashesKeepEverythingSynced) {
  const uint64_t seed = 20261127;
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " round " + std::to_string(round));
    MemorySlotStore store(12);
    auto env = open_env(store);
    ASSERT_OK(env->create_dir("/d"));
    std::map<std::string, std::string> durable;  // name and content both synced
    std::map<std::string, std::string> current;
    const int steps = static_cast<int>(rng() % 30);
    for (int step = 0; step < steps; ++step) {
      const std::string name = "/d/f" + std::to_string(rng() % 5);
      switch (rng() % 4) {
        case 0: {
          const std::string content = std::to_string(rng());
          write_file(*env, name, content, true);
          current[name] = content;
          break;
        }
        case 1:
          if (current.erase(name) > 0) ASSERT_OK(env->remove_file(name));
          break;
        case 2: {
          const std::string to = "/d/f" + std::to_string(rng() % 5);
          if (current.count(name) == 0 || name == to) break;
          ASSERT_OK(env->rename_file(name, to));
          current[to] = current[name];
          current.erase(name);
          break;
        }
        default:
          ASSERT_OK(env->sync_dir("/d"));
          durable = current;
          break;
      }
    }
    env.reset();
    store.crash();
    env = open_env(store);
    ASSERT_OK(env->create_dir("/d"));  // an empty directory does not survive a reopen
    for (const auto& [name, content] : durable) {
      if (current.count(name) > 0 && current[name] == content) {
        EXPECT_EQ(read_text(*env, name), content) << name;
      }
    }
    Result<std::vector<std::string>> names = env->list_dir("/d");
    ASSERT_OK(names);
    for (const std::string& name : *names) EXPECT_TRUE(env->read_file("/d/" + name).is_ok()) << name;
  }
}

}  // namespace
}  // namespace sqlsync
