// Test support: a coordinator and replicas linked in memory, messages
// ferried by hand in rounds, plus the small helpers the document tests share.
//
// Unlike SimNetwork (src/sim/sim_network.h), which owns one world on one
// MemoryEnv and schedules events at random, TestNetwork owns nothing: it
// ferries messages between documents a test opens, crashes and reopens
// itself, each on whatever env the test chose. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sqlsync/coordinator_document.h"
#include "sqlsync/local_document.h"

namespace sqlsync::testing {

// One line per row, each value (value_to_string) followed by a space:
// "1 'milk' \n2 'eggs' \n"; the error's text if the query failed.
std::string dump(const Result<QueryResult>& result);

// A TodoReducer increment of counter "c" carrying (author, seq), so that
// applied_counts() tells how often the coordinator applied it.
std::string counted(std::string_view author, int seq);

// "author seq count \n" for every (author, seq) in the todo document's
// `applied` table, ordered: "'a' 0 1 \n'a' 1 1 \n".
std::string applied_counts(CoordinatorDocument& coordinator);

// Links replica i (clients[i]) with the coordinator as its connection i: two
// FIFO queues of encoded messages. The network reads `coordinator` and
// `clients` at every call, so a test may open, reset (a null document is
// skipped: messages for it are lost) or replace documents between calls;
// both must outlive the network.
class TestNetwork {
 public:
  // Who a call went to, for Options::check.
  static constexpr size_t kCoordinator = SIZE_MAX;

  struct Options {
    // Sees the status of every call the network makes to a document (`who`:
    // a client index or kCoordinator) and returns what the network makes of
    // it: an error ends the round and is returned. It may turn a success
    // into an error (a replica that crashed during the call), not the
    // reverse. Null: the status as it is.
    std::function<Status(size_t who, const Status& status)> check;
    // Called with every message before client `client` receives it; may
    // rewrite it.
    std::function<void(size_t client, Bytes& message)> on_deliver_to_client;
    // Called after every round, with its status.
    std::function<void(const Status& round)> after_round;
    // run_until_quiet() gives up (Internal) after this many rounds.
    int max_rounds = 10'000;
  };

  // When a round steps the coordinator (if it has work).
  enum class Step {
    kAfterDelivery,   // once the clients' messages were delivered
    kBeforeAndAfter,  // also first: replies may carry frames committed moments ago
    kNever,           // deliver and poll only
  };

  TestNetwork(std::unique_ptr<CoordinatorDocument>& coordinator, std::vector<std::unique_ptr<LocalDocument>>& clients,
              Options options);

  // Opens link i: connect() on both sides, their first messages queued.
  void connect(size_t client);
  // Closes link i: the client (if present and connected) and the
  // coordinator (if present) disconnect; queued messages are lost. The
  // client's disconnect() status.
  Status disconnect(size_t client);
  // Drops every queued message, as a dead coordinator would.
  void drop_all();

  // One round: every connected client's poll() and queued messages go to
  // the coordinator, whose replies go back at once, as a server sends them;
  // the coordinator steps (see `step`) and polls, and everything queued for
  // the clients is delivered. True if anything moved. The first error
  // (after Options::check) ends the round, with what failed in its message.
  Result<bool> round(Step step = Step::kAfterDelivery);
  // Rounds until one moves nothing, then flush() on every client.
  Status run_until_quiet();

 private:
  // The status of `call` on `who`, named and passed through Options::check.
  Status checked(size_t who, const char* call, const Status& status) const;
  Result<bool> deliver_and_step(Step step);
  Status deliver_to_coordinator(size_t client, bool& moved);
  Status deliver_to_client(size_t client, bool& moved);
  // Hands every message of `queue`, oldest first, to `receive` and queues
  // what it answers on `replies`.
  Status deliver(std::deque<Bytes>& queue, std::deque<Bytes>& replies, bool& moved,
                 const std::function<Result<std::vector<Bytes>>(Bytes& message)>& receive);
  Status step_coordinator(bool& moved);

  std::unique_ptr<CoordinatorDocument>& coordinator_;
  std::vector<std::unique_ptr<LocalDocument>>& clients_;
  Options options_;
  std::map<size_t, std::deque<Bytes>> to_coordinator_, to_client_;
};

}  // namespace sqlsync::testing
