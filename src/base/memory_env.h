// An Env held entirely in memory, for tests and simulations: files, explicit
// directories, a clock that only moves when told, seeded randomness, and a
// model of durability that simulate_crash() enforces.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sqlsync/env.h"

namespace sqlsync {

// What simulate_crash() does with bytes written to a file after its last
// sync().
enum class CrashMode {
  // They are lost: the file reverts to its synced content.
  kDropUnsynced,
  // Writes past the synced size survive with one byte of every 16 flipped
  // (a torn, half-written tail); un-synced writes inside the synced size are
  // lost.
  kCorruptUnsyncedTail,
};

// Paths are '/'-separated names, absolute ("/data/log") or relative
// ("data/log"); repeated and trailing slashes are ignored, "." and ".." are
// ordinary names. The roots "/" and "" (the relative root) always exist.
// Directories are explicit, as on a real file system: a file can only be
// created in an existing directory (else NotFound), and create_dir() makes
// them.
//
// Durability, as the Env contract promises and no more:
// - A file's content survives a crash only up to its last File::sync().
// - A directory entry (a file or directory created, renamed or removed)
//   survives only once sync_dir() ran on its parent after the change. A
//   rename is two such changes: the new name becomes durable with a sync of
//   its parent, the removal of the old name with a sync of the old parent.
//   An entry whose parent directory is lost in a crash is lost too.
//
// Thread-safe: one mutex guards all state. Files may outlive the env.
class MemoryEnv final : public Env {
 public:
  // The clock starts at 0; random_bytes() is a pure function of `seed` and
  // the calls made so far.
  explicit MemoryEnv(uint64_t seed);
  ~MemoryEnv() override;

  MemoryEnv(const MemoryEnv&) = delete;
  MemoryEnv& operator=(const MemoryEnv&) = delete;

  Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) override;
  Status remove_file(const std::string& path) override;
  Status rename_file(const std::string& from, const std::string& to) override;
  Result<bool> file_exists(const std::string& path) override;
  Status create_dir(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& path) override;
  Status sync_dir(const std::string& path) override;
  Status remove_dir(const std::string& path) override;

  uint64_t now_micros() override;
  void random_bytes(std::span<uint8_t> out) override;

  // Moves the clock forward by `micros`.
  void advance_micros(uint64_t micros);
  // Sets the clock. Setting it backward breaks the Env contract (monotonic
  // time) on purpose: only for tests of code that must survive that.
  void set_now_micros(uint64_t micros);
  uint64_t seed() const { return seed_; }

  // Power loss: the namespace reverts to what sync_dir() made durable and
  // every file to its synced content (see CrashMode). Files opened before
  // the crash belong to the dead process: every later call on them fails
  // with IOError. `corruption_seed` chooses the flipped bytes of
  // kCorruptUnsyncedTail, so a crash is reproducible.
  void simulate_crash(CrashMode mode = CrashMode::kDropUnsynced, uint64_t corruption_seed = 0);

 private:
  struct State;
  class OpenFile;
  const uint64_t seed_;
  std::shared_ptr<State> state_;
};

}  // namespace sqlsync
