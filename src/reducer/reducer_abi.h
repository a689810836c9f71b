// The host side of the WASM reducer ABI v1 (docs/reducer-abi.md), without the
// engine that runs the guest: the byte encodings the host exchanges with the
// guest, the host's bookkeeping of a guest call, and GuestReducer, the
// Reducer that drives a guest through the small GuestEngine interface. The
// native host (wasm_reducer.cc, guest in wabt's interpreter or compiled by
// wasm2c) and the browser host (src/web, guest on the browser's WebAssembly
// engine) are GuestEngines, so they give the same verdicts and messages.
//
// The codec functions work on bytes the caller copied out of (or will copy
// into) guest memory; nothing keeps a pointer into guest memory. Part of
// sqlsync_core: builds natively and with emscripten.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/encoding.h"
#include "sqlsync/reducer.h"
#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

// The only version of docs/reducer-abi.md this host implements; the guest's
// sqlsync_abi_version must return it.
inline constexpr uint32_t kReducerAbiVersion = 1;

// What a reducer's bytes hold: a WebAssembly module or SQL reducer source
// (docs/sql-reducer.md).
enum class ReducerKind { kWasm, kSql };

// kWasm for bytes starting with the WebAssembly magic "\0asm", else kSql.
ReducerKind reducer_kind_of(ByteView bytes);

// Bytes of the u32 `length` field that starts every buffer handed between
// host and guest (batch, verdicts, execute/query results, migrate error).
inline constexpr size_t kAbiBufferHeaderBytes = 4;

// Severity of a guest's log message (the `level` argument of sqlsync.log).
enum class WasmLogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Receives the guest's log messages, on the thread calling the reducer; the
// text is only valid during the call.
using WasmLogSink = std::function<void(WasmLogLevel level, std::string_view message)>;

// The sqlsync.log import: hands `text` (the guest's bytes, UTF-8 by contract,
// passed on unchecked) to `sink` at the level the guest's raw `level` names
// (values over 3 count as kError). An empty sink drops the message.
void forward_guest_log(const WasmLogSink& sink, uint32_t level, ByteView text);

// Writes the buffer for `payload`, u32 length then the payload, to `dest`,
// which must have room for kAbiBufferHeaderBytes + payload.size() bytes (the
// host obtains them from the guest's sqlsync_alloc).
void write_abi_buffer(uint8_t* dest, ByteView payload);

// The `length` field of a guest buffer from its first kAbiBufferHeaderBytes
// bytes (`header` may be longer). Rejected, naming `what`, when `header` is
// shorter.
Result<uint32_t> read_abi_buffer_length(ByteView header, std::string_view what);

// The payload of the batch buffer for one sqlsync_reduce call: u32 count,
// then each mutation as u32 size + bytes. `mutations` must not be empty and
// each mutation must be under 4 GiB.
Bytes encode_batch(std::span<const ByteView> mutations);

// One value of a params encoding or a query row. encode_value appends it;
// decode_value reads one, failing with the decoder's error kind on an unknown
// tag or a truncated value.
void encode_value(Encoder& out, const Value& value);
Result<Value> decode_value(Decoder& in);

// Decodes a params encoding (u32 count, then that many values) into `*values`
// (replaced). An empty `params` means no parameters. Rejected "malformed
// params: ..." (with the offset) for anything else that is not exactly one
// well-formed encoding: a guest error that traps the call.
Status decode_params(ByteView params, std::vector<Value>* values);

// Which import a SQL request came through.
enum class SqlImport { kExecute, kQuery };

// The host side of the sqlsync.execute / sqlsync.query imports: decodes
// `params` (see decode_params), runs `sql` (the guest's UTF-8 text) on `tx`,
// and stores in `*reply` (replaced) the payload of the execute-result or
// query-result buffer to hand back to the guest. A failing statement (syntax
// error, constraint, refused by the runtime's confinement...) is not an error
// here: it is encoded in the reply for the guest to handle. Returns Rejected
// only for malformed params (the call must then trap). `*values` is scratch
// space for the decoded parameters, reused across calls to spare allocations.
Status run_sql_import(Transaction& tx, SqlImport import, ByteView sql, ByteView params, std::vector<Value>* values,
                      Bytes* reply);

