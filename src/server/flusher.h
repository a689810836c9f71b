// Group commit across documents without blocking their threads. With
// Env::posix_shared_sync() one flush of the file system makes every
// document's writes durable. The Flusher runs those flushes on a thread of
// its own, back to back while anyone waits, so a document's round writes,
// asks to be called back after the next flush, and frees its thread; when
// the round then syncs its files, the sync returns at once (its writes are
// covered). One flush serves every round that wrote while the previous one
// ran.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sqlsync/env.h"

namespace sqlsync {

class Flusher {
 public:
  // Starts the thread. `env` must outlive the Flusher; `path` is any file or
  // directory on the file system to flush (the data directory).
  Flusher(Env* env, std::string path);
  // Stops the thread after the flush under way; callbacks still waiting
  // are dropped without being run.
  ~Flusher();

  Flusher(const Flusher&) = delete;
  Flusher& operator=(const Flusher&) = delete;

  // Runs `done` on the Flusher's thread once a flush that started after this
  // call has ended (`done` must be quick: post the real work elsewhere).
  // A failed flush is not reported here: the waiter's own File::sync()
  // reports it. Thread-safe.
  void after_next_flush(std::function<void()> done);

  // Flushes completed so far (for tests and metrics). Thread-safe.
  uint64_t flushes() const;

 private:
  void run();

  Env* env_;
  const std::string path_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::function<void()>> waiting_;
  uint64_t flushes_ = 0;
  bool failed_ = false;  // thread only
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace sqlsync
