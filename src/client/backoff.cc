#include "client/backoff.h"

#include <cassert>

namespace sqlsync {

ReconnectBackoff::ReconnectBackoff(uint64_t min_micros, uint64_t max_micros, uint64_t seed)
    : min_micros_(min_micros), max_micros_(max_micros), random_(seed) {
  assert(min_micros > 0 && min_micros <= max_micros);
}

uint64_t ReconnectBackoff::next_delay_micros() {
  ++failures_;
  uint64_t delay = min_micros_;
  for (uint32_t i = 1; i < failures_ && delay < max_micros_; ++i) {
    delay = delay >= max_micros_ / 2 ? max_micros_ : delay * 2;
  }
  const uint64_t low = delay / 2;
  return low + random_() % (delay - low + 1);
}

}  // namespace sqlsync
