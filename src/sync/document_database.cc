#include "sync/document_database.h"

#include <atomic>

namespace sqlsync {

Result<std::unique_ptr<DocumentDatabase>> DocumentDatabase::open(const JournalId& document_id, const char* role,
                                                                 std::unique_ptr<Journal> log) {
  SQLSYNC_RETURN_IF_ERROR(register_vfs());
  // Several replicas of one document may live in one process (tests, the
  // demo), so the VFS name also carries a process-wide sequence number.
  static std::atomic<uint64_t> sequence{0};
  std::string name = std::string(role) + "-" + document_id.to_hex() + "-" + std::to_string(++sequence);

  std::unique_ptr<DocumentDatabase> db(new DocumentDatabase());
  SQLSYNC_ASSIGN_OR_RETURN(db->storage_, Storage::open(std::move(log)));
  db->binding_ = std::make_unique<VfsBinding>(name, db->storage_.get());
  SQLSYNC_ASSIGN_OR_RETURN(db->connections_, open_storage_connections(*db->binding_));
  return db;
}

DocumentDatabase::~DocumentDatabase() {
  // Connections close before the binding and the storage they read.
  connections_.read_only.reset();
  connections_.read_write.reset();
  binding_.reset();
}

Status DocumentDatabase::in_transaction(const std::function<Status()>& body) {
  // execute() reuses prepared statements: this runs once per mutation.
  SQLSYNC_RETURN_IF_ERROR(writer().execute("BEGIN"));
  Status status = body();
  if (status.is_ok()) status = writer().execute("COMMIT");
  if (!status.is_ok()) {
    if (writer().in_transaction()) writer().exec("ROLLBACK").ignore();
  }
  return status;
}

Status DocumentDatabase::apply_mutation(Reducer& reducer, ByteView mutation, Status* verdict) {
  SQLSYNC_RETURN_IF_ERROR(writer().execute("SAVEPOINT sqlsync_mutation"));
  *verdict = reducer.reduce(writer(), mutation);
  if (!verdict->is_ok()) {
    Status undo = writer().execute("ROLLBACK TO sqlsync_mutation");
    if (!undo.is_ok()) return undo.with_context("undoing a failed mutation");
  }
  return writer().execute("RELEASE sqlsync_mutation");
}

Result<bool> DocumentDatabase::has_internal_tables() {
  static const std::string kSql = std::string("SELECT 1 FROM sqlite_schema WHERE name = '") + kTimelinesTable + "'";
  SQLSYNC_ASSIGN_OR_RETURN(QueryResult result, writer().query(kSql));
  return !result.rows.empty();
}

Result<std::optional<Lsn>> DocumentDatabase::applied_lsn(const JournalId& timeline) {
  SQLSYNC_ASSIGN_OR_RETURN(bool exists, has_internal_tables());
  if (!exists) return std::optional<Lsn>();
  static const std::string kSql = std::string("SELECT lsn FROM ") + kTimelinesTable + " WHERE id = ?";
  Value id = Bytes(timeline.view().begin(), timeline.view().end());
  SQLSYNC_ASSIGN_OR_RETURN(QueryResult result, writer().query(kSql, std::span<const Value>(&id, 1)));
  if (result.rows.empty()) return std::optional<Lsn>();
  const Value& lsn = result.rows[0][0];
  if (!std::holds_alternative<int64_t>(lsn)) {
    return Status::corruption(std::string(kTimelinesTable) + " holds a non-integer lsn for timeline " + timeline.to_hex());
  }
  return std::optional<Lsn>(static_cast<Lsn>(std::get<int64_t>(lsn)));
}

}  // namespace sqlsync
