// The C ABI of the browser core (docs/wasm-abi.md): JavaScript drives local
// and coordinator documents through integer handles, passes bytes and text in
// through the module's heap, and reads results back as JSON text or from a
// per-document outbox of protocol messages.
//
// Conventions every exported function follows:
// - Functions returning int32_t return -1 on failure, >= 0 on success.
//   Functions returning text return nullptr on failure.
// - Every call first clears the last error; a failing call sets it, so
//   sqlsync_last_error() describes the most recent call only.
// - Returned text lives in one module-wide buffer: it is valid until the next
//   call that returns text. Copy it (UTF8ToString) at once.
// - No exception is thrown or caught: emscripten builds abort on throw, so
//   JSON is parsed with exceptions off and dumped with invalid UTF-8 replaced.
#include <emscripten/emscripten.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/value_json.h"
#include "reducer/sql_reducer.h"
#include "sqlsync/coordinator_document.h"
#include "sqlsync/env.h"
#include "sqlsync/local_document.h"
#include "sqlsync/reducer.h"
#include "sqlsync/status.h"
#include "sqlsync/types.h"
#include "sync/protocol.h"
#include "web/js_reducer.h"
#include "web/opfs_env.h"
#include "web/slot_pool_env.h"

namespace sqlsync {
namespace {

using Json = nlohmann::json;

// Called (from inside the call that refreshed it) when a subscription has a
// new result: (document handle, subscription id).
using SubscriptionNotify = void (*)(int32_t, int32_t);

struct Subscription {
  LocalDocument::SubscriptionId core_id = 0;
  int32_t version = 0;      // bumped on every refresh
  std::string result_json;  // the latest result, or {"error": "..."}
};

struct OutgoingMessage {
  int32_t connection;  // 0 for a local document
  Bytes bytes;
};

// The Env of durable local documents: a pool of OPFS files (or, in node
// tests, of in-memory files) registered by JavaScript as a slot store.
struct PoolEnv {
  explicit PoolEnv(int32_t store_id) : store(store_id) {}
  JsSlotStore store;
  std::unique_ptr<SlotPoolEnv> env;  // uses `store`
};

// Exactly one of `local` and `coordinator` is set. The documents are
// declared last so they are destroyed first: their callbacks point into
// `rejections` and `subscriptions`, and they use `env`.
struct Handle {
  std::shared_ptr<PoolEnv> env;  // null: the document lives in memory
  std::vector<OutgoingMessage> outbox;
  std::vector<Rejection> rejections;  // not yet taken by JS
  std::map<int32_t, std::unique_ptr<Subscription>> subscriptions;
  int32_t next_subscription = 1;
  std::unique_ptr<LocalDocument> local;
  std::unique_ptr<CoordinatorDocument> coordinator;
};

struct ModuleState {
  std::map<int32_t, std::unique_ptr<Handle>> handles;
  int32_t next_handle = 1;
  // Documents keep their reducer and env alive after these are closed.
  std::map<int32_t, std::shared_ptr<Reducer>> reducers;
  int32_t next_reducer = 1;
  std::map<int32_t, std::shared_ptr<PoolEnv>> envs;
  int32_t next_env = 1;
  Status last_error;
  std::string last_error_text;
  std::string text;  // the most recently returned text
  SubscriptionNotify notify = nullptr;
};

ModuleState& state() {
  static ModuleState* module_state = new ModuleState();  // lives as long as the module
  return *module_state;
}

void begin_call() {
  state().last_error = Status::ok();
  state().last_error_text.clear();
}

void record_error(const Status& status) {
  state().last_error = status;
  state().last_error_text = status.to_string();
}

// Runs `body` (returning Result<int32_t>) under the int32_t convention.
template <typename Body>
int32_t int_call(Body&& body) {
  begin_call();
  Result<int32_t> result = body();
  if (!result.is_ok()) {
    record_error(result.status());
    return -1;
  }
  return *result;
}

// Runs `body` (returning Result<std::string>) under the text convention.
template <typename Body>
const char* text_call(Body&& body) {
  begin_call();
  Result<std::string> result = body();
  if (!result.is_ok()) {
    record_error(result.status());
    return nullptr;
  }
  state().text = std::move(result).value();
  return state().text.c_str();
}

std::string_view text_arg(const char* text) { return text == nullptr ? std::string_view() : std::string_view(text); }

ByteView bytes_arg(const uint8_t* data, size_t size) {
  return data == nullptr ? ByteView() : ByteView(data, size);
}

Result<Handle*> find_handle(int32_t handle) {
  auto it = state().handles.find(handle);
  if (it == state().handles.end()) {
    return Status::invalid_argument("no open document with handle " + std::to_string(handle));
  }
  return it->second.get();
}

Result<Handle*> find_local(int32_t handle) {
  SQLSYNC_ASSIGN_OR_RETURN(Handle * found, find_handle(handle));
  if (!found->local) {
    return Status::invalid_argument("handle " + std::to_string(handle) + " is a coordinator document, not a local one");
  }
  return found;
}

Result<Handle*> find_coordinator(int32_t handle) {
  SQLSYNC_ASSIGN_OR_RETURN(Handle * found, find_handle(handle));
  if (!found->coordinator) {
    return Status::invalid_argument("handle " + std::to_string(handle) + " is a local document, not a coordinator");
  }
  return found;
}

Result<const OutgoingMessage*> find_message(int32_t handle, int32_t index) {
  SQLSYNC_ASSIGN_OR_RETURN(Handle * found, find_handle(handle));
  if (index < 0 || static_cast<size_t>(index) >= found->outbox.size()) {
    return Status::invalid_argument("outbox of handle " + std::to_string(handle) + " has no message " +
                                    std::to_string(index) + " (it holds " + std::to_string(found->outbox.size()) +
                                    ")");
  }
  return &found->outbox[static_cast<size_t>(index)];
}

Result<Subscription*> find_subscription(Handle& found, int32_t handle, int32_t subscription) {
  auto it = found.subscriptions.find(subscription);
  if (it == found.subscriptions.end()) {
    return Status::invalid_argument("document " + std::to_string(handle) + " has no subscription " +
                                    std::to_string(subscription));
  }
  return it->second.get();
}

Result<CoordinatorDocument::ConnectionId> connection_arg(int32_t connection) {
  if (connection <= 0) {
    return Status::invalid_argument("connection ids must be positive, got " + std::to_string(connection));
  }
  return static_cast<CoordinatorDocument::ConnectionId>(connection);
}

Result<std::shared_ptr<Reducer>> find_reducer(int32_t reducer) {
  auto it = state().reducers.find(reducer);
  if (it == state().reducers.end()) {
    return Status::invalid_argument("no open reducer with id " + std::to_string(reducer));
  }
  return it->second;
}

int32_t add_reducer(std::shared_ptr<Reducer> reducer) {
  int32_t id = state().next_reducer++;
  state().reducers.emplace(id, std::move(reducer));
  return id;
}

Result<JournalId> journal_id_arg(const char* hex, std::string_view what) {
  Result<JournalId> id = JournalId::from_hex(text_arg(hex));
  if (!id.is_ok()) return id.status().with_context(std::string(what));
  return id;
}

int32_t add_handle(std::unique_ptr<Handle> handle) {
  int32_t id = state().next_handle++;
  state().handles.emplace(id, std::move(handle));
  return id;
}

Json range_to_json(const LsnRange& range) { return Json{{"first", range.first()}, {"next", range.next()}}; }

// `text` is a JSON array of parameters, or null/empty for none.
Result<std::vector<Value>> params_from_json(const char* text) {
  std::string_view view = text_arg(text);
  if (view.empty()) return std::vector<Value>();
  Json json = Json::parse(view, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_array()) {
    return Status::invalid_argument("query parameters must be a JSON array, got '" + std::string(view) + "'");
  }
  std::vector<Value> params;
  for (size_t i = 0; i < json.size(); ++i) {
    SQLSYNC_ASSIGN_OR_RETURN(Value value, value_from_json(json[i], "query parameter " + std::to_string(i + 1)));
    params.push_back(std::move(value));
  }
  return params;
}

int32_t append_outbox(Handle& handle, std::vector<Bytes> messages) {
  for (Bytes& bytes : messages) handle.outbox.push_back({0, std::move(bytes)});
  return static_cast<int32_t>(handle.outbox.size());
}

int32_t append_outbox(Handle& handle, std::vector<std::pair<CoordinatorDocument::ConnectionId, Bytes>> messages) {
  for (auto& [connection, bytes] : messages) {
    handle.outbox.push_back({static_cast<int32_t>(connection), std::move(bytes)});
  }
  return static_cast<int32_t>(handle.outbox.size());
}

Result<int32_t> zero_or_error(const Status& status) {
  if (!status.is_ok()) return status;
  return 0;
}

}  // namespace
}  // namespace sqlsync

