#include "base/digest.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace sqlsync {

Sha256 sha256(ByteView data) {
  Sha256 out{};
  unsigned int length = 0;
  // EVP_Digest cannot fail for SHA-256 on in-memory data short of allocation
  // failure, which aborts elsewhere too.
  EVP_Digest(data.data(), data.size(), out.data(), &length, EVP_sha256(), nullptr);
  return out;
}

std::string sha256_hex(ByteView data) {
  Sha256 digest = sha256(data);
  return to_hex(ByteView(digest.data(), digest.size()));
}

Sha256 hmac_sha256(ByteView key, ByteView data) {
  Sha256 out{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &length);
  return out;
}

std::string to_hex(ByteView bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t byte : bytes) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 15]);
  }
  return out;
}

}  // namespace sqlsync
