#include "server/auth.h"

#include <gtest/gtest.h>

#include <random>

#include "base/digest.h"

namespace sqlsync {
namespace {

constexpr int64_t kNow = 1'800'000'000;
const std::string kDoc = "0123456789abcdef0123456789abcdef";

std::string token(std::string_view secret, std::string doc, AccessRight right, int64_t expires_at) {
  return sign_token(secret, TokenClaims{std::move(doc), right, expires_at});
}

TEST(Base64UrlTest, KnownVectors) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  Result<std::string> decoded = base64url_decode("-_8");
  ASSERT_TRUE(decoded.is_ok());
  EXPECT_EQ(*decoded, "\xfb\xff");
}

TEST(Base64UrlTest, RoundTripsRandomBytes) {
  std::mt19937_64 rng(7);
  for (size_t length = 0; length < 40; ++length) {
    std::string bytes(length, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
    Result<std::string> decoded = base64url_decode(base64url_encode(bytes));
    ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
    EXPECT_EQ(*decoded, bytes) << "length " << length;
  }
}

TEST(Base64UrlTest, RefusesOtherAlphabetsAndImpossibleLengths) {
  EXPECT_FALSE(base64url_decode("Zm9v+A").is_ok());  // standard base64's '+'
  EXPECT_FALSE(base64url_decode("Zm9v/A").is_ok());
  EXPECT_FALSE(base64url_decode("Zg==").is_ok());  // padding
  Result<std::string> odd = base64url_decode("Zm9vY");
  ASSERT_FALSE(odd.is_ok());
  EXPECT_NE(odd.status().message().find("impossible length"), std::string::npos);
}

TEST(TokenTest, RoundTripsClaims) {
  const std::string signed_token = token("s3cret", kDoc, AccessRight::kRead, kNow + 60);
  Result<TokenClaims> claims = verify_token("s3cret", signed_token);
  ASSERT_TRUE(claims.is_ok()) << claims.status().to_string();
  EXPECT_EQ(claims->document, kDoc);
  EXPECT_EQ(claims->right, AccessRight::kRead);
  EXPECT_EQ(claims->expires_at, kNow + 60);
}

TEST(TokenTest, RefusesAnotherSecretAndAlteredPayloads) {
  const std::string signed_token = token("s3cret", kDoc, AccessRight::kRead, kNow + 60);
  Result<TokenClaims> other = verify_token("another", signed_token);
  ASSERT_FALSE(other.is_ok());
  EXPECT_NE(other.status().message().find("signature does not match"), std::string::npos);

  // Same signature over a payload granting write.
  const size_t dot = signed_token.find('.');
  const std::string forged =
      base64url_encode(R"({"doc":")" + kDoc + R"(","right":"write","exp":)" + std::to_string(kNow + 60) + "}") +
      signed_token.substr(dot);
  EXPECT_FALSE(verify_token("s3cret", forged).is_ok());
  EXPECT_FALSE(verify_token("s3cret", "no-dot-here").is_ok());
  EXPECT_FALSE(verify_token("s3cret", "").is_ok());
}

TEST(TokenTest, RefusesSignedButMalformedPayloads) {
  // Signed with the right secret, so only the payload checks can refuse them.
  auto sign_payload = [](std::string_view payload) {
    const std::string signed_part = base64url_encode(payload);
    const Sha256 mac = hmac_sha256(as_bytes("s3cret"), as_bytes(signed_part));
    return signed_part + "." + base64url_encode(std::string(reinterpret_cast<const char*>(mac.data()), mac.size()));
  };
  EXPECT_TRUE(verify_token("s3cret", sign_payload(R"({"doc":"*","right":"read","exp":1})")).is_ok());
  Result<TokenClaims> admin = verify_token("s3cret", sign_payload(R"({"doc":"*","right":"admin","exp":1})"));
  ASSERT_FALSE(admin.is_ok());
  EXPECT_NE(admin.status().message().find("\"admin\""), std::string::npos);
  EXPECT_FALSE(verify_token("s3cret", sign_payload(R"({"doc":"*","right":"read"})")).is_ok());
  EXPECT_FALSE(verify_token("s3cret", sign_payload(R"({"doc":1,"right":"read","exp":1})")).is_ok());
  EXPECT_FALSE(verify_token("s3cret", sign_payload("not json")).is_ok());
}

TEST(AuthenticatorTest, WithoutSecretEverythingIsAllowed) {
  Authenticator open("");
  EXPECT_FALSE(open.enabled());
  AccessDecision decision = open.check("", kDoc, AccessRight::kWrite, kNow);
  EXPECT_EQ(decision.outcome, AccessDecision::Outcome::kAllowed);
  EXPECT_EQ(decision.granted, AccessRight::kWrite);
}

TEST(AuthenticatorTest, MissingInvalidAndExpiredTokensAreUnauthenticated) {
  Authenticator auth("s3cret");
  using Outcome = AccessDecision::Outcome;
  AccessDecision missing = auth.check("", kDoc, AccessRight::kRead, kNow);
  EXPECT_EQ(missing.outcome, Outcome::kUnauthenticated);
  EXPECT_NE(missing.reason.find("missing token"), std::string::npos);

  AccessDecision forged = auth.check(token("other", kDoc, AccessRight::kWrite, kNow + 60), kDoc, AccessRight::kRead, kNow);
  EXPECT_EQ(forged.outcome, Outcome::kUnauthenticated);
  EXPECT_NE(forged.reason.find("signature"), std::string::npos);

  AccessDecision expired = auth.check(token("s3cret", kDoc, AccessRight::kWrite, kNow - 5), kDoc, AccessRight::kRead, kNow);
  EXPECT_EQ(expired.outcome, Outcome::kUnauthenticated);
  EXPECT_NE(expired.reason.find("expired 5 s ago"), std::string::npos);
}

TEST(AuthenticatorTest, ScopesTokensToDocumentsAndRights) {
  Authenticator auth("s3cret");
  using Outcome = AccessDecision::Outcome;
  const std::string other_doc = "ffffffffffffffffffffffffffffffff";
  const std::string reader = token("s3cret", kDoc, AccessRight::kRead, kNow + 60);
  const std::string writer = token("s3cret", kDoc, AccessRight::kWrite, kNow + 60);
  const std::string admin = token("s3cret", "*", AccessRight::kWrite, kNow + 60);

  AccessDecision read = auth.check(reader, kDoc, AccessRight::kRead, kNow);
  EXPECT_EQ(read.outcome, Outcome::kAllowed);
  EXPECT_EQ(read.granted, AccessRight::kRead);
  AccessDecision read_wants_write = auth.check(reader, kDoc, AccessRight::kWrite, kNow);
  EXPECT_EQ(read_wants_write.outcome, Outcome::kForbidden);
  EXPECT_NE(read_wants_write.reason.find("needs write"), std::string::npos);
  AccessDecision wrong_doc = auth.check(writer, other_doc, AccessRight::kRead, kNow);
  EXPECT_EQ(wrong_doc.outcome, Outcome::kForbidden);
  EXPECT_NE(wrong_doc.reason.find(other_doc), std::string::npos);
  EXPECT_EQ(auth.check(writer, kDoc, AccessRight::kWrite, kNow).granted, AccessRight::kWrite);

  // "*" scopes: only a token for every document; nullopt: any valid token.
  EXPECT_EQ(auth.check(writer, "*", AccessRight::kWrite, kNow).outcome, Outcome::kForbidden);
  EXPECT_EQ(auth.check(admin, "*", AccessRight::kWrite, kNow).outcome, Outcome::kAllowed);
  EXPECT_EQ(auth.check(admin, other_doc, AccessRight::kWrite, kNow).outcome, Outcome::kAllowed);
  EXPECT_EQ(auth.check(reader, std::nullopt, AccessRight::kRead, kNow).outcome, Outcome::kAllowed);
}

}  // namespace
}  // namespace sqlsync
