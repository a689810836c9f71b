#include "storage/reactive_query.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace sqlsync {
namespace {

struct StatementDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};

}  // namespace

// Prepared directly rather than through Database::query: `sql` may have
// parameters, which EXPLAIN leaves unbound (the plan does not depend on them),
// and a one-off EXPLAIN has no place in the statement cache.
Result<std::vector<uint32_t>> explain_root_pages(Database& db, std::string_view sql) {
  // A connection notices a schema change made by another connection only when
  // it runs a statement that reads the schema cookie; EXPLAIN runs none and
  // would show the plan of a stale schema.
  SQLSYNC_RETURN_IF_ERROR(db.execute("SELECT 1 FROM sqlite_schema LIMIT 0"));
  const std::string explain = "EXPLAIN " + std::string(sql);
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db.handle(), explain.c_str(), static_cast<int>(explain.size()), &raw, nullptr);
  std::unique_ptr<sqlite3_stmt, StatementDeleter> stmt(raw);
  if (rc != SQLITE_OK) return sqlite_status(db.handle(), rc, "cannot explain query", sql);
  if (stmt == nullptr) return Status::invalid_argument("no SQL statement to explain in \"" + std::string(sql) + "\"");

  // EXPLAIN columns: addr, opcode, p1, p2, p3, p4, p5, comment. Only OpenRead
  // and ReopenIdx open a stored b-tree for reading; p2 is its root page (never
  // a register for these two) and p3 the database (0 = main). Temporary and
  // ephemeral b-trees live outside the storage.
  constexpr int kOpcode = 1;
  constexpr int kP2 = 3;
  constexpr int kP3 = 4;
  std::vector<uint32_t> roots;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    const auto* opcode = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), kOpcode));
    if (opcode == nullptr || (std::strcmp(opcode, "OpenRead") != 0 && std::strcmp(opcode, "ReopenIdx") != 0)) {
      continue;
    }
    if (sqlite3_column_int64(stmt.get(), kP3) != 0) continue;
    roots.push_back(static_cast<uint32_t>(sqlite3_column_int64(stmt.get(), kP2)));
  }
  if (rc != SQLITE_DONE) return sqlite_status(db.handle(), rc, "cannot explain query", sql);
  std::sort(roots.begin(), roots.end());
  roots.erase(std::unique(roots.begin(), roots.end()), roots.end());
  return roots;
}

Result<QueryResult> ReactiveQuery::run(Database& db) {
  if (explain_needed_) {
    SQLSYNC_ASSIGN_OR_RETURN(roots_, explain_root_pages(db, sql_));
  }
  SQLSYNC_ASSIGN_OR_RETURN(QueryResult result, db.query(sql_, params_));
  explain_needed_ = false;
  dirty_ = false;
  return result;
}

bool ReactiveQuery::note_changes(const Changes& changes) {
  if (changes.full) {
    // A schema change may have moved or replaced the b-trees the query reads.
    explain_needed_ = true;
    dirty_ = true;
  } else if (changes.intersects(roots_)) {
    dirty_ = true;
  }
  return dirty_;
}

}  // namespace sqlsync
