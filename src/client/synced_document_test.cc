// SyncedDocument against the real sqlsync-server on 127.0.0.1: convergence
// with the WASM todo reducer and the SQL guestbook reducer, the three stages
// of a mutation (including server rejections), connection status, backoff,
// enable/disable, subscriptions on a user executor, durable replicas, close.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <map>
#include <set>

#include "client/test_server.h"
#include "sim/test_status.h"
#include "sqlsync/client.h"
#include "sync/protocol.h"

namespace sqlsync {
namespace {

using testing::query_replica;
using testing::query_server;
using testing::ready_within;
using testing::TempDir;
using testing::TestServer;

constexpr int kWaitSeconds = 60;

// Records connection statuses; thread-safe.
class StatusLog {
 public:
  void add(const ConnectionStatus& status) {
    std::lock_guard lock(mutex_);
    statuses_.push_back(status);
    changed_.notify_all();
  }
  // Waits until some recorded status satisfies `match`.
  bool wait_for(const std::function<bool(const ConnectionStatus&)>& match, int seconds = kWaitSeconds) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(seconds), [&] {
      for (const ConnectionStatus& status : statuses_) {
        if (match(status)) return true;
      }
      return false;
    });
  }
  std::vector<ConnectionStatus> all() const {
    std::lock_guard lock(mutex_);
    return statuses_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<ConnectionStatus> statuses_;
};

bool is_state(const ConnectionStatus& status, ConnectionState state) { return status.state == state; }

std::string todo_mutation(const std::string& tag, const std::string& id, const std::string& author, int seq) {
  std::string json = "{\"tag\":\"" + tag + "\",\"id\":\"" + id + "\"";
  if (tag == "CreateTask") json += ",\"description\":\"task " + id + "\"";
  return json + ",\"author\":\"" + author + "\",\"seq\":" + std::to_string(seq) + "}";
}

class SyncedDocumentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<TestServer>> server = TestServer::start(SQLSYNC_SERVER_BINARY);
    ASSERT_OK(server);
    server_ = std::move(*server);
  }

  const ServerClient& http() const { return server_->http(); }

  SyncedDocument::Options options_for(const JournalId& document, const std::string& path, uint64_t seed) {
    Result<SyncedDocument::Options> options = server_->client_options(document, path, seed);
    EXPECT_TRUE(options.is_ok()) << options.status().to_string();
    return options.is_ok() ? std::move(*options) : SyncedDocument::Options{};
  }

  std::unique_ptr<SyncedDocument> open(SyncedDocument::Options options) {
    Result<std::unique_ptr<SyncedDocument>> document = SyncedDocument::open(std::move(options));
    EXPECT_TRUE(document.is_ok()) << document.status().to_string();
    return document.is_ok() ? std::move(*document) : nullptr;
  }

  std::unique_ptr<TestServer> server_;
};

// Every mutation's `confirmed` future resolves ok.
void expect_all_confirmed(std::vector<SyncedDocument::MutationHandle>& handles) {
  for (size_t i = 0; i < handles.size(); ++i) {
    Result<Lsn> applied = handles[i].applied.get();
    ASSERT_OK(applied);
    ASSERT_TRUE(ready_within(handles[i].confirmed, kWaitSeconds)) << "mutation " << i << " never confirmed";
    ASSERT_OK(handles[i].confirmed.get());
  }
}

