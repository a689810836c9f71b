// Delays between reconnection attempts: exponential in the number of
// consecutive failures, capped, with seeded random jitter so that many
// clients cut off at once do not all return at the same instant.
#pragma once

#include <cstdint>
#include <random>

namespace sqlsync {

class ReconnectBackoff {
 public:
  // Requires 0 < min_micros <= max_micros. The same seed gives the same
  // sequence of delays.
  ReconnectBackoff(uint64_t min_micros, uint64_t max_micros, uint64_t seed);

  // Records one more failed attempt and returns how long to wait before the
  // next: a uniformly random delay in [d/2, d] where
  // d = min(max_micros, min_micros * 2^(failures - 1)).
  uint64_t next_delay_micros();
  // A connection succeeded: the next failure starts again from min_micros.
  void reset() { failures_ = 0; }
  // Consecutive failures since the last reset().
  uint32_t failures() const { return failures_; }

 private:
  uint64_t min_micros_;
  uint64_t max_micros_;
  uint32_t failures_ = 0;
  // mt19937_64's output sequence is fixed by the standard, so a seed gives
  // the same delays with libstdc++ and libc++.
  std::mt19937_64 random_;
};

}  // namespace sqlsync
