#include "storage/vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string_view>
#include <type_traits>

namespace sqlsync {
namespace {

// One bound storage and SQLite's lock state on it. The lock state is shared by
// every file open on the storage (as os_unix.c shares it per inode), so the
// read-write and the read-only connection exclude each other exactly as two
// connections on one file do: a reader never sees a half-written commit, and
// a commit fails with SQLITE_BUSY while a reader is inside a read transaction.
// The lock state is touched only by the storage's own thread; the registry
// mutex guards the map alone.
struct StorageFile;
struct BoundStorage {
  const VfsBinding* owner;
  Storage* storage;
  int open_files = 0;
  int shared_holders = 0;         // files holding SHARED or a higher lock
  StorageFile* writer = nullptr;  // the file holding RESERVED, PENDING or EXCLUSIVE
};

// A main database file open on a bound storage. SQLite allocates szOsFile
// bytes for it and we construct it in place; `base` must come first.
struct StorageFile {
  sqlite3_file base;
  BoundStorage* bound;
  int lock;
};
static_assert(std::is_standard_layout_v<StorageFile> && std::is_trivially_destructible_v<StorageFile>);

struct Registry {
  std::mutex mutex;
  // Entries are heap-allocated so open files can point at them.
  std::map<std::string, std::unique_ptr<BoundStorage>, std::less<>> storages;
};

Registry& registry() {
  static Registry instance;
  return instance;
}

BoundStorage* find_bound(std::string_view name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.storages.find(name);
  return it == r.storages.end() ? nullptr : it->second.get();
}

// A journal, WAL or shared-memory name of a bound storage. Bound storages have
// none: their journal lives in memory. (Super-journals need ATTACH, which
// connections on bound storages cannot do.)
bool is_companion(std::string_view name) {
  for (std::string_view suffix : {"-journal", "-wal", "-shm"}) {
    if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix &&
        find_bound(name.substr(0, name.size() - suffix.size())) != nullptr) {
      return true;
    }
  }
  return false;
}

// Runs a VFS callback so that no exception crosses into SQLite.
template <typename Fn>
int guarded(int error_code, Fn&& fn) noexcept {
#if defined(__cpp_exceptions)
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  } catch (...) {
    return error_code;
  }
#else
  (void)error_code;
  return fn();
#endif
}

StorageFile& storage_file(sqlite3_file* file) { return *reinterpret_cast<StorageFile*>(file); }
Storage& storage_of(sqlite3_file* file) { return *storage_file(file).bound->storage; }
sqlite3_vfs* default_vfs(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

// --- io methods of bound main database files ---

int file_unlock(sqlite3_file* file, int level);

int file_close(sqlite3_file* file) {
  StorageFile& f = storage_file(file);
  file_unlock(file, SQLITE_LOCK_NONE);
  --f.bound->open_files;
  return SQLITE_OK;
}

// Bytes past the end of the file read as zeros (Storage::read fills them);
// SQLite requires SQLITE_IOERR_SHORT_READ for such a read.
int file_read(sqlite3_file* file, void* buffer, int amount, sqlite3_int64 offset) {
  return guarded(SQLITE_IOERR_READ, [&] {
    const Storage& storage = storage_of(file);
    auto* out = static_cast<uint8_t*>(buffer);
    const uint64_t end = static_cast<uint64_t>(offset) + static_cast<uint64_t>(amount);
    // Storage::read stays within one page.
    for (uint64_t position = static_cast<uint64_t>(offset); position < end;) {
      const uint64_t length = std::min<uint64_t>(end - position, kPageSize - position % kPageSize);
      storage.read(position, std::span<uint8_t>(out, length));
      out += length;
      position += length;
    }
    return end > storage.file_size() ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
  });
}

// The reason behind an I/O error code goes to SQLite's error log
// (SQLITE_CONFIG_LOG), since the code alone cannot carry it.
int log_failure(int code, const Status& status) {
  sqlite3_log(code, "sqlsync vfs: %s", status.to_string().c_str());
  return code;
}

int file_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  return guarded(SQLITE_IOERR_WRITE, [&] {
    Status status = storage_of(file).write(static_cast<uint64_t>(offset),
                                           ByteView(static_cast<const uint8_t*>(data), static_cast<size_t>(amount)));
    return status.is_ok() ? SQLITE_OK : log_failure(SQLITE_IOERR_WRITE, status);
  });
}