using sqlsync::Handle;
using sqlsync::Result;
using sqlsync::Status;

extern "C" {

// ---- Errors ----

EMSCRIPTEN_KEEPALIVE const char* sqlsync_last_error() { return sqlsync::state().last_error_text.c_str(); }

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_last_error_code() {
  return static_cast<int32_t>(sqlsync::state().last_error.code());
}

// ---- Reducers ----

// `source` is the text of a SQL reducer (docs/sql-reducer.md).
EMSCRIPTEN_KEEPALIVE int32_t sqlsync_reducer_open_sql(const char* source) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(std::shared_ptr<sqlsync::Reducer> reducer,
                             sqlsync::load_sql_reducer(sqlsync::text_arg(source)));
    return sqlsync::add_reducer(std::move(reducer));
  });
}

// `guest` names the compiled module JavaScript registered in
// Module.sqlsyncGuests (web/client/src/guest-host.ts).
EMSCRIPTEN_KEEPALIVE int32_t sqlsync_reducer_open_wasm(int32_t guest) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(std::shared_ptr<sqlsync::Reducer> reducer, sqlsync::load_js_wasm_reducer(guest));
    return sqlsync::add_reducer(std::move(reducer));
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_reducer_schema_version(int32_t reducer) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(std::shared_ptr<sqlsync::Reducer> found, sqlsync::find_reducer(reducer));
    return static_cast<int32_t>(found->schema_version());
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_reducer_close(int32_t reducer) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_RETURN_IF_ERROR(sqlsync::find_reducer(reducer).status());
    sqlsync::state().reducers.erase(reducer);
    return 0;
  });
}

