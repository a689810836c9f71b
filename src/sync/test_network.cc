#include "sync/test_network.h"

#include <utility>

namespace sqlsync::testing {

std::string dump(const Result<QueryResult>& result) {
  if (!result.is_ok()) return result.status().to_string();
  std::string out;
  for (const Row& row : result->rows) {
    for (const Value& value : row) out += value_to_string(value) + " ";
    out += "\n";
  }
  return out;
}

std::string counted(std::string_view author, int seq) {
  return "{\"tag\":\"Increment\",\"counter\":\"c\",\"by\":1,\"author\":\"" + std::string(author) +
         "\",\"seq\":" + std::to_string(seq) + "}";
}

std::string applied_counts(CoordinatorDocument& coordinator) {
  return dump(coordinator.query("SELECT author, seq, count(*) FROM applied GROUP BY author, seq ORDER BY 1, 2"));
}

TestNetwork::TestNetwork(std::unique_ptr<CoordinatorDocument>& coordinator,
                         std::vector<std::unique_ptr<LocalDocument>>& clients, Options options)
    : coordinator_(coordinator), clients_(clients), options_(std::move(options)) {}

void TestNetwork::connect(size_t client) {
  for (Bytes& message : clients_[client]->connect()) to_coordinator_[client].push_back(std::move(message));
  for (Bytes& message : coordinator_->connect(client)) to_client_[client].push_back(std::move(message));
}

Status TestNetwork::disconnect(size_t client) {
  to_coordinator_[client].clear();
  to_client_[client].clear();
  if (coordinator_) coordinator_->disconnect(client);
  if (!clients_[client] || !clients_[client]->connected()) return Status::ok();
  return clients_[client]->disconnect().with_context("client " + std::to_string(client) + " disconnect");
}

void TestNetwork::drop_all() {
  to_coordinator_.clear();
  to_client_.clear();
}

Status TestNetwork::checked(size_t who, const char* call, const Status& status) const {
  Status named = status;
  if (!status.is_ok()) {
    named = status.with_context((who == kCoordinator ? std::string("coordinator") : "client " + std::to_string(who)) +
                                " " + call);
  }
  Status seen = options_.check ? options_.check(who, named) : named;
  return seen.is_ok() ? named : seen;
}

Result<bool> TestNetwork::round(Step step) {
  Result<bool> moved = deliver_and_step(step);
  if (options_.after_round) options_.after_round(moved.status());
  return moved;
}

Result<bool> TestNetwork::deliver_and_step(Step step) {
  bool moved = false;
  if (step == Step::kBeforeAndAfter) SQLSYNC_RETURN_IF_ERROR(step_coordinator(moved));
  for (size_t i = 0; i < clients_.size(); ++i) {
    if (!clients_[i] || !clients_[i]->connected()) continue;
    Result<std::vector<Bytes>> polled = clients_[i]->poll();
    SQLSYNC_RETURN_IF_ERROR(checked(i, "poll", polled.status()));
    for (Bytes& message : *polled) to_coordinator_[i].push_back(std::move(message));
    SQLSYNC_RETURN_IF_ERROR(deliver_to_coordinator(i, moved));
    SQLSYNC_RETURN_IF_ERROR(deliver_to_client(i, moved));
  }
  if (step != Step::kNever) SQLSYNC_RETURN_IF_ERROR(step_coordinator(moved));
  auto outgoing = coordinator_->poll();
  SQLSYNC_RETURN_IF_ERROR(checked(kCoordinator, "poll", outgoing.status()));
  for (auto& [connection, message] : *outgoing) to_client_[connection].push_back(std::move(message));
  for (size_t i = 0; i < clients_.size(); ++i) SQLSYNC_RETURN_IF_ERROR(deliver_to_client(i, moved));
  return moved;
}

Status TestNetwork::run_until_quiet() {
  for (int round_number = 0; round_number < options_.max_rounds; ++round_number) {
    SQLSYNC_ASSIGN_OR_RETURN(bool moved, round());
    if (moved) continue;
    for (size_t i = 0; i < clients_.size(); ++i) {
      if (!clients_[i]) continue;
      SQLSYNC_RETURN_IF_ERROR(checked(i, "flush", clients_[i]->flush()));
    }
    return Status::ok();
  }
  return Status::internal("the network did not quiesce within " + std::to_string(options_.max_rounds) + " rounds");
}

Status TestNetwork::deliver_to_coordinator(size_t client, bool& moved) {
  return deliver(to_coordinator_[client], to_client_[client], moved, [&](Bytes& message) -> Result<std::vector<Bytes>> {
    Result<std::vector<Bytes>> replies = coordinator_->receive(client, message);
    Status status = replies.status();
    if (!status.is_ok()) status = status.with_context("from client " + std::to_string(client));
    SQLSYNC_RETURN_IF_ERROR(checked(kCoordinator, "receive", status));
    return replies;
  });
}

Status TestNetwork::deliver_to_client(size_t client, bool& moved) {
  return deliver(to_client_[client], to_coordinator_[client], moved, [&](Bytes& message) -> Result<std::vector<Bytes>> {
    if (!clients_[client]) return std::vector<Bytes>();  // lost with the replica
    if (options_.on_deliver_to_client) options_.on_deliver_to_client(client, message);
    Result<std::vector<Bytes>> replies = clients_[client]->receive(message);
    SQLSYNC_RETURN_IF_ERROR(checked(client, "receive", replies.status()));
    return replies;
  });
}

Status TestNetwork::deliver(std::deque<Bytes>& queue, std::deque<Bytes>& replies, bool& moved,
                            const std::function<Result<std::vector<Bytes>>(Bytes& message)>& receive) {
  while (!queue.empty()) {
    moved = true;
    Bytes message = std::move(queue.front());
    queue.pop_front();
    SQLSYNC_ASSIGN_OR_RETURN(std::vector<Bytes> answers, receive(message));
    for (Bytes& answer : answers) replies.push_back(std::move(answer));
  }
  return Status::ok();
}

Status TestNetwork::step_coordinator(bool& moved) {
  if (!coordinator_->has_work()) return Status::ok();
  moved = true;
  return checked(kCoordinator, "step", coordinator_->step().status());
}

}  // namespace sqlsync::testing