// The host's bookkeeping for one top-level guest call (sqlsync_reduce,
// sqlsync_migrate, or a call that may not touch the database such as
// _initialize): enforces the bracketing rules of the mutation_begin /
// mutation_end imports, maps them onto a MutationScope, and turns what the
// guest returned, or how it failed, into one verdict per mutation.
//
// Use one GuestCall per top-level guest call; re-entrant calls the host makes
// from inside an import (sqlsync_alloc, sqlsync_free) belong to the same
// GuestCall. `tx` and `scope` are not owned and must outlive the GuestCall.
// Not thread-safe (a guest call runs on one thread).
class GuestCall {
 public:
  // A call that may not run SQL nor bracket mutations.
  GuestCall() = default;
  // sqlsync_migrate: SQL on `tx`, no mutations.
  explicit GuestCall(Transaction& tx) : tx_(&tx) {}
  // sqlsync_reduce over a batch of `count` mutations: SQL on `tx` inside
  // mutations bracketed through `scope`.
  GuestCall(Transaction& tx, MutationScope& scope, size_t count) : tx_(&tx), scope_(&scope), count_(count) {}

  // The transaction the SQL imports run on, after check_sql_allowed()
  // returned ok.
  Transaction& transaction() const { return *tx_; }

  // Whether execute/query may run now: Rejected "called outside
  // sqlsync_reduce and sqlsync_migrate" or "called outside a mutation (call
  // mutation_begin first)" otherwise (ABI misuse: the import traps).
  Status check_sql_allowed() const;

  // The mutation_begin import. Rejected for ABI misuse (no batch, a mutation
  // still open, every mutation of the batch begun). A failure of
  // scope.begin_mutation() is returned too and also kept as host_error().
  Status begin_mutation();

  // The mutation_end import (`keep` is the guest's raw argument, non-zero
  // keeps). Rejected when no mutation is open; a failure of
  // scope.end_mutation() is returned and kept as host_error().
  Status end_mutation(uint32_t keep);

  // A failure of the host's own side (the MutationScope or the database, not
  // the SQL of a statement) during the call: the caller must fail the whole
  // batch with it instead of blaming a mutation. Ok when there was none.
  const Status& host_error() const { return host_error_; }

  // Right after sqlsync_reduce returned normally, before reading its result:
  // Rejected "reducer broke the ABI: sqlsync_reduce returned after ending k
  // of n mutations" unless every mutation of the batch was ended (a failure
  // of the call, for settle_failure()).
  Status check_batch_ended() const;

  // Then, with the payload of the verdicts buffer sqlsync_reduce returned:
  // checks check_batch_ended(), that there is one verdict per mutation and
  // that each agrees with the `keep` its mutation ended with, and stores them
  // in `verdicts` (size = the batch's count): ok, or Rejected with the
  // guest's message ("reducer rejected the mutation" when empty). Rejected
  // "reducer returned a malformed verdicts buffer: ..." otherwise (a failure
  // of the call, for settle_failure()).
  Status finish_reduce(ByteView payload, std::span<Status> verdicts) const;

  // After sqlsync_reduce failed with `failure` (a trap, an exhausted budget,
  // a broken ABI...; not a host_error()): mutations that ended keep their
  // outcome (ok, or rejected without their message, which was lost with the
  // verdicts buffer); the mutation open at the failure, or else the first one
  // not begun, is ended undone through the scope and rejected with
  // `failure`. Fills that prefix of `verdicts` and returns its length (at
  // least 1 when the batch was not complete): the caller retries the rest on
  // a fresh instance. Errors are the scope's.
  Result<size_t> settle_failure(const Status& failure, std::span<Status> verdicts);

