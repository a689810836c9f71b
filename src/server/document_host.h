// One document as the server hosts it: a CoordinatorDocument plus what the
// network needs on top, still sans-IO so it can be tested without sockets.
// It tracks each connection's right (read-only connections may not send
// mutations) and flow-control window (a client may not send frames beyond
// what the server acknowledged plus the window), and runs rounds: the
// messages of a round are received, queued mutations applied, everything
// made durable, then the replies and new frames go out together.
//
// Not thread-safe: the server drives one DocumentHost from one strand.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "server/metrics.h"
#include "sync/protocol.h"
#include "sqlsync/coordinator_document.h"

namespace sqlsync {

class DocumentHost {
 public:
  using ConnectionId = CoordinatorDocument::ConnectionId;
  using Outbox = std::vector<std::pair<ConnectionId, Bytes>>;

  struct Options {
    CoordinatorDocument::Options document;  // as for CoordinatorDocument::open
    // Frames a connection may send past the server's latest acknowledgement
    // of that timeline (the protocol window, or more).
    uint64_t max_in_flight_frames = 64;
    ServerMetrics* metrics = nullptr;  // may be null; must outlive the host
  };

  // Opens (or creates) the document. Errors are CoordinatorDocument::open's.
  static Result<std::unique_ptr<DocumentHost>> open(Options options);

  CoordinatorDocument& document() { return *document_; }
  // The schema version of the reducer the document runs.
  uint32_t schema_version() const { return schema_version_; }
  // Replaces the reducer when `reducer`'s schema version is higher (its
  // migrations run now; their frame goes out with the next round) and
  // returns true; returns false and keeps the current one otherwise.
  Result<bool> upgrade_reducer(std::shared_ptr<Reducer> reducer);

  // A connection joins. `can_write`: it may send mutations (timelines).
  // Returns the messages to send it first. `id` must be new.
  std::vector<Bytes> attach(ConnectionId id, bool can_write);
  // A connection left (or was closed); its held messages are dropped.
  void detach(ConnectionId id);
  size_t connection_count() const { return connections_.size(); }

  // One transport message (a protocol message or a batch of them) from
  // connection `id`; replies are held until end_round(). Messages of a batch
  // before a faulty one have been received.
  // An error means the connection must be closed with the error's message
  // (then detach() it); other connections are unaffected. Rejected: the
  // connection's right does not allow the message (a read-only connection
  // announcing mutations); any other code: it broke the protocol (a
  // malformed message, frames past the window, or a violation the
  // coordinator found).
  Status receive(ConnectionId id, ByteView message);

  // Ends a round: applies queued mutations (step while there is work),
  // makes everything durable (poll), and returns each connection's messages
  // in order, replies from receive() first. An error means the document
  // failed (I/O): close every connection and drop the host; it reopens from
  // its directory.
  Result<Outbox> end_round();
  // True if a round would apply something now (e.g. a due no-op
  // acknowledgement): the server's timer checks it.
  bool has_work() const { return document_->has_work(); }

 private:
  struct Connection {
    bool can_write = false;
    // Per timeline: the LSN after the latest acknowledgement sent (frames
    // below acked_next + max_in_flight_frames are allowed).
    std::map<JournalId, Lsn> acked_next;
  };

  DocumentHost(Options options, std::unique_ptr<CoordinatorDocument> document, uint32_t schema_version);
  Status check_message(ConnectionId id, Connection& connection, const Message& message, bool& forward);
  void note_outgoing(ConnectionId id, ByteView message);
  void count(std::atomic<uint64_t> ServerMetrics::*counter, uint64_t amount);

  uint64_t max_in_flight_frames_;
  ServerMetrics* metrics_;
  std::unique_ptr<CoordinatorDocument> document_;
  uint32_t schema_version_;
  std::map<ConnectionId, Connection> connections_;
  Outbox held_;
};

}  // namespace sqlsync
