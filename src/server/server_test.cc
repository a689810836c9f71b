// sqlsync-server end to end: a real server on 127.0.0.1 (ephemeral port, temp
// data directory), HTTP and WebSocket clients built on Beast, and replicas
// (LocalDocument) synced over real sockets.
#include "server/server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "base/digest.h"
#include "base/memory_env.h"
#include "reducer/sql_reducer.h"
#include "reducer/wasm_reducer.h"
#include "server/auth.h"
#include "server/data_directory.h"
#include "sim/test_status.h"
#include "sim/todo_reducer.h"
#include "sqlsync/local_document.h"
#include "sync/protocol.h"

namespace sqlsync {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Json = nlohmann::json;
using namespace std::chrono_literals;

const tcp::endpoint kLoopback(net::ip::make_address("127.0.0.1"), 0);

Bytes read_bytes(const std::string& path) {
  Result<Bytes> bytes = Env::posix()->read_file(path);
  EXPECT_TRUE(bytes.is_ok()) << bytes.status().to_string();
  return bytes.is_ok() ? *bytes : Bytes();
}

Bytes bytes_of(std::string_view text) { return Bytes(text.begin(), text.end()); }

std::string read_bytes_text(const std::string& path) { return std::string(as_text(read_bytes(path))); }

struct HttpReply {
  int status = 0;
  std::string body;
  std::string content_type;
  Json json() const { return Json::parse(body, nullptr, /*allow_exceptions=*/false); }
};

// One HTTP request on a fresh connection. With `header_only`, the body is
// announced (Content-Length) but not sent: for refusals made on the header.
HttpReply http_request(uint16_t port, http::verb verb, const std::string& target, std::string body = {},
                       const std::string& bearer = {}, bool header_only = false) {
  net::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(10s);
  HttpReply reply;
  beast::error_code error;
  stream.connect(tcp::endpoint(kLoopback.address(), port), error);
  if (error) return reply;
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, "127.0.0.1");
  if (!bearer.empty()) request.set(http::field::authorization, "Bearer " + bearer);
  request.body() = std::move(body);
  request.prepare_payload();
  http::request_serializer<http::string_body> serializer{request};
  if (header_only) {
    http::write_header(stream, serializer, error);
  } else {
    http::write(stream, serializer, error);
  }
  if (error) return reply;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  parser.skip(verb == http::verb::head);  // a HEAD answer has no body
  http::read(stream, buffer, parser, error);
  if (error) return reply;
  reply.status = parser.get().result_int();
  reply.body = parser.get().body();
  reply.content_type = std::string(parser.get()[http::field::content_type]);
  return reply;
}

// A WebSocket client driven from the test thread: run_for() runs its I/O;
// messages that arrive pile up in received().
class WsClient {
 public:
  struct Upgrade {
    std::unique_ptr<WsClient> client;  // null if refused
    int status = 0;                    // the refusal's HTTP status
    std::string body;
  };

  static Upgrade open(uint16_t port, const std::string& target) {
    Upgrade upgrade;
    auto client = std::unique_ptr<WsClient>(new WsClient());
    beast::error_code error;
    beast::get_lowest_layer(client->ws_).connect(tcp::endpoint(kLoopback.address(), port), error);
    if (error) return upgrade;
    websocket::permessage_deflate deflate;
    deflate.client_enable = true;
    client->ws_.set_option(deflate);
    websocket::response_type response;
    client->ws_.handshake(response, "127.0.0.1:" + std::to_string(port), target, error);
    if (error) {
      upgrade.status = response.result_int();
      upgrade.body = response.body();
      return upgrade;
    }
    client->start_read();
    upgrade.client = std::move(client);
    return upgrade;
  }

  void send(ByteView message, bool binary = true) {
    writes_.push_back({Bytes(message.begin(), message.end()), binary});
    if (!writing_) start_write();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (writing_ && !closed_ && std::chrono::steady_clock::now() < deadline) run_for(5ms);
  }

  void run_for(std::chrono::milliseconds duration) {
    io_.run_for(duration);
    if (io_.stopped()) io_.restart();
  }

  // Runs until the server closed the connection; false on timeout.
  bool wait_closed(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!closed_ && std::chrono::steady_clock::now() < deadline) run_for(10ms);
    return closed_;
  }

  std::deque<Bytes>& received() { return received_; }
  bool closed() const { return closed_; }
  // The server's close code and reason, once closed().
  websocket::close_code close_code() const { return close_code_; }
  const std::string& close_text() const { return close_text_; }

 private:
  WsClient() : ws_(io_) {}

  void start_read() {
    ws_.async_read(buffer_, [this](beast::error_code error, size_t) {
      if (error) {
        closed_ = true;
        close_code_ = static_cast<websocket::close_code>(ws_.reason().code);
        close_text_.assign(ws_.reason().reason.data(), ws_.reason().reason.size());
        return;
      }
      const auto data = buffer_.cdata();
      const auto* begin = static_cast<const uint8_t*>(data.data());
      received_.emplace_back(begin, begin + data.size());
      buffer_.consume(buffer_.size());
      start_read();
    });
  }

  void start_write() {
    writing_ = true;
    ws_.binary(writes_.front().second);
    ws_.async_write(net::buffer(writes_.front().first), [this](beast::error_code error, size_t) {
      writes_.pop_front();
      if (error) writes_.clear();
      if (writes_.empty()) {
        writing_ = false;
        return;
      }
      start_write();
    });
  }

  net::io_context io_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<Bytes> received_;
  std::deque<std::pair<Bytes, bool>> writes_;
  bool writing_ = false;
  bool closed_ = false;
  websocket::close_code close_code_ = websocket::close_code::none;
  std::string close_text_;
};

