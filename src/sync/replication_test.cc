#include "sync/replication.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <random>

namespace sqlsync {
namespace {

JournalId test_id(uint8_t seed) {
  std::array<uint8_t, JournalId::kSize> bytes{};
  bytes.fill(seed);
  return JournalId(bytes);
}

Bytes entry_for(const JournalId& journal, Lsn lsn, size_t extra = 0) {
  std::string text = journal.to_hex().substr(0, 4) + ":" + std::to_string(lsn) + std::string(extra, '.');
  return Bytes(text.begin(), text.end());
}

void append_entries(MemoryJournal& journal, uint64_t count) {
  for (uint64_t i = 0; i < count; ++i) {
    ASSERT_TRUE(journal.append(entry_for(journal.id(), journal.range().next(), i % 7)).is_ok());
  }
}

// Appends received entries to a MemoryJournal, failing the test if one
// arrives out of order or twice.
class JournalDestination : public ReplicationDestination {
 public:
  explicit JournalDestination(JournalId id, Lsn next = 0) : journal_(id, next) {}

  LsnRange range() override { return journal_.range(); }
  Status write(Lsn lsn, ByteView entry, uint64_t /*remaining*/) override {
    EXPECT_EQ(journal_.range().next(), lsn) << "entry written out of order or twice";
    if (!fail_writes_.is_ok()) return fail_writes_;
    ++writes_;
    return journal_.append(entry);
  }

  MemoryJournal& journal() { return journal_; }
  uint64_t writes() const { return writes_; }
  void fail_writes(Status status) { fail_writes_ = std::move(status); }

 private:
  MemoryJournal journal_;
  uint64_t writes_ = 0;
  Status fail_writes_;
};

void expect_same_entries(MemoryJournal& source, MemoryJournal& copy) {
  ASSERT_EQ(source.range().next(), copy.range().next()) << "journal " << source.id().to_hex();
  for (Lsn lsn = std::max(source.range().first(), copy.range().first()); lsn < source.range().next(); ++lsn) {
    Result<ByteView> expected = source.read(lsn);
    Result<ByteView> actual = copy.read(lsn);
    ASSERT_TRUE(expected.is_ok() && actual.is_ok()) << "lsn " << lsn;
    EXPECT_EQ(as_text(*expected), as_text(*actual)) << "lsn " << lsn;
  }
}

// One replica: the journals it owns, the copies it receives, and its session
// of the current connection.
struct Peer {
  std::map<JournalId, std::unique_ptr<MemoryJournal>> sources;
  std::map<JournalId, std::unique_ptr<JournalDestination>> destinations;
  std::unique_ptr<ReplicationSession> session;
  // Per source, the receiver's next LSN from the newest RangeReply this
  // session handled: what the window is measured from.
  std::map<JournalId, Lsn> acked_next;

  MemoryJournal& add_source(const JournalId& id, uint64_t entries) {
    auto& journal = sources[id];
    journal = std::make_unique<MemoryJournal>(id);
    append_entries(*journal, entries);
    return *journal;
  }

  std::vector<Message> connect(ReplicationSession::Options options) {
    acked_next.clear();
    session = std::make_unique<ReplicationSession>(
        options,
        [this](const JournalId& journal, const LsnRange& source_range) -> Result<ReplicationDestination*> {
          auto& destination = destinations[journal];
          if (!destination) destination = std::make_unique<JournalDestination>(journal, source_range.first());
          return destination.get();
        });
    for (auto& [id, journal] : sources) EXPECT_TRUE(session->add_source(journal.get()).empty());
    return session->start();
  }
};

// Two peers joined by a connection: two FIFO queues of encoded messages.
// Every message is encoded by its sender and decoded by its receiver.
class Link {
 public:
  // `b_acknowledges_each_burst` sets b's acknowledgement policy (a's is
  // always eager, as a coordinator's).
  explicit Link(uint32_t window, bool b_acknowledges_each_burst = true)
      : window_(window), b_acknowledges_each_burst_(b_acknowledges_each_burst) {}

  Peer a;
  Peer b;
  uint64_t frames = 0;
  uint64_t replies = 0;  // RangeReply messages, including acknowledgements
  uint64_t max_in_flight = 0;

  // Fresh sessions on both sides; whatever was in flight is lost.
  void connect() {
    to_a_.clear();
    to_b_.clear();
    last_frame_to_a_.clear();
    last_frame_to_b_.clear();
    send(a, a.connect(ReplicationSession::Options{window_}));
    send(b, b.connect(ReplicationSession::Options{window_, b_acknowledges_each_burst_}));
  }

