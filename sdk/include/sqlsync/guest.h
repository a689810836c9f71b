// The sqlsync guest SDK: write a reducer in C++ and compile it to a WASM
// module that the native runtime loads (docs/guest-sdk.md, ABI in
// docs/reducer-abi.md). Header-only; build with sqlsync_add_wasm_reducer()
// from cmake/SqlsyncReducer.cmake (clang++-14 --target=wasm32-wasi
// -fno-exceptions -fno-rtti -mexec-model=reactor).
//
//   #include <sqlsync/guest.h>
//
//   sqlsync::Status migrate(sqlsync::Tx& tx, int from, int to) { ... }
//   sqlsync::Status reduce(sqlsync::Tx& tx, std::string_view mutation) { ... }
//
//   SQLSYNC_REDUCER(/*schema version*/ 1, migrate, reduce)
//
// Avoid iostream and printf (they import WASI, which the host refuses); use
// sqlsync::log. Keep no state in globals between calls: the host may
// re-instantiate the module at any time.
//
// Everything lives in namespace sqlsync (an inline namespace `guest`, so these
// types never collide with the host library's when both are linked into one
// native test program). The parts that are not wasm-specific (Status, Value,
// Json) also compile natively.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace sqlsync {
inline namespace guest {

// ---------------------------------------------------------------------------
// Errors as values.

enum class StatusCode {
  kOk = 0,
  kRejected,  // the reducer refuses the mutation or migration
  kError,     // the host reported a failure (SQL error, ...)
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok

  static Status ok() { return Status(); }
  static Status rejected(std::string message) { return {StatusCode::kRejected, std::move(message)}; }
  static Status error(std::string message) { return {StatusCode::kError, std::move(message)}; }

  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool is_ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // A copy whose message is prefixed with `context` ("context: message").
  Status with_context(std::string_view context) const {
    return {code_, std::string(context) + ": " + message_};
  }

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
  // An ok `status` is a caller bug; it becomes an error rather than a value.
  Result(Status status)  // NOLINT: implicit by design
      : state_(status.is_ok() ? Status::error("Result built from an ok Status") : std::move(status)) {}

  bool is_ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(state_);
  }

  // Require is_ok().
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

}  // namespace guest
}  // namespace sqlsync

