// Cryptographic digests for content addressing (reducers, AOT cache entries)
// and signed tokens. Native builds only: backed by OpenSSL's libcrypto, which
// the browser build does not have (there, crypto.subtle does this job).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "sqlsync/types.h"

namespace sqlsync {

using Sha256 = std::array<uint8_t, 32>;

Sha256 sha256(ByteView data);
// Lowercase hex of sha256(data): 64 characters.
std::string sha256_hex(ByteView data);
// HMAC-SHA-256 of `data` under `key`.
Sha256 hmac_sha256(ByteView key, ByteView data);
// Lowercase hex of any bytes.
std::string to_hex(ByteView bytes);

}  // namespace sqlsync
