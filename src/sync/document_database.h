// What LocalDocument and CoordinatorDocument share: a Storage on a storage
// log, bound to the VFS, with a read-write and a read-only connection, the
// internal tables, and the rule for applying one mutation under a savepoint.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sqlsync/reducer.h"
#include "storage/database.h"
#include "storage/storage.h"
#include "storage/vfs.h"

namespace sqlsync {

// Per timeline, the last LSN the coordinator applied. Written by the
// coordinator in the same transaction as the effects, so a replica learns
// "applied" atomically with the state.
constexpr const char* kTimelinesTable = "__sqlsync_timelines";
// Mutations the coordinator's reducer refused, with the reason, until their
// author shows (by its timeline's range) that it has seen them.
constexpr const char* kRejectionsTable = "__sqlsync_rejections";

class DocumentDatabase {
 public:
  // Opens the storage over `log` and both connections. `role` only makes the
  // VFS name readable ("coordinator", "local").
  static Result<std::unique_ptr<DocumentDatabase>> open(const JournalId& document_id, const char* role,
                                                        std::unique_ptr<Journal> log);
  ~DocumentDatabase();

  Storage& storage() { return *storage_; }
  Database& writer() { return *connections_.read_write; }
  Database& reader() { return *connections_.read_only; }

  // Runs `body` in one write transaction on the writer: COMMIT if it returns
  // ok, ROLLBACK (and its error) otherwise.
  Status in_transaction(const std::function<Status()>& body);

  // Applies `mutation` with `reducer` under a savepoint inside the open
  // transaction and stores the reducer's verdict in `*verdict`. If the reducer
  // fails, only this mutation's writes are undone and the transaction stays
  // usable. The returned Status is about the database itself (savepoint
  // handling); when it is not ok the transaction must be rolled back.
  Status apply_mutation(Reducer& reducer, ByteView mutation, Status* verdict);

  // Whether the internal tables exist yet (a replica that has received no
  // frame has none).
  Result<bool> has_internal_tables();
  // The last LSN of `timeline` the coordinator applied, if any.
  Result<std::optional<Lsn>> applied_lsn(const JournalId& timeline);

 private:
  DocumentDatabase() = default;

  std::unique_ptr<Storage> storage_;
  std::unique_ptr<VfsBinding> binding_;
  StorageConnections connections_;
};

}  // namespace sqlsync