TEST_F(SyncedDocumentTest, ClientsConvergeWithTheWasmTodoReducer) {
  Result<std::string> digest = server_->upload_reducer_file(SQLSYNC_TODO_REDUCER_WASM);
  ASSERT_OK(digest);
  // A document born offline: the server creates it on first contact.
  const JournalId document = Env::posix()->new_journal_id();

  constexpr int kClients = 3;
  constexpr int kTasksPerClient = 25;
  std::vector<std::unique_ptr<SyncedDocument>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(open(options_for(document, SQLSYNC_TODO_REDUCER_WASM, 100 + c)));
    ASSERT_NE(clients.back(), nullptr);
  }
  std::vector<std::vector<SyncedDocument::MutationHandle>> handles(kClients);
  for (int i = 0; i < kTasksPerClient; ++i) {
    for (int c = 0; c < kClients; ++c) {
      const std::string author = "c" + std::to_string(c);
      const std::string id = author + "-" + std::to_string(i);
      handles[c].push_back(clients[c]->mutate(as_bytes(todo_mutation("CreateTask", id, author, 2 * i))));
      if (i % 3 == 0) {
        handles[c].push_back(clients[c]->mutate(as_bytes(todo_mutation("ToggleTask", id, author, 2 * i + 1))));
      }
    }
  }
  for (auto& client_handles : handles) expect_all_confirmed(client_handles);

  Result<std::string> expected = todo_dump(query_server(http(), document));
  ASSERT_OK(expected);
  for (int c = 0; c < kClients; ++c) {
    ASSERT_OK(testing::sync_with_server(*clients[c], http()));
    Result<std::string> actual = todo_dump(query_replica(*clients[c]));
    ASSERT_OK(actual);
    EXPECT_EQ(*actual, *expected) << "client " << c;
    SyncedDocument::SyncState state = clients[c]->sync_state().get();
    EXPECT_EQ(state.pending_mutations, 0u);
    EXPECT_EQ(state.connection.state, ConnectionState::kConnected);
  }
  Result<std::vector<TodoTask>> tasks = todo_tasks(query_server(http(), document));
  ASSERT_OK(tasks);
  ASSERT_EQ(tasks->size(), size_t{kClients * kTasksPerClient});
  for (const TodoTask& task : *tasks) {
    const int number = std::stoi(task.id.substr(task.id.find('-') + 1));
    EXPECT_EQ(task.completed, number % 3 == 0) << task.id;
  }
  Result<QueryResult> applied = http().query(document, "SELECT count(*), count(DISTINCT author || '/' || seq) FROM applied");
  ASSERT_OK(applied);
  const int64_t total = kClients * (kTasksPerClient + (kTasksPerClient + 2) / 3);
  EXPECT_EQ(applied->rows, (std::vector<Row>{{Value(total), Value(total)}}));

  Result<DocumentInfo> info = http().document_info(document);
  ASSERT_OK(info);
  EXPECT_EQ(info->reducer_digest, *digest);
  EXPECT_EQ(info->schema_version, 1u);
}

TEST_F(SyncedDocumentTest, ClientsConvergeWithTheSqlGuestbookReducer) {
  ASSERT_OK(server_->upload_reducer_file(SQLSYNC_GUESTBOOK_SQL));
  const JournalId document = Env::posix()->new_journal_id();
  constexpr int kClients = 3;
  std::vector<std::unique_ptr<SyncedDocument>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(open(options_for(document, SQLSYNC_GUESTBOOK_SQL, 200 + c)));
    ASSERT_NE(clients.back(), nullptr);
  }
  // Each client signs, then everyone likes every entry twice.
  std::vector<SyncedDocument::MutationHandle> signed_in;
  for (int c = 0; c < kClients; ++c) {
    const std::string mutation = "{\"tag\":\"AddEntry\",\"id\":\"e" + std::to_string(c) + "\",\"author\":\"guest " +
                                 std::to_string(c) + "\",\"message\":\"hello from " + std::to_string(c) +
                                 "\",\"at\":" + std::to_string(1700000000000 + c) + "}";
    signed_in.push_back(clients[c]->mutate(as_bytes(mutation)));
  }
  expect_all_confirmed(signed_in);
  for (auto& client : clients) ASSERT_OK(testing::sync_with_server(*client, http()));
  std::vector<SyncedDocument::MutationHandle> likes;
  for (int round = 0; round < 2; ++round) {
    for (auto& client : clients) {
      for (int e = 0; e < kClients; ++e) {
        likes.push_back(client->mutate(as_bytes("{\"tag\":\"LikeEntry\",\"id\":\"e" + std::to_string(e) + "\"}")));
      }
    }
  }
  expect_all_confirmed(likes);

  const std::string sql = "SELECT id, author, message, likes FROM entries ORDER BY id";
  Result<QueryResult> expected = http().query(document, sql);
  ASSERT_OK(expected);
  ASSERT_EQ(expected->rows.size(), size_t{kClients});
  for (const Row& row : expected->rows) EXPECT_EQ(row[3], Value(int64_t{2 * kClients}));
  for (auto& client : clients) {
    ASSERT_OK(testing::sync_with_server(*client, http()));
    Result<QueryResult> actual = client->query(sql).get();
    ASSERT_OK(actual);
    EXPECT_EQ(*actual, *expected);
  }
}

