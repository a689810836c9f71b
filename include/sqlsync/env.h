// The one interface through which sqlsync touches the operating system:
// files, fsync, directory sync, the clock and randomness. The core never calls
// the OS directly, so tests can run it on memory (MemoryEnv) or inject faults
// at any named step (FaultInjectionEnv, see src/base/fault_env.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

// An open file. Not thread-safe; one user at a time.
class File {
 public:
  virtual ~File() = default;

  // Reads up to `length` bytes at `offset` into `out` (resized to what was
  // read; fewer bytes only at end of file).
  virtual Status read_at(uint64_t offset, size_t length, Bytes& out) = 0;
  // Writes `data` at `offset`, extending the file as needed. Not durable
  // until sync() returns ok.
  virtual Status write_at(uint64_t offset, ByteView data) = 0;
  // Appends `data` at the current end of the file.
  virtual Status append(ByteView data) = 0;
  // Makes every write so far durable (fdatasync).
  virtual Status sync() = 0;
  virtual Result<uint64_t> size() = 0;
  virtual Status truncate(uint64_t size) = 0;
};

enum class OpenMode {
  kRead,            // must exist
  kReadWrite,       // must exist
  kCreate,          // read-write; created if missing
  kCreateTruncate,  // read-write; created, or emptied if it exists
};

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX environment. Never null; lives forever.
  static Env* posix();
  // The same, except that File::sync() flushes the whole file system holding
  // the file (syncfs(2)) and threads syncing at the same time share one
  // flush: group commit across files. A file's sync() returns at once when
  // a flush that started after the last write through that File object has
  // finished (writes through another File object of the same file are
  // covered by that object's sync()). Much faster than posix() when many
  // files are synced concurrently (a server's documents) on a disk the
  // process has to itself; slower when other processes write much to the
  // same file system (their data is flushed too). Write-back errors are
  // reported as by fsync (Linux 5.8+ reports them per file system). Never
  // null; lives forever.
  static Env* posix_shared_sync();

  // File operations. Errors map errno deliberately: ENOENT -> NotFound,
  // ENOSPC/EIO/others -> IOError, with the path in the message.
  virtual Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) = 0;
  virtual Status remove_file(const std::string& path) = 0;
  // Atomically replaces `to` with `from`. Durable only after sync_dir().
  virtual Status rename_file(const std::string& from, const std::string& to) = 0;
  virtual Result<bool> file_exists(const std::string& path) = 0;
  // Creates the directory and missing parents; ok if it exists.
  virtual Status create_dir(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, sorted.
  virtual Result<std::vector<std::string>> list_dir(const std::string& path) = 0;
  // Makes creations, renames and removals in a directory durable.
  virtual Status sync_dir(const std::string& path) = 0;
  // Removes the empty directory `path`; durable only after sync_dir() on its
  // parent. NotFound if it does not exist, IOError if it is not empty or not
  // a directory. This default, for envs without real directories, returns
  // Unsupported.
  virtual Status remove_dir(const std::string& path);

  // Microseconds since an arbitrary epoch; monotonic within a process.
  virtual uint64_t now_micros() = 0;
  // Fills `out` with random bytes (seeded in MemoryEnv, so reproducible).
  virtual void random_bytes(std::span<uint8_t> out) = 0;

  // A fresh random JournalId drawn from random_bytes().
  JournalId new_journal_id();
  // The whole content of the file at `path` (e.g. a reducer module);
  // NotFound if it does not exist.
  Result<Bytes> read_file(const std::string& path);
  // Durable publish: makes `data` the whole content of `path`, atomically.
  // Writes "<path>.tmp", syncs it, reads it back, renames it over `path` and
  // syncs the directory holding `path` (which must exist). Once it returns ok
  // the new content survives a crash; a crash at any step leaves `path` with
  // its old content or `data`, never a mix, plus perhaps a stale
  // "<path>.tmp" that the next call replaces. Errors name the failed step;
  // Corruption if the bytes read back differ from `data`.
  Status write_file_durably(const std::string& path, ByteView data);
  // create_dir(`path`), then makes each directory it created durable by
  // syncing that directory's parent. Ok, with no sync, if `path` exists.
  // A relative path without '/' has "." as its parent.
  Status create_dir_durably(const std::string& path);
};

}  // namespace sqlsync
