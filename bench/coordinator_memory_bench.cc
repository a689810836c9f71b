// Coordinator memory over history (DESIGN 6.4): pushes 1,000,000 small
// mutations from 10 timelines through one durable coordinator document and
// prints resident memory after 100k and after 1M. Each mutation increments one
// of 1,000 counters, so the live database stays the same size and any growth
// is memory the coordinator keeps per mutation of history (timelines, queue,
// journal indexes). The live database itself is held in memory by design
// (the page index), which is why the benchmark keeps it fixed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "sim/todo_reducer.h"
#include "sqlsync/coordinator_document.h"
#include "sync/protocol.h"

using namespace sqlsync;
using namespace sqlsync::bench;

namespace {

constexpr int kTimelines = 10;
constexpr uint64_t kTotal = 1'000'000;
constexpr uint64_t kCheckpoint = 100'000;
constexpr int kPerRound = 100;  // frames per timeline between steps

// Resident set size in bytes, from /proc/self/statm.
uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

void check(const Status& status) {
  if (status.is_ok()) return;
  std::fprintf(stderr, "%s\n", status.to_string().c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    std::printf("usage: %s\n  Pushes %llu small mutations from %d timelines through one durable coordinator\n"
                "  document (files in a temporary directory) and prints resident memory after %llu and\n"
                "  after %llu mutations (target: within 10%%).\n",
                argv[0], static_cast<unsigned long long>(kTotal), kTimelines,
                static_cast<unsigned long long>(kCheckpoint), static_cast<unsigned long long>(kTotal));
    return 0;
  }
  Env* env = Env::posix();
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sqlsync-memory-bench-" + std::to_string(::getpid()));
  CoordinatorDocument::Options options{env->new_journal_id(), std::make_shared<TodoReducer>(), env};
  options.directory = dir.string();
  auto opened = CoordinatorDocument::open(options);
  check(opened.status());
  auto coordinator = std::move(opened).value();

  std::vector<JournalId> timelines;
  for (int t = 0; t < kTimelines; ++t) {
    timelines.push_back(env->new_journal_id());
    coordinator->connect(t);
    check(coordinator->receive(t, encode_message(RangeRequest{timelines[t], LsnRange::half_open(0, 0)})).status());
  }

  std::printf("coordinator memory: %llu Increment mutations over 1,000 counters from %d timelines, durable\n",
              static_cast<unsigned long long>(kTotal), kTimelines);
  Stopwatch watch;
  uint64_t sent = 0;
  uint64_t at_checkpoint = 0;
  std::vector<Lsn> next(kTimelines, 0);
  while (sent < kTotal) {
    for (int t = 0; t < kTimelines; ++t) {
      for (int i = 0; i < kPerRound; ++i, ++sent) {
        std::string mutation = todo::increment("c" + std::to_string(sent % 1000), 1);
        Bytes frame = encode_message(FrameMessage{timelines[t], next[t]++, static_cast<uint64_t>(kPerRound - i - 1),
                                                  Bytes(mutation.begin(), mutation.end())});
        check(coordinator->receive(t, frame).status());
      }
    }
    check(coordinator->step().status());
    check(coordinator->poll().status());
    if (sent == kCheckpoint) {
      at_checkpoint = resident_bytes();
      std::printf("  after %7llu mutations: resident %6.1f MiB (%.1f s)\n", static_cast<unsigned long long>(sent),
                  at_checkpoint / 1048576.0, watch.seconds());
    }
  }
  const uint64_t at_end = resident_bytes();
  std::printf("  after %7llu mutations: resident %6.1f MiB (%.1f s; storage log %llu frames)\n",
              static_cast<unsigned long long>(sent), at_end / 1048576.0, watch.seconds(),
              static_cast<unsigned long long>(coordinator->storage_range().size()));
  std::printf("  growth from 100k to 1M: %+.1f%% (target within 10%%)\n",
              100.0 * (static_cast<double>(at_end) - static_cast<double>(at_checkpoint)) / at_checkpoint);
  coordinator.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
