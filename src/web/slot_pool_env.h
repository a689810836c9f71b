// An Env whose files live in a pool of pre-opened raw files ("slots"). It
// exists for the browser: OPFS sync access handles read and write
// synchronously, but obtaining one is asynchronous, while Env calls are
// synchronous. So the pool's files are opened ahead of time (src/web/
// opfs_env.h and web/client/src/opfs-pool.ts) and every Env operation that
// would create, rename or delete a file becomes a synchronous edit of a
// small header at the start of a slot that names the file it holds.
// Design and crash rules: docs/browser.md, "OPFS storage".
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sqlsync/env.h"
#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

// A growable set of raw files numbered 0..slot_count()-1, each a byte array
// that reads and writes synchronously. Errors are IOError with the
// platform's message (e.g. "QuotaExceededError: ..."). Not thread-safe.
class SlotStore {
 public:
  virtual ~SlotStore() = default;

  // Slots available now. Never shrinks; grows after request_slots().
  virtual uint32_t slot_count() = 0;
  // Reads up to `length` bytes at `offset` into `out` (resized to what was
  // read: fewer bytes only at the end of the slot).
  virtual Status read(uint32_t slot, uint64_t offset, size_t length, Bytes& out) = 0;
  // Writes all of `data` at `offset`, extending the slot as needed.
  virtual Status write(uint32_t slot, uint64_t offset, ByteView data) = 0;
  virtual Result<uint64_t> size(uint32_t slot) = 0;
  virtual Status truncate(uint32_t slot, uint64_t size) = 0;
  // Makes every write to the slot so far durable.
  virtual Status flush(uint32_t slot) = 0;
  // Asks for at least `count` slots in total. Returns at once: new slots
  // show up in slot_count() later (OPFS opens files asynchronously).
  virtual void request_slots(uint32_t count) = 0;
};

// Every slot starts with a header of kSlotHeaderBytes (format in
// docs/browser.md): magic, version, a claim sequence number, the path of
// the file it holds (empty: free) and a checksum. File data follows it.
// A header that is missing, torn or fails its checksum marks a free slot.
// When two slots claim the same path (a crash inside a rename), the higher
// sequence number wins and the other slot is freed.
inline constexpr uint64_t kSlotHeaderBytes = 4096;

// Paths are '/'-separated; repeated and trailing slashes are ignored.
// Directories are implicit in file paths (a directory exists while a file
// lies under it) or made by create_dir(); the latter are not persisted, as
// they hold no data: an empty directory does not survive a reopen.
//
// Durability: file data is durable after File::sync(). Creations, removals
// and renames are header writes, durable after sync_dir() of any directory
// (it flushes every changed header) or a sync() of the file itself; a
// rename flushes its new header at once so a crash never loses both names.
//
// Single-threaded. Files must be closed before the env is destroyed.
class SlotPoolEnv final : public Env {
 public:
  struct Options {
    // When fewer slots than this are free, the env asks the store for more.
    uint32_t min_free_slots = 4;
    // How many slots it asks for at a time.
    uint32_t growth = 8;
  };

  // Reads every slot's header. `store` and `base` (clock and randomness)
  // must outlive the env. IOError if a header cannot be read.
  static Result<std::unique_ptr<SlotPoolEnv>> open(SlotStore* store, Env* base, Options options);
  ~SlotPoolEnv() override;

  Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) override;
  Status remove_file(const std::string& path) override;
  Status rename_file(const std::string& from, const std::string& to) override;
  Result<bool> file_exists(const std::string& path) override;
  Status create_dir(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& path) override;
  Status sync_dir(const std::string& path) override;
  // Forgets a directory made by create_dir(); IOError while files lie under it.
  Status remove_dir(const std::string& path) override;
  uint64_t now_micros() override;
  void random_bytes(std::span<uint8_t> out) override;

  // Slots that hold no file and no open handle (reusable now).
  uint32_t free_slots() const;

 private:
  class PoolFile;
  struct Slot {
    std::string path;           // the file it holds; empty: free
    uint64_t sequence = 0;      // of the header's last write
    uint32_t open_files = 0;    // PoolFiles using it (a removed file stays readable while open)
    bool header_dirty = false;  // header written since the slot's last flush
  };

  SlotPoolEnv(SlotStore* store, Env* base, Options options);
  // Reads the headers of slots the store added since the last call.
  Status scan_new_slots();
  Status resolve_duplicate_claims();
  Status write_header(uint32_t slot, const std::string& path);
  Status flush_slot(uint32_t slot);
  Result<uint32_t> claim_slot(const std::string& path);
  void request_more_if_low();
  bool is_dir(const std::string& key) const;
  void release(uint32_t slot);

  SlotStore* const store_;
  Env* const base_;
  const Options options_;
  std::vector<Slot> slots_;
  std::map<std::string, uint32_t> files_;  // path -> slot
  std::set<std::string> dirs_;             // made by create_dir() since open
  uint64_t next_sequence_ = 1;
};

}  // namespace sqlsync