TEST_F(SyncedDocumentTest, ServerRejectionReachesTheAuthor) {
  ASSERT_OK(server_->upload_reducer_file(SQLSYNC_TODO_REDUCER_WASM));
  const JournalId document = Env::posix()->new_journal_id();
  auto alice = open(options_for(document, SQLSYNC_TODO_REDUCER_WASM, 1));
  std::mutex mutex;
  std::vector<Rejection> rejections;
  SyncedDocument::Options bob_options = options_for(document, SQLSYNC_TODO_REDUCER_WASM, 2);
  bob_options.on_rejection = [&](const Rejection& rejection) {
    std::lock_guard lock(mutex);
    rejections.push_back(rejection);
  };
  auto bob = open(std::move(bob_options));
  ASSERT_TRUE(alice && bob);

  auto created = alice->mutate(as_bytes(todo::create_task("t1", "shared task")));
  ASSERT_TRUE(ready_within(created.confirmed, kWaitSeconds));
  ASSERT_OK(created.confirmed.get());
  ASSERT_OK(testing::sync_with_server(*bob, http()));

  // Bob, offline, toggles the task Alice deletes meanwhile: fine locally,
  // refused by the server's reducer once Bob reconnects.
  bob->set_connection_enabled(false);
  auto toggled = bob->mutate(as_bytes(todo::toggle_task("t1")));
  Result<Lsn> toggle_lsn = toggled.applied.get();
  ASSERT_OK(toggle_lsn);
  auto deleted = alice->mutate(as_bytes(todo::delete_task("t1")));
  ASSERT_TRUE(ready_within(deleted.confirmed, kWaitSeconds));
  ASSERT_OK(deleted.confirmed.get());
  EXPECT_EQ(toggled.confirmed.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  bob->set_connection_enabled(true);

  ASSERT_TRUE(ready_within(toggled.confirmed, kWaitSeconds));
  Status verdict = toggled.confirmed.get();
  EXPECT_EQ(verdict.code(), StatusCode::kRejected) << verdict.to_string();
  EXPECT_NE(verdict.message().find("no task with id \"t1\""), std::string::npos) << verdict.to_string();
  bob->close().ignore();
  std::lock_guard lock(mutex);
  ASSERT_EQ(rejections.size(), 1u);
  EXPECT_EQ(rejections[0].lsn, *toggle_lsn);
  EXPECT_EQ(rejections[0].timeline, bob->timeline_id());
  EXPECT_EQ(rejections[0].message, verdict.message());
}

TEST_F(SyncedDocumentTest, LocalErrorsAreReportedAtOnceAndNothingIsSent) {
  ASSERT_OK(server_->upload_reducer_file(SQLSYNC_TODO_REDUCER_WASM));
  auto client = open(options_for(Env::posix()->new_journal_id(), SQLSYNC_TODO_REDUCER_WASM, 3));
  ASSERT_NE(client, nullptr);
  auto handle = client->mutate(as_bytes(todo::toggle_task("missing")));
  Result<Lsn> applied = handle.applied.get();
  ASSERT_FALSE(applied.is_ok());
  EXPECT_EQ(applied.status().code(), StatusCode::kRejected);
  Status confirmed = handle.confirmed.get();
  EXPECT_EQ(confirmed.to_string(), applied.status().to_string());
  EXPECT_EQ(client->sync_state().get().pending_mutations, 0u);
  Result<QueryResult> bad_sql = client->query("SELECT nope FROM nowhere").get();
  EXPECT_FALSE(bad_sql.is_ok());
}

TEST_F(SyncedDocumentTest, ReconnectsWithBackoffUntilAServerAppears) {
  ASSERT_OK(server_->upload_reducer_file(SQLSYNC_GUESTBOOK_SQL));
  const uint16_t port = testing::unused_port();
  StatusLog log;
  SyncedDocument::Options options = options_for(Env::posix()->new_journal_id(), SQLSYNC_GUESTBOOK_SQL, 4);
  options.server_url = "http://127.0.0.1:" + std::to_string(port);
  options.reconnect_min_micros = 20'000;
  options.reconnect_max_micros = 80'000;
  options.on_connection_status = [&log](const ConnectionStatus& status) { log.add(status); };
  auto client = open(std::move(options));
  ASSERT_NE(client, nullptr);

  // Works offline meanwhile.
  auto added = client->mutate(as_bytes(R"({"tag":"AddEntry","id":"e1","author":"Ada","message":"offline","at":1})"));
  ASSERT_OK(added.applied.get());
  Result<QueryResult> local = client->query("SELECT message FROM entries").get();
  ASSERT_OK(local);
  EXPECT_EQ(local->rows, (std::vector<Row>{{Value(std::string("offline"))}}));

  ASSERT_TRUE(log.wait_for([](const ConnectionStatus& status) { return status.failed_attempts >= 5; }));
  for (const ConnectionStatus& status : log.all()) {
    if (status.state != ConnectionState::kDisconnected) continue;
    EXPECT_NE(status.reason.find("cannot connect to 127.0.0.1:" + std::to_string(port)), std::string::npos)
        << status.reason;
    // The n-th failure waits in [d/2, d] with d = min(80 ms, 20 ms * 2^(n-1)).
    const uint64_t ceiling = std::min<uint64_t>(80'000, 20'000ull << std::min<uint32_t>(status.failed_attempts - 1, 10));
    EXPECT_GE(status.retry_in_micros, ceiling / 2);
    EXPECT_LE(status.retry_in_micros, ceiling);
  }

  // A server appears at that address: the client connects by itself.
  Result<std::unique_ptr<TestServer>> late = TestServer::start(SQLSYNC_SERVER_BINARY, port);
  ASSERT_OK(late);
  ASSERT_OK((*late)->upload_reducer_file(SQLSYNC_GUESTBOOK_SQL));
  ASSERT_TRUE(ready_within(added.confirmed, kWaitSeconds));
  ASSERT_OK(added.confirmed.get());
  EXPECT_EQ(client->connection_status().state, ConnectionState::kConnected);
  EXPECT_EQ(client->connection_status().failed_attempts, 0u);
}

TEST_F(SyncedDocumentTest, DisablingTheConnectionKeepsMutationsUntilEnabled) {
  ASSERT_OK(server_->upload_reducer_file(SQLSYNC_TODO_REDUCER_WASM));
  StatusLog log;
  SyncedDocument::Options options = options_for(Env::posix()->new_journal_id(), SQLSYNC_TODO_REDUCER_WASM, 5);
  options.on_connection_status = [&log](const ConnectionStatus& status) { log.add(status); };
  auto client = open(std::move(options));
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(log.wait_for([](const ConnectionStatus& s) { return is_state(s, ConnectionState::kConnected); }));

  client->set_connection_enabled(false);
  ASSERT_TRUE(log.wait_for([](const ConnectionStatus& s) { return s.reason == "connection disabled"; }));
  EXPECT_EQ(client->connection_status().state, ConnectionState::kDisconnected);
  EXPECT_EQ(client->connection_status().retry_in_micros, 0u);
  auto handle = client->mutate(as_bytes(todo::create_task("t1", "while offline")));
  ASSERT_OK(handle.applied.get());
  EXPECT_EQ(handle.confirmed.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  EXPECT_EQ(client->sync_state().get().pending_mutations, 1u);
  Result<QueryResult> on_server = http().query(client->document_id(), "SELECT count(*) FROM tasks");
  ASSERT_OK(on_server);
  EXPECT_EQ(on_server->rows, (std::vector<Row>{{Value(int64_t{0})}}));

  client->set_connection_enabled(true);
  ASSERT_TRUE(ready_within(handle.confirmed, kWaitSeconds));
  ASSERT_OK(handle.confirmed.get());
  on_server = http().query(client->document_id(), "SELECT count(*) FROM tasks");
  ASSERT_OK(on_server);
  EXPECT_EQ(on_server->rows, (std::vector<Row>{{Value(int64_t{1})}}));
  // connecting -> connected -> disconnected (disabled) -> connecting -> connected
  std::vector<ConnectionState> states;
  for (const ConnectionStatus& status : log.all()) states.push_back(status.state);
  const std::vector<ConnectionState> expected = {ConnectionState::kConnecting, ConnectionState::kConnected,
                                                 ConnectionState::kDisconnected, ConnectionState::kConnecting,
                                                 ConnectionState::kConnected};
  EXPECT_EQ(states, expected);
}

// Runs tasks on its own thread, in order: a stand-in for a UI event loop.
class TaskThread {
 public:
  TaskThread() : thread_([this] { loop(); }) {}
  ~TaskThread() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  void post(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    changed_.notify_all();
  }
  std::thread::id id() const { return thread_.get_id(); }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return done_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> tasks_;
  bool done_ = false;
  std::thread thread_;
};

TEST_F(SyncedDocumentTest, SubscriptionsRunOnTheUsersExecutorAndSeeOtherClients) {
  ASSERT_OK(server_->upload_reducer_file(SQLSYNC_TODO_REDUCER_WASM));
  const JournalId document = Env::posix()->new_journal_id();
  TaskThread ui;
  SyncedDocument::Options options = options_for(document, SQLSYNC_TODO_REDUCER_WASM, 6);
  options.callback_executor = [&ui](std::function<void()> task) { ui.post(std::move(task)); };
  auto watcher = open(std::move(options));
  auto writer = open(options_for(document, SQLSYNC_TODO_REDUCER_WASM, 7));
  ASSERT_TRUE(watcher && writer);

  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::vector<Row>> results;
  bool wrong_thread = false;
  Result<SyncedDocument::SubscriptionId> subscription = watcher->subscribe(
      "SELECT id FROM tasks ORDER BY id", {}, [&](const Result<QueryResult>& result) {
        std::lock_guard lock(mutex);
        wrong_thread = wrong_thread || std::this_thread::get_id() != ui.id();
        results.push_back(result.is_ok() ? result->rows : std::vector<Row>{{Value(result.status().to_string())}});
        changed.notify_all();
      });
  ASSERT_OK(subscription);
  auto wait_for_rows = [&](const std::vector<Row>& rows) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(kWaitSeconds),
                            [&] { return !results.empty() && results.back() == rows; });
  };
  ASSERT_TRUE(wait_for_rows({}));
  auto first = writer->mutate(as_bytes(todo::create_task("a", "from the writer")));
  ASSERT_TRUE(wait_for_rows({{Value(std::string("a"))}}));

  watcher->unsubscribe(*subscription);
  size_t seen;
  {
    std::lock_guard lock(mutex);
    seen = results.size();
  }
  auto second = writer->mutate(as_bytes(todo::create_task("b", "unseen")));
  ASSERT_TRUE(ready_within(second.confirmed, kWaitSeconds));
  ASSERT_OK(testing::sync_with_server(*watcher, http()));
  Result<QueryResult> rows = watcher->query("SELECT count(*) FROM tasks").get();
  ASSERT_OK(rows);
  EXPECT_EQ(rows->rows, (std::vector<Row>{{Value(int64_t{2})}}));
  ASSERT_OK(watcher->close());
  std::lock_guard lock(mutex);
  EXPECT_EQ(results.size(), seen);
  EXPECT_FALSE(wrong_thread);
}