// ---- Envs ----

// `store` names the slot store JavaScript registered in
// Module.sqlsyncSlotStores (web/client/src/opfs-pool.ts).
EMSCRIPTEN_KEEPALIVE int32_t sqlsync_env_open_pool(int32_t store) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    auto pool = std::make_shared<sqlsync::PoolEnv>(store);
    if (!pool->store.exists()) {
      return Status::not_found("no slot store registered as " + std::to_string(store));
    }
    SQLSYNC_ASSIGN_OR_RETURN(pool->env,
                             sqlsync::SlotPoolEnv::open(&pool->store, sqlsync::Env::posix(), {}));
    int32_t id = sqlsync::state().next_env++;
    sqlsync::state().envs.emplace(id, std::move(pool));
    return id;
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_env_close(int32_t env) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    if (sqlsync::state().envs.erase(env) == 0) {
      return Status::invalid_argument("no open env with id " + std::to_string(env));
    }
    return 0;
  });
}

// ---- Documents of either kind ----

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_close(int32_t handle) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_RETURN_IF_ERROR(sqlsync::find_handle(handle).status());
    sqlsync::state().handles.erase(handle);
    return 0;
  });
}

EMSCRIPTEN_KEEPALIVE const char* sqlsync_query(int32_t handle, const char* sql, const char* params_json) {
  return sqlsync::text_call([&]() -> Result<std::string> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_handle(handle));
    SQLSYNC_ASSIGN_OR_RETURN(std::vector<sqlsync::Value> params, sqlsync::params_from_json(params_json));
    std::string_view text = sqlsync::text_arg(sql);
    SQLSYNC_ASSIGN_OR_RETURN(sqlsync::QueryResult result, found->local ? found->local->query(text, params)
                                                                       : found->coordinator->query(text, params));
    return sqlsync::dump_json(sqlsync::query_result_to_json(result));
  });
}

// ---- Outbox: protocol messages waiting to be sent ----

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_outbox_count(int32_t handle) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_handle(handle));
    return static_cast<int32_t>(found->outbox.size());
  });
}

