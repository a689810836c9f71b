// DocumentHost with in-process replicas: messages ferried by hand, no sockets.
#include "server/document_host.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "base/memory_env.h"
#include "sim/test_status.h"
#include "sim/todo_reducer.h"
#include "sqlsync/local_document.h"
#include "sync/protocol.h"

namespace sqlsync {
namespace {

using ConnectionId = DocumentHost::ConnectionId;

Bytes bytes_of(std::string_view text) { return Bytes(text.begin(), text.end()); }

// Creates table v<N> for each schema version N it migrates through.
class VersionedReducer final : public Reducer {
 public:
  explicit VersionedReducer(uint32_t version) : version_(version) {}
  uint32_t schema_version() const override { return version_; }
  Status migrate(Transaction& tx, uint32_t from, uint32_t to) override {
    for (uint32_t v = from + 1; v <= to; ++v) {
      SQLSYNC_RETURN_IF_ERROR(tx.execute("CREATE TABLE v" + std::to_string(v) + "(x)"));
    }
    return Status::ok();
  }
  Status reduce(Transaction&, ByteView) override { return Status::ok(); }

 private:
  uint32_t version_;
};

class DocumentHostTest : public ::testing::Test {
 protected:
  struct Client {
    std::unique_ptr<LocalDocument> document;  // null: the test speaks for it
    std::deque<Bytes> inbox;
  };

  void SetUp() override {
    document_id_ = env_.new_journal_id();
    DocumentHost::Options options;
    options.document.document_id = document_id_;
    options.document.reducer = std::make_shared<TodoReducer>();
    options.document.env = &env_;
    options.metrics = &metrics_;
    Result<std::unique_ptr<DocumentHost>> host = DocumentHost::open(std::move(options));
    ASSERT_OK(host);
    host_ = std::move(*host);
  }

  // A replica connected as `id`.
  LocalDocument& add_client(ConnectionId id, bool can_write) {
    LocalDocument::Options options;
    options.document_id = document_id_;
    options.reducer = std::make_shared<TodoReducer>();
    options.env = &env_;
    Result<std::unique_ptr<LocalDocument>> document = LocalDocument::open(std::move(options));
    EXPECT_TRUE(document.is_ok()) << document.status().to_string();
    Client& client = clients_[id];
    client.document = std::move(*document);
    connect(id, can_write);
    return *client.document;
  }

  void connect(ConnectionId id, bool can_write) {
    Client& client = clients_.at(id);
    for (Bytes& message : host_->attach(id, can_write)) client.inbox.push_back(std::move(message));
    for (Bytes& message : client.document->connect()) to_host_.emplace_back(id, std::move(message));
  }

  void disconnect(ConnectionId id) {
    host_->detach(id);
    if (clients_.at(id).document) ASSERT_OK(clients_.at(id).document->disconnect());
    clients_.at(id).inbox.clear();
    std::erase_if(to_host_, [id](const auto& entry) { return entry.first == id; });
  }

  // Delivers what the clients sent, then runs a round and hands its output to
  // the clients. The first error a connection caused is returned (that
  // connection is detached, as the server would).
  Status round() {
    Status first_error;
    auto messages = std::move(to_host_);
    to_host_.clear();
    for (auto& [id, message] : messages) {
      Status status = host_->receive(id, message);
      if (!status.is_ok() && first_error.is_ok()) {
        first_error = status;
        disconnect(id);
      }
    }
    Result<DocumentHost::Outbox> outbox = host_->end_round();
    if (!outbox.is_ok()) return outbox.status();
    for (auto& [id, message] : *outbox) clients_.at(id).inbox.push_back(std::move(message));
    return first_error;
  }

