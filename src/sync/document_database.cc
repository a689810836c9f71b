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

namespace {

// Runs reducer code on a confined writer; the runtime's own statements (the
// savepoints here) run with the confinement lifted.
class Confinement {
 public:
  explicit Confinement(Database& db) : db_(db) { db_.set_confined(true); }
  ~Confinement() { db_.set_confined(false); }
  Confinement(const Confinement&) = delete;
  Confinement& operator=(const Confinement&) = delete;

 private:
  Database& db_;
};

}  // namespace

Status DocumentDatabase::apply_mutation(Reducer& reducer, ByteView mutation) {
  Status verdict;
  {
    Confinement confinement(writer());
    verdict = reducer.reduce(writer(), mutation);
  }
  if (writer().transaction_ended_while_confined()) return Status::rejected(kTransactionEndedByReducer);
  return verdict;
}

Status DocumentDatabase::apply_batch(Reducer& reducer, std::span<const ByteView> mutations,
                                     std::span<Status> verdicts) {
  Status status;
  bool left_open = false;
  {
    Confinement confinement(writer());
    SavepointScope scope(writer());
    status = reducer.reduce_batch(writer(), scope, mutations, verdicts);
    left_open = scope.open();
  }
  // A transaction the reducer ended explains any scope failure that followed.
  if (writer().transaction_ended_while_confined()) return Status::rejected(kTransactionEndedByReducer);
  SQLSYNC_RETURN_IF_ERROR(status);
  if (left_open) return Status::internal("reducer left a mutation scope open at the end of its batch");
  return Status::ok();
}

Result<uint32_t> DocumentDatabase::schema_version() {
  static const std::string kExists = std::string("SELECT 1 FROM sqlite_schema WHERE name = '") + kSchemaTable + "'";
  SQLSYNC_ASSIGN_OR_RETURN(QueryResult exists, writer().query(kExists));
  if (exists.rows.empty()) return 0u;
  static const std::string kRead = std::string("SELECT version FROM ") + kSchemaTable + " WHERE id = 1";
  SQLSYNC_ASSIGN_OR_RETURN(QueryResult result, writer().query(kRead));
  if (result.rows.empty()) return 0u;
  const Value& version = result.rows[0][0];
  if (!std::holds_alternative<int64_t>(version) || std::get<int64_t>(version) < 0) {
    return Status::corruption(std::string(kSchemaTable) + " holds an invalid schema version");
  }
  return static_cast<uint32_t>(std::get<int64_t>(version));
}

Status DocumentDatabase::migrate(Reducer& reducer) {
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t current, schema_version());
  const uint32_t target = reducer.schema_version();
  if (current > target) {
    return Status::unsupported("the document's schema is at version " + std::to_string(current) +
                               " but this reducer only knows version " + std::to_string(target) +
                               ": update the application's reducer");
  }
  if (current == target) return Status::ok();
  static const std::string kRecord =
      std::string("CREATE TABLE IF NOT EXISTS ") + kSchemaTable +
      "(id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);"
      "INSERT OR REPLACE INTO " + kSchemaTable + "(id, version) VALUES (1, ";
  return in_transaction([&]() -> Status {
    {
      Confinement confinement(writer());
      Status status = reducer.migrate(writer(), current, target);
      if (!status.is_ok()) {
        return status.with_context("migrating the schema from version " + std::to_string(current) + " to " +
                                   std::to_string(target));
      }
    }
    return writer().exec(kRecord + std::to_string(target) + ")");
  });
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
