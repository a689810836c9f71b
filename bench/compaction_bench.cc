// Storage on disk after log compaction (DESIGN 6.7): pushes 100,000 small
// mutations (increments of 1,000 counters, so the live database stays small)
// through one durable coordinator document, then compacts, and prints the
// bytes on disk before and after next to the live database size. Target:
// after compaction, at most 2x the live database.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_util.h"
#include "sim/todo_reducer.h"
#include "sqlsync/coordinator_document.h"
#include "sync/protocol.h"

using namespace sqlsync;
using namespace sqlsync::bench;

namespace {

constexpr uint64_t kTotal = 100'000;
constexpr int kPerStep = 100;

void check(const Status& status) {
  if (status.is_ok()) return;
  std::fprintf(stderr, "%s\n", status.to_string().c_str());
  std::exit(1);
}

uint64_t bytes_on_disk(const std::filesystem::path& dir) {
  uint64_t total = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) total += entry.file_size();
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    std::printf("usage: %s\n  Pushes %llu small mutations through one durable coordinator document (files in a\n"
                "  temporary directory), compacts its log, and prints bytes on disk before and after\n"
                "  next to the live database size (target: after <= 2x live).\n",
                argv[0], static_cast<unsigned long long>(kTotal));
    return 0;
  }
  Env* env = Env::posix();
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sqlsync-compaction-bench-" + std::to_string(::getpid()));
  CoordinatorDocument::Options options{env->new_journal_id(), std::make_shared<TodoReducer>(), env};
  options.directory = dir.string();
  options.compaction_ratio = 0;     // compact by hand, after the history
  options.old_log_grace_micros = 0;  // measure without the retained old log
  auto opened = CoordinatorDocument::open(options);
  check(opened.status());
  auto coordinator = std::move(opened).value();

  const JournalId timeline = env->new_journal_id();
  coordinator->connect(0);
  check(coordinator->receive(0, encode_message(RangeRequest{timeline, LsnRange::half_open(0, 0)})).status());
  Stopwatch watch;
  for (uint64_t sent = 0; sent < kTotal;) {
    for (int i = 0; i < kPerStep; ++i, ++sent) {
      std::string mutation = todo::increment("c" + std::to_string(sent % 1000), 1);
      check(coordinator
                ->receive(0, encode_message(FrameMessage{timeline, sent, static_cast<uint64_t>(kPerStep - i - 1),
                                                         Bytes(mutation.begin(), mutation.end())}))
                .status());
    }
    check(coordinator->step().status());
    check(coordinator->poll().status());
  }
  auto pages = coordinator->query("PRAGMA page_count");
  check(pages.status());
  const uint64_t live = static_cast<uint64_t>(std::get<int64_t>(pages->rows.at(0).at(0))) * 4096;
  // The storage logs: everything but the inbox of received mutations, whose
  // applied entries leave the disk as its segments roll (FileJournal).
  const std::filesystem::path inbox = dir / "inbox";
  const uint64_t before = bytes_on_disk(dir) - bytes_on_disk(inbox);
  const uint64_t frames = coordinator->storage_range().size();

  Stopwatch compaction;
  check(coordinator->compact());
  const double compaction_seconds = compaction.seconds();
  check(coordinator->poll().status());  // deletes the old log (no grace period)
  const uint64_t after = bytes_on_disk(dir) - bytes_on_disk(inbox);

  std::printf("compaction: %llu Increment mutations over 1,000 counters in %llu frames (%.1f s), durable\n",
              static_cast<unsigned long long>(kTotal), static_cast<unsigned long long>(frames), watch.seconds());
  std::printf("  live database:             %10llu bytes\n", static_cast<unsigned long long>(live));
  std::printf("  storage logs on disk before compaction: %10llu bytes (%.1fx live)\n",
              static_cast<unsigned long long>(before), static_cast<double>(before) / live);
  std::printf("  storage logs on disk after compaction:  %10llu bytes (%.2fx live; target <= 2x) in %.3f s\n",
              static_cast<unsigned long long>(after), static_cast<double>(after) / live, compaction_seconds);
  std::printf("  (inbox of received mutations, not part of the log: %llu bytes)\n",
              static_cast<unsigned long long>(bytes_on_disk(inbox)));
  coordinator.reset();
  std::filesystem::remove_all(dir);
  return after <= 2 * live ? 0 : 1;
}
