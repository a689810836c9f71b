#include "base/digest.h"

#include <gtest/gtest.h>

namespace sqlsync {
namespace {

ByteView view(const std::string& text) { return ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size()); }

// Test vectors from FIPS 180-2 and RFC 4231 (test case 2).
TEST(DigestTest, Sha256KnownAnswers) {
  EXPECT_EQ(sha256_hex(view("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex(view("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestTest, HmacSha256KnownAnswer) {
  Sha256 mac = hmac_sha256(view("Jefe"), view("what do ya want for nothing?"));
  EXPECT_EQ(to_hex(ByteView(mac.data(), mac.size())),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

}  // namespace
}  // namespace sqlsync
