#include "web/js_reducer.h"

#include <emscripten/emscripten.h>

#include <cstdlib>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "reducer/reducer_abi.h"

// The guest's engine, reached through the JavaScript object
// Module.sqlsyncGuests.get(guest) (web/client/src/guest-host.ts). Functions
// returning char* return null on success or a message from malloc (the
// caller frees it) naming what the browser threw; sqlsync_error_to_c is
// defined in src/web/pre.js.

EM_JS(char*, sqlsync_js_guest_instantiate, (int guest), {
  try {
    Module.sqlsyncGuests.get(guest).instantiate();
    return 0;
  } catch (e) {
    return sqlsync_error_to_c(e);
  }
});

EM_JS(char*, sqlsync_js_guest_call, (int guest, const char* name, int argc, uint32_t a, uint32_t b, uint32_t* result),
      {
        try {
          const args = [ a >>> 0, b >>> 0 ].slice(0, argc);
          const value = Module.sqlsyncGuests.get(guest).call(UTF8ToString(name), args);
          HEAPU32[result >> 2] = value >>> 0;
          return 0;
        } catch (e) {
          return sqlsync_error_to_c(e);
        }
      });

// "" when absent, "memory", "function/<parameter count>", or another kind.
EM_JS(char*, sqlsync_js_guest_export_kind, (int guest, const char* name), {
  return sqlsync_string_to_c(Module.sqlsyncGuests.get(guest).exportKind(UTF8ToString(name)));
});

// The first import that is not a function of module "sqlsync" named in
// `allowed` (comma-separated), as "module.name", or "".
EM_JS(char*, sqlsync_js_guest_foreign_import, (int guest, const char* allowed), {
  return sqlsync_string_to_c(Module.sqlsyncGuests.get(guest).foreignImport(UTF8ToString(allowed).split(',')));
});

EM_JS(double, sqlsync_js_guest_memory_size, (int guest), { return Module.sqlsyncGuests.get(guest).memorySize(); });

EM_JS(void, sqlsync_js_guest_read, (int guest, uint32_t ptr, uint32_t size, uint8_t* out), {
  HEAPU8.set(Module.sqlsyncGuests.get(guest).read(ptr >>> 0, size >>> 0), out);
});

EM_JS(void, sqlsync_js_guest_write, (int guest, uint32_t ptr, const uint8_t* data, uint32_t size), {
  Module.sqlsyncGuests.get(guest).write(ptr >>> 0, HEAPU8.subarray(data, data + (size >>> 0)));
});

EM_JS(void, sqlsync_js_guest_log, (int guest, int level, const char* text, uint32_t size), {
  Module.sqlsyncGuests.get(guest).log(level, UTF8ToString(text, size >>> 0));
});

EM_JS(int, sqlsync_js_guest_exists, (int guest), {
  return Module.sqlsyncGuests !== undefined && Module.sqlsyncGuests.has(guest) ? 1 : 0;
});

namespace sqlsync {
namespace {

std::string take_js_string(char* text) {
  if (text == nullptr) return std::string();
  std::string copy(text);
  std::free(text);
  return copy;
}

class JsGuestEngine;

// The engines alive, by guest id, for sqlsync_guest_import.
std::map<int32_t, JsGuestEngine*>& live_engines() {
  static auto* engines = new std::map<int32_t, JsGuestEngine*>();
  return *engines;
}

// The guest registered as `guest` in JavaScript, as GuestReducer drives it.
class JsGuestEngine final : public GuestEngine {
 public:
  explicit JsGuestEngine(int32_t guest) : guest_(guest) { live_engines()[guest_] = this; }
  ~JsGuestEngine() override { live_engines().erase(guest_); }
  JsGuestEngine(const JsGuestEngine&) = delete;
  JsGuestEngine& operator=(const JsGuestEngine&) = delete;

  // The reducer the guest's imports run on; must outlive the engine's calls.
  void set_host(GuestReducer* host) { host_ = host; }
  GuestReducer* host() const { return host_; }

  Result<bool> find_export(const GuestExportType& expected) override {
    std::string found = take_js_string(sqlsync_js_guest_export_kind(guest_, expected.name));
    if (found.empty()) return false;
    const std::string kind =
        expected.is_memory ? std::string("memory") : "function/" + std::to_string(expected.params);
    if (found != kind) {
      return Status::invalid_argument("reducer export " + std::string(expected.name) + " is " + found +
                                      ", expected " + kind);
    }
    return true;
  }

