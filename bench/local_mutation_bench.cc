// Local mutation cost: 10k single-row inserts, each its own mutation through
// LocalDocument with a native reducer, against the same SQL in its own
// transaction on plain SQLite (in memory) in the same process.
#include <cstdio>
#include <memory>

#include "bench_util.h"
#include "sqlsync/local_document.h"
#include "storage/database.h"

using namespace sqlsync;
using namespace sqlsync::bench;

namespace {

constexpr int kInserts = 10'000;

double plain_sqlite() {
  auto db = Database::open(":memory:", nullptr, Database::Access::kReadWrite).value();
  if (!db->exec("PRAGMA page_size=4096; PRAGMA journal_mode=MEMORY;").is_ok()) std::abort();
  if (!db->exec(kCreateItems).is_ok()) std::abort();
  Stopwatch watch;
  for (int i = 0; i < kInserts; ++i) {
    Value params[] = {int64_t{i}, std::string("task number ") + std::to_string(i)};
    if (!db->exec("BEGIN").is_ok() || !db->execute(kInsertItem, params).is_ok() || !db->exec("COMMIT").is_ok()) {
      std::abort();
    }
  }
  return watch.seconds();
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
  double baseline = best_of(5, plain_sqlite);
  double ours = best_of(5, sqlsync_local);
  std::printf("  plain SQLite      %8.2f us/insert\n", baseline / kInserts * 1e6);
  std::printf("  sqlsync mutate    %8.2f us/mutation\n", ours / kInserts * 1e6);
  std::printf("  ratio sqlsync/plain %.2fx (target <= 1.5x)\n", ours / baseline);
  return 0;
}