// A LocalDocument synced with the server over a WsClient.
class Replica {
 public:
  Replica(Env* env, JournalId document, std::shared_ptr<Reducer> reducer) {
    LocalDocument::Options options;
    options.document_id = document;
    options.reducer = std::move(reducer);
    options.env = env;
    Result<std::unique_ptr<LocalDocument>> opened = LocalDocument::open(std::move(options));
    EXPECT_TRUE(opened.is_ok()) << opened.status().to_string();
    if (opened.is_ok()) document_ = std::move(*opened);
  }

  // Connects to `target` (the sync URL); the HTTP status if refused, else 0.
  int connect(uint16_t port, const std::string& target) {
    WsClient::Upgrade upgrade = WsClient::open(port, target);
    if (!upgrade.client) return upgrade.status;
    if (document_->connected()) {
      EXPECT_TRUE(document_->disconnect().is_ok());
    }
    ws_ = std::move(upgrade.client);
    for (Bytes& message : document_->connect()) ws_->send(message);
    return 0;
  }

  Status mutate(std::string_view json) {
    SQLSYNC_RETURN_IF_ERROR(document_->mutate(as_bytes(json)));
    return send_polled();
  }

  // Runs the connection for a moment and feeds what arrived to the replica.
  Status pump() {
    if (!ws_) return Status::ok();
    ws_->run_for(5ms);
    while (!ws_->received().empty()) {
      Bytes transport_message = std::move(ws_->received().front());
      ws_->received().pop_front();
      SQLSYNC_ASSIGN_OR_RETURN(std::vector<ByteView> messages, split_batch(transport_message));
      for (ByteView message : messages) {
        SQLSYNC_ASSIGN_OR_RETURN(std::vector<Bytes> replies, document_->receive(message));
        for (Bytes& reply : replies) ws_->send(reply);
      }
    }
    SQLSYNC_RETURN_IF_ERROR(send_polled());
    return document_->flush();
  }

  LocalDocument& document() { return *document_; }
  WsClient& ws() { return *ws_; }

 private:
  Status send_polled() {
    SQLSYNC_ASSIGN_OR_RETURN(std::vector<Bytes> messages, document_->poll());
    if (ws_) {
      for (Bytes& message : messages) ws_->send(message);
    }
    return Status::ok();
  }

  std::unique_ptr<LocalDocument> document_;
  std::unique_ptr<WsClient> ws_;
};

class ServerTest : public ::testing::Test {
 protected:
  void documents_survive_a_restart();
  void SetUp() override {
    char pattern[] = "/tmp/sqlsync-server-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    directory_ = pattern;
    config_.port = 0;
    config_.data_directory = directory_ + "/data";
    config_.max_message_bytes = 64 << 10;
    config_.max_reducer_bytes = 1 << 20;
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(directory_);
  }

  void start() {
    Server::Options options;
    options.config = config_;
    Result<std::unique_ptr<Server>> server = Server::start(std::move(options));
    ASSERT_OK(server);
    server_ = std::move(*server);
    port_ = server_->port();
  }

  HttpReply get(const std::string& target, const std::string& token = {}) {
    return http_request(port_, http::verb::get, target, {}, token);
  }

  // Uploads a reducer; its digest.
  std::string push_reducer(const Bytes& bytes, const std::string& token = {}) {
    HttpReply reply = http_request(port_, http::verb::put, "/reducers", std::string(as_text(bytes)), token);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return reply.json().value("digest", "");
  }
  std::string push_todo_reducer() { return push_reducer(read_bytes(SQLSYNC_TODO_REDUCER_WASM)); }
  std::string push_guestbook_reducer() { return push_reducer(read_bytes(SQLSYNC_GUESTBOOK_SQL)); }

  std::string create_document(const std::string& reducer, const std::string& token = {}) {
    HttpReply reply =
        http_request(port_, http::verb::post, "/docs", Json{{"reducer", reducer}}.dump(), token);
    EXPECT_EQ(reply.status, 201) << reply.body;
    return reply.json().value("id", "");
  }

  // A replica running the reducer the server stores under `digest`,
  // downloaded as a browser would.
  std::unique_ptr<Replica> replica(const std::string& document, const std::string& digest) {
    HttpReply reducer = get("/reducers/" + digest, token_);
    EXPECT_EQ(reducer.status, 200);
    const Bytes bytes = bytes_of(reducer.body);
    Result<std::shared_ptr<Reducer>> loaded = reducer_kind_of(bytes) == ReducerKind::kWasm
                                                  ? load_wasm_reducer(bytes)
                                                  : load_sql_reducer(reducer.body);
    EXPECT_TRUE(loaded.is_ok()) << loaded.status().to_string();
    return std::make_unique<Replica>(&env_, *JournalId::from_hex(document), *loaded);
  }

