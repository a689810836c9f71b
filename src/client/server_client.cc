// ServerClient: blocking HTTP/1.1 requests to sqlsync-server, one connection
// per call, run on a private io_context so that timeouts and errors come back
// as values (Beast's error_code overloads; nothing here throws).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "base/digest.h"
#include "client/server_answers.h"
#include "client/url.h"
#include "sqlsync/client.h"

namespace sqlsync {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Json = nlohmann::json;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// Answers larger than this are refused (a document query can be big, but
// not unbounded).
constexpr uint64_t kMaxResponseBytes = uint64_t{256} << 20;

Json parse_json(std::string_view text) { return Json::parse(text, nullptr, /*allow_exceptions=*/false); }

// A string field of a JSON object answer, or Corruption naming the endpoint.
Result<std::string> string_field(const Json& json, const char* field, const std::string& what) {
  if (!json.is_object() || !json.contains(field) || !json[field].is_string()) {
    return Status::corruption(what + ": the answer has no string field \"" + field + "\"");
  }
  return json[field].get<std::string>();
}

}  // namespace

struct ServerClient::Response {
  unsigned status = 0;
  std::string body;
};

Result<ServerClient> ServerClient::create(std::string_view server_url, std::string token) {
  SQLSYNC_ASSIGN_OR_RETURN(HttpUrl url, parse_http_url(server_url));
  std::string normalized = url.to_string();
  return ServerClient(std::move(url.host), std::move(url.port), std::move(url.path), std::move(normalized),
                      std::move(token));
}

Result<ServerClient::Response> ServerClient::request(std::string_view method, const std::string& target,
                                                     ByteView body, std::string_view content_type) const {
  const std::string what = std::string(method) + " " + url_ + target;
  http::request<http::string_body> req(http::string_to_verb(method), path_ + target, 11);
  req.set(http::field::host, HttpUrl{host_, port_, path_}.authority());
  req.set(http::field::user_agent, "sqlsync-client");
  if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  req.body().assign(reinterpret_cast<const char*>(body.data()), body.size());
  req.prepare_payload();

  asio::io_context io;
  Result<Response> result = Status::internal(what + ": the request did not run");
  auto run = [&]() -> asio::awaitable<void> {
    asio::ip::tcp::resolver resolver(io);
    auto [resolve_error, endpoints] = co_await resolver.async_resolve(host_, port_, kAsTuple);
    if (resolve_error) {
      result = Status::io_error(what + ": cannot resolve " + host_ + ": " + resolve_error.message());
      co_return;
    }
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::microseconds(timeout_micros_));
    auto [connect_error, endpoint] = co_await stream.async_connect(endpoints, kAsTuple);
    if (connect_error) {
      result = Status::io_error(what + ": cannot connect: " + connect_error.message());
      co_return;
    }
    auto [write_error, written] = co_await http::async_write(stream, req, kAsTuple);
    if (write_error) {
      result = Status::io_error(what + ": sending the request failed: " + write_error.message());
      co_return;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBytes);
    auto [read_error, read] = co_await http::async_read(stream, buffer, parser, kAsTuple);
    if (read_error) {
      result = Status::io_error(what + ": reading the answer failed: " + read_error.message());
      co_return;
    }
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    result = Response{parser.get().result_int(), std::move(parser.get().body())};
  };
  asio::co_spawn(io, run(), asio::detached);
  io.run();
  if (!result.is_ok()) return result;

  const Response& response = *result;
  if (response.status >= 200 && response.status < 300) return result;
  std::string message = what + ": server answered " + std::to_string(response.status) + ": " +
                        server_error_message(response.body);
  if (response.status == 404) return Status::not_found(message);
  if (response.status >= 500) return Status::io_error(message);
  return Status::invalid_argument(message);
}

Status ServerClient::health() const { return request("GET", "/healthz", {}, {}).status(); }

