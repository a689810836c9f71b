// Reducer cost: 10k single-row inserts, each its own mutation, through a
// native reducer, a WASM reducer on each backend (wabt's interpreter and
// wasm2c AOT; one mutation per call, then 100 per call) and a SQL reducer,
// against the same INSERTs on plain SQLite in the same run.
//
// Every variant runs the way the runtime runs a batch, directly on one
// in-memory Database: one transaction per 100 mutations, a SAVEPOINT around
// each mutation. The baseline does exactly that with the INSERT in place of
// the reducer, so a ratio is the reducer's own cost. A second part feeds the
// native and the batched WASM reducers through a real CoordinatorDocument.
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "reducer/sql_reducer.h"
#include "reducer/wasm_aot.h"
#include "reducer/wasm_reducer.h"
#include "sqlsync/coordinator_document.h"
#include "sqlsync/env.h"
#include "storage/database.h"
#include "sync/protocol.h"

using namespace sqlsync;
using namespace sqlsync::bench;

namespace {

constexpr int kMutations = 10'000;
constexpr int kPerTransaction = 100;
constexpr int kRuns = 5;

constexpr const char* kSqlReducer =
    "-- mutation Insert\n"
    "INSERT INTO items(id, body) VALUES (:id, :body);\n";

void check(const Status& status, const char* what) {
  if (status.is_ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, status.to_string().c_str());
  std::abort();
}

template <typename T>
T check(Result<T> result, const char* what) {
  check(result.status(), what);
  return std::move(result).value();
}

std::string body(int i) { return "task number " + std::to_string(i); }

std::unique_ptr<Database> open_items_database() {
  auto db = check(Database::open(":memory:", nullptr, Database::Access::kReadWrite), "opening :memory:");
  check(db->exec("PRAGMA page_size=4096; PRAGMA journal_mode=MEMORY;"), "pragmas");
  check(db->exec(kCreateItems), "creating items");
  return db;
}

void expect_all_rows(Database& db) {
  QueryResult count = check(db.query("SELECT count(*) FROM items"), "counting items");
  if (count.rows.size() != 1 || count.rows[0][0] != Value(int64_t{kMutations})) {
    std::fprintf(stderr, "items does not hold %d rows after the run\n", kMutations);
    std::abort();
  }
}

// The baseline: the reducer's INSERT itself, under the same transactions and
// savepoints.
double plain_sqlite(const std::vector<std::string>& bodies) {
  auto db = open_items_database();
  Stopwatch watch;
  for (int first = 0; first < kMutations; first += kPerTransaction) {
    check(db->execute("BEGIN"), "BEGIN");
    for (int i = first; i < first + kPerTransaction; ++i) {
      Value params[] = {int64_t{i}, bodies[i]};
      check(db->execute("SAVEPOINT bench_mutation"), "SAVEPOINT");
      check(db->execute(kInsertItem, params), "INSERT");
      check(db->execute("RELEASE bench_mutation"), "RELEASE");
    }
    check(db->execute("COMMIT"), "COMMIT");
  }
  double seconds = watch.seconds();
  expect_all_rows(*db);
  return seconds;
}

// Runs `mutations` through `reducer`, `per_call` mutations per reduce_batch
// call (which must divide kPerTransaction).
double through_reducer(Reducer& reducer, const std::vector<Bytes>& mutations, int per_call) {
  auto db = open_items_database();
  SavepointScope scope(*db);
  std::vector<ByteView> views(mutations.begin(), mutations.end());
  std::vector<Status> verdicts(per_call);
  Stopwatch watch;
  for (int first = 0; first < kMutations; first += kPerTransaction) {
    check(db->execute("BEGIN"), "BEGIN");
    for (int call = first; call < first + kPerTransaction; call += per_call) {
      check(reducer.reduce_batch(*db, scope, std::span<const ByteView>(views).subspan(call, per_call), verdicts),
            "reduce_batch");
      for (const Status& verdict : verdicts) check(verdict, "mutation verdict");
    }
    check(db->execute("COMMIT"), "COMMIT");
  }
  double seconds = watch.seconds();
  expect_all_rows(*db);
  return seconds;
}

// The binary mutations through a CoordinatorDocument: one timeline whose
// frames arrive 100 at a time, a step (one transaction, one frame) after
// each arrival of 100.
double through_coordinator(const std::shared_ptr<Reducer>& reducer, const std::vector<Bytes>& mutations) {
  Env* env = Env::posix();
  auto coordinator = check(CoordinatorDocument::open({env->new_journal_id(), reducer, env}), "opening coordinator");
  check(coordinator->mutate_direct([](Transaction& tx) { return tx.execute(kCreateItems); }), "creating items");
  const JournalId timeline = env->new_journal_id();
  std::vector<Bytes> frames;
  for (int i = 0; i < kMutations; ++i) {
    frames.push_back(encode_message(
        FrameMessage{timeline, static_cast<Lsn>(i), static_cast<uint64_t>(kMutations - i - 1), mutations[i]}));
  }
  coordinator->connect(0);
  check(coordinator->receive(0, encode_message(RangeRequest{timeline, LsnRange::half_open(0, kMutations)})),
        "range request");

  Stopwatch watch;
  for (int first = 0; first < kMutations; first += kPerTransaction) {
    for (int i = first; i < first + kPerTransaction; ++i) check(coordinator->receive(0, frames[i]), "frame");
    auto report = check(coordinator->step(), "step");
    if (report.applied != kPerTransaction) {
      std::fprintf(stderr, "step applied %llu mutations, expected %d\n",
                   static_cast<unsigned long long>(report.applied), kPerTransaction);
      std::abort();
    }
  }
  double seconds = watch.seconds();
  QueryResult count = check(coordinator->query("SELECT count(*) FROM items"), "counting items");
  if (count.rows.size() != 1 || count.rows[0][0] != Value(int64_t{kMutations})) std::abort();
  return seconds;
}

Bytes read_module(const char* path) {
  Result<Bytes> module = Env::posix()->read_file(path);
  if (!module.is_ok()) {
    std::fprintf(stderr, "cannot read the WASM reducer (build the insert_reducer_wasm target): %s\n",
                 module.status().to_string().c_str());
    std::abort();
  }
  return std::move(module).value();
}

double us_per_mutation(double seconds) { return seconds / kMutations * 1e6; }

void print_variant(const char* name, double seconds, double baseline, const char* target) {
  std::printf("  %-34s %7.2f us/mutation  %6.2fx%s\n", name, us_per_mutation(seconds), seconds / baseline, target);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    std::printf(
        "usage: %s\n  Times %d single-row insert mutations through a native, a WASM (in wabt's\n"
        "  interpreter and compiled by wasm2c; 1 and %d mutations per call) and a SQL\n"
        "  reducer, on in-memory SQLite, one transaction per %d mutations and a savepoint\n"
        "  each; prints us/mutation and the ratio to the same INSERTs on plain SQLite.\n"
        "  Then runs the native and the batched WASM reducers through a\n"
        "  CoordinatorDocument and prints mutations/s. The AOT backend caches its\n"
        "  compiled reducer in ~/.cache/sqlsync/aot (XDG_CACHE_HOME).\n",
        argv[0], kMutations, kPerTransaction, kPerTransaction);
    return 0;
  }

