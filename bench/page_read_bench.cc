// Page read cost at 10 vs 10,000 frames in the storage log: the page index
// must make a read cost the same whatever the log length.
#include <cstdio>
#include <random>

#include "bench_util.h"
#include "storage/storage.h"

using namespace sqlsync;
using namespace sqlsync::bench;

namespace {

constexpr uint32_t kDatabasePages = 1000;
constexpr int kReads = 2'000'000;

std::unique_ptr<Storage> storage_with_frames(int frames) {
  auto storage = Storage::open(std::make_unique<MemoryJournal>(JournalId())).value();
  std::mt19937_64 random(frames);
  Bytes page(kPageSize);
  for (int frame = 0; frame < frames; ++frame) {
    // The first frame writes the whole database; later ones 8 random pages.
    uint32_t count = frame == 0 ? kDatabasePages : 8;
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t page_no = frame == 0 ? i + 1 : 2 + random() % (kDatabasePages - 1);
      page[100] = static_cast<uint8_t>(frame);
      if (!storage->write(uint64_t{page_no - 1} * kPageSize, page).is_ok()) std::abort();
    }
    if (!storage->commit().is_ok()) std::abort();
  }
  return storage;
}

double time_reads(Storage& storage) {
  std::mt19937_64 random(7);
  Bytes out(kPageSize);
  uint64_t sink = 0;
  Stopwatch watch;
  for (int i = 0; i < kReads; ++i) {
    uint32_t page_no = 1 + random() % kDatabasePages;
    storage.read(uint64_t{page_no - 1} * kPageSize, out);
    sink += out[100];
  }
  double seconds = watch.seconds();
  if (sink == 1) std::printf(" ");  // keeps the reads from being optimized away
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    std::printf("usage: %s\n  Times random 4 KiB page reads from a storage whose log holds 10 frames and\n"
                "  one holding 10,000 frames; prints both and the ratio.\n",
                argv[0]);
    return 0;
  }
  auto short_log = storage_with_frames(10);
  auto long_log = storage_with_frames(10'000);
  std::printf("page read: %d random reads of a %u-page database, best of 5\n", kReads, kDatabasePages);
  double short_time = best_of(5, [&] { return time_reads(*short_log); });
  double long_time = best_of(5, [&] { return time_reads(*long_log); });
  std::printf("  10 frames         %8.1f ns/read\n", short_time / kReads * 1e9);
  std::printf("  10,000 frames     %8.1f ns/read\n", long_time / kReads * 1e9);
  std::printf("  ratio 10k/10 %.2fx (target <= 1.2x)\n", long_time / short_time);
  return 0;
}
