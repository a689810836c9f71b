// The browser's storage: a SlotStore (src/web/slot_pool_env.h) whose slots
// are OPFS files opened ahead of time as sync access handles by JavaScript
// (web/client/src/opfs-pool.ts), reached synchronously through the object
// Module.sqlsyncSlotStores.get(id). A SlotPoolEnv over it is the Env of a
// durable document in a dedicated worker. Emscripten builds only.
#pragma once

#include <cstdint>

#include "web/slot_pool_env.h"

namespace sqlsync {

// Errors are IOError carrying what the browser threw, e.g.
// "QuotaExceededError: ..." or "InvalidStateError: ..." (a closed handle).
class JsSlotStore final : public SlotStore {
 public:
  // `id` names a registered store; exists() tells whether it is there.
  explicit JsSlotStore(int32_t id) : id_(id) {}
  bool exists() const;

  uint32_t slot_count() override;
  Status read(uint32_t slot, uint64_t offset, size_t length, Bytes& out) override;
  Status write(uint32_t slot, uint64_t offset, ByteView data) override;
  Result<uint64_t> size(uint32_t slot) override;
  Status truncate(uint32_t slot, uint64_t size) override;
  Status flush(uint32_t slot) override;
  void request_slots(uint32_t count) override;

 private:
  const int32_t id_;
};

}  // namespace sqlsync