// The same macros as the host library's include/sqlsync/status.h.
#ifndef SQLSYNC_RETURN_IF_ERROR
#define SQLSYNC_CONCAT_INNER(a, b) a##b
#define SQLSYNC_CONCAT(a, b) SQLSYNC_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function if it is not ok.
#define SQLSYNC_RETURN_IF_ERROR(expr)                     \
  do {                                                    \
    ::sqlsync::Status sqlsync_status_ = (expr);           \
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
#endif

namespace sqlsync {
inline namespace guest {

// ---------------------------------------------------------------------------
// SQL values and rows (the same shapes as the host's include/sqlsync/types.h).

using Blob = std::vector<uint8_t>;
// NULL, INTEGER, REAL, TEXT or BLOB.
using Value = std::variant<std::monostate, int64_t, double, std::string, Blob>;
using Row = std::vector<Value>;

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<Row> rows;
};

// "null", "integer", "real", "text" or "blob".
inline const char* value_type_name(const Value& value) {
  constexpr const char* kNames[] = {"null", "integer", "real", "text", "blob"};
  return kNames[value.index()];
}

// Column `index` of `row` as T (one of Value's alternatives); Error if the
// row is shorter or the column holds another type (SQLite columns are not
// strictly typed, so check rather than assume).
template <typename T>
Result<T> column(const Row& row, size_t index) {
  if (index >= row.size()) {
    return Status::error("column " + std::to_string(index) + " does not exist (the row has " +
                         std::to_string(row.size()) + ")");
  }
  if (!std::holds_alternative<T>(row[index])) {
    return Status::error("column " + std::to_string(index) + " holds " + value_type_name(row[index]) + ", not " +
                         value_type_name(Value(T{})));
  }
  return std::get<T>(row[index]);
}

// ---------------------------------------------------------------------------
// A minimal JSON (RFC 8259) reader for mutations: validates a whole document
// and gives typed access to the members of a top-level object. Nested objects
// and arrays are validated and can be re-parsed from their text.

enum class JsonType { kNull, kBoolean, kNumber, kString, kObject, kArray };

// "null", "boolean", "number", "string", "object" or "array".
inline const char* json_type_name(JsonType type) {
  constexpr const char* kNames[] = {"null", "boolean", "number", "string", "object", "array"};
  return kNames[static_cast<int>(type)];
}

namespace guest_internal {

// Length of the well-formed UTF-8 sequence at text[i] (Unicode table 3-7: no
// overlongs, surrogates or code points past U+10FFFF), or 0 if there is none.
inline size_t utf8_sequence_length(std::string_view text, size_t i) {
  auto byte = [&](size_t k) -> unsigned { return i + k < text.size() ? static_cast<uint8_t>(text[i + k]) : 0x100; };
  unsigned lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned low = 0x80, high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (byte(1) < low || byte(1) > high) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xBF) return 0;
  }
  return length;
}

inline void append_utf8(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// Scans JSON tokens of `text` from pos(). On failure a method returns false
// and error() says why, with pos() at the offending byte.
class JsonScanner {
 public:
  explicit JsonScanner(std::string_view text, size_t pos = 0) : text_(text), pos_(pos) {}

  size_t pos() const { return pos_; }
  const char* error() const { return error_; }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  void advance() { ++pos_; }

  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

  bool expect(char c, const char* error) {
    if (peek() != c) return fail(error);
    ++pos_;
    return true;
  }

  // A string literal starting at its opening quote. Appends the decoded text
  // to `out` unless it is nullptr.
  bool string(std::string* out) {
    if (!expect('"', "expected a string")) return false;
    while (true) {
      // Plain ASCII is copied a run at a time: appending per byte costs the
      // interpreter that runs guests more than the scan itself.
      size_t run_end = pos_;
      while (run_end < text_.size()) {
        auto c = static_cast<uint8_t>(text_[run_end]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++run_end;
      }
      if (out && run_end > pos_) out->append(text_.data() + pos_, run_end - pos_);
      pos_ = run_end;
      if (at_end()) return fail("unterminated string");
      auto c = static_cast<uint8_t>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return fail("control character in string (must be escaped)");
      if (c == '\\') {
        if (!escape(out)) return false;
        continue;
      }
      size_t length = utf8_sequence_length(text_, pos_);
      if (length == 0) return fail("invalid UTF-8 in string");
      if (out) out->append(text_.substr(pos_, length));
      pos_ += length;
    }
  }

  // A number; `*is_integer` tells whether it has neither fraction nor
  // exponent. Numbers past the range of double (1e400) are refused, as most
  // JSON implementations do (RFC 8259 section 6).
  bool number(bool* is_integer) {
    const size_t start = pos_;
    *is_integer = true;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (!digits()) {
      return fail("invalid number");
    }
    if (peek() == '.') {
      *is_integer = false;
      ++pos_;
      if (!digits()) return fail("expected a digit after the decimal point");
    }
    if (peek() == 'e' || peek() == 'E') {
      *is_integer = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digits()) return fail("expected a digit in the exponent");
    }
    // Only an exponent or 309+ digits can pass DBL_MAX (~1.8e308).
    if (!*is_integer || pos_ - start > 308) {
      double value = std::strtod(std::string(text_.substr(start, pos_ - start)).c_str(), nullptr);
      if (value == HUGE_VAL || value == -HUGE_VAL) {
        pos_ = start;
        return fail("number out of the range of double");
      }
    }
    return true;
  }

  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return fail("invalid literal");
    pos_ += word.size();
    return true;
  }

  bool fail(const char* error) {
    error_ = error;
    return false;
  }

 private:
  bool digits() {
    size_t start = pos_;
    while (peek() >= '0' && peek() <= '9') ++pos_;
    return pos_ > start;
  }

  bool hex4(uint32_t* value) {
    *value = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      char c = peek();
      uint32_t digit;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        digit = c - 'A' + 10;
      } else {
        return fail("expected 4 hex digits after \\u");
      }
      *value = *value * 16 + digit;
    }
    return true;
  }

  // An escape sequence starting at its backslash.
  bool escape(std::string* out) {
    ++pos_;
    char c = peek();
    ++pos_;
    char decoded;
    switch (c) {
      case '"': decoded = '"'; break;
      case '\\': decoded = '\\'; break;
      case '/': decoded = '/'; break;
      case 'b': decoded = '\b'; break;
      case 'f': decoded = '\f'; break;
      case 'n': decoded = '\n'; break;
      case 'r': decoded = '\r'; break;
      case 't': decoded = '\t'; break;
      case 'u': return unicode_escape(out);
      default:
        --pos_;
        return fail("invalid escape sequence");
    }
    if (out) *out += decoded;
    return true;
  }

  // \uXXXX (pos() after the 'u'); a UTF-16 surrogate pair spans two escapes.
  // A surrogate error points at the backslash of the first escape.
  bool unicode_escape(std::string* out) {
    const size_t start = pos_ - 2;
    auto surrogate_error = [&](const char* error) {
      pos_ = start;
      return fail(error);
    };
    uint32_t code_point;
    if (!hex4(&code_point)) return false;
    if (code_point >= 0xDC00 && code_point <= 0xDFFF) return surrogate_error("unpaired low surrogate in \\u escape");
    if (code_point >= 0xD800 && code_point <= 0xDBFF) {
      uint32_t low;
      if (peek() != '\\' || text_.substr(pos_ + 1, 1) != "u") {
        return surrogate_error("unpaired high surrogate in \\u escape");
      }
      pos_ += 2;
      if (!hex4(&low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) return surrogate_error("unpaired high surrogate in \\u escape");
      code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
    }
    if (out) append_utf8(*out, code_point);
    return true;
  }

  std::string_view text_;
  size_t pos_;
  const char* error_ = "";
};

}  // namespace guest_internal

