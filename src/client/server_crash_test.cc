// kill -9 of sqlsync-server during a burst of mutations from several
// clients, then a restart on the same data directory: the clients reconnect
// by themselves and converge; every mutation confirmed before the kill is
// there, and no mutation is applied twice.
//
// Relies on the durable coordinator (CoordinatorDocument::Options::directory):
// the server acknowledges a mutation only once it is durable.
#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include "client/test_server.h"
#include "sim/test_status.h"
#include "sqlsync/client.h"

namespace sqlsync {
namespace {

using testing::query_replica;
using testing::query_server;
using testing::ready_within;
using testing::TestServer;

constexpr int kClients = 3;
// Mutations per client before the kill (paced), in the burst the kill hits,
// and while the server is down.
constexpr int kPaced = 60;
constexpr int kBurst = 150;
constexpr int kOffline = 30;

struct Sent {
  int client = 0;
  int seq = 0;
  SyncedDocument::MutationHandle handle;
};

// Even sequence numbers create a task (rejected if applied twice), odd ones
// increment a counter (counted twice if applied twice); all are recorded in
// `applied` with their (author, seq).
std::string mutation(int client, int seq) {
  const std::string author = "\"author\":\"c" + std::to_string(client) + "\",\"seq\":" + std::to_string(seq);
  if (seq % 2 == 0) {
    return "{\"tag\":\"CreateTask\",\"id\":\"c" + std::to_string(client) + "-" + std::to_string(seq) +
           "\",\"description\":\"burst\"," + author + "}";
  }
  return "{\"tag\":\"Increment\",\"counter\":\"clicks\",\"by\":1," + author + "}";
}

// Each sync mode: fdatasync of a document's files per round, and one
// syncfs shared by the rounds syncing at the same time.
class ServerCrashTest : public ::testing::TestWithParam<const char*> {};

INSTANTIATE_TEST_SUITE_P(SyncModes, ServerCrashTest, ::testing::Values("file", "filesystem"));

TEST_P(ServerCrashTest, ClientsConvergeAfterKillNineDuringABurst) {
  Result<std::unique_ptr<TestServer>> started = TestServer::start(SQLSYNC_SERVER_BINARY, 0, {"--sync", GetParam()});
  ASSERT_OK(started);
  TestServer& server = **started;
  ASSERT_OK(server.upload_reducer_file(SQLSYNC_TODO_REDUCER_WASM));
  const ServerClient& http = server.http();

  const JournalId document = Env::posix()->new_journal_id();
  std::atomic<int> connections{0};
  // Why connections ended other than by the kill: a replica that refuses a
  // server message (e.g. a frame past a gap) reconnects and recovers, so
  // only this shows it.
  std::mutex refusals_mutex;
  std::vector<std::string> refusals;
  std::vector<std::unique_ptr<SyncedDocument>> clients;
  for (int c = 0; c < kClients; ++c) {
    Result<SyncedDocument::Options> options = server.client_options(document, SQLSYNC_TODO_REDUCER_WASM, 1000 + c);
    ASSERT_OK(options);
    options->reconnect_max_micros = 300'000;
    options->on_connection_status = [&connections, &refusals_mutex, &refusals](const ConnectionStatus& status) {
      if (status.state == ConnectionState::kConnected) ++connections;
      if (status.reason.find("refuses") != std::string::npos) {
        std::lock_guard lock(refusals_mutex);
        refusals.push_back(status.reason);
      }
    };
    Result<std::unique_ptr<SyncedDocument>> client = SyncedDocument::open(std::move(*options));
    ASSERT_OK(client);
    clients.push_back(std::move(*client));
  }

  std::vector<Sent> sent;
  std::vector<int> next_seq(kClients, 0);
  auto send = [&](int client) {
    const int seq = next_seq[client]++;
    sent.push_back(Sent{client, seq, clients[client]->mutate(as_bytes(mutation(client, seq)))});
  };

  for (int i = 0; i < kPaced; ++i) {
    for (int c = 0; c < kClients; ++c) send(c);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(ready_within(sent.front().handle.confirmed, 60));
  for (int i = 0; i < kBurst; ++i) {
    for (int c = 0; c < kClients; ++c) send(c);
  }
  server.process().kill_hard();

  // Nothing can be confirmed by a dead server: what is confirmed now was
  // confirmed before the kill.
  std::set<std::pair<int, int>> confirmed_before_kill;
  for (Sent& s : sent) {
    if (s.handle.confirmed.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      confirmed_before_kill.emplace(s.client, s.seq);
    }
  }
  std::printf("kill -9 after %zu of %zu mutations were confirmed\n", confirmed_before_kill.size(), sent.size());
  EXPECT_GT(confirmed_before_kill.size(), 0u);

  for (int i = 0; i < kOffline; ++i) {
    for (int c = 0; c < kClients; ++c) send(c);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_OK(server.restart());

  for (Sent& s : sent) {
    ASSERT_OK(s.handle.applied.get());
    ASSERT_TRUE(ready_within(s.handle.confirmed, 120))
        << "mutation c" << s.client << "/" << s.seq << " never confirmed; server output:\n"
        << server.process().output();
    Status verdict = s.handle.confirmed.get();
    // A CreateTask applied twice would come back rejected ("already exists").
    ASSERT_OK(verdict);
  }
  EXPECT_GE(connections.load(), 2 * kClients) << "every client reconnects by itself";

  Result<std::string> expected = todo_dump(query_server(http, document));
  ASSERT_OK(expected);
  for (int c = 0; c < kClients; ++c) {
    Status synced = testing::sync_with_server(*clients[c], http);
    ASSERT_TRUE(synced.is_ok()) << "client " << c << ": " << synced.to_string() << "\nserver output:\n"
                                << server.process().output();
    Result<std::string> actual = todo_dump(query_replica(*clients[c]));
    ASSERT_OK(actual);
    EXPECT_EQ(*actual, *expected) << "client " << c;
  }

  const int64_t total = static_cast<int64_t>(sent.size());
  Result<QueryResult> applied =
      http.query(document, "SELECT count(*), count(DISTINCT author || '/' || seq) FROM applied");
  ASSERT_OK(applied);
  EXPECT_EQ(applied->rows, (std::vector<Row>{{Value(total), Value(total)}})) << "each mutation applied exactly once";
  Result<int64_t> clicks = todo_counter(query_replica(*clients[0]), "clicks");
  ASSERT_OK(clicks);
  EXPECT_EQ(*clicks, total / 2);
  Result<std::vector<TodoTask>> tasks = todo_tasks(query_replica(*clients[0]));
  ASSERT_OK(tasks);
  EXPECT_EQ(static_cast<int64_t>(tasks->size()), total / 2);

  Result<QueryResult> rows = http.query(document, "SELECT author, seq FROM applied");
  ASSERT_OK(rows);
  std::set<std::pair<int, int>> present;
  for (const Row& row : rows->rows) {
    present.emplace(std::stoi(std::get<std::string>(row[0]).substr(1)), static_cast<int>(std::get<int64_t>(row[1])));
  }
  for (const auto& confirmed : confirmed_before_kill) {
    EXPECT_TRUE(present.count(confirmed)) << "c" << confirmed.first << "/" << confirmed.second
                                          << " was confirmed before the kill but is gone";
  }
  for (auto& client : clients) ASSERT_OK(client->close());
  std::lock_guard lock(refusals_mutex);
  EXPECT_TRUE(refusals.empty()) << "a client refused a server message: " << refusals.front();
}

}  // namespace
}  // namespace sqlsync
