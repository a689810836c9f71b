// Parsing of the http:// URLs the client accepts: a server ("http://host:port",
// optionally with a path prefix) and a document on a server
// ("http://host:port/docs/<32 hex>"), plus percent-encoding of query values.
#pragma once

#include <string>
#include <string_view>

#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

struct HttpUrl {
  std::string host;  // name or address; an IPv6 address without its brackets
  std::string port;  // decimal; "80" when the URL names none
  std::string path;  // path prefix without a trailing '/': "" or "/sqlsync"

  // The Host header value: "host:port" ("[::1]:8080" for IPv6).
  std::string authority() const;
  // "http://" + authority() + path.
  std::string to_string() const;
};

// Parses "http://host[:port][/path]". InvalidArgument naming the problem for
// another scheme (https is not supported: put a TLS proxy in front and use
// plain http to it), a missing host, a bad port, or a query or fragment.
Result<HttpUrl> parse_http_url(std::string_view url);

struct DocumentUrl {
  HttpUrl server;
  JournalId document_id;
};

// Parses "http://host[:port][/prefix]/docs/<32 hex>" (a trailing '/' is
// accepted). InvalidArgument if the URL does not end in /docs/<id>.
Result<DocumentUrl> parse_document_url(std::string_view url);

// Percent-encodes `text` for a URL query value: everything but
// A-Z a-z 0-9 - . _ ~ becomes %XX.
std::string percent_encode(std::string_view text);

}  // namespace sqlsync
