#include "sim/todo_reducer.h"

#include <gtest/gtest.h>

#include "storage/database.h"

namespace sqlsync {
namespace {

// The reducer on a plain in-memory SQLite database, each mutation in its own
// transaction rolled back on rejection (as the runtime does).
class TodoReducerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Database>> db = Database::open(":memory:", nullptr, Database::Access::kReadWrite);
    ASSERT_TRUE(db.is_ok()) << db.status().to_string();
    db_ = std::move(*db);
  }

  Status reduce(std::string_view mutation) {
    SQLSYNC_RETURN_IF_ERROR(db_->exec("BEGIN"));
    Status status = reducer_.reduce(*db_, as_bytes(mutation));
    SQLSYNC_RETURN_IF_ERROR(db_->exec(status.is_ok() ? "COMMIT" : "ROLLBACK"));
    return status;
  }

  void expect_ok(std::string_view mutation) {
    Status status = reduce(mutation);
    EXPECT_TRUE(status.is_ok()) << mutation << ": " << status.to_string();
  }

  // The rejection's message, or a note that there was none.
  std::string rejection(std::string_view mutation) {
    Status status = reduce(mutation);
    if (status.code() != StatusCode::kRejected) return "not rejected: " + status.to_string();
    return status.message();
  }

  std::string dump() {
    Result<std::string> text = todo_dump(todo_query(*db_));
    EXPECT_TRUE(text.is_ok()) << text.status().to_string();
    return text.is_ok() ? *text : "";
  }

  TodoReducer reducer_;
  std::unique_ptr<Database> db_;
};

TEST_F(TodoReducerTest, AppliesEveryMutation) {
  expect_ok(todo::create_task("b", "buy milk"));
  expect_ok(todo::create_task("a", "call mum"));
  expect_ok(todo::create_task("c", "water plants"));
  expect_ok(todo::toggle_task("a"));
  expect_ok(todo::toggle_task("c"));
  expect_ok(todo::rename_task("b", "buy oat milk"));
  expect_ok(todo::delete_task("a"));
  expect_ok(todo::clear_completed());
  expect_ok(todo::increment("likes", 5));
  expect_ok(todo::increment("likes", -2));
  expect_ok(todo::increment("visits", 1));
  expect_ok(R"({"tag":"ToggleTask","id":"b","author":"alice","seq":7})");

  EXPECT_EQ(dump(),
            "tables: applied counters tasks\n"
            "tasks (1 rows):\n"
            "  'b' 'buy oat milk' 1\n"
            "counters (2 rows):\n"
            "  'likes' 3\n"
            "  'visits' 1\n"
            "applied (1 rows):\n"
            "  'alice' 7\n");
  Result<std::vector<TodoTask>> tasks = todo_tasks(todo_query(*db_));
  ASSERT_TRUE(tasks.is_ok()) << tasks.status().to_string();
  ASSERT_EQ(tasks->size(), 1u);
  EXPECT_EQ((*tasks)[0].id, "b");
  EXPECT_EQ((*tasks)[0].description, "buy oat milk");
  EXPECT_TRUE((*tasks)[0].completed);
  Result<int64_t> likes = todo_counter(todo_query(*db_), "likes");
  ASSERT_TRUE(likes.is_ok());
  EXPECT_EQ(*likes, 3);
}

TEST_F(TodoReducerTest, EmptyDocumentHasNoTables) {
  EXPECT_EQ(dump(), "tables:\n");
  Result<std::vector<TodoTask>> tasks = todo_tasks(todo_query(*db_));
  ASSERT_TRUE(tasks.is_ok()) << tasks.status().to_string();
  EXPECT_TRUE(tasks->empty());
  Result<int64_t> counter = todo_counter(todo_query(*db_), "missing");
  ASSERT_TRUE(counter.is_ok());
  EXPECT_EQ(*counter, 0);
}

// `applied` counts applications; it never deduplicates.
TEST_F(TodoReducerTest, AppliedRecordsEveryApplication) {
  const std::string mutation = R"({"tag":"Increment","counter":"n","by":1,"author":"bob","seq":3})";
  expect_ok(mutation);
  expect_ok(mutation);
  Result<QueryResult> rows = db_->query("SELECT author, seq FROM applied");
  ASSERT_TRUE(rows.is_ok()) << rows.status().to_string();
  EXPECT_EQ(rows->rows, (std::vector<Row>{{std::string("bob"), int64_t{3}}, {std::string("bob"), int64_t{3}}}));
}