  // Rounds until nothing moves; each connected client answers its inbox.
  void sync() {
    for (int i = 0; i < 200; ++i) {
      ASSERT_OK(round());
      bool moved = false;
      for (auto& [id, client] : clients_) {
        if (!client.document || !client.document->connected()) continue;
        while (!client.inbox.empty()) {
          moved = true;
          Result<std::vector<Bytes>> replies = client.document->receive(client.inbox.front());
          client.inbox.pop_front();
          ASSERT_OK(replies);
          for (Bytes& reply : *replies) to_host_.emplace_back(id, std::move(reply));
        }
        Result<std::vector<Bytes>> polled = client.document->poll();
        ASSERT_OK(polled);
        for (Bytes& message : *polled) to_host_.emplace_back(id, std::move(message));
        ASSERT_OK(client.document->flush());
      }
      moved = moved || !to_host_.empty();
      env_.advance_micros(60'000);  // lets no-op acknowledgements fall due
      if (!moved && !host_->has_work()) return;
    }
    FAIL() << "no quiescence after 200 rounds";
  }

  std::string dump(LocalDocument& document) {
    Result<std::string> text = todo_dump(todo_query(document));
    EXPECT_TRUE(text.is_ok()) << text.status().to_string();
    return text.is_ok() ? *text : "";
  }

  MemoryEnv env_{11};
  ServerMetrics metrics_;
  JournalId document_id_;
  std::unique_ptr<DocumentHost> host_;
  std::map<ConnectionId, Client> clients_;
  std::deque<std::pair<ConnectionId, Bytes>> to_host_;
};

TEST_F(DocumentHostTest, ReplicasConvergeThroughRounds) {
  LocalDocument& a = add_client(1, true);
  LocalDocument& b = add_client(2, true);
  ASSERT_OK(a.mutate(as_bytes(todo::create_task("a1", "water the plants"))));
  ASSERT_OK(b.mutate(as_bytes(todo::create_task("b1", "buy oat milk"))));
  sync();
  ASSERT_OK(b.mutate(as_bytes(todo::toggle_task("a1"))));
  sync();
  Result<std::vector<TodoTask>> tasks = todo_tasks(todo_query(host_->document()));
  ASSERT_OK(tasks);
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_TRUE((*tasks)[0].completed);
  EXPECT_EQ(dump(a), dump(b));
  EXPECT_EQ(a.pending_mutations(), 0u);
  EXPECT_EQ(b.pending_mutations(), 0u);
  EXPECT_EQ(metrics_.mutations_applied.load(), 3u);
  EXPECT_GT(metrics_.frames_in.load(), 0u);
  EXPECT_GT(metrics_.frames_out.load(), 0u);
}

TEST_F(DocumentHostTest, ReadOnlyConnectionsReceiveButCannotSendMutations) {
  LocalDocument& writer = add_client(1, true);
  LocalDocument& reader = add_client(2, false);
  ASSERT_OK(writer.mutate(as_bytes(todo::create_task("w1", "write the talk"))));
  sync();
  EXPECT_EQ(dump(reader), dump(writer));

  // The reader's own mutation is never asked for on this connection...
  ASSERT_OK(reader.mutate(as_bytes(todo::create_task("r1", "sneak in"))));
  sync();
  EXPECT_EQ(reader.pending_mutations(), 1u);
  EXPECT_EQ(todo_tasks(todo_query(host_->document()))->size(), 1u);
  // ...and announcing it on a new connection is refused.
  disconnect(2);
  clients_[3] = std::move(clients_.at(2));
  clients_.erase(2);
  connect(3, false);
  Status refused = round();
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.code(), StatusCode::kRejected);
  EXPECT_NE(refused.message().find("read right only"), std::string::npos) << refused.to_string();