 private:
  Transaction* tx_ = nullptr;       // null: no SQL allowed
  MutationScope* scope_ = nullptr;  // null: no mutations (migrate)
  size_t count_ = 0;                // mutations in the batch
  size_t begun_ = 0;
  bool open_ = false;
  std::vector<bool> keeps_;  // `keep` of each ended mutation, in order
  Status host_error_;
};

// The imports of module "sqlsync" the host provides; the numbering is the
// browser's (`which` of sqlsync_guest_import in src/web/js_reducer.cc).
enum class GuestImport : int32_t { kExecute = 0, kQuery = 1, kMutationBegin = 2, kMutationEnd = 3, kLog = 4 };

// An import or export of docs/reducer-abi.md with its type: a function of
// `params` i32 parameters and `results` (0 or 1) i32 results, or the memory.
struct GuestImportType {
  GuestImport import;
  const char* name;
  uint32_t params;
  uint32_t results;
};
struct GuestExportType {
  const char* name;
  bool is_memory;
  uint32_t params;
  uint32_t results;
};

// Every import the host provides, in GuestImport order.
inline constexpr GuestImportType kGuestImports[] = {
    {GuestImport::kExecute, "execute", 4, 1},          {GuestImport::kQuery, "query", 4, 1},
    {GuestImport::kMutationBegin, "mutation_begin", 0, 1}, {GuestImport::kMutationEnd, "mutation_end", 1, 1},
    {GuestImport::kLog, "log", 3, 0},
};

// A limit of GuestLimits that made a guest call fail.
enum class GuestLimit { kNone, kBudget, kMemory };

// What one GuestReducer's guest may consume (WasmLimits natively).
struct GuestLimits {
  uint64_t memory_bytes = 0;   // cap on the guest's linear memory
  uint64_t fuel_per_call = 0;  // budget of a guest call; 0 for an engine without one
};

// An engine running one guest module, as GuestReducer drives it. Addresses
// are guest addresses; GuestReducer checks every range against
// memory_size() before reading or writing it. Not thread-safe.
class GuestEngine {
 public:
  virtual ~GuestEngine() = default;

  // Whether the module exports `expected.name`: false when it does not,
  // InvalidArgument naming the mismatch when it exports something of another
  // kind or type under that name (as far as this engine can see the type:
  // the browser sees a function's parameter count only on an instance).
  virtual Result<bool> find_export(const GuestExportType& expected) = 0;

  // Drops the current instance (which may be inconsistent after a failure)
  // and makes a fresh one, running the start function if any. "" or why not.
  virtual std::string instantiate() = 0;

  // Calls the exported function `name` on the current instance, also from
  // inside an import (re-entering the guest). "" with the result, if any, in
  // *result (never null), or the trap message. Does not refill the budget.
  virtual std::string call(const char* name, std::span<const uint32_t> args, uint32_t* result) = 0;

  // Resets the budget of the current call to GuestLimits::fuel_per_call
  // (nothing for an engine without a budget).
  virtual void refill_budget() = 0;
  // After a failed call: the limit it ran into, if the engine knows of one
  // (an exhausted budget, a memory.grow past the cap).
  virtual GuestLimit exceeded_limit() = 0;

  // Bytes in the instance's memory "memory" (0 before an instance exists).
  virtual uint64_t memory_size() = 0;
  // Guest memory [ptr, ptr + size), in range: a view into it, or of a copy
  // in *scratch (replaced) for an engine that cannot point into it. Valid
  // until the next guest call or use of *scratch.
  virtual ByteView read_memory(uint64_t ptr, uint64_t size, Bytes* scratch) = 0;
  // Copies `data` to guest memory at `ptr` (the range is in bounds).
  virtual void write_memory(uint64_t ptr, ByteView data) = 0;
};