TEST_F(TodoReducerTest, SchemaIsCreatedOnce) {
  expect_ok(todo::create_task("a", "one"));
  Result<QueryResult> before = db_->query("PRAGMA schema_version");
  ASSERT_TRUE(before.is_ok());
  expect_ok(todo::create_task("b", "two"));
  Result<QueryResult> after = db_->query("PRAGMA schema_version");
  ASSERT_TRUE(after.is_ok());
  EXPECT_EQ(before->rows, after->rows);
}

TEST_F(TodoReducerTest, RejectsWithClearMessages) {
  expect_ok(todo::create_task("t1", "exists"));
  EXPECT_EQ(rejection("{not json"), "todo mutation is not valid JSON (9 bytes)");
  EXPECT_EQ(rejection("[1, 2]"), "todo mutation must be a JSON object, not array");
  EXPECT_EQ(rejection(R"({"id":"t1"})"), "todo mutation needs a string field \"tag\"");
  EXPECT_EQ(rejection(R"({"tag":"Explode"})"),
            "unknown todo mutation tag \"Explode\" (expected CreateTask, ToggleTask, RenameTask, DeleteTask, "
            "ClearCompleted or Increment)");
  EXPECT_EQ(rejection(R"({"tag":"CreateTask","id":"t2"})"), "CreateTask: missing field \"description\"");
  EXPECT_EQ(rejection(R"({"tag":"CreateTask","id":2,"description":"x"})"),
            "CreateTask: field \"id\" must be a string, not number");
  EXPECT_EQ(rejection(todo::create_task("t2", "")), "CreateTask: field \"description\" must not be empty");
  EXPECT_EQ(rejection(todo::create_task("t1", "again")), "CreateTask: a task with id \"t1\" already exists");
  EXPECT_EQ(rejection(todo::toggle_task("t9")), "ToggleTask: no task with id \"t9\"");
  EXPECT_EQ(rejection(todo::rename_task("t9", "x")), "RenameTask: no task with id \"t9\"");
  EXPECT_EQ(rejection(todo::delete_task("t9")), "DeleteTask: no task with id \"t9\"");
  EXPECT_EQ(rejection(R"({"tag":"Increment","counter":"n","by":1.5})"),
            "Increment: field \"by\" must be an integer, not number");
  EXPECT_EQ(rejection(R"({"tag":"Increment","counter":"n","by":9223372036854775808})"),
            "Increment: field \"by\" is out of the 64-bit signed range");
  EXPECT_EQ(rejection(R"({"tag":"ClearCompleted","author":"a"})"), "ClearCompleted: missing field \"seq\"");
  EXPECT_EQ(rejection(R"({"tag":"ClearCompleted","seq":1})"), "ClearCompleted: missing field \"author\"");
  EXPECT_EQ(rejection(R"({"tag":"ClearCompleted","author":"a","seq":"1"})"),
            "ClearCompleted: field \"seq\" must be an integer, not string");
  // A rejection after the schema statements ran: the rollback leaves only
  // what was committed before.
  EXPECT_EQ(dump(),
            "tables: applied counters tasks\n"
            "tasks (1 rows):\n"
            "  't1' 'exists' 0\n"
            "counters (0 rows):\n"
            "applied (0 rows):\n");
}

TEST(TodoMutations, EscapeText) {
  EXPECT_EQ(todo::create_task("a\"b", "line\nbreak"),
            R"({"description":"line\nbreak","id":"a\"b","tag":"CreateTask"})");
  // Invalid UTF-8 is replaced, never thrown on.
  EXPECT_EQ(todo::toggle_task("\xff"), "{\"id\":\"\xEF\xBF\xBD\",\"tag\":\"ToggleTask\"}");
  EXPECT_EQ(todo::increment("n", -3), R"({"by":-3,"counter":"n","tag":"Increment"})");
  EXPECT_EQ(todo::clear_completed(), R"({"tag":"ClearCompleted"})");
}

}  // namespace
}  // namespace sqlsync
