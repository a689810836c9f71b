#include "reducer/sql_reducer.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sqlsync/env.h"
#include "storage/database.h"

namespace sqlsync {
namespace {

std::shared_ptr<Reducer> must_load(std::string_view source) {
  Result<std::shared_ptr<Reducer>> reducer = load_sql_reducer(source);
  EXPECT_TRUE(reducer.is_ok()) << reducer.status().to_string();
  return reducer.is_ok() ? std::move(reducer).value() : nullptr;
}

// Expects `source` to fail to load, mentioning `line` and `what`.
void expect_parse_error(std::string_view source, size_t line, std::string_view what) {
  Result<std::shared_ptr<Reducer>> reducer = load_sql_reducer(source);
  ASSERT_FALSE(reducer.is_ok()) << source;
  const Status& status = reducer.status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
  EXPECT_NE(status.message().find("line " + std::to_string(line) + ":"), std::string::npos) << status.to_string();
  EXPECT_NE(status.message().find(what), std::string::npos) << status.to_string();
}

std::string read_file(const char* path) {
  Result<Bytes> content = Env::posix()->read_file(path);
  EXPECT_TRUE(content.is_ok()) << content.status().to_string();
  return content.is_ok() ? std::string(as_text(*content)) : std::string();
}

class SqlReducerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Database>> db = Database::open(":memory:", nullptr, Database::Access::kReadWrite);
    ASSERT_TRUE(db.is_ok()) << db.status().to_string();
    db_ = std::move(db).value();
  }

  Status reduce(Reducer& reducer, std::string_view mutation) { return reducer.reduce(*db_, as_bytes(mutation)); }

  std::vector<Row> rows(std::string_view sql) {
    Result<QueryResult> result = db_->query(sql);
    EXPECT_TRUE(result.is_ok()) << sql << ": " << result.status().to_string();
    return result.is_ok() ? result->rows : std::vector<Row>{};
  }

  // Expects `status` to be a rejection whose message contains `what`.
  static void expect_rejected(const Status& status, std::string_view what) {
    EXPECT_EQ(status.code(), StatusCode::kRejected) << status.to_string();
    EXPECT_NE(status.message().find(what), std::string::npos) << status.to_string();
  }

  std::unique_ptr<Database> db_;
};

