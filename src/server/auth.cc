#include "server/auth.h"

#include <array>

#include <nlohmann/json.hpp>

#include "base/digest.h"

namespace sqlsync {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string mac_of(std::string_view secret, std::string_view signed_part) {
  const Sha256 mac = hmac_sha256(as_bytes(secret), as_bytes(signed_part));
  return std::string(reinterpret_cast<const char*>(mac.data()), mac.size());
}

// Compares in time independent of where the inputs differ, so a forger learns
// nothing from response times.
bool equal_in_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < a.size(); ++i) difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  return difference == 0;
}

}  // namespace

const char* access_right_name(AccessRight right) { return right == AccessRight::kWrite ? "write" : "read"; }

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t bits = 0;
  int bit_count = 0;
  for (char c : bytes) {
    bits = (bits << 8) | static_cast<uint8_t>(c);
    bit_count += 8;
    while (bit_count >= 6) {
      bit_count -= 6;
      out.push_back(kAlphabet[(bits >> bit_count) & 63]);
    }
  }
  if (bit_count > 0) out.push_back(kAlphabet[(bits << (6 - bit_count)) & 63]);
  return out;
}

Result<std::string> base64url_decode(std::string_view text) {
  std::array<int8_t, 256> values;
  values.fill(-1);
  for (int i = 0; i < 64; ++i) values[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  // A single leftover character cannot hold a whole byte.
  if (text.size() % 4 == 1) return Status::invalid_argument("base64url text has an impossible length");
  std::string out;
  uint32_t bits = 0;
  int bit_count = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const int8_t value = values[static_cast<uint8_t>(text[i])];
    if (value < 0) return Status::invalid_argument("invalid base64url character at offset " + std::to_string(i));
    bits = (bits << 6) | static_cast<uint32_t>(value);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<char>((bits >> bit_count) & 0xff));
    }
  }
  return out;
}

std::string sign_token(std::string_view secret, const TokenClaims& claims) {
  const nlohmann::json payload = {
      {"doc", claims.document}, {"right", access_right_name(claims.right)}, {"exp", claims.expires_at}};
  const std::string signed_part = base64url_encode(payload.dump());
  return signed_part + "." + base64url_encode(mac_of(secret, signed_part));
}

Result<TokenClaims> verify_token(std::string_view secret, std::string_view token) {
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos) {
    return Status::invalid_argument("malformed token: expected base64url(payload).base64url(signature)");
  }
  const std::string_view signed_part = token.substr(0, dot);
  Result<std::string> mac = base64url_decode(token.substr(dot + 1));
  if (!mac.is_ok() || !equal_in_constant_time(*mac, mac_of(secret, signed_part))) {
    return Status::invalid_argument("token signature does not match (signed with another secret, or altered)");
  }
  Result<std::string> payload_text = base64url_decode(signed_part);
  if (!payload_text.is_ok()) return payload_text.status().with_context("token payload");
  const nlohmann::json payload = nlohmann::json::parse(*payload_text, nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded() || !payload.is_object() || !payload.contains("doc") || !payload["doc"].is_string() ||
      !payload.contains("right") || !payload["right"].is_string() || !payload.contains("exp") ||
      !payload["exp"].is_number_integer()) {
    return Status::invalid_argument(R"(token payload must be {"doc":string,"right":"read"|"write","exp":integer})");
  }
  TokenClaims claims;
  claims.document = payload["doc"].get<std::string>();
  const std::string right = payload["right"].get<std::string>();
  if (right != "read" && right != "write") {
    return Status::invalid_argument("token right must be \"read\" or \"write\", not \"" + right + "\"");
  }
  claims.right = right == "write" ? AccessRight::kWrite : AccessRight::kRead;
  claims.expires_at = payload["exp"].get<int64_t>();
  return claims;
}

AccessDecision Authenticator::check(std::string_view token, std::optional<std::string_view> document,
                                    AccessRight needed, int64_t now) const {
  using Outcome = AccessDecision::Outcome;
  if (!enabled()) return {Outcome::kAllowed, AccessRight::kWrite, {}};
  if (token.empty()) {
    return {Outcome::kUnauthenticated, AccessRight::kRead,
            "missing token: send Authorization: Bearer <token> or ?token=<token>"};
  }
  Result<TokenClaims> claims = verify_token(secret_, token);
  if (!claims.is_ok()) return {Outcome::kUnauthenticated, AccessRight::kRead, "invalid token: " + claims.status().message()};
  if (claims->expires_at <= now) {
    return {Outcome::kUnauthenticated, AccessRight::kRead,
            "token expired " + std::to_string(now - claims->expires_at) + " s ago"};
  }
  if (document.has_value() && claims->document != "*" && claims->document != *document) {
    const std::string wanted = *document == "*" ? "every document" : "document " + std::string(*document);
    return {Outcome::kForbidden, claims->right,
            "token grants document " + claims->document + ", this request needs " + wanted};
  }
  if (needed == AccessRight::kWrite && claims->right != AccessRight::kWrite) {
    return {Outcome::kForbidden, claims->right, "token grants the read right, this request needs write"};
  }
  return {Outcome::kAllowed, claims->right, {}};
}

}  // namespace sqlsync