class Json;

// One value of a parsed document: its type and exact source text (a view into
// the parsed text, which must outlive it). The accessors return nullopt when
// the value is not of the asked type.
class JsonValue {
 public:
  JsonValue() = default;
  JsonValue(JsonType type, std::string_view text, bool is_integer)
      : type_(type), text_(text), is_integer_(is_integer) {}

  JsonType type() const { return type_; }
  std::string_view text() const { return text_; }

  // A number written without fraction or exponent ("42", "-7"; not "1.0").
  bool is_integer() const { return type_ == JsonType::kNumber && is_integer_; }

  // The value of an integer number that fits in int64.
  std::optional<int64_t> int64() const {
    if (!is_integer()) return std::nullopt;
    bool negative = text_[0] == '-';
    uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
    uint64_t magnitude = 0;
    for (size_t i = negative ? 1 : 0; i < text_.size(); ++i) {
      uint64_t digit = static_cast<uint64_t>(text_[i] - '0');
      if (magnitude > (limit - digit) / 10) return std::nullopt;
      magnitude = magnitude * 10 + digit;
    }
    return negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
  }

  // Any number, rounded to the nearest double (infinite if out of range).
  std::optional<double> number() const {
    if (type_ != JsonType::kNumber) return std::nullopt;
    return std::strtod(std::string(text_).c_str(), nullptr);
  }

  std::optional<bool> boolean() const {
    if (type_ != JsonType::kBoolean) return std::nullopt;
    return text_ == "true";
  }

  // The decoded string (escapes resolved; always valid UTF-8).
  std::optional<std::string> string() const {
    if (type_ != JsonType::kString) return std::nullopt;
    std::string decoded;
    guest_internal::JsonScanner scanner(text_);
    // Cannot fail: the text was validated when the document was parsed.
    scanner.string(&decoded);
    return decoded;
  }

  // A nested object or array as a document of its own.
  inline Result<Json> document() const;

 private:
  JsonType type_ = JsonType::kNull;
  std::string_view text_ = "null";
  bool is_integer_ = false;
};

// A validated JSON document. Keeps views into the parsed text, which must
// outlive it. If the root is an object, its members are indexed.
class Json {
 public:
  struct Member {
    std::string name;  // decoded
    JsonValue value;
  };

  // Parses `text` (surrounding whitespace allowed, nothing else after the
  // value). Rejected with "invalid JSON at offset N: why" if it is not JSON.
  static Result<Json> parse(std::string_view text) {
    Json json;
    if (!json.scan(text)) {
      return Status::rejected("invalid JSON at offset " + std::to_string(json.error_offset_) + ": " + json.error_);
    }
    return json;
  }

  const JsonValue& root() const { return root_; }
  JsonType type() const { return root_.type(); }

  // The members of a root object in document order (empty otherwise).
  const std::vector<Member>& members() const { return members_; }

  // The root object's member `name`, or nullptr if there is none (or the root
  // is not an object). With duplicate names the last one counts.
  const JsonValue* find(std::string_view name) const {
    for (size_t i = members_.size(); i-- > 0;) {
      if (members_[i].name == name) return &members_[i].value;
    }
    return nullptr;
  }

