// Coordinator apply throughput: small inserts from 10 timelines arrive as
// encoded protocol frames; the coordinator applies each round of arrivals in
// one step (one transaction, one frame) and then polls (acknowledgements and
// frames; a durable coordinator syncs its journals there: group commit).
// Runs the coordinator in memory and durable (files in a temporary
// directory) and prints the ratio.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>
#include <vector>

#include "bench_util.h"
#include "sqlsync/coordinator_document.h"
#include "storage/database.h"
#include "sync/protocol.h"

using namespace sqlsync;
using namespace sqlsync::bench;

namespace {

constexpr int kTimelines = 10;
constexpr int kPerTimeline = 10'000;
constexpr int kPerRound = 100;  // frames per timeline between steps

struct Figures {
  double seconds = 0;
  uint64_t frames = 0;
};

// `directory` empty: in memory.
Figures run_coordinator(const std::string& directory) {
  Env* env = Env::posix();
  auto reducer = std::make_shared<InsertReducer>();
  CoordinatorDocument::Options options{env->new_journal_id(), reducer, env};
  options.directory = directory;
  auto opened = CoordinatorDocument::open(options);
  if (!opened.is_ok()) {
    std::fprintf(stderr, "%s\n", opened.status().to_string().c_str());
    std::abort();
  }
  auto coordinator = std::move(opened).value();
  if (!coordinator->mutate_direct([](Transaction& tx) { return tx.execute(kCreateItems); }).is_ok()) std::abort();

  // Every mutation pre-encoded, so the timing covers decode, acknowledgement,
  // apply and commit only.
  std::vector<JournalId> timelines;
  std::vector<std::vector<Bytes>> frames(kTimelines);
  for (int t = 0; t < kTimelines; ++t) {
    timelines.push_back(env->new_journal_id());
    for (int i = 0; i < kPerTimeline; ++i) {
      int64_t id = int64_t{t} * kPerTimeline + i;
      frames[t].push_back(encode_message(FrameMessage{timelines[t], static_cast<Lsn>(i),
                                                      static_cast<uint64_t>(kPerTimeline - i - 1),
                                                      insert_mutation(id, "task number " + std::to_string(id))}));
    }
  }
  for (int t = 0; t < kTimelines; ++t) {
    coordinator->connect(t);
    Bytes hello = encode_message(RangeRequest{timelines[t], LsnRange::half_open(0, kPerTimeline)});
    if (!coordinator->receive(t, hello).is_ok()) std::abort();
  }

  Stopwatch watch;
  for (int round = 0; round < kPerTimeline / kPerRound; ++round) {
    for (int t = 0; t < kTimelines; ++t) {
      for (int i = round * kPerRound; i < (round + 1) * kPerRound; ++i) {
        auto replies = coordinator->receive(t, frames[t][i]);
        if (!replies.is_ok()) {
          std::fprintf(stderr, "%s\n", replies.status().to_string().c_str());
          std::abort();
        }
      }
    }
    auto report = coordinator->step();
    if (!report.is_ok() || report->applied != kTimelines * kPerRound) std::abort();
    if (!coordinator->poll().is_ok()) std::abort();
  }
  Figures figures{watch.seconds(), coordinator->storage_range().size()};
  return figures;
}

// The same inserts on plain in-memory SQLite, one transaction per round.
double plain_sqlite() {
  auto db = Database::open(":memory:", nullptr, Database::Access::kReadWrite).value();
  if (!db->exec("PRAGMA page_size=4096; PRAGMA journal_mode=MEMORY;").is_ok()) std::abort();
  if (!db->exec(kCreateItems).is_ok()) std::abort();
  Stopwatch watch;
  for (int round = 0; round < kPerTimeline / kPerRound; ++round) {
    if (!db->exec("BEGIN").is_ok()) std::abort();
    for (int t = 0; t < kTimelines; ++t) {
      for (int i = round * kPerRound; i < (round + 1) * kPerRound; ++i) {
        int64_t id = int64_t{t} * kPerTimeline + i;
        Value params[] = {id, "task number " + std::to_string(id)};
        if (!db->execute(kInsertItem, params).is_ok()) std::abort();
      }
    }
    if (!db->exec("COMMIT").is_ok()) std::abort();
  }
  return watch.seconds();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    std::printf("usage: %s\n  Feeds %d timelines x %d small insert mutations to a CoordinatorDocument as\n"
                "  encoded frames, stepping after every %d frames per timeline; prints mutations/s\n"
                "  and the same inserts on plain SQLite for scale.\n",
                argv[0], kTimelines, kPerTimeline, kPerRound);
    return 0;
  }
  const double total = double{kTimelines} * kPerTimeline;
  std::printf("coordinator apply: %d timelines x %d inserts, a step + poll per %d arrivals, best of 3\n",
              kTimelines, kPerTimeline, kTimelines * kPerRound);
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("sqlsync-coordinator-bench-" + std::to_string(::getpid()));
  Figures memory{1e100, 0};
  Figures durable{1e100, 0};
  for (int i = 0; i < 3; ++i) {
    Figures in_memory = run_coordinator("");
    if (in_memory.seconds < memory.seconds) memory = in_memory;
    Figures on_disk = run_coordinator((root / std::to_string(i)).string());
    if (on_disk.seconds < durable.seconds) durable = on_disk;
  }
  std::filesystem::remove_all(root);
  double baseline = best_of(3, plain_sqlite);
  std::printf("  coordinator in memory %10.0f mutations/s (%llu frames in the log; target >= 100,000/s)\n",
              total / memory.seconds, static_cast<unsigned long long>(memory.frames));
  std::printf("  coordinator durable   %10.0f mutations/s (fsync per round in %s)\n", total / durable.seconds,
              root.parent_path().c_str());
  std::printf("  plain SQLite          %10.0f inserts/s (same batches, in memory)\n", total / baseline);
  std::printf("  durable/in-memory throughput %.0f%% (target >= 50%%)\n", 100 * memory.seconds / durable.seconds);
  std::printf("  ratio coordinator (memory) time/plain %.2fx\n", memory.seconds / baseline);
  return 0;
}