Result<ReducerUpload> ServerClient::upload_reducer(ByteView reducer) const {
  SQLSYNC_ASSIGN_OR_RETURN(Response response, request("PUT", "/reducers", reducer, "application/octet-stream"));
  const std::string what = "PUT " + url_ + "/reducers";
  Json json = parse_json(response.body);
  ReducerUpload upload;
  SQLSYNC_ASSIGN_OR_RETURN(upload.digest, string_field(json, "digest", what));
  SQLSYNC_ASSIGN_OR_RETURN(upload.kind, string_field(json, "kind", what));
  return upload;
}

Result<Bytes> ServerClient::download_reducer(std::string_view digest) const {
  const std::string target = "/reducers/" + percent_encode(digest);
  SQLSYNC_ASSIGN_OR_RETURN(Response response, request("GET", target, {}, {}));
  Bytes bytes(response.body.begin(), response.body.end());
  std::string actual = sha256_hex(bytes);
  if (actual != digest) {
    return Status::corruption("GET " + url_ + target + ": the reducer's SHA-256 is " + actual + ", not " +
                              std::string(digest));
  }
  return bytes;
}

Result<JournalId> ServerClient::create_document(std::string_view reducer_digest, std::string_view name) const {
  const std::string target = name.empty() ? "/docs" : "/docs?name=" + percent_encode(name);
  const std::string body = Json{{"reducer", reducer_digest}}.dump(-1, ' ', false, Json::error_handler_t::replace);
  SQLSYNC_ASSIGN_OR_RETURN(Response response, request("POST", target, as_bytes(body), "application/json"));
  const std::string what = "POST " + url_ + target;
  SQLSYNC_ASSIGN_OR_RETURN(std::string id, string_field(parse_json(response.body), "id", what));
  Result<JournalId> parsed = JournalId::from_hex(id);
  if (!parsed.is_ok()) return Status::corruption(what + ": the answer's id: " + parsed.status().message());
  return parsed;
}

Result<DocumentInfo> ServerClient::document_info(const JournalId& document) const {
  const std::string target = "/docs/" + document.to_hex();
  SQLSYNC_ASSIGN_OR_RETURN(Response response, request("GET", target, {}, {}));
  const std::string what = "GET " + url_ + target;
  Json json = parse_json(response.body);
  DocumentInfo info;
  info.id = document;
  SQLSYNC_ASSIGN_OR_RETURN(info.reducer_digest, string_field(json, "reducer", what));
  if (json.contains("schema_version") && json["schema_version"].is_number_unsigned()) {
    info.schema_version = json["schema_version"].get<uint32_t>();
  }
  if (json.contains("storage_range")) {
    const Json& range = json["storage_range"];
    if (!range.is_object() || !range.contains("first") || !range["first"].is_number_unsigned() ||
        !range.contains("next") || !range["next"].is_number_unsigned() ||
        range["first"].get<uint64_t>() > range["next"].get<uint64_t>()) {
      return Status::corruption(what + ": storage_range is not {\"first\": n, \"next\": m} with n <= m");
    }
    info.storage_range = LsnRange::half_open(range["first"].get<uint64_t>(), range["next"].get<uint64_t>());
  }
  return info;
}

Result<LoadedReducer> ServerClient::fetch_reducer(const JournalId& document) const {
  SQLSYNC_ASSIGN_OR_RETURN(DocumentInfo info, document_info(document));
  SQLSYNC_ASSIGN_OR_RETURN(Bytes bytes, download_reducer(info.reducer_digest));
  Result<LoadedReducer> loaded = load_reducer(bytes);
  if (!loaded.is_ok()) return loaded.status().with_context("reducer " + info.reducer_digest + " from " + url_);
  return loaded;
}

Result<QueryResult> ServerClient::query(const JournalId& document, std::string_view sql) const {
  const std::string target = "/docs/" + document.to_hex() + "/query?sql=" + percent_encode(sql);
  SQLSYNC_ASSIGN_OR_RETURN(Response response, request("GET", target, {}, {}));
  Result<QueryResult> result = parse_query_answer(response.body);
  if (!result.is_ok()) return result.status().with_context("GET " + url_ + "/docs/" + document.to_hex() + "/query");
  return result;
}

}  // namespace sqlsync