  std::unique_ptr<Replica> connected_replica(const std::string& document, const std::string& digest,
                                             const std::string& query = {}) {
    auto client = replica(document, digest);
    EXPECT_EQ(client->connect(port_, "/docs/" + document + "/sync" + query), 0);
    return client;
  }

  // Pumps every replica until `done` holds; false after 15 s.
  bool pump_until(const std::vector<Replica*>& replicas, const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      for (Replica* replica : replicas) {
        Status status = replica->pump();
        EXPECT_TRUE(status.is_ok()) << status.to_string();
        if (!status.is_ok()) return false;
      }
      if (done()) return true;
    }
    return false;
  }

  // The authoritative state of `document` through GET /docs/{id}/query.
  Json server_rows(const std::string& document, const std::string& sql) {
    HttpReply reply = get("/docs/" + document + "/query?sql=" + url_encode(sql), token_);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return reply.json()["rows"];
  }

  static Json replica_rows(Replica& replica, const std::string& sql) {
    Result<QueryResult> result = replica.document().query(sql);
    EXPECT_TRUE(result.is_ok()) << result.status().to_string();
    Json rows = Json::array();
    if (!result.is_ok()) return rows;
    for (const Row& row : result->rows) {
      Json cells = Json::array();
      for (const Value& value : row) {
        if (const auto* integer = std::get_if<int64_t>(&value)) {
          cells.push_back(*integer);
        } else if (const auto* text = std::get_if<std::string>(&value)) {
          cells.push_back(*text);
        } else {
          cells.push_back(nullptr);
        }
      }
      rows.push_back(cells);
    }
    return rows;
  }

  static std::string url_encode(std::string_view text) {
    std::string out;
    for (unsigned char c : text) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
        out.push_back(static_cast<char>(c));
      } else {
        char escape[4];
        std::snprintf(escape, sizeof(escape), "%%%02X", c);
        out += escape;
      }
    }
    return out;
  }

  // A replica that keeps syncing while something else goes wrong: it makes
  // one more mutation and must see it confirmed.
  void expect_still_syncing(Replica& replica, const std::string& document, const std::string& task_id) {
    ASSERT_OK(replica.mutate(todo::create_task(task_id, "still syncing")));
    EXPECT_TRUE(pump_until({&replica}, [&] { return replica.document().pending_mutations() == 0; }))
        << "the healthy replica stopped syncing";
    EXPECT_EQ(server_rows(document, "SELECT id FROM tasks WHERE id = '" + task_id + "'").size(), 1u);
  }

  static constexpr const char* kTasksSql = "SELECT id, description, completed FROM tasks ORDER BY id";

  std::string directory_;
  ServerConfig config_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::string token_;  // for the helpers' own requests when the server has a secret
  MemoryEnv env_{5};
};

TEST_F(ServerTest, HealthMetricsAndUnknownRoutes) {
  start();
  HttpReply health = get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json()["status"], "ok");
  HttpReply metrics = get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.content_type.find("text/plain"), std::string::npos);
  for (const char* name : {"sqlsync_documents_loaded ", "sqlsync_connections ", "sqlsync_frames_in_total ",
                           "sqlsync_frames_out_total ", "sqlsync_mutations_applied_total ",
                           "sqlsync_mutations_rejected_total ", "sqlsync_fsync_seconds_bucket{le=\"+Inf\"}"}) {
    EXPECT_NE(metrics.body.find(name), std::string::npos) << name;
  }
  HttpReply missing = get("/nothing/here");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.json()["error"].get<std::string>().find("/nothing/here"), std::string::npos);
  EXPECT_EQ(get("/docs/0123/sync").status, 400);  // not an id
  EXPECT_EQ(get("/docs/0123456789abcdef0123456789abcdef/sync").status, 426);  // not a WebSocket
}

TEST_F(ServerTest, StoresReducersByContentAndServesThem) {
  start();
  const Bytes wasm = read_bytes(SQLSYNC_TODO_REDUCER_WASM);
  HttpReply pushed = http_request(port_, http::verb::put, "/reducers", std::string(as_text(wasm)));
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  const std::string digest = pushed.json()["digest"];
  EXPECT_EQ(digest, sha256_hex(wasm));
  EXPECT_EQ(pushed.json()["kind"], "wasm");
  EXPECT_EQ(read_bytes(config_.data_directory + "/reducers/" + digest), wasm);
  EXPECT_EQ(push_reducer(wasm), digest);  // idempotent

  HttpReply downloaded = get("/reducers/" + digest);
  EXPECT_EQ(downloaded.status, 200);
  EXPECT_EQ(downloaded.content_type, "application/wasm");
  EXPECT_EQ(bytes_of(downloaded.body), wasm);

  HttpReply sql = http_request(port_, http::verb::put, "/reducers", std::string(as_text(read_bytes(SQLSYNC_GUESTBOOK_SQL))));
  ASSERT_EQ(sql.status, 200);
  EXPECT_EQ(sql.json()["kind"], "sql");
  EXPECT_NE(get("/reducers/" + sql.json()["digest"].get<std::string>()).content_type.find("application/sql"),
            std::string::npos);

  EXPECT_EQ(get("/reducers/" + std::string(64, 'a')).status, 404);
  EXPECT_EQ(get("/reducers/not-a-digest").status, 400);
}

