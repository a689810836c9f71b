// The sans-IO replication state machine for one connection. It never touches
// a socket: feed it incoming messages, send what it returns. One session
// replicates any number of journals in both directions: the journals this
// side owns (sources) and the ones it receives (destinations).
//
// Sender: after start(), a RangeRequest per source; on the receiver's
// RangeReply it sends frames from the receiver's next LSN, at most `window`
// unacknowledged at a time, each carrying the frames hint.
// Only durable entries of a source are sent (Journal::durable_next()).
// Receiver: accepts frames contiguously (re-sends of what it has are
// acknowledged and ignored, gaps are an error) and acknowledges what is
// durable (ReplicationDestination::acknowledged_next()) with a RangeReply:
// eagerly, when the hint says no more frames are ready, after window / 2
// unacknowledged frames, and from poll() once more of it became durable; or
// lazily, only once window / 2 durable frames are unacknowledged (see
// Options::acknowledge_each_burst).
// Any error returned means the peer broke the protocol: close the connection;
// a new connection starts again with a new session, so nothing is lost.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <vector>

#include "storage/journal.h"
#include "sync/protocol.h"

namespace sqlsync {

// Where received frames of one journal go.
class ReplicationDestination {
 public:
  virtual ~ReplicationDestination() = default;
  // What this side holds of the journal; next() is the next LSN it accepts.
  virtual LsnRange range() = 0;
  // Stores the entry at `lsn` == range().next(). `remaining` is the sender's
  // hint. An error rejects the frame (nothing stored).
  virtual Status write(Lsn lsn, ByteView entry, uint64_t remaining) = 0;
  // The next LSN this side may acknowledge: entries before it are durable
  // here (or need not be). Never above range().next(); never moves back.
  virtual Lsn acknowledged_next() { return range().next(); }
};

class ReplicationSession {
 public:
  struct Options {
    // Unacknowledged frames in flight per journal (0 counts as 1). Both
    // peers must use the same window: the receiver acknowledges every
    // window / 2 frames.
    uint32_t window = 64;
    // True: acknowledge at the end of every burst and whenever more became
    // durable, for a peer that reads acknowledgements as confirmations (the
    // coordinator's acknowledgement tells a replica that its mutations are
    // durable and applied). False: acknowledge only once window / 2 durable
    // frames are unacknowledged, which is all the sender's window needs and
    // saves a message per burst when frames arrive one at a time (a replica
    // receives one storage frame per coordinator round).
    bool acknowledge_each_burst = true;
  };
  // Resolves the destination for a journal the peer announces with a
  // RangeRequest (called once per journal per session); an error refuses it.
  using ResolveDestination =
      std::function<Result<ReplicationDestination*>(const JournalId& journal, const LsnRange& source_range)>;

  ReplicationSession(Options options, ResolveDestination resolve);

  // Registers a journal this side sends; `source` must outlive the session.
  // If the session has started, returns the RangeRequest to send. Adding a
  // journal id again only replaces the pointer (and sends nothing).
  std::vector<Message> add_source(Journal* source);
  // Stops sending `journal` (before its owner deletes it); no-op if unknown.
  void remove_source(const JournalId& journal) { outgoing_.erase(journal); }
  bool has_source(const JournalId& journal) const { return outgoing_.count(journal) != 0; }
  // Stops receiving `journal` (its destination moved on, e.g. to the next
  // storage log): no more acknowledgements of it; a later frame of it is an
  // error unless the peer announces it again. No-op if unknown.
  void remove_destination(const JournalId& journal) { incoming_.erase(journal); }
  // The first messages of a connection: a RangeRequest per source.
  std::vector<Message> start();
  // Handles one incoming message; returns the messages to send in reply.
  Result<std::vector<Message>> handle(const Message& message);
  // Frames the sources have ready that the window allows (call after a
  // source grows or syncs), and acknowledgements of entries that became
  // durable since they arrived.
  Result<std::vector<Message>> poll();

  // True if the newest frame received on any journal said more are coming.
  bool expecting_more_frames() const;

 private:
  struct Outgoing {
    Journal* source = nullptr;
    bool peer_known = false;  // a RangeReply arrived
    Lsn acked_next = 0;       // receiver's next, from its latest RangeReply
    Lsn sent_next = 0;        // next LSN to send
  };
  struct Incoming {
    ReplicationDestination* destination = nullptr;
    uint32_t unacknowledged = 0;
    uint64_t last_remaining = 0;
    Lsn acked_next = 0;  // next LSN in the latest RangeReply sent
  };
  Status send_ready(Outgoing& out, std::vector<Message>& messages);
  // Whether `in` is due a lazy acknowledgement (acknowledge_each_burst off).
  bool lazy_acknowledgement_due(const Incoming& in) const;
  uint32_t half_window() const { return std::max<uint32_t>(1, options_.window / 2); }
  static RangeReply acknowledge(const JournalId& journal, Incoming& in);

  Options options_;
  ResolveDestination resolve_;
  bool started_ = false;
  std::map<JournalId, Outgoing> outgoing_;
  std::map<JournalId, Incoming> incoming_;
};

}  // namespace sqlsync
