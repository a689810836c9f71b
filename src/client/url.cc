#include "client/url.h"

namespace sqlsync {
namespace {

constexpr std::string_view kScheme = "http://";
constexpr std::string_view kDocsSegment = "/docs/";

// A TCP port: 1 to 5 decimal digits, at most 65535.
bool is_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  return value <= 65535;
}

}  // namespace

std::string HttpUrl::authority() const {
  std::string bracketed = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return bracketed + ":" + port;
}

std::string HttpUrl::to_string() const { return "http://" + authority() + path; }

Result<HttpUrl> parse_http_url(std::string_view url) {
  const std::string quoted = "\"" + std::string(url) + "\"";
  if (url.substr(0, 8) == "https://") {
    return Status::invalid_argument("URL " + quoted +
                                    ": https is not supported; use http (behind a TLS proxy if needed)");
  }
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Status::invalid_argument("URL " + quoted + " must start with http://");
  }
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return Status::invalid_argument("URL " + quoted + " must not have a query or fragment");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);

  HttpUrl parsed;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Status::invalid_argument("URL " + quoted + ": unterminated [ in the IPv6 address");
    }
    parsed.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Status::invalid_argument("URL " + quoted + ": expected ':' after ']'");
      port = after.substr(1);
      if (port.empty()) return Status::invalid_argument("URL " + quoted + ": empty port");
    }
  } else {
    size_t colon = authority.find(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return Status::invalid_argument("URL " + quoted + ": empty port");
    }
  }
  if (parsed.host.empty()) return Status::invalid_argument("URL " + quoted + " has no host");
  if (!port.empty() && !is_port(port)) {
    return Status::invalid_argument("URL " + quoted + ": port \"" + std::string(port) +
                                    "\" is not a number from 0 to 65535");
  }
  parsed.port = port.empty() ? "80" : std::string(port);
  parsed.path = std::string(path);
  return parsed;
}

Result<DocumentUrl> parse_document_url(std::string_view url) {
  std::string_view trimmed = url;
  while (!trimmed.empty() && trimmed.back() == '/') trimmed.remove_suffix(1);
  size_t docs = trimmed.rfind(kDocsSegment);
  if (docs == std::string_view::npos) {
    return Status::invalid_argument("document URL \"" + std::string(url) +
                                    "\" must end in /docs/<id> (32 hex digits), as printed by `sqlsync doc new`");
  }
  SQLSYNC_ASSIGN_OR_RETURN(HttpUrl server, parse_http_url(trimmed.substr(0, docs)));
  Result<JournalId> id = JournalId::from_hex(trimmed.substr(docs + kDocsSegment.size()));
  if (!id.is_ok()) {
    return id.status().with_context("document URL \"" + std::string(url) + "\"");
  }
  return DocumentUrl{std::move(server), *id};
}

std::string percent_encode(std::string_view text) {
  static const char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
                            (byte >= '0' && byte <= '9') || byte == '-' || byte == '.' || byte == '_' || byte == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kDigits[byte >> 4]);
      out.push_back(kDigits[byte & 0xf]);
    }
  }
  return out;
}

}  // namespace sqlsync