int file_truncate(sqlite3_file* file, sqlite3_int64 size) {
  return guarded(SQLITE_IOERR_TRUNCATE, [&] {
    Status status = storage_of(file).truncate(static_cast<uint64_t>(size));
    return status.is_ok() ? SQLITE_OK : log_failure(SQLITE_IOERR_TRUNCATE, status);
  });
}

// Pending pages are never durable; durability comes from the journals.
int file_sync(sqlite3_file*, int) { return SQLITE_OK; }

int file_size(sqlite3_file* file, sqlite3_int64* size) {
  *size = static_cast<sqlite3_int64>(storage_of(file).file_size());
  return SQLITE_OK;
}

// SQLite's lock protocol (see os_unix.c): SHARED is refused while another file
// holds PENDING or EXCLUSIVE; one file at a time holds RESERVED or more; a
// writer asking for EXCLUSIVE while others hold SHARED keeps PENDING (so no new
// reader starts) and gets SQLITE_BUSY. There is no waiting: the core is
// single-threaded, so BUSY means a read transaction is still open.
int file_lock(sqlite3_file* file, int level) {
  StorageFile& f = storage_file(file);
  BoundStorage& bound = *f.bound;
  if (f.lock >= level) return SQLITE_OK;
  if (level == SQLITE_LOCK_SHARED) {
    if (bound.writer != nullptr && bound.writer->lock >= SQLITE_LOCK_PENDING) return SQLITE_BUSY;
    ++bound.shared_holders;
    f.lock = SQLITE_LOCK_SHARED;
    return SQLITE_OK;
  }
  if (bound.writer != nullptr && bound.writer != &f) return SQLITE_BUSY;
  bound.writer = &f;
  if (level == SQLITE_LOCK_RESERVED) {
    f.lock = SQLITE_LOCK_RESERVED;
    return SQLITE_OK;
  }
  if (bound.shared_holders > 1) {
    f.lock = SQLITE_LOCK_PENDING;
    return SQLITE_BUSY;
  }
  f.lock = level;
  return SQLITE_OK;
}

int file_unlock(sqlite3_file* file, int level) {
  StorageFile& f = storage_file(file);
  BoundStorage& bound = *f.bound;
  if (f.lock <= level) return SQLITE_OK;
  if (f.lock > SQLITE_LOCK_SHARED) bound.writer = nullptr;
  if (level == SQLITE_LOCK_NONE) --bound.shared_holders;
  f.lock = level;
  return SQLITE_OK;
}

int file_check_reserved_lock(sqlite3_file* file, int* reserved) {
  *reserved = storage_file(file).bound->writer != nullptr ? 1 : 0;
  return SQLITE_OK;
}

int file_control(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }

int file_sector_size(sqlite3_file*) { return static_cast<int>(kPageSize); }

// Writes land in memory, whole pages at a time, in order, and touch nothing
// else; there is no power loss to survive (pending pages are meant to vanish).
int file_device_characteristics(sqlite3_file*) {
  return SQLITE_IOCAP_ATOMIC4K | SQLITE_IOCAP_SAFE_APPEND | SQLITE_IOCAP_SEQUENTIAL | SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

const sqlite3_io_methods kIoMethods = {
    1,  // iVersion: no shared memory (no WAL) and no memory mapping
    file_close,
    file_read,
    file_write,
    file_truncate,
    file_sync,
    file_size,
    file_lock,
    file_unlock,
    file_check_reserved_lock,
    file_control,
    file_sector_size,
    file_device_characteristics,
    nullptr,  // xShmMap
    nullptr,  // xShmLock
    nullptr,  // xShmBarrier
    nullptr,  // xShmUnmap
    nullptr,  // xFetch
    nullptr,  // xUnfetch
};

// --- vfs methods ---

// Main databases are only ever bound storages (an unbound name is
// SQLITE_CANTOPEN rather than a file on disk). Journals of bound storages are
// refused too: they must stay in memory (journal_mode=memory). Everything else
// (temporary files) goes to the default VFS.
int vfs_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  return guarded(SQLITE_CANTOPEN, [&] {
    file->pMethods = nullptr;
    if (name != nullptr && (flags & SQLITE_OPEN_MAIN_DB) != 0) {
      BoundStorage* bound = find_bound(name);
      if (bound == nullptr) {
        sqlite3_log(SQLITE_CANTOPEN, "sqlsync vfs: no storage is bound to \"%s\"", name);
        return SQLITE_CANTOPEN;
      }
      StorageFile* f = new (file) StorageFile{{&kIoMethods}, bound, SQLITE_LOCK_NONE};
      ++f->bound->open_files;
      if (out_flags != nullptr) *out_flags = flags;
      return SQLITE_OK;
    }
    if (name != nullptr && is_companion(name)) return SQLITE_CANTOPEN;
    sqlite3_vfs* base = default_vfs(vfs);
    return base->xOpen(base, name, file, flags, out_flags);
  });
}