TEST(SqlReducerParseTest, ReportsMalformedSourcesWithTheirLine) {
  expect_parse_error("CREATE TABLE t(x);\n", 1, "SQL before the first");
  expect_parse_error("-- migration 1\nCREATE TABLE t(x);\n-- migration 3\nCREATE TABLE u(x);\n", 3,
                     "expected '-- migration 2'");
  expect_parse_error("-- migration 2\nCREATE TABLE t(x);\n", 1, "expected '-- migration 1'");
  expect_parse_error("-- migration one\nCREATE TABLE t(x);\n", 1, "expected '-- migration 1'");
  expect_parse_error("-- mutation A\nSELECT 1;\n\n-- mutation A\nSELECT 2;\n", 4, "already defined at line 1");
  expect_parse_error("-- mutation Add-Entry\nSELECT 1;\n", 1, "a mutation tag is");
  expect_parse_error("-- mutation\nSELECT 1;\n", 1, "a mutation tag is");
  expect_parse_error("-- mutation A\n-- mutation B\nSELECT 1;\n", 1, "mutation A has no statements");
  expect_parse_error("-- mutation A\nINSERT INTO t\n  VALUES (:x)\n-- mutation B\nSELECT 1;\n", 4,
                     "inside the statement that starts at line 2");
  expect_parse_error("-- mutation A\nSELECT 1;\n\nUPDATE t SET x = 1\n", 4, "not terminated by ';'");
  expect_parse_error("-- mutation A\nSELECT 'it''s;\n", 2, "not terminated by ';'");
  expect_parse_error("-- migration 1\nCREATE TABLE t(x);\nINSERT INTO t VALUES (:x);\n", 3,
                     "migration 1 uses parameter :x");
  expect_parse_error("-- mutation A\nSELECT 1;\nINSERT INTO t\nVALUES (?1);\n", 4, "parameter \"?1\"");
  expect_parse_error("-- mutation A\nINSERT INTO t VALUES (@x);\n", 2, "parameter \"@x\"");
  expect_parse_error("-- mutation A\nINSERT INTO t VALUES ($x);\n", 2, "parameter \"$x\"");
  expect_parse_error("-- mutation A\n-- require x exists\nUPDATE t SET x = 1;\n", 3, "must be a query");
  expect_parse_error("-- mutation A\nSELECT 1;\n-- require x exists\n", 3, "must be followed by a query");
  expect_parse_error("-- mutation A\n-- require\nSELECT 1;\n", 2, "needs a message");
  expect_parse_error("-- migration 1\n-- require x\nSELECT 1;\n", 2, "only allowed inside a '-- mutation");
  for (std::string_view empty : {"", "-- just a comment\n"}) {
    Result<std::shared_ptr<Reducer>> reducer = load_sql_reducer(empty);
    EXPECT_EQ(reducer.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(reducer.status().message().find("no '-- migration N' or '-- mutation <Tag>' section"), std::string::npos)
        << reducer.status().to_string();
  }
}

TEST_F(SqlReducerTest, SplitsStatementsLikeSqlite) {
  // Semicolons inside strings, identifiers, comments and a trigger body do not
  // end a statement; two statements may share a line; comments that do not
  // start with a directive keyword are comments.
  std::shared_ptr<Reducer> reducer = must_load(
      "-- A reducer. Mutations below; migrations too.\n"
      "-- migration 1\n"
      "CREATE TABLE \"odd;name\"(x TEXT); CREATE TABLE log(x TEXT);\n"
      "/* a block; comment */\n"
      "CREATE TRIGGER copy AFTER INSERT ON \"odd;name\" BEGIN\n"
      "  INSERT INTO log VALUES (new.x); -- not the end;\n"
      "END;\n"
      "-- mutation Put\n"
      "INSERT INTO \"odd;name\" VALUES ('a;b' || :suffix);\n");
  ASSERT_NE(reducer, nullptr);
  EXPECT_EQ(reducer->schema_version(), 1u);
  ASSERT_TRUE(reducer->migrate(*db_, 0, 1).is_ok());
  ASSERT_TRUE(reduce(*reducer, R"({"tag": "Put", "suffix": ";c"})").is_ok());
  EXPECT_EQ(rows("SELECT x FROM log"), (std::vector<Row>{{std::string("a;b;c")}}));
}

TEST_F(SqlReducerTest, RunsMigrationsInOrder) {
  std::shared_ptr<Reducer> reducer = must_load(
      "-- migration 1\n"
      "CREATE TABLE steps(n INTEGER);\n"
      "INSERT INTO steps VALUES (1);\n"
      "-- mutation Noop\n"
      "SELECT 1;\n"
      "-- migration 2\n"
      "INSERT INTO steps VALUES (2);\n"
      "-- migration 3\n"
      "INSERT INTO steps VALUES ((SELECT max(n) FROM steps) + 1);\n");
  ASSERT_NE(reducer, nullptr);
  EXPECT_EQ(reducer->schema_version(), 3u);

  ASSERT_TRUE(reducer->migrate(*db_, 0, 2).is_ok());
  EXPECT_EQ(rows("SELECT n FROM steps ORDER BY rowid"), (std::vector<Row>{{int64_t{1}}, {int64_t{2}}}));
  ASSERT_TRUE(reducer->migrate(*db_, 2, 3).is_ok());
  EXPECT_EQ(rows("SELECT n FROM steps ORDER BY rowid"), (std::vector<Row>{{int64_t{1}}, {int64_t{2}}, {int64_t{3}}}));

  Status beyond = reducer->migrate(*db_, 3, 4);
  EXPECT_EQ(beyond.code(), StatusCode::kInvalidArgument) << beyond.to_string();
  EXPECT_EQ(reducer->migrate(*db_, 2, 2).code(), StatusCode::kInvalidArgument);
}

TEST_F(SqlReducerTest, MigrationErrorsNameTheMigrationAndLine) {
  std::shared_ptr<Reducer> reducer = must_load(
      "-- migration 1\n"
      "CREATE TABLE t(x);\n"
      "CREATE TABLE t(x);\n");
  ASSERT_NE(reducer, nullptr);
  Status status = reducer->migrate(*db_, 0, 1);
  ASSERT_FALSE(status.is_ok());
  EXPECT_NE(status.message().find("migration 1, statement at line 3"), std::string::npos) << status.to_string();
}

TEST_F(SqlReducerTest, BindsEachJsonTypeAsItsSqlValue) {
  std::shared_ptr<Reducer> reducer = must_load(
      "-- migration 1\n"
      "CREATE TABLE v(name TEXT, value ANY) STRICT;\n"
      "-- mutation Put\n"
      "INSERT INTO v VALUES ('string', :s), ('integer', :i), ('negative', :n), ('float', :f),\n"
      "  ('true', :t), ('false', :no), ('null', :z), ('object', :o), ('array', :a),\n"
      "  ('again', :s), ('literal', ':s');\n");
  ASSERT_NE(reducer, nullptr);
  ASSERT_TRUE(reducer->migrate(*db_, 0, 1).is_ok());
  Status put = reduce(*reducer, R"({"tag": "Put", "s": "héllo", "i": 9007199254740993, "n": -4, "f": 2.5,
                                    "t": true, "no": false, "z": null, "o": {"b": 1, "a": [true]},
                                    "a": [1, "x", null]})");
  ASSERT_TRUE(put.is_ok()) << put.to_string();
  EXPECT_EQ(rows("SELECT name, value, typeof(value) FROM v ORDER BY rowid"),
            (std::vector<Row>{
                {std::string("string"), std::string("héllo"), std::string("text")},
                {std::string("integer"), int64_t{9007199254740993}, std::string("integer")},
                {std::string("negative"), int64_t{-4}, std::string("integer")},
                {std::string("float"), 2.5, std::string("real")},
                {std::string("true"), int64_t{1}, std::string("integer")},
                {std::string("false"), int64_t{0}, std::string("integer")},
                {std::string("null"), Value(), std::string("null")},
                {std::string("object"), std::string(R"({"a":[true],"b":1})"), std::string("text")},
                {std::string("array"), std::string(R"([1,"x",null])"), std::string("text")},
                {std::string("again"), std::string("héllo"), std::string("text")},
                {std::string("literal"), std::string(":s"), std::string("text")},
            }));

  expect_rejected(reduce(*reducer, R"({"tag": "Put", "s": "x", "i": 18446744073709551615, "n": 0, "f": 0,
                                       "t": 0, "no": 0, "z": 0, "o": 0, "a": 0})"),
                  "field 'i' is out of the 64-bit integer range");
}