TEST_F(ServerTest, RefusesInvalidAndOversizedReducersWithTheLoadersMessage) {
  start();
  std::string broken_wasm("\0asm\x01\0\0\0\x7f\x7f", 10);
  HttpReply wasm = http_request(port_, http::verb::put, "/reducers", broken_wasm);
  EXPECT_EQ(wasm.status, 400);
  EXPECT_NE(wasm.json()["error"].get<std::string>().find("not a WebAssembly module"), std::string::npos) << wasm.body;

  HttpReply sql = http_request(port_, http::verb::put, "/reducers", "-- mutation Broken\nINSERT INTO x VALUES (:a)\n");
  EXPECT_EQ(sql.status, 400);
  EXPECT_NE(sql.json()["error"].get<std::string>().find("line"), std::string::npos) << sql.body;

  HttpReply big = http_request(port_, http::verb::put, "/reducers", std::string((1 << 20) + 1, 'x'), {},
                               /*header_only=*/true);
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.json()["error"].get<std::string>().find("max-reducer-bytes"), std::string::npos) << big.body;
  // Nothing was stored; the server still serves.
  EXPECT_EQ(Env::posix()->list_dir(config_.data_directory + "/reducers")->size(), 0u);
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(ServerTest, CreatesNamedAndUnnamedDocuments) {
  start();
  const std::string reducer = push_guestbook_reducer();
  const std::string id = create_document(reducer);
  ASSERT_EQ(id.size(), 32u);
  HttpReply info = get("/docs/" + id);
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(info.json()["id"], id);
  EXPECT_EQ(info.json()["reducer"], reducer);
  EXPECT_EQ(info.json()["schema_version"], 2);  // guestbook.sql has two migrations
  EXPECT_GE(info.json()["storage_range"]["next"].get<int>(), 1);
  EXPECT_EQ(info.json()["storage_log"], id);  // a new document's first log bears its id

  HttpReply named = http_request(port_, http::verb::post, "/docs?name=groceries&reducer=" + reducer);
  EXPECT_EQ(named.status, 201) << named.body;
  EXPECT_EQ(named.json()["id"], document_id_for_name("groceries").to_hex());
  HttpReply again = http_request(port_, http::verb::post, "/docs?name=groceries", Json{{"reducer", reducer}}.dump());
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json()["id"], named.json()["id"]);
  EXPECT_EQ(again.json()["created"], false);

  EXPECT_EQ(http_request(port_, http::verb::post, "/docs", "{}").status, 400);
  EXPECT_EQ(http_request(port_, http::verb::post, "/docs", "[1]").status, 400);
  HttpReply unknown_reducer = http_request(port_, http::verb::post, "/docs?reducer=" + std::string(64, 'b'));
  EXPECT_EQ(unknown_reducer.status, 404);
  EXPECT_NE(unknown_reducer.json()["error"].get<std::string>().find("unknown reducer"), std::string::npos);
  HttpReply unknown = get("/docs/" + std::string(32, 'c'));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.json()["error"].get<std::string>().find("unknown document"), std::string::npos);
}

TEST_F(ServerTest, ReplicasConvergeWithTheWasmTodoReducer) {
  start();
  const std::string reducer = push_todo_reducer();
  const std::string id = create_document(reducer);
  auto alice = connected_replica(id, reducer);
  auto bob = connected_replica(id, reducer);
  ASSERT_OK(alice->mutate(todo::create_task("a1", "water the plants")));
  ASSERT_OK(bob->mutate(todo::create_task("b1", "buy oat milk")));
  ASSERT_OK(alice->mutate(todo::create_task("a2", "write the talk")));
  auto settled = [&] {
    return alice->document().pending_mutations() == 0 && bob->document().pending_mutations() == 0 &&
           replica_rows(*alice, kTasksSql).size() == 3 && replica_rows(*bob, kTasksSql).size() == 3;
  };
  ASSERT_TRUE(pump_until({alice.get(), bob.get()}, settled));
  ASSERT_OK(bob->mutate(todo::toggle_task("a1")));
  ASSERT_OK(alice->mutate(todo::delete_task("b1")));
  ASSERT_TRUE(pump_until({alice.get(), bob.get()}, [&] {
    return settled() || (alice->document().pending_mutations() == 0 && bob->document().pending_mutations() == 0 &&
                         replica_rows(*alice, kTasksSql) == replica_rows(*bob, kTasksSql) &&
                         replica_rows(*bob, kTasksSql).size() == 2);
  }));
  const Json expected = server_rows(id, kTasksSql);
  EXPECT_EQ(expected.size(), 2u);
  EXPECT_EQ(replica_rows(*alice, kTasksSql), expected);
  EXPECT_EQ(replica_rows(*bob, kTasksSql), expected);
  EXPECT_EQ(expected[0][2], 1);  // a1 completed by bob
  EXPECT_GE(server_->metrics().mutations_applied.load(), 5u);
  // Each message is timed once its round takes it (some acknowledgements
  // may still wait) and, going out, once its write takes it (before the
  // write counts it as sent).
  const ServerMetrics& metrics = server_->metrics();
  EXPECT_GT(metrics.inbox_wait_seconds.count(), 0u);
  EXPECT_LE(metrics.inbox_wait_seconds.count(), metrics.messages_in.load());
  EXPECT_GE(metrics.send_wait_seconds.count(), metrics.messages_out.load());
}