  // Typed member access for reducers; the Rejected messages read
  // `missing field "id"`, `field "id" must be a string, not number`,
  // `field "by" must be an integer, not string`,
  // `field "by" is out of the 64-bit signed range`.
  Result<std::string> string(std::string_view name) const {
    SQLSYNC_ASSIGN_OR_RETURN(const JsonValue* value, member(name));
    if (value->type() != JsonType::kString) return mistyped(name, "a string", *value);
    return *value->string();
  }
  Result<int64_t> int64(std::string_view name) const {
    SQLSYNC_ASSIGN_OR_RETURN(const JsonValue* value, member(name));
    if (!value->is_integer()) return mistyped(name, "an integer", *value);
    std::optional<int64_t> integer = value->int64();
    if (!integer) return Status::rejected("field " + quote(name) + " is out of the 64-bit signed range");
    return *integer;
  }
  Result<bool> boolean(std::string_view name) const {
    SQLSYNC_ASSIGN_OR_RETURN(const JsonValue* value, member(name));
    if (value->type() != JsonType::kBoolean) return mistyped(name, "a boolean", *value);
    return *value->boolean();
  }

  // `text` as a JSON string literal: quotes, \" \\ \b \f \n \r \t, other
  // control characters as \u00xx; each byte of invalid UTF-8 becomes U+FFFD.
  static std::string quote(std::string_view text) {
    std::string out = "\"";
    for (size_t i = 0; i < text.size();) {
      auto c = static_cast<uint8_t>(text[i]);
      size_t length = guest_internal::utf8_sequence_length(text, i);
      if (length == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
        continue;
      }
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20) {
            constexpr char kHex[] = "0123456789abcdef";
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
          } else {
            out.append(text.substr(i, length));
          }
      }
      i += length;
    }
    out += '"';
    return out;
  }

 private:
  Result<const JsonValue*> member(std::string_view name) const {
    const JsonValue* value = find(name);
    if (!value) return Status::rejected("missing field " + quote(name));
    return value;
  }
  static Status mistyped(std::string_view name, const char* expected, const JsonValue& value) {
    return Status::rejected("field " + quote(name) + " must be " + expected + ", not " + json_type_name(value.type()));
  }

  // Validates the whole document without recursion (any nesting depth is
  // safe on the small wasm stack), recording the root object's members.
  bool scan(std::string_view text) {
    guest_internal::JsonScanner scanner(text);
    std::string open;  // the '{' / '[' of every unclosed container
    size_t value_start = 0;
    bool have_member = false;  // a root member's value is being scanned
    std::string member_name;

    // A value scanned at depth 1 of a root object completes a member.
    auto finish_value = [&](size_t value_end) {
      if (open.size() == 1 && open[0] == '{' && have_member) {
        members_.push_back({std::move(member_name), make_value(text.substr(value_start, value_end - value_start))});
        member_name.clear();
        have_member = false;
      }
    };
    // A member name and its colon; the member's value follows.
    auto key = [&]() {
      scanner.skip_whitespace();
      bool root_member = open.size() == 1 && open[0] == '{';
      if (!scanner.string(root_member ? &member_name : nullptr)) return false;
      scanner.skip_whitespace();
      if (!scanner.expect(':', "expected ':' after a member name")) return false;
      if (root_member) have_member = true;
      return true;
    };

    scanner.skip_whitespace();
    size_t root_start = scanner.pos();
    size_t root_end = root_start;
    bool ok = true;
    while (ok) {
      // A value begins here.
      scanner.skip_whitespace();
      if (open.size() == 1 && have_member) value_start = scanner.pos();
      char c = scanner.peek();
      bool is_integer = false;
      bool container_closed = false;
      if (c == '{' || c == '[') {
        scanner.advance();
        scanner.skip_whitespace();
        if (scanner.peek() == (c == '{' ? '}' : ']')) {
          scanner.advance();
          container_closed = true;
        } else {
          open += c;
          if (c == '{') ok = key();
          continue;
        }
      }
      if (!container_closed) {
        if (c == '"') {
          ok = scanner.string(nullptr);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
          ok = scanner.number(&is_integer);
        } else if (c == 't') {
          ok = scanner.literal("true");
        } else if (c == 'f') {
          ok = scanner.literal("false");
        } else if (c == 'n') {
          ok = scanner.literal("null");
        } else {
          ok = scanner.fail(scanner.at_end() ? "unexpected end of input" : "expected a value");
        }
        if (!ok) break;
      }
      // A value ended: close containers, or find the next element.
      while (true) {
        size_t value_end = scanner.pos();
        finish_value(value_end);
        if (open.empty()) {
          root_end = value_end;
          break;
        }
        scanner.skip_whitespace();
        char next = scanner.peek();
        if (next == ',') {
          scanner.advance();
          if (open.back() == '{') ok = key();
          break;
        }
        if (next != (open.back() == '{' ? '}' : ']')) {
          ok = scanner.fail(open.back() == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
          break;
        }
        scanner.advance();
        open.pop_back();
      }
      if (open.empty()) break;
    }
    if (ok) {
      scanner.skip_whitespace();
      if (!scanner.at_end()) ok = scanner.fail("unexpected text after the JSON value");
    }
    if (!ok) {
      error_ = scanner.error();
      error_offset_ = scanner.pos();
      members_.clear();
      return false;
    }
    root_ = make_value(text.substr(root_start, root_end - root_start));
    return true;
  }

  // `text` is one validated value.
  static JsonValue make_value(std::string_view text) {
    switch (text[0]) {
      case '{': return {JsonType::kObject, text, false};
      case '[': return {JsonType::kArray, text, false};
      case '"': return {JsonType::kString, text, false};
      case 't':
      case 'f': return {JsonType::kBoolean, text, false};
      case 'n': return {JsonType::kNull, text, false};
      default:
        return {JsonType::kNumber, text, text.find_first_of(".eE") == std::string_view::npos};
    }
  }

  JsonValue root_;
  std::vector<Member> members_;
  const char* error_ = "";
  size_t error_offset_ = 0;
};