TEST_F(SqlReducerTest, RejectsMalformedAndUnknownMutations) {
  std::shared_ptr<Reducer> reducer = must_load(
      "-- migration 1\n"
      "CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT NOT NULL);\n"
      "-- mutation CreateTask\n"
      "INSERT INTO tasks VALUES (:id, :title);\n"
      "-- mutation DeleteTask\n"
      "DELETE FROM tasks WHERE id = :id;\n");
  ASSERT_NE(reducer, nullptr);
  ASSERT_TRUE(reducer->migrate(*db_, 0, 1).is_ok());

  expect_rejected(reduce(*reducer, R"({"tag": "CreateTask", "title": "milk"})"),
                  "mutation CreateTask needs field 'id' (used at line 4)");
  expect_rejected(reduce(*reducer, R"({"tag": "RenameTask", "id": "a"})"),
                  "unknown mutation tag \"RenameTask\"; this reducer knows CreateTask, DeleteTask");
  expect_rejected(reduce(*reducer, R"({"tag": "CreateTask", "id": )"), "mutation is not valid JSON");
  expect_rejected(reduce(*reducer, "\xff\xfe"), "mutation is not valid JSON");
  expect_rejected(reduce(*reducer, R"(["CreateTask"])"), "mutation is a JSON array, expected an object");
  expect_rejected(reduce(*reducer, R"({"id": "a"})"), "no string field \"tag\"");
  expect_rejected(reduce(*reducer, R"({"tag": 7})"), "no string field \"tag\"");
  EXPECT_TRUE(rows("SELECT * FROM tasks").empty());

  ASSERT_TRUE(reduce(*reducer, R"({"tag": "CreateTask", "id": "a", "title": "milk"})").is_ok());
  Status duplicate = reduce(*reducer, R"({"tag": "CreateTask", "id": "a", "title": "eggs"})");
  ASSERT_FALSE(duplicate.is_ok());
  EXPECT_NE(duplicate.message().find("mutation CreateTask, statement at line 4"), std::string::npos)
      << duplicate.to_string();
  EXPECT_NE(duplicate.message().find("UNIQUE constraint failed"), std::string::npos) << duplicate.to_string();
}

