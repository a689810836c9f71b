// Errors as values. Every fallible operation in sqlsync returns a Status or a
// Result<T>; no exception crosses the core, the VFS boundary or the C ABI.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace sqlsync {

enum class StatusCode {
  kOk = 0,
  kCorruption,       // stored or received bytes fail a format or checksum check
  kIOError,          // the environment (files, fsync, ...) failed
  kInvalidArgument,  // the caller passed something malformed or out of order
  kNotFound,
  kRejected,         // a reducer refused a mutation
  kBusy,             // try again later (e.g. a transaction is open)
  kUnsupported,      // a version or feature this build does not know
  kInternal,         // a broken invariant: a bug in sqlsync
};

// Human-readable name of a code, e.g. "Corruption".
const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok

  static Status ok() { return Status(); }
  static Status corruption(std::string message) { return {StatusCode::kCorruption, std::move(message)}; }
  static Status io_error(std::string message) { return {StatusCode::kIOError, std::move(message)}; }
  static Status invalid_argument(std::string message) {
    return {StatusCode::kInvalidArgument, std::move(message)};
  }
  static Status not_found(std::string message) { return {StatusCode::kNotFound, std::move(message)}; }
  static Status rejected(std::string message) { return {StatusCode::kRejected, std::move(message)}; }
  static Status busy(std::string message) { return {StatusCode::kBusy, std::move(message)}; }
  static Status unsupported(std::string message) { return {StatusCode::kUnsupported, std::move(message)}; }
  static Status internal(std::string message) { return {StatusCode::kInternal, std::move(message)}; }

  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool is_ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "Corruption: frame checksum mismatch at lsn 7", or "OK".
  std::string to_string() const;

  // Returns a copy whose message is prefixed with `context` ("context: message").
  Status with_context(const std::string& context) const;

  // Ignores the status on purpose (documents intent; silences [[nodiscard]]).
  void ignore() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(state_).is_ok() && "Result built from an ok Status");
  }

  bool is_ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(state_);
  }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace sqlsync

#define SQLSYNC_CONCAT_INNER(a, b) a##b
#define SQLSYNC_CONCAT(a, b) SQLSYNC_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function if it is not ok.
#define SQLSYNC_RETURN_IF_ERROR(expr)               \
  do {                                              \
    ::sqlsync::Status sqlsync_status_ = (expr);     \
    if (!sqlsync_status_.is_ok()) return sqlsync_status_; \
  } while (0)

// `SQLSYNC_ASSIGN_OR_RETURN(auto x, f());` declares x from a Result or returns
// its Status.
#define SQLSYNC_ASSIGN_OR_RETURN(lhs, expr) \
  SQLSYNC_ASSIGN_OR_RETURN_IMPL(SQLSYNC_CONCAT(sqlsync_result_, __LINE__), lhs, expr)
#define SQLSYNC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.is_ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
