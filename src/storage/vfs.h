// The "sqlsync" SQLite VFS: a main database file whose contents are a
// Storage (storage.h). Files are bound to storages by name; any other file
// SQLite opens (none with journal_mode=memory and temp_store=memory) goes to
// the default VFS.
#pragma once

#include <string>

#include "storage/database.h"
#include "storage/storage.h"

namespace sqlsync {

constexpr const char* kVfsName = "sqlsync";

// Registers the VFS with SQLite (idempotent, thread-safe).
Status register_vfs();

// Binds `name` to `storage` while this object lives, so sqlite3_open_v2(name,
// ..., kVfsName) opens it. `storage` must outlive this binding and every
// connection opened on it. Names must be unique; use the document id.
class VfsBinding {
 public:
  VfsBinding(std::string name, Storage* storage);
  ~VfsBinding();
  VfsBinding(const VfsBinding&) = delete;
  VfsBinding& operator=(const VfsBinding&) = delete;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

struct StorageConnections {
  std::unique_ptr<Database> read_write;
  std::unique_ptr<Database> read_only;  // guarded by a read-only authorizer
};

// Opens the read-write and read-only connections on a bound storage with the
// settings of docs/architecture.md: page_size=4096, auto_vacuum=incremental
// (set before the first table exists), journal_mode=memory, synchronous=off,
// temp_store=memory.
Result<StorageConnections> open_storage_connections(const VfsBinding& binding);

}  // namespace sqlsync