inline Result<Json> JsonValue::document() const { return Json::parse(text_); }

// ---------------------------------------------------------------------------
// The host interface (docs/reducer-abi.md). Only meaningful in a wasm guest;
// natively the imports are plain declarations nobody defines.

#if defined(__wasm__)
#define SQLSYNC_GUEST_IMPORT(name) __attribute__((import_module("sqlsync"), import_name(name)))
#define SQLSYNC_GUEST_EXPORT(name) __attribute__((export_name(name)))
#else
#define SQLSYNC_GUEST_IMPORT(name)
#define SQLSYNC_GUEST_EXPORT(name)
#endif

namespace guest_internal {
extern "C" {
SQLSYNC_GUEST_IMPORT("execute")
uint8_t* sqlsync_host_execute(const char* sql, uint32_t sql_len, const uint8_t* params, uint32_t params_len);
SQLSYNC_GUEST_IMPORT("query")
uint8_t* sqlsync_host_query(const char* sql, uint32_t sql_len, const uint8_t* params, uint32_t params_len);
SQLSYNC_GUEST_IMPORT("mutation_begin") int32_t sqlsync_host_mutation_begin();
SQLSYNC_GUEST_IMPORT("mutation_end") int32_t sqlsync_host_mutation_end(int32_t keep);
SQLSYNC_GUEST_IMPORT("log") void sqlsync_host_log(int32_t level, const char* text, uint32_t len);
}
}  // namespace guest_internal

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Sends a diagnostic message to the embedder (who decides where it goes).
inline void log(LogLevel level, std::string_view message) {
  guest_internal::sqlsync_host_log(static_cast<int32_t>(level), message.data(), static_cast<uint32_t>(message.size()));
}