TEST_F(ServerTest, ReplicasConvergeWithTheSqlGuestbookReducerOnADocumentBornOffline) {
  start();
  const std::string reducer = push_guestbook_reducer();
  const std::string id = env_.new_journal_id().to_hex();  // never created on the server
  auto ada = replica(id, reducer);
  auto grace = replica(id, reducer);
  // Written offline, before the server knows the document.
  ASSERT_OK(ada->mutate(R"({"tag":"AddEntry","id":"e1","author":"Ada","message":"Hello","at":1})"));
  EXPECT_EQ(get("/docs/" + id).status, 404);
  EXPECT_EQ(ada->connect(port_, "/docs/" + id + "/sync"), 404);  // no reducer named: unknown
  ASSERT_EQ(ada->connect(port_, "/docs/" + id + "/sync?reducer=" + reducer), 0);
  ASSERT_EQ(grace->connect(port_, "/docs/" + id + "/sync?reducer=" + reducer), 0);
  ASSERT_OK(grace->mutate(R"({"tag":"AddEntry","id":"e2","author":"Grace","message":"Hi","at":2})"));
  const std::string sql = "SELECT id, author, message, likes FROM entries ORDER BY id";
  auto converged = [&](size_t entries) {
    return ada->document().pending_mutations() == 0 && grace->document().pending_mutations() == 0 &&
           replica_rows(*ada, sql).size() == entries && replica_rows(*ada, sql) == replica_rows(*grace, sql);
  };
  ASSERT_TRUE(pump_until({ada.get(), grace.get()}, [&] { return converged(2); }));
  ASSERT_OK(grace->mutate(R"({"tag":"LikeEntry","id":"e1"})"));
  ASSERT_TRUE(pump_until({ada.get(), grace.get()}, [&] {
    return converged(2) && replica_rows(*ada, sql)[0][3] == 1;
  }));
  EXPECT_EQ(server_rows(id, sql), replica_rows(*ada, sql));
  EXPECT_EQ(server_rows(id, sql)[0][3], 1);
  EXPECT_EQ(get("/docs/" + id).json()["reducer"], reducer);
}

TEST_F(ServerTest, QueriesAreReadOnly) {
  start();
  const std::string id = create_document(push_guestbook_reducer());
  HttpReply rows = get("/docs/" + id + "/query?sql=" + url_encode("SELECT 1 AS one, 'x' AS two, NULL AS three"));
  ASSERT_EQ(rows.status, 200) << rows.body;
  EXPECT_EQ(rows.body, R"({"columns":["one","two","three"],"rows":[[1,"x",null]]})");
  HttpReply write = get("/docs/" + id + "/query?sql=" + url_encode("DELETE FROM entries"));
  EXPECT_EQ(write.status, 400) << write.body;
  EXPECT_EQ(get("/docs/" + id + "/query").status, 400);
  EXPECT_EQ(get("/docs/" + id + "/query?sql=" + url_encode("SELECT * FROM nowhere")).status, 400);
}

TEST_F(ServerTest, MalformedPayloadsAndTextMessagesCloseOnlyTheirConnection) {
  start();
  const std::string reducer = push_todo_reducer();
  const std::string id = create_document(reducer);
  auto healthy = connected_replica(id, reducer);

  WsClient::Upgrade garbage = WsClient::open(port_, "/docs/" + id + "/sync");
  ASSERT_TRUE(garbage.client);
  garbage.client->send(bytes_of("this is not a protocol message"));
  ASSERT_TRUE(garbage.client->wait_closed());
  EXPECT_EQ(garbage.client->close_code(), websocket::close_code::protocol_error);
  EXPECT_NE(garbage.client->close_text().find("protocol error"), std::string::npos)
      << garbage.client->close_text();

  // A batch whose checksum fails: refused as a whole, named as a batch.
  WsClient::Upgrade bad_batch = WsClient::open(port_, "/docs/" + id + "/sync");
  ASSERT_TRUE(bad_batch.client);
  const JournalId timeline = env_.new_journal_id();
  Bytes batch = encode_batch({encode_message(RangeRequest{timeline, LsnRange::empty(0)}),
                              encode_message(RangeReply{timeline, LsnRange::empty(0)})});
  batch[8] ^= 1;
  bad_batch.client->send(batch);
  ASSERT_TRUE(bad_batch.client->wait_closed());
  EXPECT_EQ(bad_batch.client->close_code(), websocket::close_code::protocol_error);
  EXPECT_NE(bad_batch.client->close_text().find("protocol batch: checksum mismatch"), std::string::npos)
      << bad_batch.client->close_text();

  WsClient::Upgrade text = WsClient::open(port_, "/docs/" + id + "/sync");
  ASSERT_TRUE(text.client);
  text.client->send(bytes_of("hello"), /*binary=*/false);
  ASSERT_TRUE(text.client->wait_closed());
  EXPECT_EQ(text.client->close_code(), websocket::close_code::unknown_data);
  EXPECT_NE(text.client->close_text().find("binary"), std::string::npos);

  expect_still_syncing(*healthy, id, "h1");
  EXPECT_GE(server_->metrics().protocol_errors.load(), 3u);
}

