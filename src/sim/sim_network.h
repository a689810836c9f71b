// An in-memory network and seeded scheduler for one document: a
// CoordinatorDocument and N LocalDocuments (each with its own reducer: a
// TodoReducer unless Options::reducer makes another),
// all on one MemoryEnv, each client linked to the coordinator by two FIFO
// queues of encoded messages (client -> coordinator, coordinator -> client).
//
// Tests, the demo and benchmarks drive it event by event (connect, mutate,
// deliver, poll, step, flush, disconnect, advance the clock) or let
// random_step() pick the next event. Everything is a pure function of the
// seed: one clock and one random stream (MemoryEnv), a std::mt19937_64
// scheduler, ordered containers only, no wall clock.
//
// A link behaves like a real transport: when a receive() returns an error,
// both sides disconnect, the queues are dropped and the error is recorded in
// link_errors() (a healthy run has none). Errors of the documents' other
// calls are returned: they mean the run is broken.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/memory_env.h"
#include "sim/todo_reducer.h"
#include "sqlsync/coordinator_document.h"
#include "sqlsync/local_document.h"

namespace sqlsync {

using SimRng = std::mt19937_64;

// A uniform integer in [0, bound); bound > 0. (std::uniform_int_distribution
// differs between libstdc++ and libc++, so a seed would not replay across
// toolchains; mt19937_64's output is fixed by the standard.)
uint64_t sim_uniform(SimRng& rng, uint64_t bound);

// Something that happened in the simulation, for traces and progress output.
struct SimEvent {
  enum class Kind {
    kConnect,
    kDisconnect,
    kDeliverToCoordinator,
    kDeliverToClient,
    kLinkClosed,         // a receive() failed; detail: the error
    kMutate,             // the local reducer accepted; detail: mutation, lsn
    kLocalRejection,     // the local reducer refused (never sent)
    kRejectionReported,  // LocalDocument::on_rejection fired
    kPollClient,
    kPollCoordinator,
    kStep,
    kFlush,
    kAdvanceClock,
  };
  static constexpr size_t kCoordinator = SIZE_MAX;

  Kind kind;
  size_t client;  // kCoordinator for events of the coordinator alone
  std::string detail;

  // "client 1 mutate: {...} (lsn 3)", "coordinator step: ...".
  std::string to_string() const;
};
const char* sim_event_kind_name(SimEvent::Kind kind);

// A mutation a client is about to make.
struct SimMutation {
  std::string json;        // the mutation: a JSON object for TodoReducer
  bool attributed = true;  // stamp "author" and "seq" into it
};

struct SimClientStats {
  uint64_t mutations = 0;         // accepted locally: joined the timeline
  uint64_t local_rejections = 0;  // refused by the local reducer, never sent
  uint64_t messages_received = 0;
  uint64_t frames_received = 0;  // storage frames among messages_received
  uint64_t connects = 0;
  uint64_t link_errors = 0;
};

struct SimCoordinatorStats {
  uint64_t steps = 0;  // step() calls that had work
  uint64_t applied = 0;
  uint64_t rejected = 0;
  uint64_t frames_committed = 0;
};

class SimNetwork {
 public:
  // What the workload sees when a client is about to mutate. `seq` is the
  // timeline LSN the mutation will get if the local reducer accepts it.
  struct MutationContext {
    size_t client;
    const std::string& author;
    int64_t seq;
    LocalDocument& document;
    SimRng& rng;
  };
  // Produces a client's next mutation. An error stops random_step().
  using Workload = std::function<Result<SimMutation>(const MutationContext&)>;
  // Makes the reducer of one replica: a client index, or
  // SimEvent::kCoordinator. Called once per replica by create(); an error
  // fails create().
  using ReducerFactory = std::function<Result<std::shared_ptr<Reducer>>(size_t replica)>;

  // Relative weights of the events random_step() chooses among (only events
  // possible at that moment compete; 0 disables an event).
  struct Weights {
    uint32_t deliver = 40;
    uint32_t mutate = 15;
    uint32_t poll_client = 12;
    uint32_t poll_coordinator = 8;
    uint32_t step = 8;
    uint32_t flush = 4;
    uint32_t disconnect = 1;
    uint32_t connect = 4;
    uint32_t advance_clock = 3;
  };

  struct Options {
    uint64_t seed = 1;
    size_t clients = 3;
    // Mutations random_step() makes per client, counted when the local
    // reducer accepts them.
    uint64_t mutations_per_client = 0;
    Workload workload;  // null: random_todo_mutation
    // null: a TodoReducer per replica. A workload whose mutations are not
    // todo mutations needs its own reducer and its own Workload.
    ReducerFactory reducer;
    Weights weights;
    // Called synchronously for every event.
    std::function<void(const SimEvent&)> on_event;
    // settle() gives up (with an error) after this many rounds.
    uint64_t max_settle_rounds = 100'000;
  };

