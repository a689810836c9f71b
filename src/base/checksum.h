// The one checksum of every sqlsync format: XXH3-64 (Debian libxxhash-dev,
// used header-only so the same code builds natively and with emscripten).
#pragma once

#include <cstdint>

#include "sqlsync/types.h"

namespace sqlsync {

uint64_t checksum64(ByteView data);

// Checksum of `data` continuing a chain from `seed` (the previous link's
// checksum), so a sequence of records can be verified as a whole.
uint64_t checksum64_seeded(ByteView data, uint64_t seed);

}  // namespace sqlsync
