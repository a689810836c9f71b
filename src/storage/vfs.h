// The "sqlsync" SQLite VFS: a main database file whose contents are a
// Storage (storage.h). Main database files are bound to storages by name
// (opening an unbound name fails with SQLITE_CANTOPEN); their journals never
// exist on disk (journal_mode=memory; opening one fails). Any other file
// SQLite opens (none with temp_store=memory) goes to the default VFS.
//
// Connections on one storage follow SQLite's file locking among themselves:
// a commit (EXCLUSIVE) gets SQLITE_BUSY, never a wait, while another
// connection is inside a read transaction. Storage's own methods (reset,
// commit, make_visible) take no lock: call them with no transaction open.
#pragma once

#include <string>

#include "storage/database.h"
#include "storage/storage.h"

namespace sqlsync {

constexpr const char* kVfsName = "sqlsync";

// Registers the VFS with SQLite (idempotent, thread-safe).
Status register_vfs();

// Binds `name` to `storage` while this object lives, so sqlite3_open_v2(name,
// ..., kVfsName) opens it. `storage` must outlive this binding, and the binding
// every connection opened on it. Names must be unique in the process (use the
// document id): a second binding of a bound name binds nothing, and
// open_storage_connections() on it fails. Construction and destruction are
// thread-safe.
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
// temp_store=memory, and cache_spill=off (dirty pages reach the storage only
// at commit, so a rolled-back transaction never writes to it). Both
// connections run in defensive mode and cannot ATTACH. Errors: InvalidArgument
// if `binding` lost its name to an earlier binding; Unsupported if the storage
// holds a database with another page size or auto_vacuum mode; SQLite errors
// as in sqlite_status(). The connections must be destroyed before `binding`.
Result<StorageConnections> open_storage_connections(const VfsBinding& binding);

}  // namespace sqlsync
