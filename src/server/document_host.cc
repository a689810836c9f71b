#include "server/document_host.h"

namespace sqlsync {
namespace {

// A round normally needs one step; a reducer that ends its transaction makes
// step() retry the queue mutation by mutation inside that one call. The
// bound only guards against a coordinator whose has_work() never clears.
constexpr int kMaxStepsPerRound = 8;

}  // namespace

Result<std::unique_ptr<DocumentHost>> DocumentHost::open(Options options) {
  const uint32_t schema_version = options.document.reducer ? options.document.reducer->schema_version() : 0;
  SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<CoordinatorDocument> document,
                           CoordinatorDocument::open(options.document));
  return std::unique_ptr<DocumentHost>(new DocumentHost(std::move(options), std::move(document), schema_version));
}

DocumentHost::DocumentHost(Options options, std::unique_ptr<CoordinatorDocument> document, uint32_t schema_version)
    : max_in_flight_frames_(options.max_in_flight_frames),
      metrics_(options.metrics),
      document_(std::move(document)),
      schema_version_(schema_version) {}

Result<bool> DocumentHost::upgrade_reducer(std::shared_ptr<Reducer> reducer) {
  const uint32_t version = reducer->schema_version();
  if (version <= schema_version_) return false;
  SQLSYNC_RETURN_IF_ERROR(document_->set_reducer(std::move(reducer)));
  schema_version_ = version;
  return true;
}

std::vector<Bytes> DocumentHost::attach(ConnectionId id, bool can_write) {
  connections_[id].can_write = can_write;
  std::vector<Bytes> messages = document_->connect(id);
  for (const Bytes& message : messages) note_outgoing(id, message);
  return messages;
}

void DocumentHost::detach(ConnectionId id) {
  if (connections_.erase(id) == 0) return;
  document_->disconnect(id);
  std::erase_if(held_, [id](const auto& entry) { return entry.first == id; });
}

Status DocumentHost::check_message(ConnectionId id, Connection& connection, const Message& message,
                                   bool& forward) {
  forward = true;
  if (const auto* request = std::get_if<RangeRequest>(&message)) {
    // A client announces its timeline on every connection, so a read-only
    // client with nothing to send is tolerated (left unanswered: it will
    // never be asked for frames); one holding mutations is refused.
    if (!connection.can_write) {
      if (!request->source_range.is_empty()) {
        return Status::rejected("connection has the read right only: it may not send mutations (timeline " +
                                request->journal.to_hex() + " holds " + request->source_range.to_string() + ")");
      }
      forward = false;
    }
    return Status::ok();
  }
  const auto* frame = std::get_if<FrameMessage>(&message);
  if (frame == nullptr) return Status::ok();
  count(&ServerMetrics::frames_in, 1);
  auto acked = connection.acked_next.find(frame->journal);
  if (acked == connection.acked_next.end()) {
    if (!connection.can_write) {
      return Status::rejected("connection has the read right only: it may not send mutations (frame lsn " +
                              std::to_string(frame->lsn) + " of timeline " + frame->journal.to_hex() + ")");
    }
    return Status::invalid_argument("frame lsn " + std::to_string(frame->lsn) + " of timeline " +
                                    frame->journal.to_hex() + " arrived before the server's range reply for it");
  }
  if (frame->lsn >= acked->second + max_in_flight_frames_) {
    return Status::invalid_argument("frame lsn " + std::to_string(frame->lsn) +
                                    " is beyond the window: acknowledged up to " + std::to_string(acked->second) +
                                    ", window " + std::to_string(max_in_flight_frames_) + " (timeline " +
                                    frame->journal.to_hex() + ", connection " + std::to_string(id) + ")");
  }
  return Status::ok();
}

Status DocumentHost::receive(ConnectionId id, ByteView bytes) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return Status::invalid_argument("message on unknown connection " + std::to_string(id));
  SQLSYNC_ASSIGN_OR_RETURN(std::vector<ByteView> messages, split_batch(bytes));
  for (ByteView encoded : messages) {
    SQLSYNC_ASSIGN_OR_RETURN(Message message, decode_message(encoded));
    bool forward = true;
    SQLSYNC_RETURN_IF_ERROR(check_message(id, it->second, message, forward));
    if (!forward) continue;
    SQLSYNC_ASSIGN_OR_RETURN(std::vector<Bytes> replies, document_->receive(id, encoded));
    for (Bytes& reply : replies) held_.emplace_back(id, std::move(reply));
  }
  return Status::ok();
}

Result<DocumentHost::Outbox> DocumentHost::end_round() {
  for (int i = 0; i < kMaxStepsPerRound && document_->has_work(); ++i) {
    SQLSYNC_ASSIGN_OR_RETURN(CoordinatorDocument::StepReport report, document_->step());
    count(&ServerMetrics::mutations_applied, report.applied);
    count(&ServerMetrics::mutations_rejected, report.rejected);
  }
  SQLSYNC_ASSIGN_OR_RETURN(Outbox polled, document_->poll());
  Outbox out = std::move(held_);
  held_.clear();
  out.reserve(out.size() + polled.size());
  for (auto& entry : polled) out.push_back(std::move(entry));
  for (const auto& [id, message] : out) note_outgoing(id, message);
  return out;
}

void DocumentHost::note_outgoing(ConnectionId id, ByteView bytes) {
  if (bytes.size() <= kTypeOffset) return;
  if (bytes[kTypeOffset] == static_cast<uint8_t>(MessageType::kFrame)) count(&ServerMetrics::frames_out, 1);
  if (bytes[kTypeOffset] != static_cast<uint8_t>(MessageType::kRangeReply)) return;
  auto connection = connections_.find(id);
  Result<Message> message = decode_message(bytes);
  if (connection == connections_.end() || !message.is_ok()) return;
  const auto& reply = std::get<RangeReply>(*message);
  Lsn& acked = connection->second.acked_next[reply.journal];
  acked = std::max(acked, reply.range.next());
}

void DocumentHost::count(std::atomic<uint64_t> ServerMetrics::*counter, uint64_t amount) {
  if (metrics_ != nullptr && amount > 0) (metrics_->*counter).fetch_add(amount, std::memory_order_relaxed);
}

}  // namespace sqlsync