TEST_F(ServerTest, UnknownDocumentsAreRefusedAtTheUpgrade) {
  start();
  const std::string reducer = push_todo_reducer();
  const std::string id = create_document(reducer);
  auto healthy = connected_replica(id, reducer);
  WsClient::Upgrade unknown = WsClient::open(port_, "/docs/" + std::string(32, 'd') + "/sync");
  EXPECT_FALSE(unknown.client);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("unknown document"), std::string::npos) << unknown.body;
  WsClient::Upgrade bad_reducer = WsClient::open(port_, "/docs/" + std::string(32, 'd') + "/sync?reducer=" + std::string(64, 'e'));
  EXPECT_EQ(bad_reducer.status, 404);
  EXPECT_NE(bad_reducer.body.find("unknown reducer"), std::string::npos) << bad_reducer.body;
  expect_still_syncing(*healthy, id, "h1");
}

TEST_F(ServerTest, MessagesOverTheSizeCapCloseWith1009) {
  start();
  const std::string reducer = push_todo_reducer();
  const std::string id = create_document(reducer);
  auto healthy = connected_replica(id, reducer);
  WsClient::Upgrade big = WsClient::open(port_, "/docs/" + id + "/sync");
  ASSERT_TRUE(big.client);
  big.client->send(Bytes(config_.max_message_bytes + 1, 0x42));
  ASSERT_TRUE(big.client->wait_closed());
  EXPECT_EQ(big.client->close_code(), websocket::close_code::too_big);
  EXPECT_NE(big.client->close_text().find("message too big"), std::string::npos)
      << big.client->close_text();
  expect_still_syncing(*healthy, id, "h1");
}

TEST_F(ServerTest, AClientFloodingPastItsWindowIsClosed) {
  start();
  const std::string reducer = push_todo_reducer();
  const std::string id = create_document(reducer);
  auto healthy = connected_replica(id, reducer);
  WsClient::Upgrade flood = WsClient::open(port_, "/docs/" + id + "/sync");
  ASSERT_TRUE(flood.client);
  const JournalId timeline = env_.new_journal_id();
  flood.client->send(encode_message(RangeRequest{timeline, LsnRange::half_open(0, 1000)}));
  // Wait for the server's reply for the timeline, as a real client would.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  bool replied = false;
  while (!replied && std::chrono::steady_clock::now() < deadline) {
    flood.client->run_for(5ms);
    for (const Bytes& transport_message : flood.client->received()) {
      Result<std::vector<ByteView>> messages = split_batch(transport_message);
      ASSERT_TRUE(messages.is_ok()) << messages.status().to_string();
      for (ByteView message : *messages) {
        Result<Message> decoded = decode_message(message);
        replied = replied || (decoded.is_ok() && std::holds_alternative<RangeReply>(*decoded) &&
                              std::get<RangeReply>(*decoded).journal == timeline);
      }
    }
  }
  ASSERT_TRUE(replied);
  // A window of frames, then frames beyond it without waiting for any
  // acknowledgement: even if the server acknowledged all 64 at once, lsn
  // 128 is past what it allowed.
  const Lsn window = config_.max_in_flight_frames;
  for (Lsn lsn = 0; lsn < window; ++lsn) {
    flood.client->send(encode_message(FrameMessage{timeline, lsn, 999 - lsn, bytes_of("{}")}));
  }
  for (Lsn lsn = 2 * window; lsn < 3 * window && !flood.client->closed(); ++lsn) {
    flood.client->send(encode_message(FrameMessage{timeline, lsn, 999 - lsn, bytes_of("{}")}));
  }
  ASSERT_TRUE(flood.client->wait_closed());
  EXPECT_EQ(flood.client->close_code(), websocket::close_code::protocol_error);
  EXPECT_NE(flood.client->close_text().find("beyond the window"), std::string::npos)
      << flood.client->close_text();
  expect_still_syncing(*healthy, id, "h1");
}

