// Env::posix(): the environment on a POSIX system (Linux natively; emscripten
// provides the same calls over its virtual file system).
#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "sqlsync/env.h"

namespace sqlsync {
namespace {

// strerror_r comes in two shapes: XSI returns int and fills the buffer, GNU
// returns the message (maybe a static string). Overloads pick whichever the
// libc declares.
[[maybe_unused]] const char* strerror_result(int /*xsi_result*/, const char* buffer) { return buffer; }
[[maybe_unused]] const char* strerror_result(const char* gnu_result, const char* /*buffer*/) { return gnu_result; }

std::string error_text(int error) {
  char buffer[256] = "unknown error";
  return strerror_result(strerror_r(error, buffer, sizeof buffer), buffer);
}

// `action` names the step and the path, e.g. "write '/data/log' at offset 8".
// Callers copy errno into `error` before building `action`: allocating the
// message may change errno.
Status posix_error(const std::string& action, int error) {
  switch (error) {
    case ENOENT: return Status::not_found(action + ": no such file or directory");
    case ENOSPC: return Status::io_error(action + ": no space left on device");
    default: return Status::io_error(action + ": " + error_text(error));
  }
}

std::string quoted(const std::string& path) { return "'" + path + "'"; }

// close() is not retried on EINTR: on Linux the descriptor is released
// whatever close() returns, and a retry could close someone else's.
void close_descriptor(int fd) { ::close(fd); }

// Group commit across files (Env::posix_shared_sync): flushes are numbered
// as they start; a write is covered by every flush numbered above started()
// read after the write. A sync waits for the first flush that covers what it
// needs; whoever finds none running starts the next, so every thread asking
// meanwhile shares it. A failed flush fails every later sync: after a
// write-back error the page cache no longer tells what reached the disk.
class SharedSync {
 public:
  uint64_t started() {
    std::lock_guard<std::mutex> lock(mutex_);
    return started_;
  }

  // Waits until a flush numbered above `covered_by_flushes_after` has
  // finished; nullopt: a flush that starts after this call.
  Status sync(std::optional<uint64_t> covered_by_flushes_after, int fd, const std::string& path) {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t needed = covered_by_flushes_after.value_or(started_) + 1;
    while (finished_ < needed && status_.is_ok()) {
      if (running_) {
        done_.wait(lock);
        continue;
      }
      running_ = true;
      const uint64_t round = ++started_;
      lock.unlock();
      Status status = flush(fd, path);
      lock.lock();
      running_ = false;
      finished_ = round;
      if (status_.is_ok()) status_ = std::move(status);
      done_.notify_all();
    }
    return status_;
  }

 private:
  static Status flush(int fd, const std::string& path) {
#ifdef __EMSCRIPTEN__
    // No file system to share in the browser build: a plain sync.
    while (::fsync(fd) != 0) {
#else
    while (::syncfs(fd) != 0) {
#endif
      int error = errno;
      if (error != EINTR) return posix_error("sync the file system holding " + quoted(path), error);
    }
    return Status::ok();
  }

  std::mutex mutex_;
  std::condition_variable done_;
  uint64_t started_ = 0;   // flushes started
  uint64_t finished_ = 0;  // the newest flush finished
  bool running_ = false;
  Status status_;          // the first failed flush, else ok
};

class PosixFile final : public File {
 public:
  // `shared_sync` null: sync() is fdatasync(2) of this file.
  PosixFile(int fd, std::string path, SharedSync* shared_sync)
      : fd_(fd), path_(std::move(path)), shared_sync_(shared_sync) {}
  ~PosixFile() override { close_descriptor(fd_); }

  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  Status read_at(uint64_t offset, size_t length, Bytes& out) override {
    out.resize(length);
    size_t done = 0;
    while (done < length) {
      ssize_t n = ::pread(fd_, out.data() + done, length - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        int error = errno;
        out.clear();
        return posix_error("read " + quoted(path_) + " at offset " + std::to_string(offset + done), error);
      }
      if (n == 0) break;  // end of file
      done += static_cast<size_t>(n);
    }
    out.resize(done);
    return Status::ok();
  }

  Status write_at(uint64_t offset, ByteView data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        int error = errno;
        return posix_error("write " + quoted(path_) + " at offset " + std::to_string(offset + done), error);
      }
      done += static_cast<size_t>(n);
    }
    note_written();
    return Status::ok();
  }

  // Not O_APPEND: Linux pwrite() ignores the offset on O_APPEND descriptors,
  // which would break write_at() on the same file.
  Status append(ByteView data) override {
    SQLSYNC_ASSIGN_OR_RETURN(uint64_t end, size());
    return write_at(end, data);
  }

  Status sync() override {
    if (shared_sync_ != nullptr) return shared_sync_->sync(written_before_flush_, fd_, path_);
    while (::fdatasync(fd_) != 0) {
      int error = errno;
      if (error != EINTR) return posix_error("sync " + quoted(path_), error);
    }
    return Status::ok();
  }

  Result<uint64_t> size() override {
    struct stat info;
    if (::fstat(fd_, &info) != 0) {
      int error = errno;
      return posix_error("stat " + quoted(path_), error);
    }
    return static_cast<uint64_t>(info.st_size);
  }

  Status truncate(uint64_t size) override {
    while (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      int error = errno;
      if (error != EINTR) {
        return posix_error("truncate " + quoted(path_) + " to " + std::to_string(size) + " bytes", error);
      }
    }
    note_written();
    return Status::ok();
  }

