#include "storage/database.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace sqlsync {
namespace {

std::unique_ptr<Database> open_memory(Database::Access access) {
  Result<std::unique_ptr<Database>> db = Database::open(":memory:", nullptr, access);
  EXPECT_TRUE(db.is_ok()) << db.status().to_string();
  return db.is_ok() ? std::move(db).value() : nullptr;
}

// A read-write connection with a user table and the runtime's bookkeeping
// table, created before confinement as the runtime does.
class ConfinedDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = open_memory(Database::Access::kReadWrite);
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(db_->exec("CREATE TABLE __sqlsync_timelines(id BLOB PRIMARY KEY, lsn INTEGER);"
                          "INSERT INTO __sqlsync_timelines VALUES (x'01', 7);"
                          "CREATE TABLE tasks(id TEXT PRIMARY KEY, done INTEGER NOT NULL DEFAULT 0);")
                    .is_ok());
    db_->set_confined(true);
  }

  // Expects `sql` to be refused with a message containing `reason`.
  void expect_refused(std::string_view sql, std::string_view reason) {
    Status status = db_->execute(sql);
    EXPECT_EQ(status.code(), StatusCode::kRejected) << sql << ": " << status.to_string();
    EXPECT_NE(status.message().find(reason), std::string::npos) << sql << ": " << status.to_string();
  }

  void expect_allowed(std::string_view sql) {
    Status status = db_->execute(sql);
    EXPECT_TRUE(status.is_ok()) << sql << ": " << status.to_string();
  }

  std::unique_ptr<Database> db_;
};

TEST_F(ConfinedDatabaseTest, RefusesInternalTablesWhateverTheCase) {
  const std::string reason = "reducer may not access __sqlsync_timelines";
  expect_refused("SELECT lsn FROM __sqlsync_timelines", reason);
  expect_refused("INSERT INTO __sqlsync_timelines VALUES (x'02', 1)", reason);
  expect_refused("UPDATE __sqlsync_timelines SET lsn = 99", reason);
  expect_refused("DELETE FROM __sqlsync_timelines", reason);
  expect_refused("DROP TABLE __sqlsync_timelines", reason);
  expect_refused("ALTER TABLE __sqlsync_timelines ADD COLUMN extra INTEGER", reason);
  expect_refused("CREATE INDEX timelines_by_lsn ON __sqlsync_timelines(lsn)", reason);
  expect_refused("CREATE TRIGGER spy AFTER UPDATE ON __sqlsync_timelines BEGIN SELECT 1; END", reason);
  Status status = db_->execute("SELECT * FROM __SQLSYNC_Timelines");
  EXPECT_EQ(status.code(), StatusCode::kRejected) << status.to_string();
  EXPECT_NE(status.message().find("__SQLSYNC_Timelines"), std::string::npos) << status.to_string();
  expect_refused("CREATE TABLE __sqlsync_mine(x)", "reducer may not access __sqlsync_mine");

  db_->set_confined(false);
  Result<QueryResult> rows = db_->query("SELECT lsn FROM __sqlsync_timelines");
  ASSERT_TRUE(rows.is_ok()) << rows.status().to_string();
  EXPECT_EQ(rows->rows, (std::vector<Row>{{int64_t{7}}}));
}

TEST_F(ConfinedDatabaseTest, RefusesATriggerThatWritesInternalTables) {
  // Creating the trigger is allowed: its body is authorized with every
  // statement that fires it.
  expect_allowed("CREATE TRIGGER forge AFTER INSERT ON tasks BEGIN UPDATE __sqlsync_timelines SET lsn = 1000; END");
  expect_refused("INSERT INTO tasks(id) VALUES ('a')", "reducer may not access __sqlsync_timelines");
}

TEST_F(ConfinedDatabaseTest, RefusesAttachTransactionsAndSettingPragmas) {
  expect_refused("ATTACH ':memory:' AS other", "reducer may not ATTACH a database");
  expect_refused("DETACH other", "reducer may not DETACH a database");
  expect_refused("BEGIN", "reducer may not run BEGIN: the runtime owns the transaction");
  expect_refused("COMMIT", "reducer may not run COMMIT");
  expect_refused("ROLLBACK", "reducer may not run ROLLBACK");
  expect_refused("SAVEPOINT mine", "savepoint \"mine\": the runtime owns the transaction");
  expect_refused("RELEASE mine", "savepoint \"mine\"");
  expect_refused("PRAGMA journal_mode=DELETE", "reducer may not set PRAGMA journal_mode (to DELETE)");
  expect_refused("PRAGMA user_version = 3", "reducer may not set PRAGMA user_version (to 3)");
  expect_refused("PRAGMA writable_schema = ON", "reducer may not set PRAGMA writable_schema");
  expect_refused("PRAGMA incremental_vacuum", "reducer may not run PRAGMA incremental_vacuum");
}

