// Runs examples/todo/todo_reducer.wasm in the native host (wabt) against a
// real SQLite database and checks that it behaves exactly like the native
// TodoReducer: same verdicts, same rejection messages, same state.
#include <gtest/gtest.h>

#include <iterator>
#include <string>
#include <vector>

#include "reducer/wasm_reducer.h"
#include "sim/todo_reducer.h"
#include "sqlsync/env.h"
#include "storage/database.h"

namespace sqlsync {
namespace {

Bytes read_module() {
  Result<Bytes> module = Env::posix()->read_file(SQLSYNC_TODO_REDUCER_WASM);
  EXPECT_TRUE(module.is_ok()) << module.status().to_string();
  return module.is_ok() ? *module : Bytes();
}

// A reducer and its own database.
class Replica {
 public:
  explicit Replica(std::shared_ptr<Reducer> reducer) : reducer_(std::move(reducer)) {
    auto db = Database::open(":memory:", nullptr, Database::Access::kReadWrite);
    EXPECT_TRUE(db.is_ok()) << db.status().to_string();
    db_ = std::move(db).value();
  }

  Reducer& reducer() { return *reducer_; }
  Database& db() { return *db_; }

  Status migrate(uint32_t from, uint32_t to) {
    return in_transaction([&] { return reducer_->migrate(*db_, from, to); });
  }

  // Applies `mutations` as one batch in one transaction; returns the verdicts.
  std::vector<Status> reduce(const std::vector<std::string>& mutations) {
    std::vector<ByteView> views;
    for (const std::string& mutation : mutations) views.push_back(as_bytes(mutation));
    std::vector<Status> verdicts(mutations.size());
    SavepointScope scope(*db_);
    Status batch = in_transaction([&] { return reducer_->reduce_batch(*db_, scope, views, verdicts); });
    EXPECT_TRUE(batch.is_ok()) << batch.to_string();
    return verdicts;
  }

  std::string dump() {
    Result<std::string> dump = todo_dump(todo_query(*db_));
    EXPECT_TRUE(dump.is_ok()) << dump.status().to_string();
    return dump.is_ok() ? *dump : "";
  }

 private:
  template <typename Body>
  Status in_transaction(Body body) {
    SQLSYNC_RETURN_IF_ERROR(db_->exec("BEGIN"));
    Status status = body();
    SQLSYNC_RETURN_IF_ERROR(db_->exec(status.is_ok() ? "COMMIT" : "ROLLBACK"));
    return status;
  }

  std::shared_ptr<Reducer> reducer_;
  std::unique_ptr<Database> db_;
};

std::shared_ptr<Reducer> load_todo_wasm() {
  Bytes module = read_module();
  Result<std::shared_ptr<Reducer>> reducer = load_wasm_reducer(module);
  EXPECT_TRUE(reducer.is_ok()) << reducer.status().to_string();
  return reducer.is_ok() ? *reducer : nullptr;
}

// Every mutation kind, each way a mutation can be refused, and text that
// exercises JSON escapes; the first one succeeds so both replicas have the
// tables from then on.
std::vector<std::string> scenario() {
  return {
      todo::create_task("t1", "Buy milk"),
      todo::create_task("t1", "Buy milk twice"),
      R"({"tag":"CreateTask","id":"t2","description":"Walk \"the\" dog\n","author":"alice","seq":1})",
      todo::toggle_task("t1"),
      todo::rename_task("t2", "Walk the cat \xC3\xA9\xF0\x9F\x98\x80"),
      todo::toggle_task("nope"),
      todo::rename_task("nope", "x"),
      todo::delete_task("nope"),
      R"({"tag":"RenameTask","id":"t2","description":5})",
      R"({"tag":"RenameTask","id":"t2"})",
      R"({"tag":"CreateTask","id":"","description":"empty id"})",
      R"({"tag":"CreateTask","id":"a\u0001\"b\\","description":"control"})",
      R"({"tag":"ToggleTask","id":"z\u0002\ud83d\ude00"})",
      todo::create_task("t3", "Third"),
      todo::toggle_task("t3"),
      todo::clear_completed(),
      todo::delete_task("t2"),
      todo::increment("clicks", 3),
      todo::increment("clicks", -1),
      R"({"tag":"Increment","counter":"clicks","by":1,"by":10,"author":"bob","seq":-4})",
      R"({"tag":"Increment","counter":"clicks","by":1.5})",
      R"({"tag":"Increment","counter":"clicks","by":"1"})",
      R"({"tag":"Increment","counter":"clicks","by":9223372036854775808})",
      R"({"tag":"Increment","counter":"","by":1})",
      R"({"tag":"Increment","counter":"big","by":-9223372036854775808})",
      R"({"tag":"ClearCompleted","author":"carol"})",
      R"({"tag":"ClearCompleted","seq":2})",
      R"({"tag":"ClearCompleted","author":"carol","seq":"2"})",
      R"({"tag":"ClearCompleted","author":"carol","seq":2,"extra":{"nested":[1,{"x":null}]}})",
      R"({"tag":"Frobnicate"})",
      R"({"tag":3})",
      R"({"id":"t1"})",
      "[1,2]",
      "\"CreateTask\"",
      "null",
      "{",
      R"({"tag":"CreateTask","id":"t9","description":"x",})",
      "{\"tag\":\"CreateTask\",\"id\":\"\xC3\",\"description\":\"bad UTF-8\"}",
      R"({"tag":"CreateTask","id":"\ud800","description":"lone surrogate"})",
      "",
      R"(  {"tag":"CreateTask","id":"t4","description":"whitespace around"}  )",
  };
}

