// The host side of the WASM reducer ABI v1 (docs/reducer-abi.md), without the
// engine that runs the guest: the byte encodings the host exchanges with the
// guest and the host's bookkeeping of a guest call. The native host
// (wasm_reducer.cc, guest in wabt's interpreter or compiled by wasm2c) and the
// browser host (src/web, guest on the browser's WebAssembly engine) both build
// on it, so they give the same verdicts and messages.
//
// Every function here works on bytes the caller copied out of (or will copy
// into) guest memory; nothing keeps a pointer into guest memory. Part of
// sqlsync_core: builds natively and with emscripten.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
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

}  // namespace sqlsync
