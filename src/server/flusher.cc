#include "server/flusher.h"

#include <utility>

#include "server/log.h"

namespace sqlsync {

Flusher::Flusher(Env* env, std::string path) : env_(env), path_(std::move(path)), thread_([this] { run(); }) {}

Flusher::~Flusher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void Flusher::after_next_flush(std::function<void()> done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    waiting_.push_back(std::move(done));
  }
  wake_.notify_one();
}

uint64_t Flusher::flushes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return flushes_;
}

void Flusher::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
    if (stopping_) return;
    // Everyone waiting now wrote before this flush starts.
    std::vector<std::function<void()>> served = std::move(waiting_);
    waiting_.clear();
    lock.unlock();
    Status status = env_->flush_file_system(path_);
    // Write-back errors are sticky (every later flush fails too): say it once.
    if (!status.is_ok() && !failed_) log_error("flushing the file system: " + status.to_string());
    failed_ = failed_ || !status.is_ok();
    for (auto& done : served) done();
    lock.lock();
    ++flushes_;
  }
}

}  // namespace sqlsync