  void send(Peer& from, const std::vector<Message>& messages) {
    for (const Message& message : messages) {
      if (const auto* frame = std::get_if<FrameMessage>(&message)) {
        ++frames;
        uint64_t in_flight = frame->lsn + 1 - from.acked_next.at(frame->journal);
        max_in_flight = std::max(max_in_flight, in_flight);
        EXPECT_LE(in_flight, window_) << describe(message);
      } else if (std::holds_alternative<RangeReply>(message)) {
        ++replies;
      }
      queue_to(&from == &a ? b : a).push_back(encode_message(message));
    }
  }

  bool idle() const { return to_a_.empty() && to_b_.empty(); }

  // Delivers the oldest message queued for `to`, if any.
  void deliver(Peer& to) {
    std::deque<Bytes>& queue = queue_to(to);
    if (queue.empty()) return;
    Bytes encoded = std::move(queue.front());
    queue.pop_front();
    Result<Message> message = decode_message(encoded);
    ASSERT_TRUE(message.is_ok()) << message.status().to_string();
    if (std::holds_alternative<FrameMessage>(*message)) last_frame_to(to) = encoded;
    if (const auto* reply = std::get_if<RangeReply>(&*message)) to.acked_next[reply->journal] = reply->range.next();
    Result<std::vector<Message>> replies = to.session->handle(*message);
    ASSERT_TRUE(replies.is_ok()) << describe(*message) << ": " << replies.status().to_string();
    send(to, *replies);
  }

  // Delivers until nothing is in flight, alternating directions.
  void run() {
    while (!idle()) {
      deliver(a);
      deliver(b);
    }
  }

  // Delivers one message in a direction chosen by `rng`.
  void deliver_random(std::mt19937_64& rng) {
    bool to_a = to_b_.empty() || (!to_a_.empty() && rng() % 2 == 0);
    deliver(to_a ? a : b);
  }

  // Queues the newest frame `to` received on this connection again, as if
  // the peer had sent it twice.
  void duplicate_last_frame(Peer& to) {
    if (!last_frame_to(to).empty()) queue_to(to).push_front(last_frame_to(to));
  }

  void poll(Peer& from) {
    Result<std::vector<Message>> messages = from.session->poll();
    ASSERT_TRUE(messages.is_ok()) << messages.status().to_string();
    send(from, *messages);
  }

 private:
  std::deque<Bytes>& queue_to(const Peer& to) { return &to == &a ? to_a_ : to_b_; }
  Bytes& last_frame_to(const Peer& to) { return &to == &a ? last_frame_to_a_ : last_frame_to_b_; }

