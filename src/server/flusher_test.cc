#include "server/flusher.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include <gtest/gtest.h>

#include "base/memory_env.h"

namespace sqlsync {
namespace {

// An env whose file-system flushes wait at a gate the test opens one flush
// at a time, so the test sees which callbacks each flush served.
class GatedFlushEnv final : public Env {
 public:
  Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) override {
    return base_.open_file(path, mode);
  }
  Status remove_file(const std::string& path) override { return base_.remove_file(path); }
  Status rename_file(const std::string& from, const std::string& to) override { return base_.rename_file(from, to); }
  Result<bool> file_exists(const std::string& path) override { return base_.file_exists(path); }
  Status create_dir(const std::string& path) override { return base_.create_dir(path); }
  Result<std::vector<std::string>> list_dir(const std::string& path) override { return base_.list_dir(path); }
  Status sync_dir(const std::string& path) override { return base_.sync_dir(path); }
  uint64_t now_micros() override { return base_.now_micros(); }
  void random_bytes(std::span<uint8_t> out) override { base_.random_bytes(out); }

  Status flush_file_system(const std::string&) override {
    std::unique_lock<std::mutex> lock(mutex_);
    ++entered_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return allowed_ >= entered_; });
    return Status::ok();
  }

  // Waits until `count` flushes have started.
  bool wait_entered(int count) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return entered_ >= count; });
  }
  // Lets one more flush finish.
  void allow_one() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++allowed_;
    changed_.notify_all();
  }

 private:
  MemoryEnv base_{1};
  std::mutex mutex_;
  std::condition_variable changed_;
  int entered_ = 0;
  int allowed_ = 0;
};

bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(FlusherTest, OneFlushServesEveryoneWaitingWhenItStartsAndLaterCallersWaitForTheNext) {
  GatedFlushEnv env;
  std::atomic<int> first{0};
  std::atomic<int> second{0};
  Flusher flusher(&env, "data");
  flusher.after_next_flush([&] { ++first; });
  ASSERT_TRUE(env.wait_entered(1));
  // These wrote after flush 1 started: it does not cover them.
  flusher.after_next_flush([&] { ++second; });
  flusher.after_next_flush([&] { ++second; });
  env.allow_one();
  ASSERT_TRUE(eventually([&] { return first == 1; }));
  ASSERT_TRUE(env.wait_entered(2));
  EXPECT_EQ(second, 0);
  env.allow_one();
  ASSERT_TRUE(eventually([&] { return second == 2; }));
  EXPECT_EQ(flusher.flushes(), 2u);
  EXPECT_EQ(first, 1);
}

TEST(FlusherTest, PosixSharedSyncFlushesTheFileSystemHoldingAPath) {
  const std::string directory = ::testing::TempDir() + "flusher_test_posix";
  Env* env = Env::posix_shared_sync();
  ASSERT_TRUE(env->create_dir(directory).is_ok());
  Result<std::unique_ptr<File>> file = env->open_file(directory + "/f", OpenMode::kCreateTruncate);
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  ASSERT_TRUE((*file)->append(Bytes{1, 2, 3}).is_ok());
  Status flushed = env->flush_file_system(directory);
  EXPECT_TRUE(flushed.is_ok()) << flushed.to_string();
  EXPECT_TRUE((*file)->sync().is_ok());
  Status missing = env->flush_file_system(directory + "/missing");
  EXPECT_EQ(missing.code(), StatusCode::kNotFound) << missing.to_string();
}

TEST(FlusherTest, EnvsWhoseFilesSyncAloneDoNotFlushFileSystems) {
  MemoryEnv env(1);
  EXPECT_EQ(env.flush_file_system("data").code(), StatusCode::kUnsupported);
  EXPECT_EQ(Env::posix()->flush_file_system(::testing::TempDir()).code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace sqlsync
