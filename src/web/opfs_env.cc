#include "web/opfs_env.h"

#include <emscripten/emscripten.h>

#include <cstdlib>
#include <string>

// Each returns null on success or a malloc'd message (sqlsync_error_to_c in
// src/web/pre.js); offsets travel as doubles (exact below 2^53).
EM_JS(int, sqlsync_js_store_exists, (int store), {
  return Module.sqlsyncSlotStores !== undefined && Module.sqlsyncSlotStores.has(store) ? 1 : 0;
});

EM_JS(int, sqlsync_js_store_count, (int store), { return Module.sqlsyncSlotStores.get(store).count(); });

EM_JS(char*, sqlsync_js_store_read, (int store, int slot, double offset, uint8_t* out, uint32_t length, uint32_t* got), {
  try {
    HEAPU32[got >> 2] = Module.sqlsyncSlotStores.get(store).read(slot, offset, HEAPU8.subarray(out, out + (length >>> 0)));
    return 0;
  } catch (e) {
    return sqlsync_error_to_c(e);
  }
});

EM_JS(char*, sqlsync_js_store_write, (int store, int slot, double offset, const uint8_t* data, uint32_t length), {
  try {
    Module.sqlsyncSlotStores.get(store).write(slot, offset, HEAPU8.subarray(data, data + (length >>> 0)));
    return 0;
  } catch (e) {
    return sqlsync_error_to_c(e);
  }
});

EM_JS(char*, sqlsync_js_store_size, (int store, int slot, double* size), {
  try {
    HEAPF64[size >> 3] = Module.sqlsyncSlotStores.get(store).size(slot);
    return 0;
  } catch (e) {
    return sqlsync_error_to_c(e);
  }
});

EM_JS(char*, sqlsync_js_store_truncate, (int store, int slot, double size), {
  try {
    Module.sqlsyncSlotStores.get(store).truncate(slot, size);
    return 0;
  } catch (e) {
    return sqlsync_error_to_c(e);
  }
});

EM_JS(char*, sqlsync_js_store_flush, (int store, int slot), {
  try {
    Module.sqlsyncSlotStores.get(store).flush(slot);
    return 0;
  } catch (e) {
    return sqlsync_error_to_c(e);
  }
});

EM_JS(void, sqlsync_js_store_request, (int store, int count), { Module.sqlsyncSlotStores.get(store).grow(count); });

namespace sqlsync {
namespace {

Status js_status(char* error) {
  if (error == nullptr) return Status::ok();
  Status status = Status::io_error(error);
  std::free(error);
  return status;
}

}  // namespace

bool JsSlotStore::exists() const { return sqlsync_js_store_exists(id_) != 0; }

uint32_t JsSlotStore::slot_count() { return static_cast<uint32_t>(sqlsync_js_store_count(id_)); }

Status JsSlotStore::read(uint32_t slot, uint64_t offset, size_t length, Bytes& out) {
  out.resize(length);
  uint32_t got = 0;
  SQLSYNC_RETURN_IF_ERROR(js_status(sqlsync_js_store_read(id_, static_cast<int>(slot), static_cast<double>(offset),
                                                          out.data(), static_cast<uint32_t>(length), &got)));
  out.resize(got);
  return Status::ok();
}

Status JsSlotStore::write(uint32_t slot, uint64_t offset, ByteView data) {
  return js_status(sqlsync_js_store_write(id_, static_cast<int>(slot), static_cast<double>(offset), data.data(),
                                          static_cast<uint32_t>(data.size())));
}

Result<uint64_t> JsSlotStore::size(uint32_t slot) {
  double size = 0;
  SQLSYNC_RETURN_IF_ERROR(js_status(sqlsync_js_store_size(id_, static_cast<int>(slot), &size)));
  return static_cast<uint64_t>(size);
}

Status JsSlotStore::truncate(uint32_t slot, uint64_t size) {
  return js_status(sqlsync_js_store_truncate(id_, static_cast<int>(slot), static_cast<double>(size)));
}

Status JsSlotStore::flush(uint32_t slot) { return js_status(sqlsync_js_store_flush(id_, static_cast<int>(slot))); }

void JsSlotStore::request_slots(uint32_t count) { sqlsync_js_store_request(id_, static_cast<int>(count)); }

}  // namespace sqlsync