int vfs_delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return guarded(SQLITE_IOERR_DELETE, [&] {
    if (is_companion(name)) return SQLITE_OK;  // never existed
    if (find_bound(name) != nullptr) return SQLITE_IOERR_DELETE;
    sqlite3_vfs* base = default_vfs(vfs);
    return base->xDelete(base, name, sync_dir);
  });
}

// A bound storage exists and is readable and writable; its journals never
// exist, so SQLite never looks for a hot journal or a WAL on disk.
int vfs_access(sqlite3_vfs* vfs, const char* name, int flags, int* result) {
  return guarded(SQLITE_IOERR_ACCESS, [&] {
    if (find_bound(name) != nullptr) {
      *result = 1;
      return SQLITE_OK;
    }
    if (is_companion(name)) {
      *result = 0;
      return SQLITE_OK;
    }
    sqlite3_vfs* base = default_vfs(vfs);
    return base->xAccess(base, name, flags, result);
  });
}

// Bound names stay as they are, so xOpen and xAccess see the name the storage
// was bound under (and the journal names derived from it).
int vfs_full_pathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return guarded(SQLITE_CANTOPEN, [&] {
    if (find_bound(name) != nullptr) {
      const size_t length = std::strlen(name);
      if (length + 1 > static_cast<size_t>(size)) return SQLITE_CANTOPEN;
      std::memcpy(out, name, length + 1);
      return SQLITE_OK;
    }
    sqlite3_vfs* base = default_vfs(vfs);
    return base->xFullPathname(base, name, size, out);
  });
}

void* vfs_dl_open(sqlite3_vfs* vfs, const char* path) {
  sqlite3_vfs* base = default_vfs(vfs);
  return base->xDlOpen != nullptr ? base->xDlOpen(base, path) : nullptr;
}

void vfs_dl_error(sqlite3_vfs* vfs, int size, char* message) {
  sqlite3_vfs* base = default_vfs(vfs);
  if (base->xDlError != nullptr) base->xDlError(base, size, message);
}

void (*vfs_dl_sym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  sqlite3_vfs* base = default_vfs(vfs);
  return base->xDlSym != nullptr ? base->xDlSym(base, handle, symbol) : nullptr;
}

void vfs_dl_close(sqlite3_vfs* vfs, void* handle) {
  sqlite3_vfs* base = default_vfs(vfs);
  if (base->xDlClose != nullptr) base->xDlClose(base, handle);
}

int vfs_randomness(sqlite3_vfs* vfs, int size, char* out) {
  sqlite3_vfs* base = default_vfs(vfs);
  return base->xRandomness(base, size, out);
}

int vfs_sleep(sqlite3_vfs* vfs, int microseconds) {
  sqlite3_vfs* base = default_vfs(vfs);
  return base->xSleep(base, microseconds);
}

int vfs_current_time(sqlite3_vfs* vfs, double* now) {
  sqlite3_vfs* base = default_vfs(vfs);
  return base->xCurrentTime(base, now);
}

int vfs_get_last_error(sqlite3_vfs* vfs, int size, char* message) {
  sqlite3_vfs* base = default_vfs(vfs);
  return base->xGetLastError != nullptr ? base->xGetLastError(base, size, message) : 0;
}

int vfs_current_time_int64(sqlite3_vfs* vfs, sqlite3_int64* now) {
  sqlite3_vfs* base = default_vfs(vfs);
  return base->xCurrentTimeInt64(base, now);
}

int register_once() {
  sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
  // Every built-in default VFS (unix, also under emscripten) has version >= 2.
  if (base == nullptr || base->iVersion < 2 || base->xCurrentTimeInt64 == nullptr) return SQLITE_ERROR;
  static sqlite3_vfs vfs = {
      2,  // iVersion
      static_cast<int>(std::max<size_t>(sizeof(StorageFile), static_cast<size_t>(base->szOsFile))),
      base->mxPathname,
      nullptr,  // pNext
      kVfsName,
      base,  // pAppData: the default VFS everything else is delegated to
      vfs_open,
      vfs_delete,
      vfs_access,
      vfs_full_pathname,
      vfs_dl_open,
      vfs_dl_error,
      vfs_dl_sym,
      vfs_dl_close,
      vfs_randomness,
      vfs_sleep,
      vfs_current_time,
      vfs_get_last_error,
      vfs_current_time_int64,
      nullptr,  // xSetSystemCall
      nullptr,  // xGetSystemCall
      nullptr,  // xNextSystemCall
  };
  return sqlite3_vfs_register(&vfs, /*makeDflt=*/0);
}

}  // namespace

