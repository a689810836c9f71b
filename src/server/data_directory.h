// The server's data directory: reducers stored by content address and one
// directory per document holding its record (which reducer it is bound to)
// and its journals.
//
//   <data>/reducers/<sha256 hex>         the reducer's bytes (.wasm or .sql)
//   <data>/docs/<id hex>/document.meta   DocumentRecord (docs/server.md)
//   <data>/docs/<id hex>/journals/       CoordinatorDocument::Options::directory
//
// Every file is published durably (Env::write_file_durably: written under a
// temporary name, synced, checked, renamed, and its directory synced), and
// every directory is created durably.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "reducer/reducer_abi.h"  // ReducerKind, reducer_kind_of
#include "sqlsync/env.h"
#include "sqlsync/reducer.h"
#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

// "wasm" or "sql".
const char* reducer_kind_name(ReducerKind kind);
// The HTTP content type of a reducer's bytes.
const char* reducer_content_type(ReducerKind kind);
// True for 64 lowercase hex digits (a SHA-256 digest as the server names it).
bool is_reducer_digest(std::string_view text);

// The id of the document named `name`: the first 16 bytes of
// SHA-256("sqlsync-doc:" + name), so every server and client derives the same.
JournalId document_id_for_name(std::string_view name);

struct StoredReducer {
  std::string digest;  // SHA-256 of the bytes, 64 lowercase hex digits
  ReducerKind kind = ReducerKind::kSql;
};

// Which reducer a document runs. Its schema version is that reducer's.
struct DocumentRecord {
  JournalId id;
  std::string reducer_digest;
};

// Thread-safe: every method may be called from any thread; concurrent
// writers of the same reducer or record leave one complete copy.
class DataDirectory {
 public:
  // Opens (creating if missing) the directory `path` through `env`, which
  // must outlive the object. Reducers over `max_reducer_bytes` are refused.
  static Result<std::unique_ptr<DataDirectory>> open(Env* env, std::string path, uint64_t max_reducer_bytes);

  const std::string& path() const { return path_; }

  // Validates `bytes` by loading them as the reducer their kind says
  // (InvalidArgument or Unsupported with the loader's message; nothing is
  // stored), then stores them durably under their digest. Storing the same
  // bytes again is a no-op.
  Result<StoredReducer> put_reducer(ByteView bytes);
  // The bytes of the reducer `digest`; NotFound if the server has none.
  Result<Bytes> read_reducer(std::string_view digest);
  // A fresh instance of reducer `digest` (each document needs its own: a
  // reducer is used from one thread at a time). NotFound if unknown.
  Result<std::shared_ptr<Reducer>> load_reducer(std::string_view digest);

  // The record of document `id`, or nullopt if the server has none.
  // Corruption if the record fails its checks.
  Result<std::optional<DocumentRecord>> find_document(const JournalId& id);
  // Creates or replaces the record of `record.id`, durably.
  Status save_document(const DocumentRecord& record);
  // Where document `id`'s journals live.
  std::string journal_directory(const JournalId& id) const;

 private:
  DataDirectory(Env* env, std::string path, uint64_t max_reducer_bytes)
      : env_(env), path_(std::move(path)), max_reducer_bytes_(max_reducer_bytes) {}

  Result<std::shared_ptr<Reducer>> load(ByteView bytes, std::string_view what);
  std::string reducer_path(std::string_view digest) const;
  std::string document_directory(const JournalId& id) const;

  Env* env_;
  std::string path_;
  uint64_t max_reducer_bytes_;
  std::mutex put_mutex_;
};

}  // namespace sqlsync