EMSCRIPTEN_KEEPALIVE const uint8_t* sqlsync_outbox_data(int32_t handle, int32_t index) {
  sqlsync::begin_call();
  Result<const sqlsync::OutgoingMessage*> message = sqlsync::find_message(handle, index);
  if (!message.is_ok()) {
    sqlsync::record_error(message.status());
    return nullptr;
  }
  return (*message)->bytes.data();
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_outbox_size(int32_t handle, int32_t index) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(const sqlsync::OutgoingMessage* message, sqlsync::find_message(handle, index));
    return static_cast<int32_t>(message->bytes.size());
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_outbox_connection(int32_t handle, int32_t index) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(const sqlsync::OutgoingMessage* message, sqlsync::find_message(handle, index));
    return message->connection;
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_outbox_clear(int32_t handle) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_handle(handle));
    found->outbox.clear();
    return 0;
  });
}

// ---- Local documents ----

// Flags of sqlsync_local_open (0: the defaults).
constexpr int32_t kLocalSyncLazily = 1;     // Options::sync_each_mutation off: call sqlsync_local_sync
constexpr int32_t kLocalRebaseInFlush = 2;  // Options::rebase_in_receive off: call sqlsync_local_flush

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_local_open(const char* document_id_hex, const char* timeline_id_hex,
                                                int32_t reducer, int32_t env, const char* directory, int32_t flags) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    if ((flags & ~(kLocalSyncLazily | kLocalRebaseInFlush)) != 0) {
      return Status::invalid_argument("unknown flags " + std::to_string(flags) + " for sqlsync_local_open");
    }
    sqlsync::LocalDocument::Options options;
    options.sync_each_mutation = (flags & kLocalSyncLazily) == 0;
    options.rebase_in_receive = (flags & kLocalRebaseInFlush) == 0;
    SQLSYNC_ASSIGN_OR_RETURN(options.document_id, sqlsync::journal_id_arg(document_id_hex, "document id"));
    if (!sqlsync::text_arg(timeline_id_hex).empty()) {
      SQLSYNC_ASSIGN_OR_RETURN(options.timeline_id, sqlsync::journal_id_arg(timeline_id_hex, "timeline id"));
    }
    SQLSYNC_ASSIGN_OR_RETURN(options.reducer, sqlsync::find_reducer(reducer));
    auto handle = std::make_unique<Handle>();
    options.env = sqlsync::Env::posix();
    if (env != 0) {
      auto found = sqlsync::state().envs.find(env);
      if (found == sqlsync::state().envs.end()) {
        return Status::invalid_argument("no open env with id " + std::to_string(env));
      }
      handle->env = found->second;
      options.env = handle->env->env.get();
      options.directory = std::string(sqlsync::text_arg(directory));
      if (options.directory.empty()) return Status::invalid_argument("a document in an env needs a directory");
    } else if (!sqlsync::text_arg(directory).empty()) {
      return Status::invalid_argument("a directory needs an env (sqlsync_env_open_pool)");
    }
    SQLSYNC_ASSIGN_OR_RETURN(handle->local, sqlsync::LocalDocument::open(std::move(options)));
    std::vector<sqlsync::Rejection>* rejections = &handle->rejections;
    handle->local->on_rejection(
        [rejections](const sqlsync::Rejection& rejection) { rejections->push_back(rejection); });
    return sqlsync::add_handle(std::move(handle));
  });
}

// `mutation` is `size` bytes handed to the reducer as is (JSON text for SQL reducers).
EMSCRIPTEN_KEEPALIVE int32_t sqlsync_local_mutate(int32_t handle, const uint8_t* mutation, size_t size) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_local(handle));
    return sqlsync::zero_or_error(found->local->mutate(sqlsync::bytes_arg(mutation, size)));
  });
}

