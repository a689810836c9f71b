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
// The schema version the reducer's migrations brought the document to.
constexpr const char* kSchemaTable = "__sqlsync_schema";

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

  // Applies `mutation` with `reducer` in the open transaction, the writer
  // confined (see Database::set_confined) while reducer code runs. Returns
  // the reducer's verdict; the caller rolls back on failure.
  Status apply_mutation(Reducer& reducer, ByteView mutation);

  // Applies `mutations` in order as one batch inside the open transaction,
  // each under its own savepoint, and stores each verdict in `verdicts` (same
  // size): a rejected mutation is undone alone. A non-ok return is a failure
  // of the batch itself (database or scope): roll the transaction back.
  Status apply_batch(Reducer& reducer, std::span<const ByteView> mutations, std::span<Status> verdicts);

  // The schema version recorded in the document (0: none yet).
  Result<uint32_t> schema_version();
  // Brings the document's schema to reducer.schema_version() by running the
  // reducer's migrate() in one transaction that also records the new version.
  // Unsupported (and nothing changes) if the document's schema is newer than
  // the reducer knows: the application must update its reducer.
  Status migrate(Reducer& reducer);

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