  uint32_t window_;
  bool b_acknowledges_each_burst_;
  std::deque<Bytes> to_a_;
  std::deque<Bytes> to_b_;
  Bytes last_frame_to_a_;
  Bytes last_frame_to_b_;
};

void expect_replicated(Peer& from, Peer& to) {
  for (auto& [id, source] : from.sources) {
    SCOPED_TRACE("journal " + id.to_hex());
    ASSERT_TRUE(to.destinations.count(id));
    expect_same_entries(*source, to.destinations.at(id)->journal());
  }
}

TEST(ReplicationTest, ReplicatesBothDirectionsOnOnePairOfSessions) {
  Link link(8);
  link.a.add_source(test_id(1), 200);
  link.a.add_source(test_id(2), 3);
  link.b.add_source(test_id(3), 150);
  link.connect();
  link.run();
  expect_replicated(link.a, link.b);
  expect_replicated(link.b, link.a);
  EXPECT_EQ(200u, link.b.destinations.at(test_id(1))->writes());
  EXPECT_EQ(150u, link.a.destinations.at(test_id(3))->writes());
  EXPECT_EQ(353u, link.frames);
  EXPECT_FALSE(link.a.session->expecting_more_frames());
  EXPECT_FALSE(link.b.session->expecting_more_frames());
}

TEST(ReplicationTest, WindowBoundsUnacknowledgedFrames) {
  for (uint32_t window : {1u, 2u, 5u, 16u}) {
    SCOPED_TRACE("window " + std::to_string(window));
    Link link(window);
    link.a.add_source(test_id(1), 100);
    link.connect();
    link.run();
    expect_replicated(link.a, link.b);
    // Link::send checks every frame against the window; the window is also
    // used in full.
    EXPECT_EQ(window, link.max_in_flight);
  }
}

TEST(ReplicationTest, AcknowledgementsAreBatched) {
  Link link(64);
  link.a.add_source(test_id(1), 1000);
  link.connect();
  link.run();
  expect_replicated(link.a, link.b);
  EXPECT_EQ(1000u, link.frames);
  // The reply to the RangeRequest plus one acknowledgement per 32 frames.
  EXPECT_EQ(1 + 1000 / 32 + 1, link.replies);
}

TEST(ReplicationTest, LastFrameOfABurstIsAcknowledgedAtOnce) {
  Link link(64);
  link.a.add_source(test_id(1), 3);
  link.connect();
  link.run();
  expect_replicated(link.a, link.b);
  EXPECT_EQ(2u, link.replies);  // the reply to the RangeRequest and one acknowledgement
}

// A source growing one entry at a time, each sent as a burst of one frame
// (as a coordinator sends one storage frame per round).
void trickle(Link& link, MemoryJournal& source, uint64_t entries) {
  for (uint64_t i = 0; i < entries; ++i) {
    append_entries(source, 1);
    link.poll(link.a);
    link.run();
  }
}

TEST(ReplicationTest, EagerReceiverAcknowledgesEveryBurst) {
  Link link(64);
  MemoryJournal& source = link.a.add_source(test_id(1), 0);
  link.connect();
  link.run();
  trickle(link, source, 100);
  expect_replicated(link.a, link.b);
  EXPECT_EQ(1u + 100u, link.replies);
}

TEST(ReplicationTest, LazyReceiverAcknowledgesEveryHalfWindow) {
  Link link(64, /*b_acknowledges_each_burst=*/false);
  MemoryJournal& source = link.a.add_source(test_id(1), 0);
  link.connect();
  link.run();
  trickle(link, source, 100);
  expect_replicated(link.a, link.b);
  // The reply to the RangeRequest, then one acknowledgement per 32 frames.
  EXPECT_EQ(1u + 100u / 32, link.replies);
}

TEST(ReplicationTest, LazyReceiverNeverStallsTheSender) {
  for (uint32_t window : {1u, 2u, 3u, 8u, 64u}) {
    SCOPED_TRACE("window " + std::to_string(window));
    Link link(window, /*b_acknowledges_each_burst=*/false);
    link.a.add_source(test_id(1), 500);
    link.connect();
    link.run();
    expect_replicated(link.a, link.b);
    EXPECT_EQ(window, link.max_in_flight);
  }
}

// Appends like JournalDestination but acknowledges only entries marked
// durable with make_durable().
class LaggingDestination : public JournalDestination {
 public:
  using JournalDestination::JournalDestination;
  Lsn acknowledged_next() override { return durable_next_; }
  void make_durable() { durable_next_ = range().next(); }

