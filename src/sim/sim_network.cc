#include "sim/sim_network.h"

#include <iterator>
#include <nlohmann/json.hpp>
#include <utility>

#include "sync/protocol.h"

namespace sqlsync {
namespace {

constexpr const char* kDescriptions[] = {
    "water the plants",   "buy oat milk",       "call the plumber",         "write the talk",
    "fix the flaky test", "book train tickets", "review the protocol spec", "take out the recycling",
};
constexpr const char* kCounters[] = {"likes", "visits"};

// While nothing else is left, the coordinator still owes acknowledgements of
// no-op mutations after CoordinatorDocument::Options::noop_ack_delay_micros:
// settle() moves the clock by this much per idle round until they come.
constexpr uint64_t kIdleClockStepMicros = 10'000;

std::string describe_bytes(ByteView bytes) {
  Result<Message> message = decode_message(bytes);
  if (!message.is_ok()) return std::to_string(bytes.size()) + " undecodable bytes";
  return describe(*message);
}

bool is_frame(ByteView bytes) {
  Result<Message> message = decode_message(bytes);
  return message.is_ok() && std::holds_alternative<FrameMessage>(*message);
}

// Stamps author and seq into a JSON object; anything else passes unchanged
// (so a workload can still send malformed mutations).
std::string attribute(const std::string& json, const std::string& author, int64_t seq) {
  nlohmann::json object = nlohmann::json::parse(json, nullptr, false);
  if (object.is_discarded() || !object.is_object()) return json;
  object["author"] = author;
  object["seq"] = seq;
  return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

uint64_t sim_uniform(SimRng& rng, uint64_t bound) { return rng() % bound; }

const char* sim_event_kind_name(SimEvent::Kind kind) {
  switch (kind) {
    case SimEvent::Kind::kConnect: return "connect";
    case SimEvent::Kind::kDisconnect: return "disconnect";
    case SimEvent::Kind::kDeliverToCoordinator: return "deliver to coordinator";
    case SimEvent::Kind::kDeliverToClient: return "deliver to client";
    case SimEvent::Kind::kLinkClosed: return "link closed";
    case SimEvent::Kind::kMutate: return "mutate";
    case SimEvent::Kind::kLocalRejection: return "local rejection";
    case SimEvent::Kind::kRejectionReported: return "rejection reported";
    case SimEvent::Kind::kPollClient: return "poll";
    case SimEvent::Kind::kPollCoordinator: return "poll";
    case SimEvent::Kind::kStep: return "step";
    case SimEvent::Kind::kFlush: return "flush";
    case SimEvent::Kind::kAdvanceClock: return "advance clock";
  }
  return "unknown event";
}

std::string SimEvent::to_string() const {
  std::string out = client == kCoordinator ? "coordinator" : "client " + std::to_string(client);
  out += std::string(" ") + sim_event_kind_name(kind);
  if (!detail.empty()) out += ": " + detail;
  return out;
}

SimNetwork::SimNetwork(Options options)
    : options_(std::move(options)), rng_(options_.seed), env_(std::make_unique<MemoryEnv>(options_.seed)) {}

SimNetwork::~SimNetwork() = default;

template <typename DetailFn>
void SimNetwork::emit(SimEvent::Kind kind, size_t client, DetailFn detail) {
  if (options_.on_event) options_.on_event(SimEvent{kind, client, detail()});
}

Result<std::unique_ptr<SimNetwork>> SimNetwork::create(Options options) {
  if (options.clients == 0) return Status::invalid_argument("a simulation needs at least one client");
  if (!options.workload) options.workload = random_todo_mutation;
  if (!options.reducer) {
    options.reducer = [](size_t) -> Result<std::shared_ptr<Reducer>> {
      return std::shared_ptr<Reducer>(std::make_shared<TodoReducer>());
    };
  }
  std::unique_ptr<SimNetwork> sim(new SimNetwork(std::move(options)));

  JournalId document_id = sim->env_->new_journal_id();
  CoordinatorDocument::Options coordinator_options;
  coordinator_options.document_id = document_id;
  SQLSYNC_ASSIGN_OR_RETURN(coordinator_options.reducer, sim->options_.reducer(SimEvent::kCoordinator));
  coordinator_options.env = sim->env_.get();
  SQLSYNC_ASSIGN_OR_RETURN(sim->coordinator_, CoordinatorDocument::open(std::move(coordinator_options)));

  sim->clients_.resize(sim->options_.clients);
  for (size_t i = 0; i < sim->clients_.size(); ++i) {
    LocalDocument::Options client_options;
    client_options.document_id = document_id;
    SQLSYNC_ASSIGN_OR_RETURN(client_options.reducer, sim->options_.reducer(i));
    client_options.env = sim->env_.get();
    Client& client = sim->clients_[i];
    SQLSYNC_ASSIGN_OR_RETURN(client.document, LocalDocument::open(std::move(client_options)));
    client.author = "c" + std::to_string(i);
    SimNetwork* network = sim.get();
    client.document->on_rejection([network, i](const Rejection& rejection) {
      network->clients_[i].rejections.push_back(rejection);
      network->emit(SimEvent::Kind::kRejectionReported, i,
                    [&] { return "lsn " + std::to_string(rejection.lsn) + ": " + rejection.message; });
    });
  }
  return sim;
}

void SimNetwork::connect(size_t index) {
  Client& client = clients_[index];
  if (client.connected) return;
  client.connected = true;
  client.connection = ++last_connection_;
  connection_owner_[client.connection] = index;
  ++client.stats.connects;
  for (Bytes& message : client.document->connect()) client.to_coordinator.push_back(std::move(message));
  for (Bytes& message : coordinator_->connect(client.connection)) client.to_client.push_back(std::move(message));
  emit(SimEvent::Kind::kConnect, index, [&] { return "connection " + std::to_string(client.connection); });
}

Status SimNetwork::disconnect(size_t index) {
  Client& client = clients_[index];
  if (!client.connected) return Status::ok();
  client.connected = false;
  connection_owner_.erase(client.connection);
  coordinator_->disconnect(client.connection);
  client.to_coordinator.clear();
  client.to_client.clear();
  emit(SimEvent::Kind::kDisconnect, index, [&] { return "connection " + std::to_string(client.connection); });
  return client.document->disconnect().with_context(client.author + " disconnect");
}

Status SimNetwork::close_link(size_t index, const Status& error, const char* receiver) {
  Client& client = clients_[index];
  ++client.stats.link_errors;
  std::string what = std::string(receiver) + " refused a message: " + error.to_string();
  link_errors_.push_back("client " + std::to_string(index) + ": " + what);
  emit(SimEvent::Kind::kLinkClosed, index, [&] { return what; });
  return disconnect(index);
}

Result<bool> SimNetwork::mutate(size_t index, SimMutation mutation) {
  Client& client = clients_[index];
  const auto seq = static_cast<int64_t>(client.sent.size());
  if (mutation.attributed) mutation.json = attribute(mutation.json, client.author, seq);
  Status status = client.document->mutate(as_bytes(mutation.json));
  if (status.code() == StatusCode::kRejected) {
    ++client.stats.local_rejections;
    emit(SimEvent::Kind::kLocalRejection, index, [&] { return mutation.json + ": " + status.message(); });
    return false;
  }
  SQLSYNC_RETURN_IF_ERROR(status.with_context(client.author + " mutate " + mutation.json));
  ++client.stats.mutations;
  emit(SimEvent::Kind::kMutate, index, [&] { return mutation.json + " (lsn " + std::to_string(seq) + ")"; });
  client.sent.push_back(std::move(mutation));
  return true;
}

Result<bool> SimNetwork::deliver_to_coordinator(size_t index) {
  Client& client = clients_[index];
  if (client.to_coordinator.empty()) return false;
  Bytes message = std::move(client.to_coordinator.front());
  client.to_coordinator.pop_front();
  emit(SimEvent::Kind::kDeliverToCoordinator, index, [&] { return describe_bytes(message); });
  Result<std::vector<Bytes>> replies = coordinator_->receive(client.connection, message);
  if (!replies.is_ok()) {
    SQLSYNC_RETURN_IF_ERROR(close_link(index, replies.status(), "coordinator"));
    return true;
  }
  for (Bytes& reply : *replies) client.to_client.push_back(std::move(reply));
  return true;
}

Result<bool> SimNetwork::deliver_to_client(size_t index) {
  Client& client = clients_[index];
  if (client.to_client.empty()) return false;
  Bytes message = std::move(client.to_client.front());
  client.to_client.pop_front();
  ++client.stats.messages_received;
  if (is_frame(message)) ++client.stats.frames_received;
  emit(SimEvent::Kind::kDeliverToClient, index, [&] { return describe_bytes(message); });
  Result<std::vector<Bytes>> replies = client.document->receive(message);
  if (!replies.is_ok()) {
    SQLSYNC_RETURN_IF_ERROR(close_link(index, replies.status(), "client"));
    return true;
  }
  for (Bytes& reply : *replies) client.to_coordinator.push_back(std::move(reply));
  return true;
}

Result<size_t> SimNetwork::poll_client(size_t index) {
  Client& client = clients_[index];
  if (!client.connected) return size_t{0};
  Result<std::vector<Bytes>> messages = client.document->poll();
  if (!messages.is_ok()) return messages.status().with_context(client.author + " poll");
  for (Bytes& message : *messages) client.to_coordinator.push_back(std::move(message));
  emit(SimEvent::Kind::kPollClient, index, [&] { return std::to_string(messages->size()) + " messages"; });
  return messages->size();
}

Result<size_t> SimNetwork::poll_coordinator() {
  Result<std::vector<std::pair<CoordinatorDocument::ConnectionId, Bytes>>> messages = coordinator_->poll();
  if (!messages.is_ok()) return messages.status().with_context("coordinator poll");
  size_t queued = 0;
  for (auto& [connection, bytes] : *messages) {
    auto owner = connection_owner_.find(connection);
    // Messages for a closed connection are lost, as on a real transport.
    if (owner == connection_owner_.end()) continue;
    clients_[owner->second].to_client.push_back(std::move(bytes));
    ++queued;
  }
  emit(SimEvent::Kind::kPollCoordinator, SimEvent::kCoordinator, [&] { return std::to_string(queued) + " messages"; });
  return queued;
}

Status SimNetwork::step() {
  if (!coordinator_->has_work()) return Status::ok();
  Result<CoordinatorDocument::StepReport> report = coordinator_->step();
  if (!report.is_ok()) return report.status().with_context("coordinator step");
  ++coordinator_stats_.steps;
  coordinator_stats_.applied += report->applied;
  coordinator_stats_.rejected += report->rejected;
  if (report->committed_frame) ++coordinator_stats_.frames_committed;
  emit(SimEvent::Kind::kStep, SimEvent::kCoordinator, [&] {
    return std::to_string(report->applied) + " applied, " + std::to_string(report->rejected) + " rejected, " +
           (report->committed_frame ? "frame committed, storage log " + coordinator_->storage_range().to_string()
                                    : std::string("no frame"));
  });
  return Status::ok();
}

Status SimNetwork::flush(size_t index) {
  Client& client = clients_[index];
  emit(SimEvent::Kind::kFlush, index, [] { return std::string(); });
  return client.document->flush().with_context(client.author + " flush");
}

void SimNetwork::advance_clock(uint64_t micros) {
  env_->advance_micros(micros);
  emit(SimEvent::Kind::kAdvanceClock, SimEvent::kCoordinator,
       [&] { return "+" + std::to_string(micros) + " us, now " + std::to_string(env_->now_micros()) + " us"; });
}

bool SimNetwork::workload_done() const {
  for (const Client& client : clients_) {
    if (client.stats.mutations < options_.mutations_per_client) return false;
  }
  return true;
}

size_t SimNetwork::messages_in_flight() const {
  size_t total = 0;
  for (const Client& client : clients_) total += client.to_coordinator.size() + client.to_client.size();
  return total;
}

Status SimNetwork::mutate_randomly(size_t index) {
  Client& client = clients_[index];
  MutationContext context{index, client.author, static_cast<int64_t>(client.sent.size()), *client.document, rng_};
  SQLSYNC_ASSIGN_OR_RETURN(SimMutation mutation, options_.workload(context));
  return mutate(index, std::move(mutation)).status();
}

Status SimNetwork::random_step() {
  enum class Action { kDeliver, kMutate, kPollClient, kPollCoordinator, kStep, kFlush, kDisconnect, kConnect, kClock };
  // (client, toward the coordinator?) for every non-empty queue.
  std::vector<std::pair<size_t, bool>> links;
  std::vector<size_t> mutators, connected, disconnected;
  for (size_t i = 0; i < clients_.size(); ++i) {
    const Client& client = clients_[i];
    if (!client.to_coordinator.empty()) links.emplace_back(i, true);
    if (!client.to_client.empty()) links.emplace_back(i, false);
    if (client.stats.mutations < options_.mutations_per_client) mutators.push_back(i);
    (client.connected ? connected : disconnected).push_back(i);
  }
  const Weights& w = options_.weights;
  std::vector<std::pair<Action, uint32_t>> choices;
  auto offer = [&](Action action, uint32_t weight, bool possible) {
    if (possible && weight > 0) choices.emplace_back(action, weight);
  };
  offer(Action::kDeliver, w.deliver, !links.empty());
  offer(Action::kMutate, w.mutate, !mutators.empty());
  offer(Action::kPollClient, w.poll_client, !connected.empty());
  offer(Action::kPollCoordinator, w.poll_coordinator, true);
  offer(Action::kStep, w.step, coordinator_->has_work());
  offer(Action::kFlush, w.flush, true);
  offer(Action::kDisconnect, w.disconnect, !connected.empty());
  offer(Action::kConnect, w.connect, !disconnected.empty());
  offer(Action::kClock, w.advance_clock, true);
  uint64_t total = 0;
  for (const auto& choice : choices) total += choice.second;
  if (total == 0) return Status::invalid_argument("simulation weights leave no possible event");

  uint64_t roll = sim_uniform(rng_, total);
  Action action = choices.back().first;
  for (const auto& [candidate, weight] : choices) {
    if (roll < weight) {
      action = candidate;
      break;
    }
    roll -= weight;
  }
  auto pick = [&](const std::vector<size_t>& among) { return among[sim_uniform(rng_, among.size())]; };
  switch (action) {
    case Action::kDeliver: {
      auto [client, to_coordinator] = links[sim_uniform(rng_, links.size())];
      return (to_coordinator ? deliver_to_coordinator(client) : deliver_to_client(client)).status();
    }
    case Action::kMutate: return mutate_randomly(pick(mutators));
    case Action::kPollClient: return poll_client(pick(connected)).status();
    case Action::kPollCoordinator: return poll_coordinator().status();
    case Action::kStep: return step();
    case Action::kFlush: return flush(sim_uniform(rng_, clients_.size()));
    case Action::kDisconnect: return disconnect(pick(connected));
    case Action::kConnect: connect(pick(disconnected)); return Status::ok();
    case Action::kClock: advance_clock(1 + sim_uniform(rng_, 20'000)); return Status::ok();
  }
  return Status::internal("unhandled simulation action");
}

Status SimNetwork::settle() {
  for (uint64_t round = 0; round < options_.max_settle_rounds; ++round) {
    bool busy = false;
    for (size_t i = 0; i < clients_.size(); ++i) {
      SQLSYNC_ASSIGN_OR_RETURN(size_t polled, poll_client(i));
      busy = busy || polled > 0;
    }
    SQLSYNC_ASSIGN_OR_RETURN(size_t polled, poll_coordinator());
    busy = busy || polled > 0;
    // Round-robin over the links until every reply of every reply arrived.
    for (uint64_t deliveries = 0; messages_in_flight() > 0;) {
      if (++deliveries > options_.max_settle_rounds) {
        return Status::internal("messages kept flowing: " + settle_failure());
      }
      for (size_t i = 0; i < clients_.size(); ++i) {
        SQLSYNC_ASSIGN_OR_RETURN(bool to_coordinator, deliver_to_coordinator(i));
        SQLSYNC_ASSIGN_OR_RETURN(bool to_client, deliver_to_client(i));
        busy = busy || to_coordinator || to_client;
      }
    }
    if (coordinator_->has_work()) {
      SQLSYNC_RETURN_IF_ERROR(step());
      busy = true;
    }
    for (size_t i = 0; i < clients_.size(); ++i) SQLSYNC_RETURN_IF_ERROR(flush(i));
    if (busy) continue;

    uint64_t pending = 0;
    for (const Client& client : clients_) {
      if (client.connected) pending += client.document->pending_mutations();
    }
    if (pending == 0) return Status::ok();
    advance_clock(kIdleClockStepMicros);
  }
  return Status::internal("simulation did not settle after " + std::to_string(options_.max_settle_rounds) +
                          " rounds: " + settle_failure());
}

std::string SimNetwork::settle_failure() const {
  std::string out = "coordinator has work: " + std::string(coordinator_->has_work() ? "yes" : "no") + ", storage log " +
                    coordinator_->storage_range().to_string();
  for (size_t i = 0; i < clients_.size(); ++i) {
    const Client& client = clients_[i];
    out += "; client " + std::to_string(i) + (client.connected ? " connected" : " disconnected") + ", " +
           std::to_string(client.document->pending_mutations()) + " pending mutations, " +
           std::to_string(client.to_coordinator.size()) + " + " + std::to_string(client.to_client.size()) +
           " messages queued, storage log " + client.document->storage_range().to_string();
  }
  return out;
}

Status SimNetwork::run_until_quiet() {
  // A link that fails while settling closes; reconnect as a client would.
  constexpr int kAttempts = 10;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    for (size_t i = 0; i < clients_.size(); ++i) connect(i);
    SQLSYNC_RETURN_IF_ERROR(settle());
    bool all_connected = true;
    for (const Client& client : clients_) all_connected = all_connected && client.connected;
    if (all_connected) return Status::ok();
  }
  return Status::internal("links kept failing while settling; last error: " + link_errors_.back());
}

Result<SimMutation> random_todo_mutation(const SimNetwork::MutationContext& context) {
  SQLSYNC_ASSIGN_OR_RETURN(std::vector<TodoTask> tasks, todo_tasks(todo_query(context.document)));
  SimRng& rng = context.rng;
  const std::string description = kDescriptions[sim_uniform(rng, std::size(kDescriptions))];
  const uint64_t roll = sim_uniform(rng, 100);
  if (roll < 2) return SimMutation{todo::toggle_task(context.author + "-missing"), true};
  if (roll < 5) return SimMutation{todo::clear_completed(), false};
  if (tasks.empty() || roll < 35) {
    return SimMutation{todo::create_task(context.author + "-" + std::to_string(context.seq), description), true};
  }
  const TodoTask& task = tasks[sim_uniform(rng, tasks.size())];
  if (roll < 55) return SimMutation{todo::toggle_task(task.id), true};
  if (roll < 67) return SimMutation{todo::rename_task(task.id, description), true};
  if (roll < 77) return SimMutation{todo::delete_task(task.id), true};
  if (roll < 80) return SimMutation{todo::clear_completed(), true};
  const auto by = static_cast<int64_t>(sim_uniform(rng, 8)) - 2;
  return SimMutation{todo::increment(kCounters[sim_uniform(rng, std::size(kCounters))], by), true};
}

}  // namespace sqlsync