TEST_F(ServerTest, TokensGuardEveryEndpoint) {
  config_.auth_secret = "s3cret";
  start();
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  const std::string admin = sign_token("s3cret", {"*", AccessRight::kWrite, now + 600});
  const std::string reducer = push_reducer(read_bytes(SQLSYNC_TODO_REDUCER_WASM), admin);
  token_ = admin;
  const std::string id = create_document(reducer, admin);
  const std::string other_id = std::string(32, 'a');
  const std::string writer = sign_token("s3cret", {id, AccessRight::kWrite, now + 600});
  const std::string reader = sign_token("s3cret", {id, AccessRight::kRead, now + 600});
  const std::string expired = sign_token("s3cret", {id, AccessRight::kWrite, now - 10});
  const std::string elsewhere = sign_token("s3cret", {other_id, AccessRight::kWrite, now + 600});
  const std::string sync = "/docs/" + id + "/sync";

  EXPECT_EQ(http_request(port_, http::verb::put, "/reducers", "-- migration 1\n").status, 401);
  EXPECT_EQ(http_request(port_, http::verb::put, "/reducers", "-- migration 1\n", writer).status, 403);
  EXPECT_EQ(get("/docs/" + id).status, 401);
  EXPECT_EQ(get("/docs/" + id, reader).status, 200);  // Authorization: Bearer
  EXPECT_EQ(get("/docs/" + id + "?token=" + reader).status, 200);
  EXPECT_EQ(get("/docs/" + id + "/query?sql=SELECT+1&token=" + reader).status, 200);

  WsClient::Upgrade missing = WsClient::open(port_, sync);
  EXPECT_EQ(missing.status, 401);
  EXPECT_NE(missing.body.find("missing token"), std::string::npos) << missing.body;
  WsClient::Upgrade stale = WsClient::open(port_, sync + "?token=" + expired);
  EXPECT_EQ(stale.status, 401);
  EXPECT_NE(stale.body.find("expired"), std::string::npos) << stale.body;
  WsClient::Upgrade wrong = WsClient::open(port_, sync + "?token=" + elsewhere);
  EXPECT_EQ(wrong.status, 403);
  EXPECT_NE(wrong.body.find("token grants document " + other_id), std::string::npos) << wrong.body;
  WsClient::Upgrade forged = WsClient::open(port_, sync + "?token=" + sign_token("other", {id, AccessRight::kWrite, now + 600}));
  EXPECT_EQ(forged.status, 401);

  auto author = connected_replica(id, reducer, "?token=" + writer);
  auto viewer = connected_replica(id, reducer, "?token=" + reader);
  ASSERT_OK(author->mutate(todo::create_task("t1", "visible to readers")));
  ASSERT_TRUE(pump_until({author.get(), viewer.get()}, [&] {
    return author->document().pending_mutations() == 0 && replica_rows(*viewer, kTasksSql).size() == 1;
  }));
  // A reader's own mutation is refused when it announces it (reconnect).
  ASSERT_OK(viewer->mutate(todo::create_task("v1", "sneaky")));
  ASSERT_EQ(viewer->connect(port_, sync + "?token=" + reader), 0);
  ASSERT_TRUE(pump_until({viewer.get()}, [&] { return viewer->ws().closed(); }));
  EXPECT_EQ(viewer->ws().close_code(), websocket::close_code::policy_error);
  EXPECT_NE(viewer->ws().close_text().find("read right only"), std::string::npos)
      << viewer->ws().close_text();
  expect_still_syncing(*author, id, "t2");
}

TEST_F(ServerTest, AHigherSchemaVersionUpgradesTheDocumentALowerOneIsStillServed) {
  start();
  const std::string guestbook = read_bytes_text(SQLSYNC_GUESTBOOK_SQL);
  // Version 1 of the guestbook: the first migration and AddEntry only.
  const std::string version1 = guestbook.substr(0, guestbook.find("-- migration 2")) +
                               guestbook.substr(guestbook.find("-- mutation AddEntry"),
                                                guestbook.find("-- mutation LikeEntry") -
                                                    guestbook.find("-- mutation AddEntry"));
  const std::string old_reducer = push_reducer(bytes_of(version1));
  const std::string new_reducer = push_guestbook_reducer();
  const std::string id = create_document(old_reducer);
  EXPECT_EQ(get("/docs/" + id).json()["schema_version"], 1);

  auto old_client = connected_replica(id, old_reducer, "?reducer=" + old_reducer);
  auto new_client = connected_replica(id, new_reducer, "?reducer=" + new_reducer);
  HttpReply info = get("/docs/" + id);
  EXPECT_EQ(info.json()["schema_version"], 2);
  EXPECT_EQ(info.json()["reducer"], new_reducer);
  ASSERT_OK(new_client->mutate(R"({"tag":"AddEntry","id":"e1","author":"Ada","message":"v2","at":1})"));
  ASSERT_OK(new_client->mutate(R"({"tag":"LikeEntry","id":"e1"})"));
  ASSERT_TRUE(pump_until({new_client.get(), old_client.get()}, [&] {
    return new_client->document().pending_mutations() == 0 &&
           old_client->document().storage_range() == new_client->document().storage_range();
  }));
  EXPECT_EQ(server_rows(id, "SELECT likes FROM entries")[0][0], 1);
  // The old client still receives the document (its reducer refuses to
  // mutate a newer schema); connecting with it does not downgrade.
  auto late_old = connected_replica(id, old_reducer, "?reducer=" + old_reducer);
  EXPECT_EQ(get("/docs/" + id).json()["schema_version"], 2);
}

TEST_F(ServerTest, GracefulShutdownClosesWebSocketsWith1001) {
  start();
  const std::string reducer = push_todo_reducer();
  const std::string id = create_document(reducer);
  auto client = connected_replica(id, reducer);
  ASSERT_OK(client->mutate(todo::create_task("t1", "before shutdown")));
  ASSERT_TRUE(pump_until({client.get()}, [&] { return client->document().pending_mutations() == 0; }));
  server_->shutdown();
  ASSERT_TRUE(pump_until({client.get()}, [&] { return client->ws().closed(); }));
  EXPECT_EQ(client->ws().close_code(), websocket::close_code::going_away);
  server_->wait();
  EXPECT_EQ(http_request(port_, http::verb::get, "/healthz").status, 0);  // no longer accepting
}