 private:
  Lsn durable_next_ = 0;
};

TEST(ReplicationTest, LazyReceiverAcknowledgesFromPollOnceDurable) {
  MemoryJournal source(test_id(1));
  append_entries(source, 10);
  ReplicationSession sender(ReplicationSession::Options{4}, nullptr);
  ASSERT_TRUE(sender.add_source(&source).empty());
  LaggingDestination destination(test_id(1));
  ReplicationSession receiver(ReplicationSession::Options{4, /*acknowledge_each_burst=*/false},
                              [&](const JournalId&, const LsnRange&) -> Result<ReplicationDestination*> {
                                return &destination;
                              });
  std::vector<Message> to_receiver = sender.start();
  Lsn acknowledged = 0;
  // Deliver everything each way until quiet; the receiver syncs only when
  // told, so the sender stops at a full window until then.
  auto run = [&] {
    while (!to_receiver.empty()) {
      std::vector<Message> to_sender;
      for (const Message& message : to_receiver) {
        Result<std::vector<Message>> replies = receiver.handle(message);
        ASSERT_TRUE(replies.is_ok()) << replies.status().to_string();
        to_sender.insert(to_sender.end(), replies->begin(), replies->end());
      }
      to_receiver.clear();
      for (const Message& message : to_sender) {
        acknowledged = std::get<RangeReply>(message).range.next();
        Result<std::vector<Message>> replies = sender.handle(message);
        ASSERT_TRUE(replies.is_ok()) << replies.status().to_string();
        to_receiver.insert(to_receiver.end(), replies->begin(), replies->end());
      }
    }
  };
  // Makes what arrived durable; poll() must acknowledge it at once, and the
  // sender answers with the frames its moved window allows (delivered).
  // Returns how many.
  auto make_durable_and_poll = [&]() -> size_t {
    destination.make_durable();
    Result<std::vector<Message>> polled = receiver.poll();
    EXPECT_TRUE(polled.is_ok() && polled->size() == 1) << "expected one acknowledgement";
    if (!polled.is_ok() || polled->size() != 1) return 0;
    acknowledged = std::get<RangeReply>(polled->front()).range.next();
    Result<std::vector<Message>> frames = sender.handle(polled->front());
    EXPECT_TRUE(frames.is_ok()) << frames.status().to_string();
    if (!frames.is_ok()) return 0;
    to_receiver = *frames;
    run();
    return frames->size();
  };
  run();
  EXPECT_EQ(4u, destination.range().next());  // a full window, none durable
  EXPECT_EQ(0u, acknowledged);
  EXPECT_EQ(4u, make_durable_and_poll());
  EXPECT_EQ(4u, acknowledged);
  EXPECT_EQ(2u, make_durable_and_poll());  // the last two of the 10 entries
  EXPECT_EQ(8u, acknowledged);
  EXPECT_EQ(0u, make_durable_and_poll());  // exactly half a window is due
  EXPECT_EQ(10u, acknowledged);
  // Nothing more is due.
  Result<std::vector<Message>> polled = receiver.poll();
  ASSERT_TRUE(polled.is_ok());
  EXPECT_TRUE(polled->empty());
}

// A receiver session announced `journal` and received nothing yet.
struct Receiver {
  JournalDestination destination{test_id(1)};
  ReplicationSession session{ReplicationSession::Options{4},
                             [this](const JournalId&, const LsnRange&) -> Result<ReplicationDestination*> {
                               return &destination;
                             }};
  Receiver() {
    Result<std::vector<Message>> reply = session.handle(RangeRequest{test_id(1), LsnRange::half_open(0, 100)});
    EXPECT_TRUE(reply.is_ok()) << reply.status().to_string();
  }
  Result<std::vector<Message>> frame(Lsn lsn, uint64_t remaining) {
    return session.handle(FrameMessage{test_id(1), lsn, remaining, entry_for(test_id(1), lsn)});
  }
};

TEST(ReplicationTest, DuplicatesAreIgnoredAndAcknowledged) {
  Receiver receiver;
  for (Lsn lsn = 0; lsn < 10; ++lsn) ASSERT_TRUE(receiver.frame(lsn, 9 - lsn).is_ok());
  ASSERT_EQ(10u, receiver.destination.writes());

  // Window 4: an acknowledgement every 2 frames, or when the hint is 0.
  Result<std::vector<Message>> first = receiver.frame(3, 6);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_TRUE(first->empty());
  Result<std::vector<Message>> second = receiver.frame(4, 5);
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  ASSERT_EQ(1u, second->size());
  const auto& ack = std::get<RangeReply>(second->front());
  EXPECT_EQ(LsnRange::half_open(0, 10), ack.range);

  Result<std::vector<Message>> last = receiver.frame(9, 0);
  ASSERT_TRUE(last.is_ok()) << last.status().to_string();
  EXPECT_EQ(1u, last->size());
  EXPECT_EQ(10u, receiver.destination.writes());
  for (Lsn lsn = 0; lsn < 10; ++lsn) {
    EXPECT_EQ(as_text(entry_for(test_id(1), lsn)), as_text(*receiver.destination.journal().read(lsn)));
  }
}

TEST(ReplicationTest, GapIsAnErrorAndStoresNothing) {
  Receiver receiver;
  ASSERT_TRUE(receiver.frame(0, 5).is_ok());
  Result<std::vector<Message>> gap = receiver.frame(2, 3);
  ASSERT_FALSE(gap.is_ok());
  EXPECT_EQ(StatusCode::kInvalidArgument, gap.status().code());
  EXPECT_NE(std::string::npos, gap.status().message().find("expected lsn 1, got 2")) << gap.status().to_string();
  EXPECT_EQ(LsnRange::half_open(0, 1), receiver.destination.range());
  EXPECT_EQ(1u, receiver.destination.writes());
}

TEST(ReplicationTest, FrameForUnannouncedJournalIsAnError) {
  Receiver receiver;
  Result<std::vector<Message>> result =
      receiver.session.handle(FrameMessage{test_id(2), 0, 0, entry_for(test_id(2), 0)});
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(StatusCode::kInvalidArgument, result.status().code());
  EXPECT_NE(std::string::npos, result.status().message().find(test_id(2).to_hex())) << result.status().to_string();
  EXPECT_EQ(0u, receiver.destination.writes());
}

TEST(ReplicationTest, DestinationErrorRejectsTheFrame) {
  Receiver receiver;
  receiver.destination.fail_writes(Status::io_error("disk full"));
  Result<std::vector<Message>> result = receiver.frame(0, 0);
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(StatusCode::kIOError, result.status().code());
  EXPECT_NE(std::string::npos, result.status().message().find("disk full")) << result.status().to_string();
  EXPECT_TRUE(receiver.destination.range().is_empty());
}

TEST(ReplicationTest, RefusedJournalIsAnError) {
  ReplicationSession session({}, [](const JournalId& journal, const LsnRange&) -> Result<ReplicationDestination*> {
    return Status::rejected("journal " + journal.to_hex() + " belongs to another document");
  });
  Result<std::vector<Message>> result = session.handle(RangeRequest{test_id(1), LsnRange::empty(0)});
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(StatusCode::kRejected, result.status().code());
}

TEST(ReplicationTest, DestinationIsResolvedOncePerJournal) {
  JournalDestination destination(test_id(1));
  int resolved = 0;
  ReplicationSession session({}, [&](const JournalId&, const LsnRange&) -> Result<ReplicationDestination*> {
    ++resolved;
    return &destination;
  });
  for (int i = 0; i < 3; ++i) {
    Result<std::vector<Message>> result = session.handle(RangeRequest{test_id(1), LsnRange::empty(0)});
    ASSERT_TRUE(result.is_ok()) << result.status().to_string();
  }
  EXPECT_EQ(1, resolved);
}

TEST(ReplicationTest, ExpectingMoreFramesFollowsTheHint) {
  Receiver receiver;
  EXPECT_FALSE(receiver.session.expecting_more_frames());
  ASSERT_TRUE(receiver.frame(0, 2).is_ok());
  EXPECT_TRUE(receiver.session.expecting_more_frames());
  ASSERT_TRUE(receiver.frame(1, 1).is_ok());
  EXPECT_TRUE(receiver.session.expecting_more_frames());
  ASSERT_TRUE(receiver.frame(2, 0).is_ok());
  EXPECT_FALSE(receiver.session.expecting_more_frames());
}

TEST(ReplicationTest, StartAnnouncesSourcesInJournalOrder) {
  MemoryJournal second(test_id(2));
  MemoryJournal first(test_id(1), 5);
  MemoryJournal late(test_id(0));
  ReplicationSession session({}, nullptr);
  EXPECT_TRUE(session.add_source(&second).empty());
  EXPECT_TRUE(session.add_source(&first).empty());
  std::vector<Message> start = session.start();
  ASSERT_EQ(2u, start.size());
  EXPECT_EQ(test_id(1), std::get<RangeRequest>(start[0]).journal);
  EXPECT_EQ(LsnRange::empty(5), std::get<RangeRequest>(start[0]).source_range);
  EXPECT_EQ(test_id(2), std::get<RangeRequest>(start[1]).journal);

  std::vector<Message> added = session.add_source(&late);
  ASSERT_EQ(1u, added.size());
  EXPECT_EQ(test_id(0), std::get<RangeRequest>(added[0]).journal);
  EXPECT_TRUE(session.add_source(&late).empty());
}

TEST(ReplicationTest, PollSendsEntriesAppendedAfterStart) {
  Link link(4);
  MemoryJournal& source = link.a.add_source(test_id(1), 2);
  link.connect();
  link.run();
  expect_replicated(link.a, link.b);

  append_entries(source, 10);
  link.run();
  EXPECT_EQ(2u, link.b.destinations.at(test_id(1))->writes()) << "nothing is sent before poll()";
  link.poll(link.a);
  link.run();
  expect_replicated(link.a, link.b);
  EXPECT_EQ(12u, link.b.destinations.at(test_id(1))->writes());
}

// Drives a sender session by hand: it announced one source of 10 entries.
struct Sender {
  MemoryJournal source{test_id(1)};
  ReplicationSession session{ReplicationSession::Options{4}, nullptr};
  Sender() {
    append_entries(source, 10);
    EXPECT_TRUE(session.add_source(&source).empty());
    EXPECT_EQ(1u, session.start().size());
  }
  Result<std::vector<Message>> reply(Lsn first, Lsn next) {
    return session.handle(RangeReply{test_id(1), LsnRange::half_open(first, next)});
  }
};

TEST(ReplicationTest, ReceiverBehindTruncatedSourceIsAnError) {
  Sender sender;
  ASSERT_TRUE(sender.source.drop_prefix(4).is_ok());
  Result<std::vector<Message>> result = sender.reply(0, 2);
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(StatusCode::kNotFound, result.status().code());
  EXPECT_NE(std::string::npos, result.status().message().find("receiver needs lsn 2"))
      << result.status().to_string();
  EXPECT_NE(std::string::npos, result.status().message().find("starts at 5")) << result.status().to_string();
}

TEST(ReplicationTest, ReceiverAtTruncationPointIsServed) {
  Sender sender;
  ASSERT_TRUE(sender.source.drop_prefix(4).is_ok());
  Result<std::vector<Message>> frames = sender.reply(5, 5);
  ASSERT_TRUE(frames.is_ok()) << frames.status().to_string();
  ASSERT_EQ(4u, frames->size());
  EXPECT_EQ(5u, std::get<FrameMessage>(frames->front()).lsn);
  EXPECT_EQ(4u, std::get<FrameMessage>(frames->front()).remaining);
}

TEST(ReplicationTest, InconsistentRepliesAreErrors) {
  {
    Sender sender;
    Result<std::vector<Message>> result =
        sender.session.handle(RangeReply{test_id(2), LsnRange::empty(0)});
    EXPECT_EQ(StatusCode::kInvalidArgument, result.status().code()) << "reply for a journal never announced";
  }
  {
    Sender sender;
    EXPECT_EQ(StatusCode::kInvalidArgument, sender.reply(0, 11).status().code()) << "receiver ahead of source";
  }
  {
    Sender sender;
    ASSERT_EQ(4u, sender.reply(0, 0)->size());
    EXPECT_EQ(StatusCode::kInvalidArgument, sender.reply(0, 5).status().code()) << "acknowledges unsent frames";
  }
  {
    Sender sender;
    ASSERT_EQ(4u, sender.reply(0, 0)->size());
    ASSERT_EQ(2u, sender.reply(0, 2)->size());
    EXPECT_EQ(StatusCode::kInvalidArgument, sender.reply(0, 1).status().code()) << "acknowledgement goes backwards";
  }
  {
    ReplicationSession session({}, nullptr);
    MemoryJournal source(test_id(1));
    EXPECT_TRUE(session.add_source(&source).empty());
    EXPECT_EQ(StatusCode::kInvalidArgument,
              session.handle(RangeReply{test_id(1), LsnRange::empty(0)}).status().code())
        << "reply before start";
  }
}

TEST(ReplicationTest, OversizedEntryIsNotSent) {
  Sender sender;
  ASSERT_TRUE(sender.source.append(Bytes(kMaxFrameBytes + 1, 0)).is_ok());
  Result<std::vector<Message>> result = sender.reply(0, 10);
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(StatusCode::kInvalidArgument, result.status().code());
  EXPECT_NE(std::string::npos, result.status().message().find("lsn 10")) << result.status().to_string();
}

// Connections drop at random points, losing whatever is in flight, while the
// sources keep growing and frames are sometimes delivered twice; each
// reconnect starts over with fresh sessions. The
// copies end equal to the sources, and JournalDestination checks that no
// entry was written twice or out of order.
TEST(ReplicationTest, RandomReconnectsConverge) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    uint32_t window = 1 + rng() % 12;
    Link link(window, /*b_acknowledges_each_burst=*/rng() % 2 == 0);
    std::vector<MemoryJournal*> sources = {
        &link.a.add_source(test_id(1), rng() % 40),
        &link.a.add_source(test_id(2), rng() % 5),
        &link.b.add_source(test_id(3), rng() % 40),
    };
    link.connect();
    int reconnects = 0;
    for (int step = 0; step < 400; ++step) {
      uint64_t action = rng() % 100;
      if (action < 3 && reconnects < 8) {
        ++reconnects;
        link.connect();
      } else if (action < 6) {
        link.duplicate_last_frame(rng() % 2 ? link.a : link.b);
      } else if (action < 18) {
        MemoryJournal* source = sources[rng() % sources.size()];
        append_entries(*source, 1 + rng() % 6);
        link.poll(source->id() == test_id(3) ? link.b : link.a);
      } else {
        link.deliver_random(rng);
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
    link.run();
    expect_replicated(link.a, link.b);
    expect_replicated(link.b, link.a);
    for (MemoryJournal* source : sources) {
      Peer& receiver = source->id() == test_id(3) ? link.a : link.b;
      EXPECT_EQ(source->range().size(), receiver.destinations.at(source->id())->writes());
    }
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace sqlsync