Status register_vfs() {
  static const int rc = register_once();  // initialized once, thread-safe
  if (rc != SQLITE_OK) return sqlite_status(nullptr, rc, "cannot register the sqlsync VFS", {});
  return Status::ok();
}

VfsBinding::VfsBinding(std::string name, Storage* storage) : name_(std::move(name)) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  // A name bound twice keeps its first storage; open_storage_connections()
  // reports the conflict for the second binding.
  r.storages.try_emplace(name_, std::make_unique<BoundStorage>(BoundStorage{this, storage}));
}

VfsBinding::~VfsBinding() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.storages.find(name_);
  if (it == r.storages.end() || it->second->owner != this) return;
  assert(it->second->open_files == 0 && "a connection outlives its VfsBinding");
  r.storages.erase(it);
}

Result<StorageConnections> open_storage_connections(const VfsBinding& binding) {
  SQLSYNC_RETURN_IF_ERROR(register_vfs());
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.storages.find(binding.name());
    if (it == r.storages.end() || it->second->owner != &binding) {
      return Status::invalid_argument("storage name \"" + binding.name() +
                                      "\" is already bound to another storage; names must be unique");
    }
  }
  // No ATTACH (a query could reach another document) and defensive mode (no
  // writable_schema, journal_mode=off or other ways to corrupt the file).
  auto harden = [](Database& db) -> Status {
    sqlite3_limit(db.handle(), SQLITE_LIMIT_ATTACHED, 0);
    int rc = sqlite3_db_config(db.handle(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    if (rc != SQLITE_OK) return sqlite_status(db.handle(), rc, "cannot enable defensive mode", {});
    return Status::ok();
  };

  StorageConnections connections;
  SQLSYNC_ASSIGN_OR_RETURN(connections.read_write,
                           Database::open(binding.name(), kVfsName, Database::Access::kReadWrite));
  Database& read_write = *connections.read_write;
  SQLSYNC_RETURN_IF_ERROR(harden(read_write));
  // Opening writes nothing. page_size and auto_vacuum take effect only while
  // the storage is empty: the first write creates page 1 with them. The
  // auto_vacuum pragma sets the connection's flag as it is prepared, and also
  // writes it to the header in a write transaction; rolling that back keeps
  // the flag and leaves the storage untouched (no journal file can be opened,
  // so journal_mode comes first). cache_spill=off keeps every dirty page in
  // the cache until commit, so a transaction that rolls back never wrote to
  // the storage.
  const std::string settings = "PRAGMA journal_mode=MEMORY; PRAGMA page_size=" + std::to_string(kPageSize) +
                               "; BEGIN; PRAGMA auto_vacuum=INCREMENTAL; ROLLBACK;"
                               " PRAGMA synchronous=OFF; PRAGMA temp_store=MEMORY;"
                               " PRAGMA cache_size=-8192; PRAGMA cache_spill=OFF;";
  SQLSYNC_RETURN_IF_ERROR(read_write.exec(settings));
  // A storage created elsewhere with other settings would break page
  // tracking (pointer maps) and the frame format (page size).
  auto setting = [&](const char* pragma) -> Result<std::string> {
    SQLSYNC_ASSIGN_OR_RETURN(QueryResult result, read_write.query(std::string("PRAGMA ") + pragma));
    if (result.rows.size() != 1 || result.rows[0].size() != 1) return std::string("?");
    return value_to_string(result.rows[0][0]);
  };
  SQLSYNC_ASSIGN_OR_RETURN(std::string page_size, setting("page_size"));
  SQLSYNC_ASSIGN_OR_RETURN(std::string auto_vacuum, setting("auto_vacuum"));
  if (page_size != std::to_string(kPageSize) || auto_vacuum != "2") {
    return Status::unsupported("storage \"" + binding.name() + "\" has page_size " + page_size + " and auto_vacuum " +
                               auto_vacuum + "; sqlsync needs page_size " + std::to_string(kPageSize) +
                               " and auto_vacuum 2 (incremental)");
  }

  SQLSYNC_ASSIGN_OR_RETURN(connections.read_only,
                           Database::open(binding.name(), kVfsName, Database::Access::kReadOnly));
  SQLSYNC_RETURN_IF_ERROR(harden(*connections.read_only));
  return connections;
}

}  // namespace sqlsync