TEST_F(ServerTest, IdleDocumentsAreUnloadedAndReloadFromDisk) {
  config_.max_documents = 1;
  start();
  const std::string reducer = push_todo_reducer();
  const std::string first = create_document(reducer);
  {
    auto client = connected_replica(first, reducer);
    ASSERT_OK(client->mutate(todo::create_task("t1", "kept on disk")));
    ASSERT_TRUE(pump_until({client.get()}, [&] { return client->document().pending_mutations() == 0; }));
  }
  const std::string second = create_document(reducer);
  auto client = connected_replica(second, reducer);
  ASSERT_OK(client->mutate(todo::create_task("t2", "second document")));
  ASSERT_TRUE(pump_until({client.get()}, [&] {
    return client->document().pending_mutations() == 0 && server_->metrics().documents_loaded.load() == 1;
  }));
  EXPECT_GE(server_->metrics().documents_unloaded.load(), 1u);
  EXPECT_EQ(server_rows(first, kTasksSql).size(), 1u);  // reloaded from its journals
}

// Also with --sync filesystem (one syncfs shared by the documents' rounds).
TEST_F(ServerTest, DocumentsSurviveARestart) {
  for (const bool sync_filesystem : {false, true}) {
    SCOPED_TRACE(sync_filesystem ? "sync filesystem" : "sync file");
    config_.sync_filesystem = sync_filesystem;
    documents_survive_a_restart();
  }
}

void ServerTest::documents_survive_a_restart() {
  server_.reset();
  start();
  const std::string reducer = push_todo_reducer();
  const std::string id = create_document(reducer);
  {
    auto client = connected_replica(id, reducer);
    ASSERT_OK(client->mutate(todo::create_task("t1", "durable")));
    ASSERT_TRUE(pump_until({client.get()}, [&] { return client->document().pending_mutations() == 0; }));
  }
  server_.reset();
  start();
  EXPECT_EQ(get("/docs/" + id).json()["reducer"], reducer);
  EXPECT_EQ(server_rows(id, kTasksSql).size(), 1u);
}

TEST_F(ServerTest, ServesStaticFilesWithSinglePageFallback) {
  const std::string root = directory_ + "/www";
  std::filesystem::create_directories(root + "/assets");
  std::ofstream(root + "/index.html") << "<!doctype html><title>todo</title>";
  std::ofstream(root + "/assets/app.mjs") << "export {}";
  std::ofstream(root + "/assets/core.wasm") << "wasm";
  std::ofstream(directory_ + "/secret.txt") << "secret";
  config_.static_directory = root;
  start();
  HttpReply index = get("/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(get("/assets/app.mjs").content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(get("/assets/core.wasm").content_type, "application/wasm");
  EXPECT_EQ(get("/list/0a1b2c").body, index.body);
  EXPECT_EQ(get("/assets/missing.js").status, 404);
  EXPECT_EQ(get("/../secret.txt").status, 400);
  EXPECT_EQ(get("/%2e%2e/secret.txt").status, 400);
  EXPECT_EQ(get("/healthz").status, 200);  // the API wins over the files
  // HEAD answers as GET would, without the body.
  HttpReply head = http_request(port_, http::verb::head, "/");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(http_request(port_, http::verb::head, "/healthz").status, 200);
  EXPECT_EQ(http_request(port_, http::verb::head, "/assets/missing.js").status, 404);
}

TEST_F(ServerTest, RefusesConnectionsOverTheLimit) {
  config_.max_connections = 2;
  start();
  const std::string reducer = push_todo_reducer();
  const std::string id = create_document(reducer);
  auto first = connected_replica(id, reducer);
  auto second = connected_replica(id, reducer);
  HttpReply refused = get("/healthz");
  EXPECT_EQ(refused.status, 503);
  EXPECT_NE(refused.json()["error"].get<std::string>().find("max-connections"), std::string::npos);
  first.reset();
  bool accepted = false;
  for (int i = 0; i < 200 && !accepted; ++i) {
    accepted = get("/healthz").status == 200;
    if (!accepted) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(accepted);
}

// The binary: startup line with the real port, SIGTERM exits 0.
TEST_F(ServerTest, BinaryPrintsItsUrlAndStopsOnSigterm) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    const std::string data = directory_ + "/bin-data";
    execl(SQLSYNC_SERVER_BINARY, "sqlsync-server", "--port", "0", "--data", data.c_str(), nullptr);
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string output;
  uint16_t port = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (port == 0 && std::chrono::steady_clock::now() < deadline) {
    pollfd fd{pipe_fds[0], POLLIN, 0};
    if (poll(&fd, 1, 100) <= 0) continue;
    char chunk[512];
    const ssize_t n = read(pipe_fds[0], chunk, sizeof(chunk));
    if (n <= 0) break;
    output.append(chunk, static_cast<size_t>(n));
    const std::string marker = "sqlsync-server listening on http://127.0.0.1:";
    const size_t at = output.find(marker);
    if (at != std::string::npos && output.find(" (data ", at) != std::string::npos) {
      port = static_cast<uint16_t>(std::stoi(output.substr(at + marker.size())));
    }
  }
  ASSERT_NE(port, 0) << output;
  EXPECT_NE(output.find("no auth secret"), std::string::npos) << output;
  EXPECT_EQ(http_request(port, http::verb::get, "/healthz").status, 200);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  char chunk[512];
  for (ssize_t n; (n = read(pipe_fds[0], chunk, sizeof(chunk))) > 0;) output.append(chunk, static_cast<size_t>(n));
  close(pipe_fds[0]);
  EXPECT_NE(output.find("shutting down"), std::string::npos) << output;
}

}  // namespace
}  // namespace sqlsync
