#include "client/backoff.h"

#include <gtest/gtest.h>

#include <vector>

namespace sqlsync {
namespace {

TEST(BackoffTest, GrowsExponentiallyWithinJitterUpToTheCap) {
  ReconnectBackoff backoff(100, 1'000, 42);
  const uint64_t ceilings[] = {100, 200, 400, 800, 1'000, 1'000, 1'000};
  for (uint64_t ceiling : ceilings) {
    const uint64_t delay = backoff.next_delay_micros();
    EXPECT_GE(delay, ceiling / 2);
    EXPECT_LE(delay, ceiling);
  }
  EXPECT_EQ(backoff.failures(), 7u);
}

TEST(BackoffTest, ResetStartsOverFromTheMinimum) {
  ReconnectBackoff backoff(1'000, 1'000'000, 7);
  for (int i = 0; i < 10; ++i) backoff.next_delay_micros();
  backoff.reset();
  EXPECT_EQ(backoff.failures(), 0u);
  EXPECT_LE(backoff.next_delay_micros(), 1'000u);
}

TEST(BackoffTest, SameSeedSameDelaysOtherSeedOtherDelays) {
  auto delays = [](uint64_t seed) {
    ReconnectBackoff backoff(1'000, 60'000'000, seed);
    std::vector<uint64_t> out;
    for (int i = 0; i < 20; ++i) out.push_back(backoff.next_delay_micros());
    return out;
  };
  EXPECT_EQ(delays(1), delays(1));
  EXPECT_NE(delays(1), delays(2));
}

TEST(BackoffTest, HugeCapsDoNotOverflow) {
  ReconnectBackoff backoff(1, UINT64_MAX, 3);
  uint64_t last = 0;
  for (int i = 0; i < 200; ++i) last = backoff.next_delay_micros();
  EXPECT_GE(last, UINT64_MAX / 2);
}

}  // namespace
}  // namespace sqlsync