// Flat objects of plain strings and small integers take a faster path than
// the rest of JSON: both must bind the same values and reject the same text.
TEST_F(SqlReducerTest, BindsAndRejectsTheSameWhateverTheJsonSpelling) {
  std::shared_ptr<Reducer> reducer = must_load(
      "-- migration 1\n"
      "CREATE TABLE v(x);\n"
      "-- mutation Put\n"
      "INSERT INTO v VALUES (:x);\n"
      "-- mutation Tagged\n"
      "INSERT INTO v VALUES (:tag);\n");
  ASSERT_NE(reducer, nullptr);
  ASSERT_TRUE(reducer->migrate(*db_, 0, 1).is_ok());

  const std::pair<std::string_view, Value> valid[] = {
      {R"({"tag":"Put","x":1,"x":"last"})", std::string("last")},
      {R"({"x":"a\"b","tag":"Put"})", std::string("a\"b")},
      {" {\"tag\" :\t\"Put\" ,\r\n\"x\" : -0 } ", int64_t{0}},
      {R"({"tag":"Put","x":-123456789012345678})", int64_t{-123456789012345678}},
      {R"({"tag":"Put","x":9223372036854775807})", int64_t{9223372036854775807}},
      {R"({"tag":"Put","x":-9223372036854775808})", std::numeric_limits<int64_t>::min()},
      {R"({"tag":"Put","x":1e2})", 100.0},
      {R"({"tag":"Put","x":"caf\u00e9"})", std::string("café")},
      {R"({"tag":"Put","x":[1],"x":false})", int64_t{0}},
      {R"({"tag":"Put","x":true,"x":{"b":null}})", std::string(R"({"b":null})")},
      {R"({"tag":"Tagged"})", std::string("Tagged")},
  };
  std::vector<Row> expected;
  for (const auto& [mutation, value] : valid) {
    Status status = reduce(*reducer, mutation);
    EXPECT_TRUE(status.is_ok()) << mutation << ": " << status.to_string();
    expected.push_back({value});
  }
  EXPECT_EQ(rows("SELECT x FROM v ORDER BY rowid"), expected);

  const std::string_view invalid[] = {
      R"({"tag":"Put","x":01})",  R"({"tag":"Put","x":1,})",   R"({"tag":"Put","x":1} x)",
      R"({"tag":"Put","x":-})",   "{\"tag\":\"Put\",\"x\":\"a\tb\"}", R"({"tag":"Put","x":tru})",
      "{\"tag\":\"Put\",\"x\":1}\f", R"({"tag":"Put" "x":1})",   R"({"tag":"Put","x":1)",
  };
  for (std::string_view mutation : invalid) expect_rejected(reduce(*reducer, mutation), "mutation is not valid JSON");
}