namespace guest_internal {

// A host buffer that breaks the ABI is a host bug the guest cannot recover
// from: say why, then trap (the host discards the instance).
[[noreturn]] inline void host_broke_abi(std::string_view what) {
  log(LogLevel::kError, std::string("sqlsync guest SDK: malformed buffer from the host: ") + std::string(what));
  __builtin_trap();
}

// Appends ABI encodings to a malloc'ed buffer that starts with 4 bytes left
// for the length prefix, so release() hands it to the host without a copy.
// The host interprets every wasm instruction (~100x slower than native code):
// this stays free of std::vector's growth and insert paths on purpose.
class Writer {
 public:
  Writer() = default;
  ~Writer() { std::free(data_); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Forgets the payload, keeping the allocation.
  void clear() { size_ = 4; }
  // Makes room for `size` more payload bytes.
  void reserve(size_t size) {
    if (size > capacity_ - size_) grow(size);
  }
  // The payload (without the length prefix).
  const uint8_t* payload() const { return data_ ? data_ + 4 : nullptr; }
  size_t payload_size() const { return size_ - 4; }
  size_t capacity() const { return capacity_; }

  // The length-prefixed buffer (see make_buffer), owned by the caller; the
  // Writer is empty afterwards.
  uint8_t* release() {
    if (!data_) grow(0);
    auto length = static_cast<uint32_t>(payload_size());
    std::memcpy(data_, &length, 4);  // wasm is little-endian, like the ABI
    uint8_t* buffer = data_;
    data_ = nullptr;
    size_ = capacity_ = 4;
    return buffer;
  }

  // Appends `size` bytes and returns where to write them (valid until the
  // next append).
  uint8_t* extend(size_t size) {
    reserve(size);
    uint8_t* out = data_ + size_;
    size_ += size;
    return out;
  }
  void bytes(const void* data, size_t size) {
    if (size != 0) std::memcpy(extend(size), data, size);
  }
  void u8(uint8_t value) { *extend(1) = value; }
  void u32(uint32_t value) { bytes(&value, 4); }
  void value(const Value& value) {
    const auto tag = static_cast<uint8_t>(value.index());  // the ABI tags follow Value's order
    const void* data = nullptr;
    size_t size = 0;
    if (auto* integer = std::get_if<int64_t>(&value)) {
      data = integer;
    } else if (auto* real = std::get_if<double>(&value)) {
      data = real;
    } else if (auto* text = std::get_if<std::string>(&value)) {
      data = text->data();
      size = text->size();
    } else if (auto* blob = std::get_if<Blob>(&value)) {
      data = blob->data();
      size = blob->size();
    }
    if (tag == 1 || tag == 2) {
      uint8_t* out = extend(9);
      out[0] = tag;
      std::memcpy(out + 1, data, 8);
    } else if (tag == 3 || tag == 4) {
      tagged(tag, data, size);
    } else {
      u8(tag);
    }
  }
  // u8 tag + u32 size + bytes.
  void tagged(uint8_t tag, const void* data, size_t size) {
    uint8_t* out = extend(5 + size);
    out[0] = tag;
    put_sized(out + 1, data, size);
  }
  // Bytes value() appends for `value`.
  static size_t value_size(const Value& value) {
    if (auto* text = std::get_if<std::string>(&value)) return 5 + text->size();
    if (auto* blob = std::get_if<Blob>(&value)) return 5 + blob->size();
    return std::holds_alternative<std::monostate>(value) ? 1 : 9;
  }

 private:
  static void put_sized(uint8_t* out, const void* data, size_t size) {
    auto length = static_cast<uint32_t>(size);
    std::memcpy(out, &length, 4);
    if (size != 0) std::memcpy(out + 4, data, size);
  }
  void grow(size_t size) {
    size_t capacity = capacity_ * 2 > size_ + size ? capacity_ * 2 : size_ + size;
    if (capacity < 64) capacity = 64;
    auto* data = static_cast<uint8_t*>(std::realloc(data_, capacity));
    if (!data) __builtin_trap();
    data_ = data;
    capacity_ = capacity;
  }

  uint8_t* data_ = nullptr;
  size_t size_ = 4;
  size_t capacity_ = 4;
};

// A length-prefixed buffer allocated with sqlsync_alloc (malloc) holding
// `payload`; the receiver frees it.
inline uint8_t* make_buffer(std::string_view payload) {
  Writer writer;
  writer.bytes(payload.data(), payload.size());
  return writer.release();
}

// Reads the payload of a host buffer; any overrun breaks the ABI.
class Reader {
 public:
  Reader(const uint8_t* payload, size_t size, const char* buffer_name)
      : data_(payload), size_(size), name_(buffer_name) {}

  bool at_end() const { return pos_ == size_; }
  uint8_t u8() { return *take(1); }
  uint32_t u32() { return load<uint32_t>(); }
  int64_t i64() { return load<int64_t>(); }
  double f64() { return load<double>(); }
  // u32 size + bytes, viewed in place.
  std::string_view sized() {
    uint32_t size = u32();
    return {reinterpret_cast<const char*>(take(size)), size};
  }
  Value value() {
    switch (u8()) {
      case 0: return std::monostate();
      case 1: return i64();
      case 2: return f64();
      case 3: return std::string(sized());
      case 4: {
        std::string_view bytes = sized();
        return Blob(bytes.begin(), bytes.end());
      }
      default: host_broke_abi(std::string(name_) + ": unknown value tag");
    }
  }