// A Reducer whose code is a guest of ABI v1 run by a GuestEngine: the call
// sequences of docs/reducer-abi.md (load, reduce a batch, migrate), the
// imports' bodies, and the failure rules (a trap, an exhausted budget or a
// memory over its cap rejects the mutation it happened in, and the instance
// is replaced before the next call). Not thread-safe, as Reducer.
class GuestReducer final : public Reducer {
 public:
  // `engine` is owned; `log` (may be empty) receives the guest's messages and
  // must stay callable while the reducer lives. Call load() before use.
  GuestReducer(std::unique_ptr<GuestEngine> engine, GuestLimits limits, WasmLogSink log);

  // Instantiates the guest, calls _initialize if it is exported, checks the
  // ABI version and the exports, and reads the schema version.
  // InvalidArgument for a missing or mistyped export, Unsupported "reducer
  // ABI version N, this host supports 1", Rejected when the guest fails.
  Status load();

  // The body of import `which` (args: one value per parameter), for the
  // engine to call while the guest runs: "" with the result, if the import
  // has one, in *result, or the message ("<import>: <why>") the import must
  // trap with.
  std::string run_import(GuestImport which, const uint32_t* args, uint32_t* result);

  Status reduce(Transaction& tx, ByteView mutation) override;
  Status reduce_batch(Transaction& tx, MutationScope& scope, std::span<const ByteView> mutations,
                      std::span<Status> verdicts) override;
  uint32_t schema_version() const override { return schema_version_; }
  Status migrate(Transaction& tx, uint32_t from, uint32_t to) override;

 private:
  // A fresh instance, initialized; a failure leaves needs_reset_ set.
  Status instantiate();
  // `expected` must be exported: InvalidArgument otherwise.
  Status require_export(const GuestExportType& expected);
  // One sqlsync_reduce call over `mutations`. Returns how many mutations got
  // their verdict: all, or after a guest failure at least one.
  Result<size_t> reduce_some(Transaction& tx, MutationScope& scope, std::span<const ByteView> mutations,
                             std::span<Status> verdicts);
  Status run_reduce(std::span<const ByteView> mutations, std::span<Status> verdicts);
  Status run_migrate(uint32_t from, uint32_t to);

  // A top-level guest call with a full budget; failures are classified by
  // guest_failure().
  Status call_guest(const char* name, std::initializer_list<uint32_t> args, uint32_t* result);
  // The Status of a failed guest call whose raw description is `detail`;
  // marks the instance for replacement.
  Status guest_failure(const std::string& detail);

  // Rejected, naming `what`, unless [ptr, ptr + size) lies in guest memory.
  Status check_range(uint64_t ptr, uint64_t size, const std::string& what);
  // Guest memory [ptr, ptr + size) (see GuestEngine::read_memory).
  Result<ByteView> read_guest(uint64_t ptr, uint64_t size, const std::string& what, Bytes* scratch);
  // Copies `payload` into a fresh guest buffer (u32 length + payload) from
  // sqlsync_alloc; returns its address. Re-enters the guest when called from
  // an import.
  Result<uint32_t> send_buffer(ByteView payload);
  // Copies the payload of the guest buffer at `ptr` and frees it in the guest.
  Result<Bytes> receive_buffer(uint32_t ptr, const std::string& what);

  Status sql_import(SqlImport import, const uint32_t* args, uint32_t* result);
  Status log_import(const uint32_t* args);

  const std::unique_ptr<GuestEngine> engine_;
  const GuestLimits limits_;
  const WasmLogSink log_;
  uint32_t schema_version_ = 0;
  bool needs_reset_ = false;
  // The current top-level guest call, and whether it ran out of memory in a
  // way the engine cannot see (sqlsync_alloc returning 0, a buffer over the
  // cap, memory grown past the cap by an engine that does not enforce it).
  GuestCall call_;
  bool out_of_memory_ = false;
  // Scratch space, reused across calls to spare allocations.
  Bytes sql_text_;
  Bytes sql_params_bytes_;
  std::vector<Value> sql_params_;
  Bytes sql_reply_;
  Bytes outgoing_;
};

}  // namespace sqlsync
