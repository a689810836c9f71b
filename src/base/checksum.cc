#include "base/checksum.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace sqlsync {

uint64_t checksum64(ByteView data) { return XXH3_64bits(data.data(), data.size()); }

uint64_t checksum64_seeded(ByteView data, uint64_t seed) {
  return XXH3_64bits_withSeed(data.data(), data.size(), seed);
}

}  // namespace sqlsync