  std::vector<std::string> bodies;
  std::vector<Bytes> binary;
  std::vector<Bytes> json;
  for (int i = 0; i < kMutations; ++i) {
    bodies.push_back(body(i));
    binary.push_back(insert_mutation(i, bodies.back()));
    std::string text = "{\"tag\":\"Insert\",\"id\":" + std::to_string(i) + ",\"body\":\"" + bodies.back() + "\"}";
    json.emplace_back(text.begin(), text.end());
  }
  auto native = std::make_shared<InsertReducer>();
  const Bytes module = read_module(SQLSYNC_INSERT_REDUCER_WASM);
  WasmLimits interpreter_limits;
  interpreter_limits.backend = WasmBackend::kInterpreter;
  std::shared_ptr<Reducer> interpreted = check(load_wasm_reducer(module, interpreter_limits), "loading wasm");
  WasmLimits aot_limits;
  aot_limits.backend = WasmBackend::kAot;
  const wasm::AotCounters counters = wasm::aot_counters();
  Stopwatch aot_load;
  std::shared_ptr<Reducer> compiled = check(load_wasm_reducer(module, aot_limits), "loading wasm (AOT)");
  const double aot_load_seconds = aot_load.seconds();
  std::shared_ptr<Reducer> sql = check(load_sql_reducer(kSqlReducer), "loading the SQL reducer");

  std::printf("reducers: %d single-row insert mutations, a transaction per %d, a savepoint each, best of %d\n",
              kMutations, kPerTransaction, kRuns);
  double baseline = best_of(kRuns, [&] { return plain_sqlite(bodies); });
  double native_time = best_of(kRuns, [&] { return through_reducer(*native, binary, 1); });
  double interpreted_single = best_of(kRuns, [&] { return through_reducer(*interpreted, binary, 1); });
  double interpreted_batched = best_of(kRuns, [&] { return through_reducer(*interpreted, binary, kPerTransaction); });
  double compiled_single = best_of(kRuns, [&] { return through_reducer(*compiled, binary, 1); });
  double compiled_batched = best_of(kRuns, [&] { return through_reducer(*compiled, binary, kPerTransaction); });
  double sql_time = best_of(kRuns, [&] { return through_reducer(*sql, json, 1); });
  std::printf("  %-34s %7.2f us/mutation  (baseline)\n", "plain SQLite, same SQL + savepoints",
              us_per_mutation(baseline));
  print_variant("native InsertReducer", native_time, baseline, "");
  print_variant("WASM interpreter, 1 per call", interpreted_single, baseline, "");
  print_variant("WASM interpreter, 100 per call", interpreted_batched, baseline, "");
  print_variant("WASM AOT, 1 per call", compiled_single, baseline, "");
  print_variant("WASM AOT, 100 per call", compiled_batched, baseline, "  (target <= 3x)");
  print_variant("SQL reducer (JSON mutations)", sql_time, baseline, "  (target <= 1.5x)");
  std::printf("  AOT load: %.2f s (%s)\n", aot_load_seconds,
              wasm::aot_counters().compiled > counters.compiled ? "compiled with wasm2c and cc" : "from the cache");

  std::printf("coordinator: the same mutations as frames of one timeline, a step per %d, best of %d\n", kPerTransaction,
              kRuns);
  double coordinator_native = best_of(kRuns, [&] { return through_coordinator(native, binary); });
  double coordinator_interpreted = best_of(kRuns, [&] { return through_coordinator(interpreted, binary); });
  double coordinator_compiled = best_of(kRuns, [&] { return through_coordinator(compiled, binary); });
  std::printf("  %-34s %9.0f mutations/s  %6.2fx baseline\n", "native InsertReducer", kMutations / coordinator_native,
              coordinator_native / baseline);
  std::printf("  %-34s %9.0f mutations/s  %6.2fx baseline\n", "WASM interpreter (step in one call)",
              kMutations / coordinator_interpreted, coordinator_interpreted / baseline);
  std::printf("  %-34s %9.0f mutations/s  %6.2fx baseline\n", "WASM AOT (step in one call)",
              kMutations / coordinator_compiled, coordinator_compiled / baseline);
  return 0;
}