TEST_F(SqlReducerTest, RequireRejectsUnlessTheQueryReturnsANonzeroNumber) {
  std::shared_ptr<Reducer> reducer = must_load(
      "-- migration 1\n"
      "CREATE TABLE tasks(id TEXT PRIMARY KEY, completed INTEGER NOT NULL DEFAULT 0);\n"
      "INSERT INTO tasks(id) VALUES ('a');\n"
      "-- mutation ToggleTask\n"
      "-- require no task with that id\n"
      "SELECT count(*) FROM tasks WHERE id = :id;\n"
      "UPDATE tasks SET completed = NOT completed WHERE id = :id;\n"
      "-- mutation Check\n"
      "-- require the check failed\n"
      "SELECT :value;\n");
  ASSERT_NE(reducer, nullptr);
  ASSERT_TRUE(reducer->migrate(*db_, 0, 1).is_ok());

  ASSERT_TRUE(reduce(*reducer, R"({"tag": "ToggleTask", "id": "a"})").is_ok());
  EXPECT_EQ(rows("SELECT completed FROM tasks"), (std::vector<Row>{{int64_t{1}}}));
  expect_rejected(reduce(*reducer, R"({"tag": "ToggleTask", "id": "zzz"})"),
                  "mutation ToggleTask rejected: no task with that id (requirement at line 6)");

  EXPECT_TRUE(reduce(*reducer, R"({"tag": "Check", "value": 2})").is_ok());
  EXPECT_TRUE(reduce(*reducer, R"({"tag": "Check", "value": 0.5})").is_ok());
  EXPECT_TRUE(reduce(*reducer, R"({"tag": "Check", "value": true})").is_ok());
  for (const char* falsy : {"0", "0.0", "false", "null", "\"1\"", "[]"}) {
    expect_rejected(reduce(*reducer, std::string(R"({"tag": "Check", "value": )") + falsy + "}"),
                    "mutation Check rejected: the check failed");
  }
}

TEST_F(SqlReducerTest, GuestbookExampleEndToEnd) {
  const std::string source = read_file(SQLSYNC_GUESTBOOK_SQL);
  std::shared_ptr<Reducer> reducer = must_load(source);
  ASSERT_NE(reducer, nullptr);
  EXPECT_EQ(reducer->schema_version(), 2u);

  // A document created under version 1, then upgraded.
  ASSERT_TRUE(reducer->migrate(*db_, 0, 1).is_ok());
  ASSERT_TRUE(reduce(*reducer, R"({"tag": "AddEntry", "id": "e1", "author": " Ada ", "message": "Hello!", "at": 1000})")
                  .is_ok());
  ASSERT_TRUE(reducer->migrate(*db_, 1, 2).is_ok());
  ASSERT_TRUE(
      reduce(*reducer, R"({"tag": "AddEntry", "id": "e2", "author": "Grace", "message": "Hi", "at": 2000})").is_ok());
  // A retried AddEntry keeps the first version.
  ASSERT_TRUE(reduce(*reducer, R"({"tag": "AddEntry", "id": "e2", "author": "Grace", "message": "Edited", "at": 3000})")
                  .is_ok());
  expect_rejected(
      reduce(*reducer, R"({"tag": "AddEntry", "id": "e3", "author": "  ", "message": "anonymous", "at": 4000})"),
      "an entry needs an author and a message");
  ASSERT_TRUE(reduce(*reducer, R"({"tag": "LikeEntry", "id": "e1"})").is_ok());
  ASSERT_TRUE(reduce(*reducer, R"({"tag": "LikeEntry", "id": "e1"})").is_ok());
  expect_rejected(reduce(*reducer, R"({"tag": "LikeEntry", "id": "nope"})"), "no guestbook entry has that id");
  expect_rejected(reduce(*reducer, R"({"tag": "LikeEntry"})"), "mutation LikeEntry needs field 'id'");

  EXPECT_EQ(rows("SELECT id, author, message, created_at, likes FROM entries ORDER BY created_at, id"),
            (std::vector<Row>{
                {std::string("e1"), std::string("Ada"), std::string("Hello!"), int64_t{1000}, int64_t{2}},
                {std::string("e2"), std::string("Grace"), std::string("Hi"), int64_t{2000}, int64_t{0}},
            }));
  EXPECT_EQ(rows("SELECT count(*) FROM sqlite_schema WHERE name = 'entries_by_created_at'"),
            (std::vector<Row>{{int64_t{1}}}));

  ASSERT_TRUE(reduce(*reducer, R"({"tag": "DeleteEntry", "id": "e1"})").is_ok());
  EXPECT_EQ(rows("SELECT id FROM entries"), (std::vector<Row>{{std::string("e2")}}));
}

