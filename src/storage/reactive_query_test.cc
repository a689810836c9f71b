#include "storage/reactive_query.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "storage/vfs.h"

namespace sqlsync {
namespace {

// A storage with tables a (indexed on x) and b, committed, both connections
// open, and no changes left to take.
class ReactiveQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    Result<std::unique_ptr<Storage>> storage = Storage::open(std::make_unique<MemoryJournal>(JournalId()));
    ASSERT_TRUE(storage.is_ok()) << storage.status().to_string();
    storage_ = std::move(storage).value();
    binding_ = std::make_unique<VfsBinding>("reactive-query-test-" + std::to_string(++counter), storage_.get());
    Result<StorageConnections> connections = open_storage_connections(*binding_);
    ASSERT_TRUE(connections.is_ok()) << connections.status().to_string();
    db_ = std::move(connections).value();
    exec(
        "CREATE TABLE a(id INTEGER PRIMARY KEY, x INTEGER, y INTEGER, payload BLOB);"
        "CREATE INDEX a_x ON a(x);"
        "CREATE TABLE b(id INTEGER PRIMARY KEY, w TEXT);");
    ASSERT_TRUE(storage_->commit().is_ok());
    storage_->take_changes();
  }

  Database& writer() { return *db_.read_write; }
  Database& reader() { return *db_.read_only; }

  void exec(std::string_view sql) {
    Status status = writer().exec(sql);
    ASSERT_TRUE(status.is_ok()) << sql << ": " << status.to_string();
  }

  uint32_t root_of(const std::string& name) {
    Result<QueryResult> result =
        reader().query("SELECT rootpage FROM sqlite_schema WHERE name = ?1", std::vector<Value>{name});
    EXPECT_TRUE(result.is_ok()) << result.status().to_string();
    if (!result.is_ok() || result->rows.size() != 1) return 0;
    return static_cast<uint32_t>(std::get<int64_t>(result->rows[0][0]));
  }

  std::vector<uint32_t> explain(std::string_view sql) {
    Result<std::vector<uint32_t>> roots = explain_root_pages(reader(), sql);
    EXPECT_TRUE(roots.is_ok()) << roots.status().to_string();
    return roots.is_ok() ? *roots : std::vector<uint32_t>{};
  }

  // Runs `query` and expects its result to have `rows` rows.
  void run(ReactiveQuery& query, size_t rows) {
    Result<QueryResult> result = query.run(reader());
    ASSERT_TRUE(result.is_ok()) << result.status().to_string();
    EXPECT_EQ(result->rows.size(), rows) << query.sql();
    EXPECT_FALSE(query.is_dirty());
  }

  std::unique_ptr<Storage> storage_;
  std::unique_ptr<VfsBinding> binding_;
  StorageConnections db_;
};