 private:
  template <typename T>
  T load() {
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  const uint8_t* take(size_t size) {
    if (size > size_ - pos_) truncated();
    const uint8_t* p = data_ + pos_;
    pos_ += size;
    return p;
  }
  // Out of line so that take(), on every read, stays a few instructions.
  [[noreturn]] __attribute__((noinline)) void truncated() const {
    host_broke_abi(std::string(name_) + ": truncated at offset " + std::to_string(pos_));
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const char* name_;
};

// Owns a length-prefixed host buffer (freed on destruction) and reads it.
class HostBuffer {
 public:
  HostBuffer(uint8_t* buffer, const char* name) : buffer_(buffer) {
    if (!buffer) host_broke_abi(std::string(name) + ": null pointer");
    std::memcpy(&length_, buffer, 4);
    reader_.emplace(buffer + 4, length_, name);
  }
  ~HostBuffer() { std::free(buffer_); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  uint32_t length() const { return length_; }
  Reader& reader() { return *reader_; }

 private:
  uint8_t* buffer_;
  uint32_t length_;
  std::optional<Reader> reader_;
};

// Encodes params into a buffer reused across calls (a guest is single
// threaded and Tx calls do not nest); empty params encode to nothing (no
// buffer at all, as the ABI allows). Valid until the next call.
inline std::span<const uint8_t> encode_params(std::span<const Value> params) {
  if (params.empty()) return {};
  static Writer scratch;
  // Give back what one unusually large statement needed.
  if (scratch.capacity() > (size_t{64} << 10)) std::free(scratch.release());
  scratch.clear();
  size_t size = 4;
  for (const Value& value : params) size += Writer::value_size(value);
  scratch.reserve(size);
  scratch.u32(static_cast<uint32_t>(params.size()));
  for (const Value& value : params) scratch.value(value);
  return {scratch.payload(), scratch.payload_size()};
}

}  // namespace guest_internal

// The SQL a reducer may run, inside the transaction (and, in reduce, the
// savepoint) the host owns: never BEGIN/COMMIT/SAVEPOINT. Valid only during
// the migrate or reduce call it is passed to.
class Tx {
 public:
  // Runs one statement with `params` bound to ?1, ?2, ... (rows ignored).
  // Error (message from the host, e.g. "InvalidArgument: no such table: x")
  // if SQLite refuses it.
  Status execute(std::string_view sql, std::initializer_list<Value> params = {}) {
    return execute(sql, std::span<const Value>(params.begin(), params.size()));
  }
  Status execute(std::string_view sql, std::span<const Value> params) {
    std::span<const uint8_t> encoded = guest_internal::encode_params(params);
    guest_internal::HostBuffer result(
        guest_internal::sqlsync_host_execute(sql.data(), static_cast<uint32_t>(sql.size()), encoded.data(),
                                              static_cast<uint32_t>(encoded.size())),
        "execute result");
    guest_internal::Reader& reader = result.reader();
    Status status = read_status(reader);
    if (status.is_ok()) changes_ = reader.i64();
    if (!reader.at_end()) guest_internal::host_broke_abi("execute result: trailing bytes");
    return status;
  }

  // Runs one statement and returns its column names and rows.
  Result<QueryResult> query(std::string_view sql, std::initializer_list<Value> params = {}) {
    return query(sql, std::span<const Value>(params.begin(), params.size()));
  }
  Result<QueryResult> query(std::string_view sql, std::span<const Value> params) {
    std::span<const uint8_t> encoded = guest_internal::encode_params(params);
    guest_internal::HostBuffer result(
        guest_internal::sqlsync_host_query(sql.data(), static_cast<uint32_t>(sql.size()), encoded.data(),
                                           static_cast<uint32_t>(encoded.size())),
        "query result");
    guest_internal::Reader& reader = result.reader();
    Status status = read_status(reader);
    if (!status.is_ok()) return status;
    QueryResult rows;
    rows.columns.resize(reader.u32());
    for (std::string& name : rows.columns) name = std::string(reader.sized());
    rows.rows.resize(reader.u32());
    for (Row& row : rows.rows) {
      row.reserve(rows.columns.size());
      for (size_t i = 0; i < rows.columns.size(); ++i) row.push_back(reader.value());
    }
    if (!reader.at_end()) guest_internal::host_broke_abi("query result: trailing bytes");
    return rows;
  }

  // Rows inserted, updated or deleted by the most recent successful execute().
  int64_t changes() const { return changes_; }

 private:
  static Status read_status(guest_internal::Reader& reader) {
    uint8_t status = reader.u8();
    if (status == 0) return Status::ok();
    if (status != 1) guest_internal::host_broke_abi("unknown result status");
    return Status::error(std::string(reader.sized()));
  }

  int64_t changes_ = 0;
};

namespace guest_internal {

using ReduceFunction = Status (*)(Tx&, std::string_view);
using MigrateFunction = Status (*)(Tx&, int, int);

// sqlsync_reduce: brackets every mutation of the batch with
// mutation_begin/mutation_end(keep = verdict ok) and returns the verdicts.
inline uint8_t* reduce_batch(uint8_t* batch, uint32_t batch_len, ReduceFunction reduce) {
  HostBuffer buffer(batch, "batch");
  Reader& reader = buffer.reader();
  const uint32_t count = reader.u32();
  // Check the whole batch before running any mutation, then read it again
  // (cheaper for the interpreter than collecting the views in a vector).
  Reader next = reader;
  for (uint32_t i = 0; i < count; ++i) static_cast<void>(reader.sized());
  if (!reader.at_end()) host_broke_abi("batch: trailing bytes");
  if (buffer.length() != batch_len) host_broke_abi("batch: batch_len differs from the buffer's length field");

  Writer verdicts;
  verdicts.reserve(4 + 5 * size_t{count});
  verdicts.u32(count);
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view mutation = next.sized();
    sqlsync_host_mutation_begin();
    Tx tx;
    Status verdict = reduce(tx, mutation);
    sqlsync_host_mutation_end(verdict.is_ok() ? 1 : 0);
    verdicts.tagged(verdict.is_ok() ? 0 : 1, verdict.message().data(), verdict.is_ok() ? 0 : verdict.message().size());
  }
  return verdicts.release();
}

// sqlsync_migrate: 0, or an error buffer holding the message.
inline uint8_t* migrate(int from, int to, MigrateFunction migrate) {
  Tx tx;
  Status status = migrate(tx, from, to);
  if (status.is_ok()) return nullptr;
  std::string message = status.message().empty() ? "migration failed" : status.message();
  return make_buffer(message);
}

}  // namespace guest_internal

}  // namespace guest
}  // namespace sqlsync

// Defines the module's exports (docs/reducer-abi.md) around the reducer's two
// functions. Use it once per module, at global scope, after `migrate_fn` and
// `reduce_fn` are declared:
//   sqlsync::Status migrate_fn(sqlsync::Tx& tx, int from, int to);
//     Creates or upgrades the schema from version `from` (0 for a new
//     document) to `to` == schema_version. A non-ok Status aborts the
//     migration (the document stays at `from`).
//   sqlsync::Status reduce_fn(sqlsync::Tx& tx, std::string_view mutation);
//     Applies one mutation; a non-ok Status rejects it with its message and
//     the host undoes exactly its writes.
// `schema_version` is a non-negative int; 0 means the reducer has no
// migrations (then migrate_fn is never called).
#define SQLSYNC_REDUCER(schema_version, migrate_fn, reduce_fn)                                               \
  extern "C" SQLSYNC_GUEST_EXPORT("sqlsync_abi_version") int32_t sqlsync_abi_version() { return 1; }       \
  extern "C" SQLSYNC_GUEST_EXPORT("sqlsync_schema_version") int32_t sqlsync_schema_version() {             \
    return (schema_version);                                                                               \
  }                                                                                                        \
  extern "C" SQLSYNC_GUEST_EXPORT("sqlsync_alloc") void* sqlsync_alloc(uint32_t size) {                    \
    return std::malloc(size == 0 ? 1 : size);                                                              \
  }                                                                                                        \
  extern "C" SQLSYNC_GUEST_EXPORT("sqlsync_free") void sqlsync_free(void* buffer, uint32_t /*size*/) {     \
    std::free(buffer);                                                                                     \
  }                                                                                                        \
  extern "C" SQLSYNC_GUEST_EXPORT("sqlsync_reduce") uint8_t* sqlsync_reduce(uint8_t* batch, uint32_t batch_len) { \
    return ::sqlsync::guest_internal::reduce_batch(batch, batch_len, (reduce_fn));                         \
  }                                                                                                        \
  extern "C" SQLSYNC_GUEST_EXPORT("sqlsync_migrate") uint8_t* sqlsync_migrate(int32_t from, int32_t to) {  \
    return ::sqlsync::guest_internal::migrate(from, to, (migrate_fn));                                     \
  }