TEST_F(SyncedDocumentTest, DurableReplicaSendsOfflineMutationsAfterARestart) {
  ASSERT_OK(server_->upload_reducer_file(SQLSYNC_GUESTBOOK_SQL));
  const JournalId document = Env::posix()->new_journal_id();
  TempDir replica;
  SyncedDocument::Options options = options_for(document, SQLSYNC_GUESTBOOK_SQL, 8);
  options.directory = replica.path() + "/replica";
  options.connection_enabled = false;
  JournalId timeline;
  {
    auto offline = open(options);
    ASSERT_NE(offline, nullptr);
    timeline = offline->timeline_id();
    std::vector<SyncedDocument::MutationHandle> handles;
    for (int i = 0; i < 3; ++i) {
      handles.push_back(offline->mutate(as_bytes("{\"tag\":\"AddEntry\",\"id\":\"e" + std::to_string(i) +
                                                 "\",\"author\":\"Ada\",\"message\":\"m\",\"at\":1}")));
    }
    for (auto& handle : handles) ASSERT_OK(handle.applied.get());
    ASSERT_OK(offline->close());
    for (auto& handle : handles) {
      Status verdict = handle.confirmed.get();
      EXPECT_EQ(verdict.code(), StatusCode::kBusy) << verdict.to_string();
    }
  }
  options.connection_enabled = true;
  auto reopened = open(options);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->timeline_id(), timeline);
  Result<QueryResult> local = reopened->query("SELECT count(*) FROM entries").get();
  ASSERT_OK(local);
  EXPECT_EQ(local->rows, (std::vector<Row>{{Value(int64_t{3})}}));
  std::future<Status> synced = reopened->sync();
  ASSERT_TRUE(ready_within(synced, kWaitSeconds));
  ASSERT_OK(synced.get());
  EXPECT_EQ(reopened->sync_state().get().pending_mutations, 0u);
  Result<QueryResult> on_server = http().query(document, "SELECT count(*) FROM entries");
  ASSERT_OK(on_server);
  EXPECT_EQ(on_server->rows, (std::vector<Row>{{Value(int64_t{3})}}));
}

