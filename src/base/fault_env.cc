#include "base/fault_env.h"

namespace sqlsync {

const char* io_op_name(IoOp op) {
  switch (op) {
    case IoOp::kOpen: return "open";
    case IoOp::kRead: return "read";
    case IoOp::kWrite: return "write";
    case IoOp::kAppend: return "append";
    case IoOp::kSync: return "sync";
    case IoOp::kTruncate: return "truncate";
    case IoOp::kStat: return "stat";
    case IoOp::kRename: return "rename";
    case IoOp::kRemove: return "remove";
    case IoOp::kSyncDir: return "sync_dir";
    case IoOp::kCreateDir: return "create_dir";
    case IoOp::kListDir: return "list_dir";
  }
  return "unknown";
}

class FaultInjectionEnv::FaultFile final : public File {
 public:
  FaultFile(FaultInjectionEnv* env, std::unique_ptr<File> base, std::string path)
      : env_(env), base_(std::move(base)), path_(std::move(path)) {}

  Status read_at(uint64_t offset, size_t length, Bytes& out) override {
    SQLSYNC_RETURN_IF_ERROR(env_->before(IoOp::kRead, path_));
    return base_->read_at(offset, length, out);
  }
  Status write_at(uint64_t offset, ByteView data) override {
    SQLSYNC_RETURN_IF_ERROR(env_->before(IoOp::kWrite, path_));
    return base_->write_at(offset, data);
  }
  Status append(ByteView data) override {
    SQLSYNC_RETURN_IF_ERROR(env_->before(IoOp::kAppend, path_));
    return base_->append(data);
  }
  Status sync() override {
    SQLSYNC_RETURN_IF_ERROR(env_->before(IoOp::kSync, path_));
    return base_->sync();
  }
  Result<uint64_t> size() override {
    SQLSYNC_RETURN_IF_ERROR(env_->before(IoOp::kStat, path_));
    return base_->size();
  }
  Status truncate(uint64_t size) override {
    SQLSYNC_RETURN_IF_ERROR(env_->before(IoOp::kTruncate, path_));
    return base_->truncate(size);
  }

 private:
  FaultInjectionEnv* const env_;
  const std::unique_ptr<File> base_;
  const std::string path_;
};

FaultInjectionEnv::FaultInjectionEnv(Env* base) : base_(base) {}

FaultInjectionEnv::~FaultInjectionEnv() = default;

void FaultInjectionEnv::fail_after(uint64_t operations, std::optional<IoOp> op) {
  std::lock_guard<std::mutex> lock(mutex_);
  fail_countdown_ = operations;
  fail_op_ = op;
  fail_is_crash_ = false;
}

void FaultInjectionEnv::crash_after(uint64_t operations, std::optional<IoOp> op) {
  std::lock_guard<std::mutex> lock(mutex_);
  fail_countdown_ = operations;
  fail_op_ = op;
  fail_is_crash_ = true;
}

void FaultInjectionEnv::set_failure_predicate(Predicate predicate) {
  std::lock_guard<std::mutex> lock(mutex_);
  predicate_ = std::move(predicate);
}

void FaultInjectionEnv::clear_faults() {
  std::lock_guard<std::mutex> lock(mutex_);
  fail_countdown_.reset();
  fail_op_.reset();
  fail_is_crash_ = false;
  crashed_ = false;
  predicate_ = nullptr;
}

bool FaultInjectionEnv::crashed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return crashed_;
}

uint64_t FaultInjectionEnv::count(IoOp op) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_[static_cast<size_t>(op)];
}

uint64_t FaultInjectionEnv::total_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t total = 0;
  for (uint64_t n : counts_) total += n;
  return total;
}

void FaultInjectionEnv::reset_counts() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (uint64_t& n : counts_) n = 0;
}

Status FaultInjectionEnv::before(IoOp op, const std::string& path, const std::string* other_path) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_[static_cast<size_t>(op)];
  auto failure = [&](const char* what) {
    std::string step = std::string(io_op_name(op)) + " '" + path + "'";
    if (other_path != nullptr) step += " to '" + *other_path + "'";
    return Status::io_error(step + ": " + what);
  };
  if (crashed_) return failure("injected crash (the env crashed at an earlier step)");
  if (fail_countdown_.has_value() && (!fail_op_.has_value() || *fail_op_ == op)) {
    if (*fail_countdown_ > 0) {
      --*fail_countdown_;
    } else {
      fail_countdown_.reset();
      if (fail_is_crash_) {
        crashed_ = true;
        return failure("injected crash");
      }
      return failure("injected fault");
    }
  }
  if (predicate_ && (predicate_(op, path) || (other_path != nullptr && predicate_(op, *other_path)))) {
    return failure("injected fault");
  }
  return Status::ok();
}

Result<std::unique_ptr<File>> FaultInjectionEnv::open_file(const std::string& path, OpenMode mode) {
  SQLSYNC_RETURN_IF_ERROR(before(IoOp::kOpen, path));
  SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, base_->open_file(path, mode));
  return std::unique_ptr<File>(new FaultFile(this, std::move(file), path));
}

Status FaultInjectionEnv::remove_file(const std::string& path) {
  SQLSYNC_RETURN_IF_ERROR(before(IoOp::kRemove, path));
  return base_->remove_file(path);
}

Status FaultInjectionEnv::rename_file(const std::string& from, const std::string& to) {
  SQLSYNC_RETURN_IF_ERROR(before(IoOp::kRename, from, &to));
  return base_->rename_file(from, to);
}

Result<bool> FaultInjectionEnv::file_exists(const std::string& path) {
  SQLSYNC_RETURN_IF_ERROR(before(IoOp::kStat, path));
  return base_->file_exists(path);
}

Status FaultInjectionEnv::create_dir(const std::string& path) {
  SQLSYNC_RETURN_IF_ERROR(before(IoOp::kCreateDir, path));
  return base_->create_dir(path);
}

Result<std::vector<std::string>> FaultInjectionEnv::list_dir(const std::string& path) {
  SQLSYNC_RETURN_IF_ERROR(before(IoOp::kListDir, path));
  return base_->list_dir(path);
}

Status FaultInjectionEnv::sync_dir(const std::string& path) {
  SQLSYNC_RETURN_IF_ERROR(before(IoOp::kSyncDir, path));
  return base_->sync_dir(path);
}

Status FaultInjectionEnv::remove_dir(const std::string& path) {
  SQLSYNC_RETURN_IF_ERROR(before(IoOp::kRemove, path));
  return base_->remove_dir(path);
}

uint64_t FaultInjectionEnv::now_micros() { return base_->now_micros(); }

void FaultInjectionEnv::random_bytes(std::span<uint8_t> out) { base_->random_bytes(out); }

}  // namespace sqlsync