TEST_F(ConfinedDatabaseTest, AllowsUserTablesAndReadingPragmas) {
  expect_allowed("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)");
  expect_allowed("ALTER TABLE notes ADD COLUMN likes INTEGER NOT NULL DEFAULT 0");
  expect_allowed("CREATE INDEX notes_by_likes ON notes(likes)");
  expect_allowed("INSERT INTO notes(body) VALUES ('hello')");
  expect_allowed("UPDATE notes SET likes = likes + 1");
  expect_allowed("PRAGMA user_version");
  expect_allowed("PRAGMA table_info(notes)");
  expect_allowed("SELECT name FROM pragma_table_info('notes')");
  expect_allowed("DROP INDEX notes_by_likes");
  expect_allowed("DELETE FROM notes");
  Result<QueryResult> count = db_->query("SELECT count(*) FROM sqlite_schema WHERE name = 'notes'");
  ASSERT_TRUE(count.is_ok()) << count.status().to_string();
  EXPECT_EQ(count->rows, (std::vector<Row>{{int64_t{1}}}));
}

TEST_F(ConfinedDatabaseTest, NeverReusesAStatementPreparedUnconfined) {
  const std::string sql = "SELECT count(*) FROM __sqlsync_timelines";
  db_->set_confined(false);
  ASSERT_TRUE(db_->query(sql).is_ok());
  db_->set_confined(true);
  Result<QueryResult> confined = db_->query(sql);
  EXPECT_EQ(confined.status().code(), StatusCode::kRejected) << confined.status().to_string();
  db_->set_confined(false);
  EXPECT_TRUE(db_->query(sql).is_ok());
}

TEST_F(ConfinedDatabaseTest, ReportsOtherErrorsAsBefore) {
  expect_refused("SELECT * FROM __sqlsync_timelines", "__sqlsync_timelines");
  Status syntax = db_->execute("SELEC 1");
  EXPECT_EQ(syntax.code(), StatusCode::kInvalidArgument) << syntax.to_string();
  EXPECT_EQ(syntax.message().find("reducer may not"), std::string::npos) << syntax.to_string();
  ASSERT_TRUE(db_->execute("INSERT INTO tasks(id) VALUES ('a')").is_ok());
  Status duplicate = db_->execute("INSERT INTO tasks(id) VALUES ('a')");
  EXPECT_EQ(duplicate.code(), StatusCode::kInvalidArgument) << duplicate.to_string();
}

TEST(DatabaseTest, UnconfinedReadWriteConnectionAllowsEverything) {
  std::unique_ptr<Database> db = open_memory(Database::Access::kReadWrite);
  ASSERT_NE(db, nullptr);
  EXPECT_TRUE(db->exec("CREATE TABLE __sqlsync_timelines(id BLOB PRIMARY KEY, lsn INTEGER);"
                       "PRAGMA user_version = 2;"
                       "BEGIN; SAVEPOINT s; INSERT INTO __sqlsync_timelines VALUES (x'01', 1); RELEASE s; COMMIT;")
                  .is_ok());
  Result<QueryResult> rows = db->query("SELECT lsn FROM __sqlsync_timelines");
  ASSERT_TRUE(rows.is_ok()) << rows.status().to_string();
  EXPECT_EQ(rows->rows, (std::vector<Row>{{int64_t{1}}}));
}

TEST(DatabaseTest, ReadOnlyConnectionStillRefusesWrites) {
  std::unique_ptr<Database> db = open_memory(Database::Access::kReadOnly);
  ASSERT_NE(db, nullptr);
  Status status = db->execute("CREATE TABLE t(x)");
  EXPECT_EQ(status.code(), StatusCode::kRejected) << status.to_string();
  EXPECT_NE(status.message().find("read-only connection"), std::string::npos) << status.to_string();
  EXPECT_TRUE(db->execute("PRAGMA user_version").is_ok());
}

}  // namespace
}  // namespace sqlsync
