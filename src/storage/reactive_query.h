// A query that knows which b-trees it reads, so it re-runs only when one of
// them changed (DESIGN section 5).
#pragma once

#include <string>
#include <vector>

#include "storage/database.h"
#include "storage/storage.h"

namespace sqlsync {

// Root pages of every b-tree `sql` opens for reading in the main database:
// the p2 of each OpenRead opcode of `EXPLAIN sql`, sorted and unique.
Result<std::vector<uint32_t>> explain_root_pages(Database& db, std::string_view sql);

class ReactiveQuery {
 public:
  ReactiveQuery(std::string sql, std::vector<Value> params) : sql_(std::move(sql)), params_(std::move(params)) {}

  // Runs the query on `db` and refreshes its root pages; clears dirty.
  Result<QueryResult> run(Database& db);
  // Marks the query dirty if `changes` touch a b-tree it reads (always for
  // full changes). Returns is_dirty().
  bool note_changes(const Changes& changes);
  bool is_dirty() const { return dirty_; }
  const std::vector<uint32_t>& root_pages() const { return roots_; }
  const std::string& sql() const { return sql_; }

 private:
  std::string sql_;
  std::vector<Value> params_;
  std::vector<uint32_t> roots_;
  bool dirty_ = true;
  bool explain_needed_ = true;  // roots_ are unknown or may be stale (schema changed)
};

}  // namespace sqlsync
