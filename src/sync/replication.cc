#include "sync/replication.h"

#include <algorithm>

namespace sqlsync {

ReplicationSession::ReplicationSession(Options options, ResolveDestination resolve)
    : options_(options), resolve_(std::move(resolve)) {
  options_.window = std::max<uint32_t>(options_.window, 1);
}

std::vector<Message> ReplicationSession::add_source(Journal* source) {
  auto [it, inserted] = outgoing_.try_emplace(source->id());
  it->second.source = source;
  if (!inserted || !started_) return {};
  return {RangeRequest{source->id(), source->range()}};
}

std::vector<Message> ReplicationSession::start() {
  started_ = true;
  std::vector<Message> messages;
  for (const auto& [journal, out] : outgoing_) messages.push_back(RangeRequest{journal, out.source->range()});
  return messages;
}

Result<std::vector<Message>> ReplicationSession::handle(const Message& message) {
  std::vector<Message> messages;
  if (const auto* request = std::get_if<RangeRequest>(&message)) {
    auto it = incoming_.find(request->journal);
    if (it == incoming_.end()) {
      SQLSYNC_ASSIGN_OR_RETURN(ReplicationDestination * destination,
                               resolve_(request->journal, request->source_range));
      it = incoming_.emplace(request->journal, Incoming{destination}).first;
    }
    it->second.unacknowledged = 0;
    messages.push_back(acknowledge(request->journal, it->second));
    return messages;
  }

  if (const auto* reply = std::get_if<RangeReply>(&message)) {
    auto it = outgoing_.find(reply->journal);
    if (it == outgoing_.end() || !started_) {
      return Status::invalid_argument("range reply for journal " + reply->journal.to_hex() +
                                      ", which this side has not announced");
    }
    Outgoing& out = it->second;
    Lsn next = reply->range.next();
    if (!out.peer_known) {
      Lsn source_next = out.source->range().next();
      if (next > source_next) {
        return Status::invalid_argument("receiver holds journal " + reply->journal.to_hex() + " up to lsn " +
                                        std::to_string(next - 1) + ", past the source's next lsn " +
                                        std::to_string(source_next));
      }
      out.peer_known = true;
      out.acked_next = next;
      out.sent_next = next;
    } else if (next < out.acked_next || next > out.sent_next) {
      return Status::invalid_argument("acknowledgement of journal " + reply->journal.to_hex() + " at next lsn " +
                                      std::to_string(next) + " is outside [" + std::to_string(out.acked_next) +
                                      ", " + std::to_string(out.sent_next) + "] (acknowledged, sent)");
    } else {
      out.acked_next = next;
    }
    SQLSYNC_RETURN_IF_ERROR(send_ready(out, messages));
    return messages;
  }

  const auto& frame = std::get<FrameMessage>(message);
  auto it = incoming_.find(frame.journal);
  if (it == incoming_.end()) {
    return Status::invalid_argument("frame lsn " + std::to_string(frame.lsn) + " for journal " +
                                    frame.journal.to_hex() + ", which the peer did not announce with a RangeRequest");
  }
  Incoming& in = it->second;
  Lsn next = in.destination->range().next();
  if (frame.lsn > next) {
    return Status::invalid_argument("gap in journal " + frame.journal.to_hex() + ": expected lsn " +
                                    std::to_string(next) + ", got " + std::to_string(frame.lsn));
  }
  // A frame below `next` is a re-send of what we hold: it is ignored but
  // still counts towards the acknowledgement, so the sender learns it arrived.
  if (frame.lsn == next) {
    Status written = in.destination->write(frame.lsn, frame.data, frame.remaining);
    if (!written.is_ok()) {
      return written.with_context("storing lsn " + std::to_string(frame.lsn) + " of journal " +
                                  frame.journal.to_hex());
    }
  }
  ++in.unacknowledged;
  in.last_remaining = frame.remaining;
  const bool due = options_.acknowledge_each_burst
                       ? frame.remaining == 0 || in.unacknowledged >= half_window()
                       : lazy_acknowledgement_due(in);
  if (due) {
    in.unacknowledged = 0;
    messages.push_back(acknowledge(frame.journal, in));
  }
  return messages;
}

// A sender whose window is full has window frames past the last
// acknowledgement; once half of them are durable here this acknowledges, so
// a lazy receiver never stalls its sender.
bool ReplicationSession::lazy_acknowledgement_due(const Incoming& in) const {
  return in.destination->acknowledged_next() >= in.acked_next + half_window();
}

RangeReply ReplicationSession::acknowledge(const JournalId& journal, Incoming& in) {
  const LsnRange held = in.destination->range();
  in.acked_next = std::min(in.destination->acknowledged_next(), held.next());
  return RangeReply{journal, LsnRange::half_open(std::min(held.first(), in.acked_next), in.acked_next)};
}

Result<std::vector<Message>> ReplicationSession::poll() {
  std::vector<Message> messages;
  for (auto& [journal, out] : outgoing_) {
    if (out.peer_known) SQLSYNC_RETURN_IF_ERROR(send_ready(out, messages));
  }
  for (auto& [journal, in] : incoming_) {
    const bool due = options_.acknowledge_each_burst ? in.destination->acknowledged_next() > in.acked_next
                                                     : lazy_acknowledgement_due(in);
    if (due) {
      in.unacknowledged = 0;
      messages.push_back(acknowledge(journal, in));
    }
  }
  return messages;
}

bool ReplicationSession::expecting_more_frames() const {
  return std::any_of(incoming_.begin(), incoming_.end(),
                     [](const auto& entry) { return entry.second.last_remaining > 0; });
}

Status ReplicationSession::send_ready(Outgoing& out, std::vector<Message>& messages) {
  const JournalId journal = out.source->id();
  // Entries not yet durable could vanish in a crash: never send them.
  const LsnRange range = LsnRange::half_open(out.source->range().first(), out.source->durable_next());
  // The owner may drop entries the receiver still needs (a compacted log);
  // they cannot be sent any more.
  if (out.sent_next < range.first()) {
    return Status::not_found("receiver needs lsn " + std::to_string(out.sent_next) + " but journal " +
                             journal.to_hex() + " starts at " + std::to_string(range.first()));
  }
  for (; out.sent_next < range.next() && out.sent_next - out.acked_next < options_.window; ++out.sent_next) {
    Lsn lsn = out.sent_next;
    SQLSYNC_ASSIGN_OR_RETURN(ByteView entry, out.source->read(lsn));
    if (entry.size() > kMaxFrameBytes) {
      return Status::invalid_argument("entry at lsn " + std::to_string(lsn) + " of journal " + journal.to_hex() +
                                      " is " + std::to_string(entry.size()) + " bytes, over the frame limit of " +
                                      std::to_string(kMaxFrameBytes));
    }
    messages.push_back(FrameMessage{journal, lsn, range.next() - lsn - 1, Bytes(entry.begin(), entry.end())});
  }
  return Status::ok();
}

}  // namespace sqlsync
