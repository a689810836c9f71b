#include "server/data_directory.h"

#include <array>
#include <cstring>
#include <mutex>

#include "base/checksum.h"
#include "base/digest.h"
#include "base/encoding.h"
#include "reducer/sql_reducer.h"
#include "reducer/wasm_reducer.h"
#include "server/log.h"

namespace sqlsync {
namespace {

// document.meta: magic, version, document id, reducer digest as 64 ASCII hex
// digits, XXH3-64 checksum of everything before it (docs/server.md).
constexpr char kRecordMagic[] = {'S', 'Q', 'D', 'R'};
constexpr uint8_t kRecordVersion = 1;
constexpr size_t kDigestChars = 64;
constexpr size_t kRecordBytes = sizeof(kRecordMagic) + 1 + JournalId::kSize + kDigestChars + 8;
constexpr char kRecordFile[] = "document.meta";

bool is_lower_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Bytes encode_record(const DocumentRecord& record) {
  Bytes out;
  Encoder encoder(&out);
  encoder.raw(as_bytes(std::string_view(kRecordMagic, sizeof(kRecordMagic))));
  encoder.u8(kRecordVersion);
  encoder.journal_id(record.id);
  encoder.raw(as_bytes(record.reducer_digest));
  encoder.u64(checksum64(out));
  return out;
}

Result<DocumentRecord> decode_record(ByteView bytes, const std::string& path) {
  if (bytes.size() < sizeof(kRecordMagic) + 1 ||
      std::memcmp(bytes.data(), kRecordMagic, sizeof(kRecordMagic)) != 0) {
    return Status::corruption(path + ": not a document record (bad magic)");
  }
  if (bytes[sizeof(kRecordMagic)] != kRecordVersion) {
    return Status::unsupported(path + ": document record version " + std::to_string(bytes[sizeof(kRecordMagic)]) +
                               ", this server reads version " + std::to_string(kRecordVersion));
  }
  if (bytes.size() != kRecordBytes) {
    return Status::corruption(path + ": document record of " + std::to_string(bytes.size()) + " bytes, expected " +
                              std::to_string(kRecordBytes));
  }
  Decoder decoder(bytes.subspan(sizeof(kRecordMagic) + 1), StatusCode::kCorruption, path);
  DocumentRecord record;
  SQLSYNC_ASSIGN_OR_RETURN(record.id, decoder.journal_id());
  SQLSYNC_ASSIGN_OR_RETURN(ByteView digest, decoder.raw(kDigestChars));
  SQLSYNC_ASSIGN_OR_RETURN(uint64_t checksum, decoder.u64());
  if (checksum != checksum64(bytes.first(kRecordBytes - 8))) {
    return Status::corruption(path + ": document record checksum mismatch at offset " +
                              std::to_string(kRecordBytes - 8));
  }
  record.reducer_digest = std::string(as_text(digest));
  if (!is_reducer_digest(record.reducer_digest)) {
    return Status::corruption(path + ": document record holds an invalid reducer digest");
  }
  return record;
}

}  // namespace

const char* reducer_kind_name(ReducerKind kind) { return kind == ReducerKind::kWasm ? "wasm" : "sql"; }

const char* reducer_content_type(ReducerKind kind) {
  return kind == ReducerKind::kWasm ? "application/wasm" : "application/sql; charset=utf-8";
}

bool is_reducer_digest(std::string_view text) { return text.size() == kDigestChars && is_lower_hex(text); }

JournalId document_id_for_name(std::string_view name) {
  const Sha256 digest = sha256(as_bytes("sqlsync-doc:" + std::string(name)));
  std::array<uint8_t, JournalId::kSize> id{};
  std::memcpy(id.data(), digest.data(), id.size());
  return JournalId(id);
}

Result<std::unique_ptr<DataDirectory>> DataDirectory::open(Env* env, std::string path, uint64_t max_reducer_bytes) {
  for (const char* sub : {"/reducers", "/docs"}) {
    Status status = env->create_dir_durably(path + sub);
    if (!status.is_ok()) return status.with_context("creating the data directory " + path);
  }
  return std::unique_ptr<DataDirectory>(new DataDirectory(env, std::move(path), max_reducer_bytes));
}

Result<std::shared_ptr<Reducer>> DataDirectory::load(ByteView bytes, std::string_view what) {
  if (reducer_kind_of(bytes) == ReducerKind::kSql) return load_sql_reducer(as_text(bytes));
  WasmLimits limits;
  limits.module_bytes = static_cast<size_t>(max_reducer_bytes_);
  const std::string name(what);
  return load_wasm_reducer(bytes, limits, [name](WasmLogLevel level, std::string_view message) {
    if (level >= WasmLogLevel::kWarning) log_warning("reducer " + name + ": " + std::string(message));
  });
}

Result<StoredReducer> DataDirectory::put_reducer(ByteView bytes) {
  if (bytes.size() > max_reducer_bytes_) {
    return Status::invalid_argument("reducer of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                                    std::to_string(max_reducer_bytes_) + " bytes");
  }
  StoredReducer stored{sha256_hex(bytes), reducer_kind_of(bytes)};
  Result<std::shared_ptr<Reducer>> loaded = load(bytes, stored.digest.substr(0, 12));
  if (!loaded.is_ok()) return loaded.status();
  const std::string path = reducer_path(stored.digest);
  // Two uploads of the same bytes would share write_file_durably's temporary
  // file.
  std::lock_guard<std::mutex> lock(put_mutex_);
  SQLSYNC_ASSIGN_OR_RETURN(bool exists, env_->file_exists(path));
  if (!exists) SQLSYNC_RETURN_IF_ERROR(env_->write_file_durably(path, bytes));
  return stored;
}

Result<Bytes> DataDirectory::read_reducer(std::string_view digest) {
  if (!is_reducer_digest(digest)) {
    return Status::invalid_argument("'" + std::string(digest) + "' is not a reducer digest (64 lowercase hex digits)");
  }
  Result<Bytes> bytes = env_->read_file(reducer_path(digest));
  if (!bytes.is_ok() && bytes.status().code() == StatusCode::kNotFound) {
    return Status::not_found("unknown reducer " + std::string(digest) + ": upload it with PUT /reducers");
  }
  return bytes;
}

Result<std::shared_ptr<Reducer>> DataDirectory::load_reducer(std::string_view digest) {
  SQLSYNC_ASSIGN_OR_RETURN(Bytes bytes, read_reducer(digest));
  if (sha256_hex(bytes) != digest) {
    return Status::corruption(reducer_path(digest) + ": content does not match its digest");
  }
  Result<std::shared_ptr<Reducer>> reducer = load(bytes, digest.substr(0, 12));
  if (!reducer.is_ok()) return reducer.status().with_context("loading reducer " + std::string(digest));
  return reducer;
}

Result<std::optional<DocumentRecord>> DataDirectory::find_document(const JournalId& id) {
  const std::string path = document_directory(id) + "/" + kRecordFile;
  Result<Bytes> bytes = env_->read_file(path);
  if (!bytes.is_ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) return std::optional<DocumentRecord>();
    return bytes.status();
  }
  SQLSYNC_ASSIGN_OR_RETURN(DocumentRecord record, decode_record(*bytes, path));
  if (record.id != id) return Status::corruption(path + ": record of document " + record.id.to_hex());
  return std::optional<DocumentRecord>(std::move(record));
}

Status DataDirectory::save_document(const DocumentRecord& record) {
  if (!is_reducer_digest(record.reducer_digest)) {
    return Status::invalid_argument("document record needs a reducer digest, got '" + record.reducer_digest + "'");
  }
  const std::string directory = document_directory(record.id);
  SQLSYNC_RETURN_IF_ERROR(env_->create_dir_durably(directory));
  return env_->write_file_durably(directory + "/" + kRecordFile, encode_record(record));
}

std::string DataDirectory::journal_directory(const JournalId& id) const {
  return document_directory(id) + "/journals";
}

std::string DataDirectory::reducer_path(std::string_view digest) const {
  return path_ + "/reducers/" + std::string(digest);
}

std::string DataDirectory::document_directory(const JournalId& id) const { return path_ + "/docs/" + id.to_hex(); }

}  // namespace sqlsync