  std::string instantiate() override { return take_js_string(sqlsync_js_guest_instantiate(guest_)); }
  std::string call(const char* name, std::span<const uint32_t> args, uint32_t* result) override {
    return take_js_string(sqlsync_js_guest_call(guest_, name, static_cast<int>(args.size()),
                                                args.size() > 0 ? args[0] : 0, args.size() > 1 ? args[1] : 0,
                                                result));
  }
  // The browser cannot meter a guest.
  void refill_budget() override {}
  GuestLimit exceeded_limit() override { return GuestLimit::kNone; }
  uint64_t memory_size() override { return static_cast<uint64_t>(sqlsync_js_guest_memory_size(guest_)); }
  ByteView read_memory(uint64_t ptr, uint64_t size, Bytes* scratch) override {
    scratch->resize(size);
    if (size > 0) {
      sqlsync_js_guest_read(guest_, static_cast<uint32_t>(ptr), static_cast<uint32_t>(size), scratch->data());
    }
    return *scratch;
  }
  void write_memory(uint64_t ptr, ByteView data) override {
    sqlsync_js_guest_write(guest_, static_cast<uint32_t>(ptr), data.data(), static_cast<uint32_t>(data.size()));
  }

 private:
  const int32_t guest_;
  GuestReducer* host_ = nullptr;
};

// The names of kGuestImports, comma-separated.
std::string import_names() {
  std::string names;
  for (const GuestImportType& import : kGuestImports) names += std::string(names.empty() ? "" : ",") + import.name;
  return names;
}

std::string& import_trap() {
  static auto* trap = new std::string();
  return *trap;
}

}  // namespace

Result<std::shared_ptr<Reducer>> load_js_wasm_reducer(int32_t guest) {
  if (sqlsync_js_guest_exists(guest) == 0) {
    return Status::not_found("no WebAssembly reducer registered as guest " + std::to_string(guest));
  }
  if (live_engines().count(guest) > 0) {
    return Status::invalid_argument("guest " + std::to_string(guest) + " already backs a reducer");
  }
  std::string foreign = take_js_string(sqlsync_js_guest_foreign_import(guest, import_names().c_str()));
  if (!foreign.empty()) {
    return Status::invalid_argument("reducer imports " + foreign +
                                    ", which this host does not provide: see docs/reducer-abi.md");
  }
  auto engine = std::make_unique<JsGuestEngine>(guest);
  JsGuestEngine& js = *engine;
  WasmLogSink log = [guest](WasmLogLevel level, std::string_view message) {
    const std::string text(message);
    sqlsync_js_guest_log(guest, static_cast<int>(level), text.c_str(), static_cast<uint32_t>(text.size()));
  };
  auto reducer =
      std::make_shared<GuestReducer>(std::move(engine), GuestLimits{kJsGuestMemoryBytes, 0}, std::move(log));
  js.set_host(reducer.get());
  SQLSYNC_RETURN_IF_ERROR(reducer->load());
  return std::shared_ptr<Reducer>(std::move(reducer));
}

}  // namespace sqlsync

extern "C" {

// Called by the guest's imports (web/client/src/guest-host.ts): `which` is
// 0 execute, 1 query, 2 mutation_begin, 3 mutation_end, 4 log, with the
// import's arguments. Returns the import's result; afterwards
// sqlsync_guest_import_trap() is null, or the message the import must trap
// with (valid until the next import call).
EMSCRIPTEN_KEEPALIVE uint32_t sqlsync_guest_import(int32_t guest, int32_t which, uint32_t a0, uint32_t a1,
                                                   uint32_t a2, uint32_t a3) {
  std::string& trap = sqlsync::import_trap();
  trap.clear();
  auto it = sqlsync::live_engines().find(guest);
  if (it == sqlsync::live_engines().end()) {
    trap = "no reducer is running guest " + std::to_string(guest);
    return 0;
  }
  if (which < 0 || which >= static_cast<int32_t>(std::size(sqlsync::kGuestImports))) {
    trap = "unknown import " + std::to_string(which);
    return 0;
  }
  const uint32_t args[4] = {a0, a1, a2, a3};
  uint32_t result = 0;
  trap = it->second->host()->run_import(static_cast<sqlsync::GuestImport>(which), args, &result);
  return result;
}

EMSCRIPTEN_KEEPALIVE const char* sqlsync_guest_import_trap() {
  const std::string& trap = sqlsync::import_trap();
  return trap.empty() ? nullptr : trap.c_str();
}

}  // extern "C"
