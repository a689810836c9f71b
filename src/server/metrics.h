// The server's counters and gauges, rendered in the Prometheus text format
// for GET /metrics, and the Env wrapper that measures fsync latency.
// Every member is safe to update from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "sqlsync/env.h"

namespace sqlsync {

// A cumulative histogram of durations with fixed bucket bounds.
class LatencyHistogram {
 public:
  // Upper bounds of the buckets, in seconds (a last +Inf bucket is implied).
  static constexpr std::array<double, 12> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.25,   1.0};

  void observe_micros(uint64_t micros);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // Appends the _bucket, _sum and _count lines of metric `name`.
  void render(const std::string& name, const std::string& help, std::string& out) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};  // not cumulative
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};
};

struct ServerMetrics {
  std::atomic<int64_t> documents_loaded{0};
  std::atomic<int64_t> connections{0};  // open WebSocket connections
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> connections_refused{0};  // auth, limits, unknown documents
  std::atomic<uint64_t> protocol_errors{0};      // connections closed for a bad message
  std::atomic<uint64_t> http_requests{0};
  std::atomic<uint64_t> messages_in{0};  // WebSocket messages (one protocol message each)
  std::atomic<uint64_t> messages_out{0};
  std::atomic<uint64_t> frames_in{0};  // protocol Frames (timeline entries) received
  std::atomic<uint64_t> frames_out{0};  // protocol Frames (storage-log entries) sent
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> mutations_applied{0};
  std::atomic<uint64_t> mutations_rejected{0};
  std::atomic<uint64_t> rounds{0};  // receive + step + poll cycles of all documents
  std::atomic<uint64_t> documents_unloaded{0};
  LatencyHistogram fsync_seconds;  // File::sync and Env::sync_dir
  LatencyHistogram round_seconds;
  // Queueing: a message in its document's inbox until its round starts, and
  // a message in its connection's write queue until its write starts.
  LatencyHistogram inbox_wait_seconds;
  LatencyHistogram send_wait_seconds;

  // The Prometheus text exposition (version 0.0.4) of every metric.
  std::string render_prometheus() const;
};

// An Env that forwards everything to `base` and records the duration of
// every File::sync() and sync_dir() in `metrics->fsync_seconds`. `base` and
// `metrics` must outlive it and the files it opens.
class MeteringEnv final : public Env {
 public:
  MeteringEnv(Env* base, ServerMetrics* metrics) : base_(base), metrics_(metrics) {}

  Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) override;
  Status remove_file(const std::string& path) override { return base_->remove_file(path); }
  Status rename_file(const std::string& from, const std::string& to) override { return base_->rename_file(from, to); }
  Result<bool> file_exists(const std::string& path) override { return base_->file_exists(path); }
  Status create_dir(const std::string& path) override { return base_->create_dir(path); }
  Result<std::vector<std::string>> list_dir(const std::string& path) override { return base_->list_dir(path); }
  Status sync_dir(const std::string& path) override;
  Status remove_dir(const std::string& path) override { return base_->remove_dir(path); }
  uint64_t now_micros() override { return base_->now_micros(); }
  void random_bytes(std::span<uint8_t> out) override { base_->random_bytes(out); }

 private:
  Env* base_;
  ServerMetrics* metrics_;
};

}  // namespace sqlsync
