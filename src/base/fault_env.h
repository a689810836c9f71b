// An Env wrapper that fails chosen I/O steps, for tests of error paths and
// of recovery after a crash at any step.
//
// A crash test typically runs a workload once to count its steps, then for
// each step k: crash_after(k) on a FaultInjectionEnv over a MemoryEnv, run the
// workload until it fails, MemoryEnv::simulate_crash(), clear_faults(), and
// check that recovery finds everything that was acknowledged as durable.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sqlsync/env.h"

namespace sqlsync {

// The name of every I/O step; the path of the step travels with it.
enum class IoOp {
  kOpen,       // Env::open_file
  kRead,       // File::read_at
  kWrite,      // File::write_at
  kAppend,     // File::append
  kSync,       // File::sync
  kTruncate,   // File::truncate
  kStat,       // File::size, Env::file_exists
  kRename,     // Env::rename_file
  kRemove,     // Env::remove_file, Env::remove_dir
  kSyncDir,    // Env::sync_dir
  kCreateDir,  // Env::create_dir
  kListDir,    // Env::list_dir
};
inline constexpr size_t kIoOpCount = 12;
static_assert(static_cast<size_t>(IoOp::kListDir) + 1 == kIoOpCount, "kIoOpCount must follow IoOp");

// "open", "read", "write", ... "list_dir".
const char* io_op_name(IoOp op);

// Forwards to a base Env, failing the operations a test chose with IOError.
// The clock and randomness are not I/O: they pass through untouched.
//
// Thread-safe. The fault settings and counters are shared by the env and
// every file it opened.
class FaultInjectionEnv final : public Env {
 public:
  // Decides whether an operation on `path` fails. Called with the env's lock
  // held: it must not call back into this env.
  using Predicate = std::function<bool(IoOp op, const std::string& path)>;

  // `base` must outlive this env. Files opened through this env must not
  // outlive it.
  explicit FaultInjectionEnv(Env* base);
  ~FaultInjectionEnv() override;

  FaultInjectionEnv(const FaultInjectionEnv&) = delete;
  FaultInjectionEnv& operator=(const FaultInjectionEnv&) = delete;

  // Lets `operations` more operations succeed (counting only those of kind
  // `op` if given), then fails the next one with IOError. One failure only;
  // replaces any earlier fail_after()/crash_after().
  void fail_after(uint64_t operations, std::optional<IoOp> op = std::nullopt);
  // Like fail_after(), but the failure is a crash: it and every operation
  // after it fail, whatever its kind, until clear_faults().
  void crash_after(uint64_t operations, std::optional<IoOp> op = std::nullopt);
  // Fails every operation for which `predicate` returns true (for a rename,
  // if it returns true for either path). An empty predicate removes it.
  void set_failure_predicate(Predicate predicate);
  // Removes every fault and revives the env after a crash. Counts are kept.
  void clear_faults();
  // Whether a crash_after() failure has fired since the last clear_faults().
  bool crashed() const;

  // Operations of kind `op` attempted through this env, failed ones
  // included, since construction or reset_counts().
  uint64_t count(IoOp op) const;
  // Operations of every kind attempted.
  uint64_t total_count() const;
  void reset_counts();

  Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) override;
  Status remove_file(const std::string& path) override;
  Status rename_file(const std::string& from, const std::string& to) override;
  Result<bool> file_exists(const std::string& path) override;
  Status create_dir(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& path) override;
  Status sync_dir(const std::string& path) override;
  Status remove_dir(const std::string& path) override;

  uint64_t now_micros() override;
  void random_bytes(std::span<uint8_t> out) override;

 private:
  class FaultFile;

  // Counts the operation and returns the injected failure, if any. For a
  // rename, `path` is the source and `other_path` the target.
  Status before(IoOp op, const std::string& path, const std::string* other_path = nullptr);

  Env* const base_;
  mutable std::mutex mutex_;
  uint64_t counts_[kIoOpCount] = {};
  // The armed fail_after()/crash_after(): how many matching operations may
  // still succeed.
  std::optional<uint64_t> fail_countdown_;
  std::optional<IoOp> fail_op_;
  bool fail_is_crash_ = false;
  bool crashed_ = false;
  Predicate predicate_;
};

}  // namespace sqlsync