// Makes the mutations of a document opened with kLocalSyncLazily durable
// (and so ready to send); see LocalDocument::sync.
EMSCRIPTEN_KEEPALIVE int32_t sqlsync_local_sync(int32_t handle) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_local(handle));
    return sqlsync::zero_or_error(found->local->sync());
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_local_connect(int32_t handle) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_local(handle));
    return sqlsync::append_outbox(*found, found->local->connect());
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_local_receive(int32_t handle, const uint8_t* message, size_t size) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_local(handle));
    // One WebSocket message: a protocol message or a batch of them.
    SQLSYNC_ASSIGN_OR_RETURN(auto messages, sqlsync::split_batch(sqlsync::bytes_arg(message, size)));
    int32_t outbox_size = 0;
    for (sqlsync::ByteView one : messages) {
      SQLSYNC_ASSIGN_OR_RETURN(auto replies, found->local->receive(one));
      outbox_size = sqlsync::append_outbox(*found, std::move(replies));
    }
    return outbox_size;
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_local_poll(int32_t handle) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_local(handle));
    SQLSYNC_ASSIGN_OR_RETURN(auto messages, found->local->poll());
    return sqlsync::append_outbox(*found, std::move(messages));
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_local_disconnect(int32_t handle) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_local(handle));
    return sqlsync::zero_or_error(found->local->disconnect());
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_local_flush(int32_t handle) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_local(handle));
    return sqlsync::zero_or_error(found->local->flush());
  });
}

EMSCRIPTEN_KEEPALIVE const char* sqlsync_local_info(int32_t handle) {
  return sqlsync::text_call([&]() -> Result<std::string> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_local(handle));
    const sqlsync::LocalDocument& document = *found->local;
    return sqlsync::dump_json(sqlsync::Json{{"document_id", document.document_id().to_hex()},
                                            {"timeline_id", document.timeline_id().to_hex()},
                                            {"connected", document.connected()},
                                            {"pending_mutations", document.pending_mutations()},
                                            {"timeline_range", sqlsync::range_to_json(document.timeline_range())},
                                            {"storage_range", sqlsync::range_to_json(document.storage_range())}});
  });
}

// Rejections reported since the last call, oldest first, as
// [{"timeline": hex, "lsn": n, "message": text}]; taking them clears them.
EMSCRIPTEN_KEEPALIVE const char* sqlsync_local_take_rejections(int32_t handle) {
  return sqlsync::text_call([&]() -> Result<std::string> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_local(handle));
    sqlsync::Json list = sqlsync::Json::array();
    for (const sqlsync::Rejection& rejection : found->rejections) {
      list.push_back({{"timeline", rejection.timeline.to_hex()},
                      {"lsn", rejection.lsn},
                      {"message", rejection.message}});
    }
    found->rejections.clear();
    return sqlsync::dump_json(list);
  });
}

// ---- Subscriptions (local documents) ----

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_set_subscription_notify(sqlsync::SubscriptionNotify notify) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    sqlsync::state().notify = notify;
    return 0;
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_local_subscribe(int32_t handle, const char* sql, const char* params_json) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_local(handle));
    SQLSYNC_ASSIGN_OR_RETURN(std::vector<sqlsync::Value> params, sqlsync::params_from_json(params_json));
    int32_t id = found->next_subscription++;
    sqlsync::Subscription* subscription =
        found->subscriptions.emplace(id, std::make_unique<sqlsync::Subscription>()).first->second.get();
    auto callback = [handle, id, subscription](const Result<sqlsync::QueryResult>& result) {
      subscription->result_json = result.is_ok()
                                      ? sqlsync::dump_json(sqlsync::query_result_to_json(*result))
                                      : sqlsync::dump_json(sqlsync::Json{{"error", result.status().to_string()}});
      ++subscription->version;
      if (sqlsync::state().notify != nullptr) sqlsync::state().notify(handle, id);
    };
    Result<sqlsync::LocalDocument::SubscriptionId> core_id =
        found->local->subscribe(std::string(sqlsync::text_arg(sql)), std::move(params), std::move(callback));
    if (!core_id.is_ok()) {
      found->subscriptions.erase(id);
      return core_id.status();
    }
    subscription->core_id = *core_id;
    return id;
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_local_unsubscribe(int32_t handle, int32_t subscription) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_local(handle));
    SQLSYNC_ASSIGN_OR_RETURN(sqlsync::Subscription * found_subscription,
                             sqlsync::find_subscription(*found, handle, subscription));
    found->local->unsubscribe(found_subscription->core_id);
    found->subscriptions.erase(subscription);
    return 0;
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_subscription_version(int32_t handle, int32_t subscription) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_local(handle));
    SQLSYNC_ASSIGN_OR_RETURN(sqlsync::Subscription * found_subscription,
                             sqlsync::find_subscription(*found, handle, subscription));
    return found_subscription->version;
  });
}

