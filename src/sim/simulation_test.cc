// Seeded simulations of a coordinator and clients on the in-memory network
// (sim_network.h), with the native todo reducer, the WASM todo reducer
// (examples/todo) and the SQL guestbook reducer (examples/guestbook). Every
// failure names its seed and how to replay it:
//   SQLSYNC_SIM_SEED=123 ./simulation_test   runs only seed 123
//   SQLSYNC_SIM_SEEDS=500 ./simulation_test  runs seeds 1..500 (default 50;
//                                            20 with the WASM reducer)
//   SQLSYNC_SIM_TRACE=1                      prints every event
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <nlohmann/json.hpp>
#include <set>

#include "reducer/sql_reducer.h"
#include "reducer/wasm_reducer.h"
#include "sim/sim_network.h"
#include "sim/test_status.h"
#include "sqlsync/env.h"

namespace sqlsync {
namespace {

constexpr uint64_t kDefaultSeeds = 50;
// wabt's interpreter makes a run with the WASM todo reducer much slower than
// with the native one (about 0.6 s per seed here, nearly all of it in the
// interpreter loop): 20 seeds keep simulation_test well under a minute.
constexpr uint64_t kDefaultWasmSeeds = 20;
// Compaction runs the native todo reducer; a few seeds cover it.
constexpr uint64_t kDefaultCompactionSeeds = 20;
// random_step() calls allowed for a workload: far more than any seed needs.
constexpr uint64_t kMaxEvents = 200'000;

std::optional<uint64_t> env_number(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  char* end = nullptr;
  uint64_t value = std::strtoull(text, &end, 10);
  if (*end != '\0') {
    ADD_FAILURE() << name << "=" << text << " is not a number";
    return std::nullopt;
  }
  return value;
}

std::vector<uint64_t> seeds_to_run(uint64_t default_seeds = kDefaultSeeds) {
  if (std::optional<uint64_t> seed = env_number("SQLSYNC_SIM_SEED")) return {*seed};
  std::vector<uint64_t> seeds;
  for (uint64_t seed = 1; seed <= env_number("SQLSYNC_SIM_SEEDS").value_or(default_seeds); ++seed) {
    seeds.push_back(seed);
  }
  return seeds;
}

std::string replay_hint(uint64_t seed) {
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  return "seed " + std::to_string(seed) + "; replay with: SQLSYNC_SIM_SEED=" + std::to_string(seed) +
         " SQLSYNC_SIM_TRACE=1 ./simulation_test --gtest_filter=" + test->test_suite_name() + "." + test->name();
}

void print_event(const SimEvent& event) { std::printf("  %s\n", event.to_string().c_str()); }

SimNetwork::Options sim_options(uint64_t seed, size_t clients) {
  SimNetwork::Options options;
  options.seed = seed;
  options.clients = clients;
  if (env_number("SQLSYNC_SIM_TRACE").value_or(0) != 0) options.on_event = print_event;
  return options;
}

// A canonical text of a replica's application state (todo_dump for the todo
// schema).
using Dump = std::function<Result<std::string>(const TodoQuery&)>;

// Every replica's application state equals the coordinator's.
void expect_replicas_identical(SimNetwork& sim, const Dump& dump = todo_dump) {
  Result<std::string> expected = dump(todo_query(sim.coordinator()));
  ASSERT_OK(expected);
  for (size_t i = 0; i < sim.client_count(); ++i) {
    Result<std::string> actual = dump(todo_query(sim.client(i)));
    ASSERT_OK(actual);
    EXPECT_EQ(*actual, *expected) << "client " << i << " differs from the coordinator";
    EXPECT_EQ(sim.client(i).pending_mutations(), 0u) << "client " << i;
  }
}

struct Totals {
  uint64_t server_rejections = 0;
  uint64_t local_rejections = 0;
  uint64_t reconnects = 0;
};

// What a random run needs besides the network: the reducers, the mutations,
// how to compare replicas and how to check that every accepted mutation took
// effect exactly once and every refused one was reported to its author.
struct SimWorkload {
  SimNetwork::ReducerFactory reducer;  // null: TodoReducer
  SimNetwork::Workload mutation;       // null: random_todo_mutation
  Dump dump = todo_dump;
  // Runs after quiescence on identical replicas; adds the rejections the
  // coordinator made to `totals.server_rejections`.
  std::function<void(SimNetwork&, Totals&)> check_applied;
};

// Each rejection reported to client `client` is for a mutation it sent, once.
std::set<Lsn> reported_rejections(SimNetwork& sim, size_t client, std::string_view expected_message) {
  std::set<Lsn> reported;
  for (const Rejection& rejection : sim.rejections(client)) {
    EXPECT_EQ(rejection.timeline, sim.client(client).timeline_id());
    EXPECT_LT(rejection.lsn, sim.sent(client).size()) << "client " << client << " never sent lsn " << rejection.lsn;
    EXPECT_TRUE(reported.insert(rejection.lsn).second)
        << "client " << client << " lsn " << rejection.lsn << " reported twice";
    EXPECT_NE(rejection.message.find(expected_message), std::string::npos) << rejection.message;
  }
  return reported;
}

// Todo: every attributed mutation the coordinator applied left one (author,
// seq) row in `applied`, so exactly-once is checked mutation by mutation.
void check_todo_applied(SimNetwork& sim, Totals& totals) {
  // (author, seq) -> how often the coordinator applied it.
  Result<QueryResult> applied_rows = sim.coordinator().query("SELECT author, seq FROM applied");
  ASSERT_OK(applied_rows);
  std::map<std::pair<std::string, int64_t>, int> applied;
  for (const Row& row : applied_rows->rows) {
    ASSERT_EQ(row.size(), 2u);
    ++applied[{std::get<std::string>(row[0]), std::get<int64_t>(row[1])}];
  }
  uint64_t sent_total = 0;
  uint64_t rejected_total = 0;
  for (size_t i = 0; i < sim.client_count(); ++i) {
    const std::vector<SimMutation>& sent = sim.sent(i);
    sent_total += sent.size();
    std::set<Lsn> expected_rejected;
    for (size_t seq = 0; seq < sent.size(); ++seq) {
      if (!sent[seq].attributed) continue;
      auto it = applied.find({sim.author(i), static_cast<int64_t>(seq)});
      if (it == applied.end()) {
        expected_rejected.insert(seq);
      } else {
        EXPECT_EQ(it->second, 1) << sent[seq].json << " was applied " << it->second << " times";
      }
    }
    std::set<Lsn> reported = reported_rejections(sim, i, "no task with id");
    EXPECT_EQ(reported, expected_rejected) << "client " << i << ": rejections reported != mutations not applied";
    rejected_total += expected_rejected.size();
  }
  for (const auto& [key, count] : applied) {
    const auto& [author, seq] = key;
    bool known = false;
    for (size_t i = 0; i < sim.client_count(); ++i) {
      known = known || (author == sim.author(i) && seq >= 0 && static_cast<size_t>(seq) < sim.sent(i).size());
    }
    EXPECT_TRUE(known) << "applied (" << author << ", " << seq << ") was never sent";
  }
  EXPECT_EQ(sim.coordinator_stats().rejected, rejected_total);
  EXPECT_EQ(sim.coordinator_stats().applied + sim.coordinator_stats().rejected, sent_total)
      << "the coordinator did not consume every mutation exactly once";
  totals.server_rejections += rejected_total;
}

void check_random_run(uint64_t seed, const SimWorkload& workload, Totals& totals, bool compaction = false) {
  SCOPED_TRACE(replay_hint(seed));
  SimNetwork::Options options = sim_options(seed, 3);
  options.mutations_per_client = 200;
  options.reducer = workload.reducer;
  options.workload = workload.mutation;
  Result<std::unique_ptr<SimNetwork>> created = SimNetwork::create(options);
  ASSERT_OK(created);
  SimNetwork& sim = **created;

  // Compactions at seeded random times: replicas switch logs at the marker
  // (or bootstrap from the snapshot) while they mutate and reconnect.
  std::mt19937_64 compaction_random(seed);
  uint64_t compactions = 0;
  for (uint64_t events = 0; !sim.workload_done(); ++events) {
    ASSERT_LT(events, kMaxEvents) << "the workload did not finish";
    ASSERT_OK(sim.random_step());
    if (compaction && compaction_random() % 150 == 0) {
      ASSERT_OK(sim.coordinator().compact());
      ++compactions;
    }
  }
  ASSERT_OK(sim.run_until_quiet());
  EXPECT_TRUE(sim.link_errors().empty()) << "first protocol error: " << sim.link_errors().front();
  if (compaction) {
    EXPECT_GT(compactions, 0u);
  }
  expect_replicas_identical(sim, workload.dump);
  workload.check_applied(sim, totals);
  for (size_t i = 0; i < sim.client_count(); ++i) {
    totals.local_rejections += sim.stats(i).local_rejections;
    totals.reconnects += sim.stats(i).connects - 1;
  }
}

// The simulation of the issue: 3 clients, 200 random mutations each, random
// connects and disconnects; after quiescence every replica is identical,
// every accepted mutation was applied exactly once and every rejected one was
// reported to its author.
void run_random_seeds(const SimWorkload& workload, const std::vector<uint64_t>& seeds, bool compaction = false) {
  Totals totals;
  size_t runs = 0;
  for (uint64_t seed : seeds) {
    ++runs;
    check_random_run(seed, workload, totals, compaction);
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("%zu seeds: %llu server rejections, %llu local rejections, %llu reconnects\n", runs,
              static_cast<unsigned long long>(totals.server_rejections),
              static_cast<unsigned long long>(totals.local_rejections),
              static_cast<unsigned long long>(totals.reconnects));
  if (seeds.size() >= 10 && !::testing::Test::HasFailure()) {
    // Otherwise the workload no longer exercises what this test is about.
    EXPECT_GT(totals.server_rejections, 0u);
    EXPECT_GT(totals.local_rejections, 0u);
    EXPECT_GT(totals.reconnects, 0u);
  }
}

SimWorkload todo_workload() {
  SimWorkload workload;
  workload.check_applied = check_todo_applied;
  return workload;
}

TEST(Simulation, RandomTodoConverges) { run_random_seeds(todo_workload(), seeds_to_run()); }

// The same with the coordinator compacting its log at random times.
TEST(Simulation, RandomTodoConvergesWithCompaction) {
  run_random_seeds(todo_workload(), seeds_to_run(kDefaultCompactionSeeds), true);
}

Bytes read_file_bytes(const char* path) {
  Result<Bytes> content = Env::posix()->read_file(path);
  EXPECT_TRUE(content.is_ok()) << content.status().to_string();
  return content.is_ok() ? *content : Bytes();
}

// The same run with examples/todo compiled to WASM on every replica (each its
// own instance): same mutations, same dump, same checks; only the reducer
// differs.
TEST(Simulation, RandomTodoConvergesWithWasmReducer) {
  const Bytes module = read_file_bytes(SQLSYNC_TODO_REDUCER_WASM);
  ASSERT_FALSE(module.empty());
  SimWorkload workload = todo_workload();
  workload.reducer = [&module](size_t) { return load_wasm_reducer(module); };
  run_random_seeds(workload, seeds_to_run(kDefaultWasmSeeds));
}

// --- Guestbook (examples/guestbook/guestbook.sql) ---

constexpr const char* kGuestbookMessages[] = {"Hi!", "Lovely place.", "Greetings from Lyon", "See you next year"};
constexpr int64_t kGuestbookEpochMillis = 1'700'000'000'000;

// Mostly valid on the client's view: add an entry (id "<author>-<seq>", so
// unique per mutation), like or delete an entry it sees, and rarely like a
// missing entry (refused locally). A like of an entry another client deleted
// concurrently is refused by the coordinator. SimNetwork stamps "author"
// (the entry's author) and "seq" (ignored by the reducer).
Result<SimMutation> random_guestbook_mutation(const SimNetwork::MutationContext& context) {
  SQLSYNC_ASSIGN_OR_RETURN(QueryResult entries, context.document.query("SELECT id FROM entries ORDER BY id"));
  SimRng& rng = context.rng;
  const uint64_t roll = sim_uniform(rng, 100);
  if (roll < 2) return SimMutation{nlohmann::json{{"tag", "LikeEntry"}, {"id", context.author + "-missing"}}.dump()};
  if (entries.rows.empty() || roll < 40) {
    return SimMutation{nlohmann::json{
        {"tag", "AddEntry"},
        {"id", context.author + "-" + std::to_string(context.seq)},
        {"message", kGuestbookMessages[sim_uniform(rng, std::size(kGuestbookMessages))]},
        {"at", kGuestbookEpochMillis + context.seq * 1000},
    }.dump()};
  }
  const std::string id = std::get<std::string>(entries.rows[sim_uniform(rng, entries.rows.size())][0]);
  if (roll < 82) return SimMutation{nlohmann::json{{"tag", "LikeEntry"}, {"id", id}}.dump()};
  return SimMutation{nlohmann::json{{"tag", "DeleteEntry"}, {"id", id}}.dump()};
}

Result<std::string> guestbook_dump(const TodoQuery& query) {
  SQLSYNC_ASSIGN_OR_RETURN(
      QueryResult tables,
      query("SELECT type, name FROM sqlite_master WHERE name NOT LIKE '\\_\\_sqlsync%' ESCAPE '\\' "
            "AND name NOT LIKE 'sqlite%' ORDER BY type, name",
            {}));
  SQLSYNC_ASSIGN_OR_RETURN(QueryResult entries,
                           query("SELECT id, author, message, created_at, likes FROM entries ORDER BY id", {}));
  std::string out = "schema:";
  for (const Row& row : tables.rows) out += " " + value_to_string(row[0]) + " " + value_to_string(row[1]);
  out += "\nentries (" + std::to_string(entries.rows.size()) + " rows):\n";
  for (const Row& row : entries.rows) {
    out += " ";
    for (const Value& value : row) out += " " + value_to_string(value);
    out += "\n";
  }
  return out;
}

// The guestbook keeps no per-mutation record, so exactly-once is checked
// through what the schema shows. Two facts make the final state predictable:
// a client likes or deletes only an entry it sees, which is either its own
// earlier AddEntry (applied before, in timeline order) or already applied by
// the coordinator; and AddEntry and DeleteEntry can never be refused by the
// coordinator (the author and message are never blank, DELETE has no
// require). So, on the coordinator:
//  - an entry exists iff its AddEntry was sent and no DeleteEntry of it was,
//    with the author, message and time that AddEntry carried (AddEntry's
//    ON CONFLICT DO NOTHING would hide a second application of it; the
//    consumption count below catches that);
//  - a surviving entry's likes equal the LikeEntry mutations sent for it: a
//    like applied twice or lost shows;
//  - only a LikeEntry of an entry some DeleteEntry removed can be refused, so
//    every reported rejection must be one. Whether a given like of a deleted
//    entry was applied (before the delete) or refused (after) leaves no trace
//    in the final state: for those, only the totals are checked (each client
//    reports each rejection once, the reports add up to the coordinator's
//    rejections, and applied + rejected == mutations sent).
void check_guestbook_applied(SimNetwork& sim, Totals& totals) {
  struct Expected {
    std::string author;
    std::string message;
    int64_t at = 0;
    int64_t likes = 0;
    bool deleted = false;
  };
  std::map<std::string, Expected> expected;  // by entry id
  uint64_t sent_total = 0;
  std::vector<std::vector<nlohmann::json>> parsed(sim.client_count());
  for (size_t i = 0; i < sim.client_count(); ++i) {
    for (const SimMutation& mutation : sim.sent(i)) {
      nlohmann::json object = nlohmann::json::parse(mutation.json);
      if (object.at("tag") == "AddEntry") {
        expected[object.at("id").get<std::string>()] =
            Expected{object.at("author").get<std::string>(), object.at("message").get<std::string>(),
                     object.at("at").get<int64_t>()};
      }
      parsed[i].push_back(std::move(object));
    }
    sent_total += parsed[i].size();
  }
  for (size_t i = 0; i < sim.client_count(); ++i) {
    for (const nlohmann::json& object : parsed[i]) {
      if (object.at("tag") == "AddEntry") continue;
      auto it = expected.find(object.at("id").get<std::string>());
      ASSERT_NE(it, expected.end()) << object.dump() << " targets an entry nobody added";
      if (object.at("tag") == "LikeEntry") ++it->second.likes;
      if (object.at("tag") == "DeleteEntry") it->second.deleted = true;
    }
  }

  Result<QueryResult> rows = sim.coordinator().query("SELECT id, author, message, created_at, likes FROM entries");
  ASSERT_OK(rows);
  std::set<std::string> present;
  for (const Row& row : rows->rows) {
    const std::string& id = std::get<std::string>(row[0]);
    present.insert(id);
    auto it = expected.find(id);
    ASSERT_NE(it, expected.end()) << "entry " << id << " was never added";
    const Expected& entry = it->second;
    EXPECT_FALSE(entry.deleted) << "entry " << id << " survived its DeleteEntry";
    EXPECT_EQ(std::get<std::string>(row[1]), entry.author) << id;
    EXPECT_EQ(std::get<std::string>(row[2]), entry.message) << id;
    EXPECT_EQ(std::get<int64_t>(row[3]), entry.at) << id;
    EXPECT_EQ(std::get<int64_t>(row[4]), entry.likes) << "entry " << id << ": likes != LikeEntry mutations sent";
  }
  for (const auto& [id, entry] : expected) {
    if (!entry.deleted) {
      EXPECT_TRUE(present.count(id)) << "entry " << id << " was added, never deleted, but is gone";
    }
  }

  uint64_t rejected_total = 0;
  for (size_t i = 0; i < sim.client_count(); ++i) {
    for (Lsn lsn : reported_rejections(sim, i, "no guestbook entry has that id")) {
      if (lsn >= parsed[i].size()) continue;  // reported_rejections failed already
      const nlohmann::json& object = parsed[i][lsn];
      EXPECT_EQ(object.at("tag"), "LikeEntry") << "refused: " << object.dump();
      auto it = expected.find(object.at("id").get<std::string>());
      EXPECT_TRUE(it != expected.end() && it->second.deleted)
          << "refused like of an entry never deleted: " << object.dump();
      ++rejected_total;
    }
  }
  EXPECT_EQ(sim.coordinator_stats().rejected, rejected_total);
  EXPECT_EQ(sim.coordinator_stats().applied + sim.coordinator_stats().rejected, sent_total)
      << "the coordinator did not consume every mutation exactly once";
  totals.server_rejections += rejected_total;
}

// The SQL guestbook reducer on every replica with its own workload and checks.
TEST(Simulation, RandomGuestbookConvergesWithSqlReducer) {
  const Bytes source = read_file_bytes(SQLSYNC_GUESTBOOK_SQL);
  // One parsed reducer serves every replica: it holds no per-document state.
  Result<std::shared_ptr<Reducer>> reducer = load_sql_reducer(as_text(source));
  ASSERT_OK(reducer);
  SimWorkload workload;
  workload.reducer = [shared = *reducer](size_t) -> Result<std::shared_ptr<Reducer>> { return shared; };
  workload.mutation = random_guestbook_mutation;
  workload.dump = guestbook_dump;
  workload.check_applied = check_guestbook_applied;
  run_random_seeds(workload, seeds_to_run());
}

// Rebase: two clients increment one counter 100 times each while messages
// interleave at random. Every increment counts exactly once, at every moment
// (a client's value is its confirmed state plus its pending increments) and
// at the end (200 everywhere).
TEST(Simulation, ConcurrentIncrementsRebase) {
  constexpr int64_t kIncrements = 100;
  bool saw_concurrent_pending = false;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    SimNetwork::Options options = sim_options(seed, 2);
    options.mutations_per_client = kIncrements;
    options.workload = [](const SimNetwork::MutationContext&) -> Result<SimMutation> {
      return SimMutation{todo::increment("shared", 1)};
    };
    options.weights.disconnect = 0;
    Result<std::unique_ptr<SimNetwork>> created = SimNetwork::create(options);
    ASSERT_OK(created);
    SimNetwork& sim = **created;

    for (uint64_t events = 0; !sim.workload_done(); ++events) {
      ASSERT_LT(events, kMaxEvents);
      ASSERT_OK(sim.random_step());
      Result<int64_t> confirmed_max = todo_counter(todo_query(sim.coordinator()), "shared");
      ASSERT_OK(confirmed_max);
      for (size_t i = 0; i < 2; ++i) {
        Result<int64_t> local = todo_counter(todo_query(sim.client(i)), "shared");
        ASSERT_OK(local);
        const auto pending = static_cast<int64_t>(sim.client(i).pending_mutations());
        // Own increments are never lost: confirmed ones are in the state the
        // client rebased onto, the others are re-applied on top.
        ASSERT_GE(*local, static_cast<int64_t>(sim.sent(i).size())) << "client " << i;
        // Nothing counts twice: the confirmed state is at most the
        // coordinator's.
        ASSERT_LE(*local, *confirmed_max + pending) << "client " << i;
      }
      if (sim.client(0).pending_mutations() > 0 && sim.client(1).pending_mutations() > 0) {
        saw_concurrent_pending = true;
      }
    }
    ASSERT_OK(sim.run_until_quiet());
    EXPECT_TRUE(sim.link_errors().empty()) << sim.link_errors().front();
    Result<int64_t> final_value = todo_counter(todo_query(sim.coordinator()), "shared");
    ASSERT_OK(final_value);
    EXPECT_EQ(*final_value, 2 * kIncrements);
    for (size_t i = 0; i < 2; ++i) {
      Result<int64_t> local = todo_counter(todo_query(sim.client(i)), "shared");
      ASSERT_OK(local);
      EXPECT_EQ(*local, 2 * kIncrements) << "client " << i;
    }
    expect_replicas_identical(sim);
  }
  EXPECT_TRUE(saw_concurrent_pending) << "the clients never had unconfirmed increments at the same time";
}

std::vector<std::string> task_lines(SimNetwork& sim, std::optional<size_t> client) {
  Result<std::vector<TodoTask>> tasks =
      todo_tasks(client ? todo_query(sim.client(*client)) : todo_query(sim.coordinator()));
  EXPECT_TRUE(tasks.is_ok()) << tasks.status().to_string();
  std::vector<std::string> lines;
  if (!tasks.is_ok()) return lines;
  for (const TodoTask& task : *tasks) lines.push_back(task.id + ": " + task.description);
  return lines;
}

// The server's result wins: A renames a task offline while B deletes it and
// syncs first. A sees its rename until it syncs, then the task is gone and
// A is told its rename was rejected.
TEST(Simulation, ServerResultReplacesOptimisticOne) {
  constexpr size_t kA = 0;
  constexpr size_t kB = 1;
  Result<std::unique_ptr<SimNetwork>> created = SimNetwork::create(sim_options(1, 2));
  ASSERT_OK(created);
  SimNetwork& sim = **created;

  Result<bool> accepted = sim.mutate(kA, SimMutation{todo::create_task("t1", "draft the agenda")});
  ASSERT_OK(accepted);
  ASSERT_TRUE(*accepted);
  ASSERT_OK(sim.run_until_quiet());
  EXPECT_EQ(task_lines(sim, kB), std::vector<std::string>{"t1: draft the agenda"});

  ASSERT_OK(sim.disconnect(kA));
  accepted = sim.mutate(kA, SimMutation{todo::rename_task("t1", "final agenda")});
  ASSERT_OK(accepted);
  ASSERT_TRUE(*accepted);
  accepted = sim.mutate(kB, SimMutation{todo::delete_task("t1")});
  ASSERT_OK(accepted);
  ASSERT_TRUE(*accepted);
  ASSERT_OK(sim.settle());  // only B is connected

  EXPECT_EQ(task_lines(sim, std::nullopt), std::vector<std::string>{});
  EXPECT_EQ(task_lines(sim, kB), std::vector<std::string>{});
  EXPECT_EQ(task_lines(sim, kA), std::vector<std::string>{"t1: final agenda"}) << "A's optimistic view";
  EXPECT_EQ(sim.client(kA).pending_mutations(), 1u);
  EXPECT_TRUE(sim.rejections(kA).empty());

  ASSERT_OK(sim.run_until_quiet());
  EXPECT_EQ(task_lines(sim, kA), std::vector<std::string>{});
  ASSERT_EQ(sim.rejections(kA).size(), 1u);
  const Rejection& rejection = sim.rejections(kA)[0];
  EXPECT_EQ(rejection.timeline, sim.client(kA).timeline_id());
  EXPECT_EQ(rejection.lsn, 1u) << "the rename is A's second mutation";
  EXPECT_NE(rejection.message.find("no task with id \"t1\""), std::string::npos) << rejection.message;
  EXPECT_TRUE(sim.rejections(kB).empty());
  EXPECT_EQ(sim.coordinator_stats().rejected, 1u);
  EXPECT_TRUE(sim.link_errors().empty());
  expect_replicas_identical(sim);
}

// A seed fixes the whole run: same events, same final state.
TEST(Simulation, SameSeedReplaysExactly) {
  auto run = [](uint64_t seed, std::string& trace, std::string& dump) {
    SimNetwork::Options options;
    options.seed = seed;
    options.mutations_per_client = 40;
    options.on_event = [&trace](const SimEvent& event) { trace += event.to_string() + "\n"; };
    Result<std::unique_ptr<SimNetwork>> created = SimNetwork::create(options);
    ASSERT_OK(created);
    SimNetwork& sim = **created;
    for (uint64_t events = 0; !sim.workload_done(); ++events) {
      ASSERT_LT(events, kMaxEvents);
      ASSERT_OK(sim.random_step());
    }
    ASSERT_OK(sim.run_until_quiet());
    Result<std::string> state = todo_dump(todo_query(sim.coordinator()));
    ASSERT_OK(state);
    dump = *state;
  };
  std::string first_trace, first_dump, second_trace, second_dump, other_trace, other_dump;
  run(7, first_trace, first_dump);
  run(7, second_trace, second_dump);
  run(8, other_trace, other_dump);
  EXPECT_FALSE(first_trace.empty());
  EXPECT_TRUE(first_trace == second_trace) << "seed 7 produced two different event traces";
  EXPECT_EQ(first_dump, second_dump);
  EXPECT_NE(first_trace, other_trace);
}

}  // namespace
}  // namespace sqlsync