TEST_F(SqlReducerTest, ConfinedDatabaseRejectsWhatAReducerMayNotDo) {
  ASSERT_TRUE(db_->exec("CREATE TABLE __sqlsync_timelines(id BLOB PRIMARY KEY, lsn INTEGER);"
                        "INSERT INTO __sqlsync_timelines VALUES (x'01', 3);")
                  .is_ok());
  std::shared_ptr<Reducer> reducer = must_load(
      "-- migration 1\n"
      "CREATE TABLE notes(body TEXT);\n"
      "-- mutation ForgeAck\n"
      "UPDATE __sqlsync_timelines SET lsn = :lsn;\n"
      "-- mutation Peek\n"
      "-- require the runtime's tables are readable\n"
      "SELECT count(*) FROM __SQLSYNC_TIMELINES;\n"
      "-- mutation Attach\n"
      "ATTACH :path AS other;\n"
      "-- mutation Journal\n"
      "PRAGMA journal_mode=DELETE;\n"
      "-- mutation Commit\n"
      "INSERT INTO notes VALUES (:body);\n"
      "COMMIT;\n"
      "-- mutation Note\n"
      "INSERT INTO notes VALUES (:body);\n");
  ASSERT_NE(reducer, nullptr);

  db_->set_confined(true);
  ASSERT_TRUE(reducer->migrate(*db_, 0, 1).is_ok());
  expect_rejected(reduce(*reducer, R"({"tag": "ForgeAck", "lsn": 1000})"),
                  "reducer may not access __sqlsync_timelines");
  expect_rejected(reduce(*reducer, R"({"tag": "Peek"})"), "reducer may not access __SQLSYNC_TIMELINES");
  expect_rejected(reduce(*reducer, R"({"tag": "Attach", "path": ":memory:"})"), "reducer may not ATTACH");
  expect_rejected(reduce(*reducer, R"({"tag": "Journal"})"), "reducer may not set PRAGMA journal_mode (to DELETE)");
  expect_rejected(reduce(*reducer, R"({"tag": "Commit", "body": "x"})"), "reducer may not run COMMIT");
  EXPECT_TRUE(reduce(*reducer, R"({"tag": "Note", "body": "fine"})").is_ok());
  db_->set_confined(false);

  EXPECT_EQ(rows("SELECT lsn FROM __sqlsync_timelines"), (std::vector<Row>{{int64_t{3}}}));
  EXPECT_EQ(rows("PRAGMA journal_mode"), (std::vector<Row>{{std::string("memory")}}));
  EXPECT_EQ(rows("SELECT count(*) FROM pragma_database_list"), (std::vector<Row>{{int64_t{1}}}));
}

}  // namespace
}  // namespace sqlsync