  ASSERT_OK(writer.mutate(as_bytes(todo::create_task("w2", "still syncing"))));
  sync();
  EXPECT_EQ(todo_tasks(todo_query(host_->document()))->size(), 2u);
}

TEST_F(DocumentHostTest, FramesPastTheWindowAreRefused) {
  LocalDocument& bystander = add_client(1, true);
  sync();
  clients_[2];  // a connection the test speaks for
  host_->attach(2, true);
  const JournalId timeline = env_.new_journal_id();
  const uint64_t window = 64;
  ASSERT_OK(host_->receive(2, encode_message(RangeRequest{timeline, LsnRange::half_open(0, 1000)})));
  // A frame before the server's reply is already a violation of the protocol.
  Status early = host_->receive(2, encode_message(FrameMessage{timeline, 0, 999, bytes_of("{}")}));
  ASSERT_FALSE(early.is_ok());
  EXPECT_NE(early.message().find("before the server's range reply"), std::string::npos) << early.to_string();
  ASSERT_OK(round());
  for (Lsn lsn = 0; lsn < window; ++lsn) {
    const std::string mutation = todo::create_task("f" + std::to_string(lsn), "flood");
    ASSERT_OK(host_->receive(2, encode_message(FrameMessage{timeline, lsn, 999 - lsn, bytes_of(mutation)})));
  }
  Status flood = host_->receive(2, encode_message(FrameMessage{timeline, window, 999 - window, bytes_of("{}")}));
  ASSERT_FALSE(flood.is_ok());
  EXPECT_NE(flood.message().find("beyond the window"), std::string::npos) << flood.to_string();
  disconnect(2);
  clients_.erase(2);

  ASSERT_OK(bystander.mutate(as_bytes(todo::create_task("b1", "unaffected"))));
  sync();
  EXPECT_EQ(bystander.pending_mutations(), 0u);
  EXPECT_EQ(dump(bystander), *todo_dump(todo_query(host_->document())));
}

TEST_F(DocumentHostTest, ABatchIsReceivedMessageByMessage) {
  clients_[2];  // a connection the test speaks for
  host_->attach(2, true);
  const JournalId timeline = env_.new_journal_id();
  const uint64_t window = 64;
  ASSERT_OK(host_->receive(2, encode_message(RangeRequest{timeline, LsnRange::half_open(0, 1000)})));
  ASSERT_OK(round());
  std::vector<Bytes> frames;
  for (Lsn lsn = 0; lsn <= window; ++lsn) {
    const std::string mutation = todo::create_task("f" + std::to_string(lsn), "batched");
    frames.push_back(encode_message(FrameMessage{timeline, lsn, 999 - lsn, bytes_of(mutation)}));
  }
  // The window applies to each message of a batch; the ones before the
  // faulty one are received.
  Status flood = host_->receive(2, encode_batch(std::move(frames)));
  ASSERT_FALSE(flood.is_ok());
  EXPECT_NE(flood.message().find("lsn 64 is beyond the window"), std::string::npos) << flood.to_string();
  ASSERT_OK(host_->end_round());
  Result<std::vector<TodoTask>> tasks = todo_tasks(todo_query(host_->document()));
  ASSERT_OK(tasks);
  EXPECT_EQ(tasks->size(), window);
}

TEST_F(DocumentHostTest, MalformedMessagesFailOnlyTheirConnection) {
  LocalDocument& a = add_client(1, true);
  add_client(2, true);
  sync();
  const Bytes garbage = {kProtocolVersion, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
  Status status = host_->receive(2, garbage);
  ASSERT_FALSE(status.is_ok());
  EXPECT_EQ(status.code(), StatusCode::kCorruption) << status.to_string();
  disconnect(2);
  ASSERT_OK(a.mutate(as_bytes(todo::create_task("a1", "fine"))));
  sync();
  EXPECT_EQ(a.pending_mutations(), 0u);
}

TEST_F(DocumentHostTest, UpgradesOnlyToHigherSchemaVersions) {
  DocumentHost::Options options;
  options.document.document_id = env_.new_journal_id();
  options.document.reducer = std::make_shared<VersionedReducer>(1);
  options.document.env = &env_;
  Result<std::unique_ptr<DocumentHost>> host = DocumentHost::open(std::move(options));
  ASSERT_OK(host);
  EXPECT_EQ((*host)->schema_version(), 1u);
  Result<bool> same = (*host)->upgrade_reducer(std::make_shared<VersionedReducer>(1));
  ASSERT_OK(same);
  EXPECT_FALSE(*same);
  Result<bool> higher = (*host)->upgrade_reducer(std::make_shared<VersionedReducer>(3));
  ASSERT_OK(higher);
  EXPECT_TRUE(*higher);
  EXPECT_EQ((*host)->schema_version(), 3u);
  ASSERT_OK((*host)->document().query("SELECT * FROM v3"));
  Result<bool> lower = (*host)->upgrade_reducer(std::make_shared<VersionedReducer>(2));
  ASSERT_OK(lower);
  EXPECT_FALSE(*lower);
  EXPECT_EQ((*host)->schema_version(), 3u);
}

}  // namespace
}  // namespace sqlsync