TEST_F(ReactiveQueryTest, ExplainFindsTheTablesAndIndexesRead) {
  const uint32_t a = root_of("a");
  const uint32_t a_x = root_of("a_x");
  const uint32_t b = root_of("b");
  ASSERT_NE(a, 0u);
  ASSERT_NE(a_x, 0u);
  EXPECT_EQ(explain("SELECT * FROM a"), std::vector<uint32_t>{a});
  // A covering index: only the index b-tree is read.
  EXPECT_EQ(explain("SELECT x FROM a WHERE x = ?1"), std::vector<uint32_t>{a_x});
  std::vector<uint32_t> expected = {a, a_x};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(explain("SELECT payload FROM a WHERE x = 3"), expected);
  expected = {a, b};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(explain("SELECT * FROM a JOIN b ON a.id = b.id WHERE b.w = :w"), expected);
  EXPECT_EQ(explain("SELECT name FROM sqlite_schema"), std::vector<uint32_t>{1});
  EXPECT_EQ(explain("SELECT 1 + 1"), std::vector<uint32_t>{});
  EXPECT_EQ(explain_root_pages(reader(), "SELECT * FROM missing").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ReactiveQueryTest, ExplainSeesSchemaChangesOfTheOtherConnection) {
  EXPECT_EQ(explain("SELECT id FROM a WHERE y = 7"), std::vector<uint32_t>{root_of("a")});
  exec("CREATE INDEX a_y ON a(y)");
  // The reader has run nothing since: its schema is stale until explain
  // refreshes it.
  Result<std::vector<uint32_t>> roots = explain_root_pages(reader(), "SELECT id FROM a WHERE y = 7");
  ASSERT_TRUE(roots.is_ok()) << roots.status().to_string();
  EXPECT_EQ(*roots, std::vector<uint32_t>{root_of("a_y")});
}

TEST_F(ReactiveQueryTest, OnlyChangesToTablesReadMakeQueriesDirty) {
  ReactiveQuery on_a("SELECT id, x FROM a ORDER BY id", {});
  ReactiveQuery on_b("SELECT w FROM b", {});
  EXPECT_TRUE(on_a.is_dirty()) << "never ran";
  run(on_a, 0);
  run(on_b, 0);
  EXPECT_EQ(on_a.root_pages(), std::vector<uint32_t>{root_of("a")});

  exec("INSERT INTO b(w) VALUES ('only b')");
  Changes changes = storage_->take_changes();
  EXPECT_FALSE(changes.full);
  EXPECT_FALSE(on_a.note_changes(changes));
  EXPECT_TRUE(on_b.note_changes(changes));
  run(on_b, 1);

  exec("INSERT INTO a(x, y) VALUES (1, 2)");
  changes = storage_->take_changes();
  EXPECT_TRUE(on_a.note_changes(changes));
  EXPECT_FALSE(on_b.note_changes(changes));
  run(on_a, 1);
  EXPECT_FALSE(on_a.note_changes(storage_->take_changes())) << "nothing changed since";
}

TEST_F(ReactiveQueryTest, QueryOnAnIndexIsDirtyWhenItsTableChanges) {
  ReactiveQuery query("SELECT x FROM a WHERE x = ?1", {int64_t{5}});
  run(query, 0);
  EXPECT_EQ(query.root_pages(), std::vector<uint32_t>{root_of("a_x")});
  exec("INSERT INTO a(x, y) VALUES (5, 0)");
  EXPECT_TRUE(query.note_changes(storage_->take_changes()));
  run(query, 1);
}

TEST_F(ReactiveQueryTest, RowsDroppedByResetMakeQueriesDirty) {
  ReactiveQuery on_a("SELECT id FROM a", {});
  ReactiveQuery on_b("SELECT id FROM b", {});
  run(on_a, 0);
  run(on_b, 0);
  exec("INSERT INTO a(x, y) VALUES (1, 1)");
  EXPECT_TRUE(on_a.note_changes(storage_->take_changes()));
  run(on_a, 1);

  storage_->reset();
  Changes changes = storage_->take_changes();
  EXPECT_TRUE(on_a.note_changes(changes));
  EXPECT_FALSE(on_b.note_changes(changes));
  run(on_a, 0);
}

TEST_F(ReactiveQueryTest, SchemaChangeMakesEveryQueryDirtyAndReexplains) {
  ReactiveQuery on_a("SELECT id FROM a WHERE y = 3", {});
  ReactiveQuery on_b("SELECT id FROM b", {});
  run(on_a, 0);
  run(on_b, 0);
  EXPECT_EQ(on_a.root_pages(), std::vector<uint32_t>{root_of("a")});

  exec("CREATE TABLE c(z)");
  Changes changes = storage_->take_changes();
  EXPECT_TRUE(changes.full);
  EXPECT_TRUE(on_a.note_changes(changes));
  EXPECT_TRUE(on_b.note_changes(changes));

  exec("CREATE INDEX a_y ON a(y)");
  EXPECT_TRUE(on_a.note_changes(storage_->take_changes()));
  run(on_a, 0);
  EXPECT_EQ(on_a.root_pages(), std::vector<uint32_t>{root_of("a_y")}) << "the plan now uses the new index";
}

// Deep b-trees and overflow chains: changed leaf, interior and overflow pages
// all map to the table that owns them, never to the neighbour.
TEST_F(ReactiveQueryTest, LargeRowsAndDeepTreesMapToTheirTable) {
  exec("BEGIN");
  for (int i = 0; i < 2000; ++i) {
    Status status = writer().execute("INSERT INTO a(x, y, payload) VALUES (?1, ?1, zeroblob(?2))",
                                     std::vector<Value>{int64_t{i}, int64_t{i % 50 == 0 ? 20000 : 100}});
    ASSERT_TRUE(status.is_ok()) << status.to_string();
  }
  exec("INSERT INTO b(w) VALUES ('b')");
  exec("COMMIT");
  ASSERT_TRUE(storage_->commit().is_ok());
  storage_->take_changes();

  ReactiveQuery on_a("SELECT sum(length(payload)) FROM a", {});
  ReactiveQuery on_b("SELECT w FROM b", {});
  run(on_a, 1);
  run(on_b, 1);
  ASSERT_EQ(on_a.root_pages(), std::vector<uint32_t>{root_of("a")});
  uint8_t page_type = 0;
  storage_->read(uint64_t{root_of("a") - 1} * kPageSize, std::span<uint8_t>(&page_type, 1));
  ASSERT_EQ(page_type, 0x05) << "a's root is an interior table page: the tree has depth";

  // Rewrites one row's overflow chain, deep in a's b-tree.
  exec("UPDATE a SET payload = zeroblob(30000) WHERE id = 1001");
  Changes changes = storage_->take_changes();
  EXPECT_FALSE(changes.full);
  EXPECT_TRUE(on_a.note_changes(changes));
  EXPECT_FALSE(on_b.note_changes(changes));
  run(on_a, 1);

  // Large deletes free pages; reclaiming them moves pages between b-trees'
  // positions in the file.
  exec("DELETE FROM a WHERE id % 3 = 0");
  exec("PRAGMA incremental_vacuum");
  changes = storage_->take_changes();
  EXPECT_TRUE(on_a.note_changes(changes));
  EXPECT_FALSE(on_b.note_changes(changes));
  run(on_a, 1);

  exec("UPDATE b SET w = zeroblob(9000)");
  changes = storage_->take_changes();
  EXPECT_FALSE(on_a.note_changes(changes));
  EXPECT_TRUE(on_b.note_changes(changes));
}

// Property: a query that note_changes() leaves clean would return exactly
// what it returned last time. Checked after every step of a seeded workload
// with commits, resets and schema changes.
TEST_F(ReactiveQueryTest, CleanQueriesNeverMissAChange) {
  constexpr uint64_t kSeed = 7;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  std::mt19937_64 random(kSeed);
  auto uniform = [&](int64_t low, int64_t high) { return std::uniform_int_distribution<int64_t>(low, high)(random); };

  const std::vector<std::pair<std::string, std::vector<Value>>> specs = {
      {"SELECT id, x, y, length(payload) FROM a ORDER BY id", {}},
      {"SELECT x FROM a WHERE x BETWEEN ?1 AND ?2 ORDER BY x", {int64_t{10}, int64_t{20}}},
      {"SELECT w FROM b ORDER BY id", {}},
      {"SELECT count(*) FROM b WHERE w LIKE 'x%'", {}},
      {"SELECT a.id, length(b.w) FROM a JOIN b ON b.id = a.x ORDER BY a.id", {}},
  };
  std::vector<ReactiveQuery> queries;
  std::vector<QueryResult> last;
  for (const auto& [sql, params] : specs) {
    queries.emplace_back(sql, params);
    Result<QueryResult> result = queries.back().run(reader());
    ASSERT_TRUE(result.is_ok()) << result.status().to_string();
    last.push_back(std::move(result).value());
  }

  int reruns = 0;
  for (int step = 0; step < 300; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const int64_t op = uniform(0, 99);
    if (op < 30) {
      Status status = writer().execute("INSERT OR REPLACE INTO a(id, x, y, payload) VALUES (?1, ?2, ?3, zeroblob(?4))",
                                       std::vector<Value>{uniform(1, 300), uniform(0, 40), uniform(0, 40),
                                                          uniform(0, 9) == 0 ? uniform(5000, 15000) : uniform(0, 200)});
      ASSERT_TRUE(status.is_ok()) << status.to_string();
    } else if (op < 50) {
      const int64_t id = uniform(1, 300);
      std::string w = uniform(0, 1) ? "x" : "y";
      w.append(static_cast<size_t>(uniform(0, 2000)), 'w');
      Status status = writer().execute("INSERT OR REPLACE INTO b(id, w) VALUES (?1, ?2)", std::vector<Value>{id, w});
      ASSERT_TRUE(status.is_ok()) << status.to_string();
    } else if (op < 60) {
      const std::string table = uniform(0, 1) ? "a" : "b";
      const int64_t low = uniform(1, 300);
      const int64_t high = low + uniform(0, 50);
      exec("DELETE FROM " + table + " WHERE id BETWEEN " + std::to_string(low) + " AND " + std::to_string(high));
    } else if (op < 65) {
      exec("PRAGMA incremental_vacuum");
    } else if (op < 68) {
      exec(uniform(0, 1) ? "CREATE TABLE IF NOT EXISTS c(z); INSERT INTO c VALUES (1)" : "DROP TABLE IF EXISTS c");
    } else if (op < 85) {
      ASSERT_TRUE(storage_->commit().is_ok());
    } else {
      storage_->reset();
    }

    Changes changes = storage_->take_changes();
    for (size_t i = 0; i < queries.size(); ++i) {
      const bool dirty = queries[i].note_changes(changes);
      Result<QueryResult> now = dirty ? queries[i].run(reader()) : reader().query(specs[i].first, specs[i].second);
      ASSERT_TRUE(now.is_ok()) << now.status().to_string();
      if (dirty) {
        ++reruns;
      } else {
        EXPECT_EQ(*now, last[i]) << "a change to what " << queries[i].sql() << " reads was not reported";
      }
      last[i] = std::move(now).value();
    }
  }
  EXPECT_LT(reruns, 300 * 5) << "some queries should have been left alone";
}

}  // namespace
}  // namespace sqlsync