std::string describe(const Status& status) { return status.is_ok() ? "OK" : status.to_string(); }

TEST(TodoWasmTest, ExportsSchemaVersionOneAndMigrates) {
  std::shared_ptr<Reducer> wasm = load_todo_wasm();
  ASSERT_NE(wasm, nullptr);
  EXPECT_EQ(wasm->schema_version(), 1u);

  Replica replica(wasm);
  ASSERT_TRUE(replica.migrate(0, 1).is_ok());
  EXPECT_EQ(replica.dump(),
            "tables: applied counters tasks\n"
            "tasks (0 rows):\n"
            "counters (0 rows):\n"
            "applied (0 rows):\n");

  // A failing migration comes back through the guest's error buffer, and
  // nothing it did stays.
  Status again = replica.migrate(0, 1);
  EXPECT_EQ(again.code(), StatusCode::kRejected);
  EXPECT_NE(again.message().find("table tasks already exists"), std::string::npos) << again.message();
  EXPECT_EQ(replica.dump(),
            "tables: applied counters tasks\n"
            "tasks (0 rows):\n"
            "counters (0 rows):\n"
            "applied (0 rows):\n");
}

TEST(TodoWasmTest, MatchesTheNativeReducerMutationByMutation) {
  std::shared_ptr<Reducer> wasm_reducer = load_todo_wasm();
  ASSERT_NE(wasm_reducer, nullptr);
  Replica wasm(wasm_reducer);
  Replica native(std::make_shared<TodoReducer>());
  ASSERT_TRUE(wasm.migrate(0, 1).is_ok());

  int rejected = 0;
  for (const std::string& mutation : scenario()) {
    Status expected = native.reduce({mutation})[0];
    Status actual = wasm.reduce({mutation})[0];
    EXPECT_EQ(describe(actual), describe(expected)) << mutation;
    EXPECT_EQ(wasm.dump(), native.dump()) << "after " << mutation;
    if (!expected.is_ok()) ++rejected;
  }
  EXPECT_GT(rejected, 20) << "the scenario should exercise the rejections";
  EXPECT_NE(native.dump().find("'big' -9223372036854775808"), std::string::npos) << native.dump();
}

TEST(TodoWasmTest, OneBatchGivesTheSameVerdictsAsSingleMutations) {
  std::shared_ptr<Reducer> wasm_reducer = load_todo_wasm();
  ASSERT_NE(wasm_reducer, nullptr);
  Replica batched(wasm_reducer);
  Replica native(std::make_shared<TodoReducer>());
  ASSERT_TRUE(batched.migrate(0, 1).is_ok());

  const std::vector<std::string> mutations = scenario();
  std::vector<Status> actual = batched.reduce(mutations);
  ASSERT_EQ(actual.size(), mutations.size());
  for (size_t i = 0; i < mutations.size(); ++i) {
    Status expected = native.reduce({mutations[i]})[0];
    EXPECT_EQ(describe(actual[i]), describe(expected)) << mutations[i];
  }
  EXPECT_EQ(batched.dump(), native.dump());
}

}  // namespace
}  // namespace sqlsync