  // Opens the coordinator and the clients; every client starts disconnected.
  static Result<std::unique_ptr<SimNetwork>> create(Options options);
  ~SimNetwork();

  size_t client_count() const { return clients_.size(); }
  // The documents stay owned by the network. SimNetwork has installed each
  // client's on_rejection callback: read rejections() instead.
  LocalDocument& client(size_t index) { return *clients_[index].document; }
  CoordinatorDocument& coordinator() { return *coordinator_; }
  MemoryEnv& env() { return *env_; }
  SimRng& rng() { return rng_; }

  // "c0", "c1", ...: the author stamped into the client's mutations.
  const std::string& author(size_t client) const { return clients_[client].author; }
  const SimClientStats& stats(size_t client) const { return clients_[client].stats; }
  const SimCoordinatorStats& coordinator_stats() const { return coordinator_stats_; }
  // Every mutation the client's reducer accepted, as sent, indexed by
  // timeline LSN (== seq).
  const std::vector<SimMutation>& sent(size_t client) const { return clients_[client].sent; }
  // Rejections reported to the client, in order.
  const std::vector<Rejection>& rejections(size_t client) const { return clients_[client].rejections; }
  // Every closed link: "client 2: <error>".
  const std::vector<std::string>& link_errors() const { return link_errors_; }

  // --- Events (each reported to Options::on_event) ---
  // Opens a link: connect() on both sides, their first messages queued.
  // No-op if connected.
  void connect(size_t client);
  // Closes a link: both sides disconnect, queued messages are lost. No-op if
  // disconnected. An error is the client's rebase failing.
  Status disconnect(size_t client);
  bool connected(size_t client) const { return clients_[client].connected; }
  // The client mutates. Stamps author and seq if `mutation.attributed` and it
  // is a JSON object. True if the local reducer accepted it, false if it
  // refused (Rejected); any other failure is an error.
  Result<bool> mutate(size_t client, SimMutation mutation);
  // Delivers the oldest message queued on one direction of a link; false if
  // that queue is empty.
  Result<bool> deliver_to_coordinator(size_t client);
  Result<bool> deliver_to_client(size_t client);
  // Queues what the side has ready to send; returns how many messages.
  Result<size_t> poll_client(size_t client);
  Result<size_t> poll_coordinator();
  // One coordinator step (no-op without work).
  Status step();
  Status flush(size_t client);
  void advance_clock(uint64_t micros);

  // One event chosen at random among those possible now, weighted by
  // Options::weights; mutations only while a client has budget left.
  Status random_step();
  // True once every client made Options::mutations_per_client mutations.
  bool workload_done() const;
  // Messages queued in both directions on all links.
  size_t messages_in_flight() const;

  // Runs the connected clients and the coordinator until nothing is in
  // flight, the coordinator has no work and no connected client has pending
  // mutations (advancing the clock while only the no-op acknowledgement
  // delay is outstanding). Error if that does not happen within
  // Options::max_settle_rounds.
  Status settle();
  // Connects every client, then settle(); reconnects and settles again
  // (a few times) if a link failed meanwhile.
  Status run_until_quiet();

 private:
  struct Client {
    std::unique_ptr<LocalDocument> document;
    std::string author;
    bool connected = false;
    CoordinatorDocument::ConnectionId connection = 0;
    std::deque<Bytes> to_coordinator;
    std::deque<Bytes> to_client;
    SimClientStats stats;
    std::vector<SimMutation> sent;
    std::vector<Rejection> rejections;
  };

  explicit SimNetwork(Options options);
  template <typename DetailFn>
  void emit(SimEvent::Kind kind, size_t client, DetailFn detail);
  Status close_link(size_t client, const Status& error, const char* receiver);
  Status mutate_randomly(size_t client);
  std::string settle_failure() const;

  Options options_;
  SimRng rng_;
  // Declared before the documents, which use it until they are destroyed.
  std::unique_ptr<MemoryEnv> env_;
  std::unique_ptr<CoordinatorDocument> coordinator_;
  std::vector<Client> clients_;
  std::map<CoordinatorDocument::ConnectionId, size_t> connection_owner_;
  CoordinatorDocument::ConnectionId last_connection_ = 0;
  SimCoordinatorStats coordinator_stats_;
  std::vector<std::string> link_errors_;
};

// The default workload: a random todo mutation that mostly succeeds locally
// (it targets tasks the client sees): create, toggle, rename, delete, clear
// completed (sometimes unattributed, so often a no-op), increment a counter,
// and rarely a toggle of a missing task that the local reducer refuses.
// Concurrent deletes make some of them fail on the coordinator.
Result<SimMutation> random_todo_mutation(const SimNetwork::MutationContext& context);

}  // namespace sqlsync