EMSCRIPTEN_KEEPALIVE const char* sqlsync_subscription_result(int32_t handle, int32_t subscription) {
  return sqlsync::text_call([&]() -> Result<std::string> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_local(handle));
    SQLSYNC_ASSIGN_OR_RETURN(sqlsync::Subscription * found_subscription,
                             sqlsync::find_subscription(*found, handle, subscription));
    return found_subscription->result_json;
  });
}

// ---- Coordinator documents ----

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_coordinator_open(const char* document_id_hex, int32_t reducer) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    sqlsync::CoordinatorDocument::Options options;
    SQLSYNC_ASSIGN_OR_RETURN(options.document_id, sqlsync::journal_id_arg(document_id_hex, "document id"));
    SQLSYNC_ASSIGN_OR_RETURN(options.reducer, sqlsync::find_reducer(reducer));
    options.env = sqlsync::Env::posix();
    auto handle = std::make_unique<Handle>();
    SQLSYNC_ASSIGN_OR_RETURN(handle->coordinator, sqlsync::CoordinatorDocument::open(std::move(options)));
    return sqlsync::add_handle(std::move(handle));
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_coordinator_connect(int32_t handle, int32_t connection) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_coordinator(handle));
    SQLSYNC_ASSIGN_OR_RETURN(auto id, sqlsync::connection_arg(connection));
    std::vector<std::pair<sqlsync::CoordinatorDocument::ConnectionId, sqlsync::Bytes>> addressed;
    for (sqlsync::Bytes& bytes : found->coordinator->connect(id)) addressed.emplace_back(id, std::move(bytes));
    return sqlsync::append_outbox(*found, std::move(addressed));
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_coordinator_receive(int32_t handle, int32_t connection, const uint8_t* message,
                                                         size_t size) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_coordinator(handle));
    SQLSYNC_ASSIGN_OR_RETURN(auto id, sqlsync::connection_arg(connection));
    SQLSYNC_ASSIGN_OR_RETURN(auto replies, found->coordinator->receive(id, sqlsync::bytes_arg(message, size)));
    std::vector<std::pair<sqlsync::CoordinatorDocument::ConnectionId, sqlsync::Bytes>> addressed;
    for (sqlsync::Bytes& bytes : replies) addressed.emplace_back(id, std::move(bytes));
    return sqlsync::append_outbox(*found, std::move(addressed));
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_coordinator_disconnect(int32_t handle, int32_t connection) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_coordinator(handle));
    SQLSYNC_ASSIGN_OR_RETURN(auto id, sqlsync::connection_arg(connection));
    found->coordinator->disconnect(id);
    return 0;
  });
}

EMSCRIPTEN_KEEPALIVE int32_t sqlsync_coordinator_poll(int32_t handle) {
  return sqlsync::int_call([&]() -> Result<int32_t> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_coordinator(handle));
    SQLSYNC_ASSIGN_OR_RETURN(auto messages, found->coordinator->poll());
    return sqlsync::append_outbox(*found, std::move(messages));
  });
}

// {"applied": n, "rejected": n, "committed_frame": bool}
EMSCRIPTEN_KEEPALIVE const char* sqlsync_coordinator_step(int32_t handle) {
  return sqlsync::text_call([&]() -> Result<std::string> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_coordinator(handle));
    SQLSYNC_ASSIGN_OR_RETURN(auto report, found->coordinator->step());
    return sqlsync::dump_json(sqlsync::Json{{"applied", report.applied},
                                            {"rejected", report.rejected},
                                            {"committed_frame", report.committed_frame}});
  });
}

EMSCRIPTEN_KEEPALIVE const char* sqlsync_coordinator_info(int32_t handle) {
  return sqlsync::text_call([&]() -> Result<std::string> {
    SQLSYNC_ASSIGN_OR_RETURN(Handle * found, sqlsync::find_coordinator(handle));
    const sqlsync::CoordinatorDocument& document = *found->coordinator;
    return sqlsync::dump_json(sqlsync::Json{{"document_id", document.document_id().to_hex()},
                                            {"has_work", document.has_work()},
                                            {"storage_range", sqlsync::range_to_json(document.storage_range())}});
  });
}

}  // extern "C"
