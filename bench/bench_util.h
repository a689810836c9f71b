// Shared pieces of the benchmarks: a stopwatch, a minimal insert reducer, and
// figure printing. Each benchmark prints its figures and ratios against a
// baseline measured in the same run.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "sqlsync/reducer.h"

namespace sqlsync::bench {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

constexpr const char* kCreateItems = "CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, body TEXT NOT NULL)";
constexpr const char* kInsertItem = "INSERT INTO items(id, body) VALUES (?1, ?2)";

// Mutation: 8-byte little-endian id followed by the body text: one INSERT
// per mutation, so the benchmark measures sqlsync's overhead around it. The
// empty mutation creates the table.
class InsertReducer final : public Reducer {
 public:
  Status reduce(Transaction& tx, ByteView mutation) override;
};

Bytes insert_mutation(int64_t id, std::string_view body);

// The best of `runs` timings of `body` (seconds); the machine is shared and
// noisy, so the minimum is the most repeatable figure.
template <typename Body>
double best_of(int runs, Body body) {
  double best = 1e100;
  for (int i = 0; i < runs; ++i) {
    double t = body();
    if (t < best) best = t;
  }
  return best;
}

}  // namespace sqlsync::bench
