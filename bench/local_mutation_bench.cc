// Local mutation cost: 10k single-row inserts, each its own mutation through
// LocalDocument with a native reducer, against the same SQL in its own
// transaction on plain SQLite (in memory) in the same process.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "bench_util.h"
#include "sqlsync/local_document.h"
#include "storage/database.h"

using namespace sqlsync;
using namespace sqlsync::bench;

namespace {

constexpr int kInserts = 10'000;

// `name` is ":memory:" or a file; the file gets sqlsync's own settings
// (journal_mode=memory, synchronous=off), so both sides promise the same
// durability: none, until sqlsync's journal or the OS page cache is synced.
double plain_sqlite(const std::string& name) {
  std::remove(name.c_str());
  auto db = Database::open(name, nullptr, Database::Access::kReadWrite).value();
  if (!db->exec("PRAGMA page_size=4096; PRAGMA journal_mode=MEMORY; PRAGMA synchronous=OFF;").is_ok()) std::abort();
  if (!db->exec(kCreateItems).is_ok()) std::abort();
  Stopwatch watch;
  for (int i = 0; i < kInserts; ++i) {
    Value params[] = {int64_t{i}, std::string("task number ") + std::to_string(i)};
    if (!db->execute("BEGIN").is_ok() || !db->execute(kInsertItem, params).is_ok() ||
        !db->execute("COMMIT").is_ok()) {
      std::abort();
    }
  }
  double seconds = watch.seconds();
  db.reset();
  std::remove(name.c_str());
  return seconds;
}

double sqlsync_local() {
  LocalDocument::Options options;
  options.env = Env::posix();
  options.document_id = options.env->new_journal_id();
  options.reducer = std::make_shared<InsertReducer>();
  auto opened = LocalDocument::open(options);
  if (!opened.is_ok()) {
    std::fprintf(stderr, "%s\n", opened.status().to_string().c_str());
    std::abort();
  }
  auto doc = std::move(opened).value();
  if (!doc->mutate({}).is_ok()) std::abort();  // creates the table
  Stopwatch watch;
  for (int i = 0; i < kInserts; ++i) {
    Status status = doc->mutate(insert_mutation(i, std::string("task number ") + std::to_string(i)));
    if (!status.is_ok()) {
      std::fprintf(stderr, "%s\n", status.to_string().c_str());
      std::abort();
    }
  }
  return watch.seconds();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    std::printf("usage: %s\n  Times %d single-row insert mutations on a LocalDocument (native reducer)\n"
                "  against the same inserts on plain in-memory SQLite; prints both and the ratio.\n",
                argv[0], kInserts);
    return 0;
  }
  std::printf("local mutation: %d single-row inserts, one transaction each, best of 5\n", kInserts);
  const std::string file = "/tmp/sqlsync-bench-" + std::to_string(getpid()) + ".db";
  double in_memory = best_of(5, [] { return plain_sqlite(":memory:"); });
  double on_file = best_of(5, [&] { return plain_sqlite(file); });
  double ours = best_of(5, sqlsync_local);
  std::printf("  plain SQLite, file (same pragmas)  %6.2f us/insert\n", on_file / kInserts * 1e6);
  std::printf("  plain SQLite, :memory:             %6.2f us/insert\n", in_memory / kInserts * 1e6);
  std::printf("  sqlsync LocalDocument::mutate      %6.2f us/mutation\n", ours / kInserts * 1e6);
  std::printf("  ratio sqlsync/file     %.2fx (target <= 1.5x)\n", ours / on_file);
  std::printf("  ratio sqlsync/:memory: %.2fx\n", ours / in_memory);
  return 0;
}