TEST_F(SyncedDocumentTest, CloseIsIdempotentAndLaterCallsFailCleanly) {
  ASSERT_OK(server_->upload_reducer_file(SQLSYNC_TODO_REDUCER_WASM));
  auto client = open(options_for(Env::posix()->new_journal_id(), SQLSYNC_TODO_REDUCER_WASM, 9));
  ASSERT_NE(client, nullptr);
  std::future<Status> synced = client->sync();
  ASSERT_TRUE(ready_within(synced, kWaitSeconds));
  ASSERT_OK(client->close());
  ASSERT_OK(client->close());
  EXPECT_EQ(client->connection_status().reason, "closed");
  auto handle = client->mutate(as_bytes(todo::create_task("t", "late")));
  EXPECT_EQ(handle.applied.get().status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(handle.confirmed.get().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client->query("SELECT 1").get().status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client->sync().get().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(client->subscribe("SELECT 1", {}, [](const Result<QueryResult>&) {}).is_ok());
}

TEST_F(SyncedDocumentTest, OpenRefusesIncompleteOptions) {
  SyncedDocument::Options options = options_for(Env::posix()->new_journal_id(), SQLSYNC_GUESTBOOK_SQL, 10);
  SyncedDocument::Options no_digest = options;
  no_digest.reducer_digest.clear();
  EXPECT_EQ(SyncedDocument::open(no_digest).status().code(), StatusCode::kInvalidArgument);
  SyncedDocument::Options bad_url = options;
  bad_url.server_url = "https://example.com";
  Result<std::unique_ptr<SyncedDocument>> opened = SyncedDocument::open(bad_url);
  ASSERT_FALSE(opened.is_ok());
  EXPECT_NE(opened.status().message().find("https is not supported"), std::string::npos);
  SyncedDocument::Options no_id = options;
  no_id.document_id = JournalId();
  EXPECT_EQ(SyncedDocument::open(no_id).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SyncedDocumentTest, ServerClientReportsTheServersErrors) {
  Result<ReducerUpload> invalid = http().upload_reducer(as_bytes("-- mutation Broken\nSELECT ("));
  ASSERT_FALSE(invalid.is_ok());
  EXPECT_EQ(invalid.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(invalid.status().message().find("400"), std::string::npos) << invalid.status().to_string();

  Result<DocumentInfo> unknown = http().document_info(Env::posix()->new_journal_id());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound) << unknown.status().to_string();

  Result<std::string> digest = server_->upload_reducer_file(SQLSYNC_GUESTBOOK_SQL);
  ASSERT_OK(digest);
  Result<JournalId> named = http().create_document(*digest, "guests");
  ASSERT_OK(named);
  Result<JournalId> again = http().create_document(*digest, "guests");
  ASSERT_OK(again);
  EXPECT_EQ(*named, *again);
  Result<LoadedReducer> fetched = http().fetch_reducer(*named);
  ASSERT_OK(fetched);
  EXPECT_EQ(fetched->digest, *digest);
  ASSERT_OK(http().health());

  Result<ServerClient> nowhere = ServerClient::create("http://127.0.0.1:" + std::to_string(testing::unused_port()));
  ASSERT_OK(nowhere);
  EXPECT_EQ(nowhere->health().code(), StatusCode::kIOError);
}

// A peer that speaks just enough of the protocol for the client to send a
// mutation too large for the socket buffers, then sends a text message (a
// fault the client answers by ending the session) while that write is in
// flight. The session ends with a close handshake and the mutation stays
// pending. (A fault used to clear the write queue under the write in
// flight; a write that then completed popped the empty queue, a double
// free seen in server_crash_test. Here the close cuts the write short, so
// this checks how such a session ends, not that race.)
TEST_F(SyncedDocumentTest, AFaultWhileAWriteIsInFlightEndsTheSessionCleanly) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace websocket = beast::websocket;
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  beast::error_code peer_end;
  std::thread peer([&] {
    asio::ip::tcp::socket socket(io);
    acceptor.accept(socket, peer_end);
    if (peer_end) return;
    websocket::stream<asio::ip::tcp::socket> ws(std::move(socket));
    ws.read_message_max(kMaxFrameBytes + 4096);
    ws.accept(peer_end);
    beast::flat_buffer buffer;
    ws.read(buffer, peer_end);
    if (peer_end) return;
    // "I have nothing of your timeline": the client starts sending it.
    Result<std::vector<ByteView>> messages =
        split_batch(ByteView(static_cast<const uint8_t*>(buffer.data().data()), buffer.size()));
    if (!messages.is_ok()) return;
    ws.binary(true);
    for (ByteView bytes : *messages) {
      Result<Message> message = decode_message(bytes);
      if (!message.is_ok() || !std::holds_alternative<RangeRequest>(*message)) continue;
      const RangeRequest& request = std::get<RangeRequest>(*message);
      const LsnRange nothing = LsnRange::empty(request.source_range.first());
      ws.write(asio::buffer(encode_message(RangeReply{request.journal, nothing})), peer_end);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the client's write stalls meanwhile
    ws.text(true);
    ws.write(asio::buffer(std::string("not the sync protocol")), peer_end);
    while (!peer_end) {  // up to the client's close
      buffer.clear();
      ws.read(buffer, peer_end);
    }
  });
  // However the test ends, the peer is joined: shutting the listening
  // socket down ends a wait in accept(), and closing the client (or
  // destroying it, before this guard) ends a wait in read().
  struct PeerJoiner {
    std::thread& thread;
    asio::ip::tcp::acceptor& acceptor;
    void join() {
      if (!thread.joinable()) return;
      ::shutdown(acceptor.native_handle(), SHUT_RDWR);
      thread.join();
    }
    ~PeerJoiner() { join(); }
  } peer_joiner{peer, acceptor};

  StatusLog log;
  SyncedDocument::Options options = options_for(Env::posix()->new_journal_id(), SQLSYNC_GUESTBOOK_SQL, 11);
  options.server_url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  options.on_connection_status = [&log](const ConnectionStatus& status) { log.add(status); };
  auto client = open(std::move(options));
  ASSERT_NE(client, nullptr);
  const std::string message(14u << 20, 'x');  // more than loopback buffers hold
  auto added = client->mutate(
      as_bytes(R"({"tag":"AddEntry","id":"big","author":"Ada","message":")" + message + R"(","at":1})"));
  ASSERT_OK(added.applied.get());
  EXPECT_TRUE(log.wait_for([](const ConnectionStatus& status) {
    return status.state == ConnectionState::kDisconnected &&
           status.reason.find("the server sent a text message") != std::string::npos;
  }));
  EXPECT_EQ(client->sync_state().get().pending_mutations, 1u);  // still the server's to confirm
  ASSERT_OK(client->close());
  peer_joiner.join();
  EXPECT_EQ(peer_end, websocket::error::closed) << peer_end.message();
}

}  // namespace
}  // namespace sqlsync