 private:
  void note_written() {
    if (shared_sync_ != nullptr) written_before_flush_ = shared_sync_->started();
  }

  int fd_;
  std::string path_;
  SharedSync* shared_sync_;
  // With shared_sync_: flushes numbered above this started after the last
  // write through this object (nullopt: it wrote nothing).
  std::optional<uint64_t> written_before_flush_;
};

// open() that retries when a signal interrupts it.
int open_retrying(const char* path, int flags, mode_t permissions) {
  int fd;
  do {
    fd = ::open(path, flags, permissions);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

class PosixEnv final : public Env {
 public:
  explicit PosixEnv(bool shared_sync) : shared_sync_(shared_sync ? std::make_unique<SharedSync>() : nullptr) {}

  Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kRead: flags |= O_RDONLY; break;
      case OpenMode::kReadWrite: flags |= O_RDWR; break;
      case OpenMode::kCreate: flags |= O_RDWR | O_CREAT; break;
      case OpenMode::kCreateTruncate: flags |= O_RDWR | O_CREAT | O_TRUNC; break;
    }
    int fd = open_retrying(path.c_str(), flags, 0644);
    if (fd < 0) {
      int error = errno;
      return posix_error("open " + quoted(path), error);
    }
    auto file = std::make_unique<PosixFile>(fd, path, shared_sync_.get());
    // A read-only open() accepts a directory; refuse it here, as every Env
    // does, rather than on the first read.
    struct stat info;
    if (::fstat(fd, &info) != 0) {
      int error = errno;
      return posix_error("stat " + quoted(path), error);
    }
    if (S_ISDIR(info.st_mode)) return Status::io_error("open " + quoted(path) + ": is a directory");
    return std::unique_ptr<File>(std::move(file));
  }

  Status remove_file(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) {
      int error = errno;
      return posix_error("remove " + quoted(path), error);
    }
    return Status::ok();
  }

  Status rename_file(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      int error = errno;
      return posix_error("rename " + quoted(from) + " to " + quoted(to), error);
    }
    return Status::ok();
  }

  Result<bool> file_exists(const std::string& path) override {
    struct stat info;
    if (::stat(path.c_str(), &info) == 0) return true;
    int error = errno;
    if (error == ENOENT || error == ENOTDIR) return false;
    return posix_error("stat " + quoted(path), error);
  }

  Status create_dir(const std::string& path) override {
    if (path.empty()) return Status::invalid_argument("create_dir: empty path");
    // Each prefix ending before a '/' is a parent; the whole path comes last.
    for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
      std::string prefix = path.substr(0, end);
      if (!prefix.empty() && prefix.back() != '/') SQLSYNC_RETURN_IF_ERROR(make_one_dir(prefix));
      if (end == std::string::npos) break;
    }
    return Status::ok();
  }

  Result<std::vector<std::string>> list_dir(const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) {
      int error = errno;
      return posix_error("list directory " + quoted(path), error);
    }
    std::vector<std::string> names;
    for (;;) {
      errno = 0;
      struct dirent* entry = ::readdir(dir);
      if (entry == nullptr) break;
      std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    int error = errno;
    ::closedir(dir);
    if (error != 0) return posix_error("list directory " + quoted(path), error);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status sync_dir(const std::string& path) override {
    int fd = open_retrying(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) {
      int error = errno;
      return posix_error("open directory " + quoted(path), error);
    }
    int result;
    do {
      result = ::fsync(fd);
    } while (result != 0 && errno == EINTR);
    int error = errno;
    close_descriptor(fd);
    // Some file systems cannot sync a directory and say EINVAL; their
    // directory updates are as durable as they will ever be.
    if (result != 0 && error != EINVAL) return posix_error("sync directory " + quoted(path), error);
    return Status::ok();
  }

  Status remove_dir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0) {
      int error = errno;
      return posix_error("remove directory " + quoted(path), error);
    }
    return Status::ok();
  }

  uint64_t now_micros() override {
    struct timespec now;
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1000000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
  }

  void random_bytes(std::span<uint8_t> out) override {
    // getentropy() fills at most 256 bytes per call and, unlike a read of
    // /dev/urandom, needs no descriptor. It only fails if the kernel has no
    // entropy source at all; ids drawn from a broken source would collide, so
    // that is fatal.
    constexpr size_t kMaxChunk = 256;
    for (size_t done = 0; done < out.size();) {
      size_t chunk = std::min(kMaxChunk, out.size() - done);
      if (::getentropy(out.data() + done, chunk) != 0) {
        std::fprintf(stderr, "sqlsync: getentropy failed: %s\n", error_text(errno).c_str());
        std::abort();
      }
      done += chunk;
    }
  }

 private:
  std::unique_ptr<SharedSync> shared_sync_;  // null: each file syncs alone

  static Status make_one_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) == 0) return Status::ok();
    int error = errno;
    if (error == EEXIST) {
      struct stat info;
      if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) return Status::ok();
      return Status::io_error("create directory " + quoted(path) + ": a file of that name exists");
    }
    return posix_error("create directory " + quoted(path), error);
  }
};

}  // namespace

Env* Env::posix() {
  // Never destroyed, so it stays usable from other static destructors.
  static Env* const env = new PosixEnv(/*shared_sync=*/false);
  return env;
}

Env* Env::posix_shared_sync() {
  static Env* const env = new PosixEnv(/*shared_sync=*/true);
  return env;
}

}  // namespace sqlsync
