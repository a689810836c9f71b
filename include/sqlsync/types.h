// Vocabulary types shared by every layer: bytes, journal ids, LSN ranges and
// SQL values.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sqlsync/status.h"

namespace sqlsync {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView as_bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}
inline std::string_view as_text(ByteView bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Log sequence number: the position of an entry in a journal. Contiguous,
// starting at 0.
using Lsn = uint64_t;

// Random 128-bit identity of a journal (a document's storage log or a
// replica's timeline). Generate with Env::new_journal_id().
class JournalId {
 public:
  static constexpr size_t kSize = 16;

  JournalId() = default;  // all zero: "no journal"
  explicit JournalId(const std::array<uint8_t, kSize>& bytes) : bytes_(bytes) {}

  // Parses exactly kSize bytes; InvalidArgument otherwise.
  static Result<JournalId> from_bytes(ByteView bytes);
  // Parses 32 lowercase or uppercase hex digits; InvalidArgument otherwise.
  static Result<JournalId> from_hex(std::string_view hex);

  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }
  ByteView view() const { return {bytes_.data(), bytes_.size()}; }
  std::string to_hex() const;
  bool is_zero() const;

  friend bool operator==(const JournalId& a, const JournalId& b) { return a.bytes_ == b.bytes_; }
  friend bool operator!=(const JournalId& a, const JournalId& b) { return !(a == b); }
  friend bool operator<(const JournalId& a, const JournalId& b) { return a.bytes_ < b.bytes_; }

 private:
  std::array<uint8_t, kSize> bytes_{};
};

// A range of LSNs: inclusive [first, last], or empty with a `next` position.
// Internally half-open [first, next); empty when first == next.
class LsnRange {
 public:
  LsnRange() = default;  // empty at 0
  static LsnRange empty(Lsn next) { return LsnRange(next, next); }
  static LsnRange inclusive(Lsn first, Lsn last) { return LsnRange(first, last + 1); }
  // [first, next); requires first <= next.
  static LsnRange half_open(Lsn first, Lsn next) { return LsnRange(first, next); }

  bool is_empty() const { return first_ == next_; }
  Lsn first() const { return first_; }
  // Requires !is_empty().
  Lsn last() const { return next_ - 1; }
  // The LSN the next appended entry gets.
  Lsn next() const { return next_; }
  uint64_t size() const { return next_ - first_; }
  bool contains(Lsn lsn) const { return lsn >= first_ && lsn < next_; }

  std::string to_string() const;  // "[3, 7]" or "empty@8"

  friend bool operator==(const LsnRange& a, const LsnRange& b) {
    return a.first_ == b.first_ && a.next_ == b.next_;
  }

 private:
  LsnRange(Lsn first, Lsn next) : first_(first), next_(next) {}
  Lsn first_ = 0;
  Lsn next_ = 0;
};

// A SQL value: NULL, INTEGER, REAL, TEXT or BLOB.
using Value = std::variant<std::monostate, int64_t, double, std::string, Bytes>;
using Row = std::vector<Value>;

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<Row> rows;

  friend bool operator==(const QueryResult& a, const QueryResult& b) {
    return a.columns == b.columns && a.rows == b.rows;
  }
};

// Renders a value as SQL-literal-like text (NULL, 42, 1.5, 'text', x'00ff').
std::string value_to_string(const Value& value);

}  // namespace sqlsync
