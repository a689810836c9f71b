// Reducer faults end to end. On the coordinator: its WASM reducer
// (src/reducer/testdata/commands.wat) traps, runs out of its execution budget
// or exceeds its memory cap on mutations the clients' permissive native
// reducer accepted; each such mutation must be consumed, recorded as rejected
// with the reason and reported to its author, while the rest of the same step
// applies. Locally: a mutation the local reducer refuses comes back from
// mutate() and never joins the timeline.
#include <gtest/gtest.h>

#include <iterator>
#include <string>
#include <vector>

#include "base/memory_env.h"
#include "reducer/sql_reducer.h"
#include "reducer/wasm_reducer.h"
#include "sim/sim_network.h"
#include "sim/test_status.h"
#include "sqlsync/env.h"

namespace sqlsync {
namespace {

// Small limits keep the runaway mutations cheap; commands.wasm grows its
// memory 1 MiB at a time from one 64 KiB page, so the first growth fails.
WasmLimits fault_limits() {
  WasmLimits limits;
  limits.fuel_per_call = 200'000;
  limits.memory_bytes = uint64_t{1} << 20;
  return limits;
}

Bytes read_file_bytes(const std::string& path) {
  Result<Bytes> content = Env::posix()->read_file(path);
  EXPECT_TRUE(content.is_ok()) << content.status().to_string();
  return content.is_ok() ? *content : Bytes();
}

Result<std::shared_ptr<Reducer>> load_commands_reducer() {
  return load_wasm_reducer(read_file_bytes(std::string(SQLSYNC_WASM_TESTDATA) + "/commands.wasm"), fault_limits());
}

// The clients' reducer: agrees with commands.wasm on its schema and on
// "i<text>" (insert <text> into t) and accepts every other mutation without
// writing, so "t", "l" and "m" pass locally and fail only on the coordinator.
class PermissiveCommandsReducer final : public Reducer {
 public:
  Status reduce(Transaction& tx, ByteView mutation) override {
    std::string_view text = as_text(mutation);
    if (text.empty() || text[0] != 'i') return Status::ok();
    const Value value = std::string(text.substr(1));
    return tx.execute("INSERT INTO t(v) VALUES (?1)", std::span<const Value>(&value, 1));
  }
  uint32_t schema_version() const override { return 1; }
  Status migrate(Transaction& tx, uint32_t, uint32_t) override { return tx.execute("CREATE TABLE t(v TEXT)"); }
};

template <typename Document>
std::vector<std::string> rows_of_t(Document& document) {
  Result<QueryResult> rows = document.query("SELECT v FROM t ORDER BY rowid");
  EXPECT_TRUE(rows.is_ok()) << rows.status().to_string();
  std::vector<std::string> values;
  if (!rows.is_ok()) return values;
  for (const Row& row : rows->rows) values.push_back(std::get<std::string>(row[0]));
  return values;
}

// Exchanges messages in both directions, without coordinator steps, until
// nothing is left to send: afterwards every mutation made so far is queued on
// the coordinator.
void exchange_without_steps(SimNetwork& sim) {
  for (int round = 0; round < 100; ++round) {
    size_t moved = 0;
    for (size_t i = 0; i < sim.client_count(); ++i) {
      Result<size_t> polled = sim.poll_client(i);
      ASSERT_OK(polled);
      moved += *polled;
    }
    Result<size_t> polled = sim.poll_coordinator();
    ASSERT_OK(polled);
    moved += *polled;
    while (sim.messages_in_flight() > 0) {
      for (size_t i = 0; i < sim.client_count(); ++i) {
        Result<bool> delivered = sim.deliver_to_coordinator(i);
        ASSERT_OK(delivered);
        moved += *delivered;
        delivered = sim.deliver_to_client(i);
        ASSERT_OK(delivered);
        moved += *delivered;
      }
    }
    if (moved == 0) return;
  }
  FAIL() << "messages kept flowing";
}

TEST(ReducerFault, CoordinatorRejectsWhatItsWasmReducerCannotRun) {
  constexpr size_t kAuthor = 0;
  constexpr size_t kOther = 1;
  SimNetwork::Options options;
  options.clients = 2;
  options.reducer = [](size_t replica) -> Result<std::shared_ptr<Reducer>> {
    if (replica == SimEvent::kCoordinator) return load_commands_reducer();
    return std::shared_ptr<Reducer>(std::make_shared<PermissiveCommandsReducer>());
  };
  Result<std::unique_ptr<SimNetwork>> created = SimNetwork::create(std::move(options));
  ASSERT_OK(created);
  SimNetwork& sim = **created;
  sim.connect(kAuthor);
  sim.connect(kOther);

  // Unattributed: the commands are raw bytes, not JSON.
  const std::vector<std::string> mutations = {"ifirst", "t", "isecond", "l", "ithird", "m", "ifourth"};
  for (const std::string& mutation : mutations) {
    Result<bool> accepted = sim.mutate(kAuthor, SimMutation{mutation, false});
    ASSERT_OK(accepted);
    ASSERT_TRUE(*accepted) << mutation << " must pass the clients' reducer";
  }
  Result<bool> accepted = sim.mutate(kOther, SimMutation{"ifrom the other client", false});
  ASSERT_OK(accepted);
  ASSERT_TRUE(*accepted);
  EXPECT_EQ(rows_of_t(sim.client(kAuthor)), (std::vector<std::string>{"first", "second", "third", "fourth"}))
      << "the author's optimistic view";

  // Everything reaches the coordinator before it runs one step.
  exchange_without_steps(sim);
  ASSERT_TRUE(sim.coordinator().has_work());
  ASSERT_OK(sim.step());
  EXPECT_EQ(sim.coordinator_stats().steps, 1u);
  EXPECT_EQ(sim.coordinator_stats().applied, 5u) << "four inserts of the author and one of the other client";
  EXPECT_EQ(sim.coordinator_stats().rejected, 3u) << "trap, budget and memory";
  EXPECT_FALSE(sim.coordinator().has_work()) << "the bad mutations were consumed";

  ASSERT_OK(sim.run_until_quiet());
  EXPECT_TRUE(sim.link_errors().empty()) << sim.link_errors().front();
  EXPECT_EQ(sim.coordinator_stats().applied, 5u);
  EXPECT_EQ(sim.coordinator_stats().rejected, 3u) << "nothing was retried";

  const std::vector<Rejection>& rejections = sim.rejections(kAuthor);
  ASSERT_EQ(rejections.size(), 3u);
  for (const Rejection& rejection : rejections) EXPECT_EQ(rejection.timeline, sim.client(kAuthor).timeline_id());
  EXPECT_EQ(rejections[0].lsn, 1u);
  EXPECT_NE(rejections[0].message.find("reducer trapped: unreachable"), std::string::npos) << rejections[0].message;
  EXPECT_EQ(rejections[1].lsn, 3u);
  EXPECT_NE(rejections[1].message.find("reducer exceeded its execution budget (200000 units)"), std::string::npos)
      << rejections[1].message;
  EXPECT_EQ(rejections[2].lsn, 5u);
  EXPECT_NE(rejections[2].message.find("reducer exceeded its memory limit (1048576 bytes)"), std::string::npos)
      << rejections[2].message;
  EXPECT_TRUE(sim.rejections(kOther).empty());

  const std::vector<std::string> coordinator_rows = rows_of_t(sim.coordinator());
  EXPECT_EQ(coordinator_rows.size(), 5u);
  for (size_t i = 0; i < sim.client_count(); ++i) {
    EXPECT_EQ(sim.client(i).pending_mutations(), 0u) << "client " << i;
    EXPECT_EQ(rows_of_t(sim.client(i)), coordinator_rows) << "client " << i;
  }
}

// A LocalDocument of a fresh document with `reducer`, on its own env.
struct LocalReplica {
  explicit LocalReplica(std::shared_ptr<Reducer> reducer) : env(1) {
    LocalDocument::Options options;
    options.document_id = env.new_journal_id();
    options.reducer = std::move(reducer);
    options.env = &env;
    Result<std::unique_ptr<LocalDocument>> opened = LocalDocument::open(std::move(options));
    EXPECT_TRUE(opened.is_ok()) << opened.status().to_string();
    if (opened.is_ok()) document = std::move(opened).value();
  }
  MemoryEnv env;  // declared first: the document uses it until destroyed
  std::unique_ptr<LocalDocument> document;
};

TEST(ReducerFault, LocalSqlReducerRejectionReturnsErrorAndAppendsNothing) {
  const Bytes source = read_file_bytes(SQLSYNC_GUESTBOOK_SQL);
  Result<std::shared_ptr<Reducer>> reducer = load_sql_reducer(as_text(source));
  ASSERT_OK(reducer);
  LocalReplica replica(*reducer);
  ASSERT_NE(replica.document, nullptr);
  LocalDocument& document = *replica.document;

  ASSERT_OK(document.mutate(as_bytes(R"({"tag":"AddEntry","id":"e1","author":"Ada","message":"Hi!","at":1})")));
  ASSERT_EQ(document.pending_mutations(), 1u);
  const char* kRefused[] = {
      R"({"tag":"AddEntry","id":"e2","author":"Bob",)",            // malformed JSON
      R"(["AddEntry"])",                                           // not an object
      R"({"tag":"LikeEntry","id":"nobody wrote this"})",           // failed require
  };
  for (const char* mutation : kRefused) {
    SCOPED_TRACE(mutation);
    Status status = document.mutate(as_bytes(mutation));
    EXPECT_EQ(status.code(), StatusCode::kRejected) << status.to_string();
    EXPECT_EQ(document.pending_mutations(), 1u) << "a refused mutation joined the timeline";
  }
  Result<QueryResult> entries = document.query("SELECT id, likes FROM entries");
  ASSERT_OK(entries);
  ASSERT_EQ(entries->rows.size(), 1u);
  EXPECT_EQ(entries->rows[0], (Row{std::string("e1"), int64_t{0}}));
}

TEST(ReducerFault, LocalWasmReducerFaultReturnsErrorAndAppendsNothing) {
  Result<std::shared_ptr<Reducer>> reducer = load_commands_reducer();
  ASSERT_OK(reducer);
  LocalReplica replica(*reducer);
  ASSERT_NE(replica.document, nullptr);
  LocalDocument& document = *replica.document;

  ASSERT_OK(document.mutate(as_bytes("ibefore")));
  ASSERT_EQ(document.pending_mutations(), 1u);
  struct Fault {
    const char* mutation;
    const char* message_prefix;
  };
  constexpr Fault kFaults[] = {
      {"t", "reducer trapped: "},
      {"l", "reducer exceeded its execution budget (200000 units)"},
      {"m", "reducer exceeded its memory limit (1048576 bytes)"},
  };
  for (const Fault& fault : kFaults) {
    SCOPED_TRACE(fault.mutation);
    Status status = document.mutate(as_bytes(fault.mutation));
    EXPECT_EQ(status.code(), StatusCode::kRejected) << status.to_string();
    EXPECT_EQ(status.message().rfind(fault.message_prefix, 0), 0u) << status.to_string();
    EXPECT_EQ(document.pending_mutations(), 1u) << "a refused mutation joined the timeline";
  }
  // The reducer is usable after each fault (re-instantiated).
  ASSERT_OK(document.mutate(as_bytes("iafter")));
  EXPECT_EQ(document.pending_mutations(), 2u);
  EXPECT_EQ(rows_of_t(document), (std::vector<std::string>{"before", "after"}));
}

}  // namespace
}  // namespace sqlsync
