#include "sqlsync/types.h"

#include <algorithm>
#include <cstdio>

#include "sqlsync/env.h"

namespace sqlsync {

Result<JournalId> JournalId::from_bytes(ByteView bytes) {
  if (bytes.size() != kSize) {
    return Status::invalid_argument("journal id must be " + std::to_string(kSize) + " bytes, got " +
                                    std::to_string(bytes.size()));
  }
  std::array<uint8_t, kSize> raw{};
  std::copy(bytes.begin(), bytes.end(), raw.begin());
  return JournalId(raw);
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<JournalId> JournalId::from_hex(std::string_view hex) {
  if (hex.size() != 2 * kSize) {
    return Status::invalid_argument("journal id must be 32 hex digits, got '" + std::string(hex) + "'");
  }
  std::array<uint8_t, kSize> raw{};
  for (size_t i = 0; i < kSize; ++i) {
    int high = hex_digit(hex[2 * i]);
    int low = hex_digit(hex[2 * i + 1]);
    if (high < 0 || low < 0) {
      return Status::invalid_argument("journal id has a non-hex digit: '" + std::string(hex) + "'");
    }
    raw[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return JournalId(raw);
}

std::string JournalId::to_hex() const {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * kSize);
  for (uint8_t b : bytes_) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

bool JournalId::is_zero() const {
  for (uint8_t b : bytes_) {
    if (b != 0) return false;
  }
  return true;
}

std::string LsnRange::to_string() const {
  if (is_empty()) return "empty@" + std::to_string(next_);
  return "[" + std::to_string(first_) + ", " + std::to_string(last()) + "]";
}

std::string value_to_string(const Value& value) {
  static const char kDigits[] = "0123456789abcdef";
  switch (value.index()) {
    case 0: return "NULL";
    case 1: return std::to_string(std::get<int64_t>(value));
    case 2: {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "%.17g", std::get<double>(value));
      return buffer;
    }
    case 3: {
      std::string out = "'";
      for (char c : std::get<std::string>(value)) {
        if (c == '\'') out.push_back('\'');
        out.push_back(c);
      }
      return out + "'";
    }
    default: {
      std::string out = "x'";
      for (uint8_t b : std::get<Bytes>(value)) {
        out.push_back(kDigits[b >> 4]);
        out.push_back(kDigits[b & 15]);
      }
      return out + "'";
    }
  }
}

Result<Bytes> Env::read_file(const std::string& path) {
  SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, open_file(path, OpenMode::kRead));
  SQLSYNC_ASSIGN_OR_RETURN(uint64_t size, file->size());
  Bytes content;
  SQLSYNC_RETURN_IF_ERROR(file->read_at(0, static_cast<size_t>(size), content));
  return content;
}

namespace {

// The directory holding `path`, ignoring trailing slashes: "/a/b" -> "/a",
// "/a" -> "/", "a/b" -> "a", "a" -> ".".
std::string parent_directory(const std::string& path) {
  size_t end = path.find_last_not_of('/');
  if (end == std::string::npos) return "/";
  size_t slash = path.rfind('/', end);
  if (slash == std::string::npos) return ".";
  size_t parent_end = path.find_last_not_of('/', slash);
  if (parent_end == std::string::npos) return "/";
  return path.substr(0, parent_end + 1);
}

}  // namespace

Status Env::remove_dir(const std::string& path) {
  return Status::unsupported("remove directory '" + path + "': this environment cannot remove directories");
}

Status Env::write_file_durably(const std::string& path, ByteView data) {
  const std::string temp = path + ".tmp";
  {
    SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, open_file(temp, OpenMode::kCreateTruncate));
    SQLSYNC_RETURN_IF_ERROR(file->write_at(0, data));
    SQLSYNC_RETURN_IF_ERROR(file->sync());
    // One byte more than written, so a longer file is caught too.
    Bytes back;
    SQLSYNC_RETURN_IF_ERROR(file->read_at(0, data.size() + 1, back));
    if (!std::equal(back.begin(), back.end(), data.begin(), data.end())) {
      return Status::corruption("publish '" + path + "': '" + temp + "' reads back " + std::to_string(back.size()) +
                                " bytes that differ from the " + std::to_string(data.size()) + " written");
    }
  }
  SQLSYNC_RETURN_IF_ERROR(rename_file(temp, path));
  return sync_dir(parent_directory(path));
}

Status Env::create_dir_durably(const std::string& path) {
  // The directories create_dir() will make, deepest first.
  std::vector<std::string> missing;
  for (std::string dir = path;;) {
    SQLSYNC_ASSIGN_OR_RETURN(bool exists, file_exists(dir));
    if (exists) break;
    missing.push_back(dir);
    std::string parent = parent_directory(dir);
    if (parent == dir) break;
    dir = std::move(parent);
  }
  if (missing.empty()) return Status::ok();
  SQLSYNC_RETURN_IF_ERROR(create_dir(path));
  for (const std::string& dir : missing) SQLSYNC_RETURN_IF_ERROR(sync_dir(parent_directory(dir)));
  return Status::ok();
}

JournalId Env::new_journal_id() {
  std::array<uint8_t, JournalId::kSize> raw{};
  random_bytes(raw);
  return JournalId(raw);
}

}  // namespace sqlsync
