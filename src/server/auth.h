// Bearer tokens for sqlsync-server: base64url(payload) "." base64url(mac)
// where payload is the JSON {"doc":"<32 hex>|*","right":"read"|"write",
// "exp":<unix seconds>} and mac is HMAC-SHA-256 under the server's secret of
// the first part (the base64url text). docs/server.md specifies them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sqlsync/status.h"

namespace sqlsync {

enum class AccessRight { kRead, kWrite };

// "read" or "write".
const char* access_right_name(AccessRight right);

struct TokenClaims {
  std::string document;  // a document id (32 lowercase hex digits) or "*"
  AccessRight right = AccessRight::kRead;
  int64_t expires_at = 0;  // unix seconds
};

// A signed token carrying `claims`. `secret` must not be empty.
std::string sign_token(std::string_view secret, const TokenClaims& claims);

// Verifies a token's signature and shape (not its expiry): the claims, or
// InvalidArgument saying what is wrong ("token signature does not match").
Result<TokenClaims> verify_token(std::string_view secret, std::string_view token);

// base64url without padding (RFC 4648 section 5); decoding refuses anything
// else with InvalidArgument.
std::string base64url_encode(std::string_view bytes);
Result<std::string> base64url_decode(std::string_view text);

struct AccessDecision {
  enum class Outcome {
    kAllowed,
    kUnauthenticated,  // HTTP 401: no token, a bad signature, expired
    kForbidden,        // HTTP 403: a valid token for another document or a lesser right
  };
  Outcome outcome = Outcome::kAllowed;
  AccessRight granted = AccessRight::kWrite;  // when allowed: what the caller may do
  std::string reason;                         // when refused: for the response body
};

// Decides requests. Thread-safe (immutable).
class Authenticator {
 public:
  // An empty secret turns authentication off: everything is allowed with
  // the write right.
  explicit Authenticator(std::string secret) : secret_(std::move(secret)) {}

  bool enabled() const { return !secret_.empty(); }

  // `token` is the request's bearer token (empty if it had none). `document`
  // scopes the request: a document id, "*" for operations on no single
  // document that need a token for every document (uploading reducers,
  // creating documents), or nullopt for anything any valid token may read
  // (downloading a reducer). `needed` is the right the operation needs;
  // `now` is the current unix time in seconds.
  AccessDecision check(std::string_view token, std::optional<std::string_view> document, AccessRight needed,
                       int64_t now) const;

 private:
  std::string secret_;
};

}  // namespace sqlsync
