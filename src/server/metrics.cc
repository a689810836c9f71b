#include "server/metrics.h"

#include <cstdio>

namespace sqlsync {
namespace {

class MeteringFile final : public File {
 public:
  MeteringFile(std::unique_ptr<File> base, Env* clock, LatencyHistogram* histogram)
      : base_(std::move(base)), clock_(clock), histogram_(histogram) {}

  Status read_at(uint64_t offset, size_t length, Bytes& out) override { return base_->read_at(offset, length, out); }
  Status write_at(uint64_t offset, ByteView data) override { return base_->write_at(offset, data); }
  Status append(ByteView data) override { return base_->append(data); }
  Status sync() override {
    const uint64_t started = clock_->now_micros();
    Status status = base_->sync();
    histogram_->observe_micros(clock_->now_micros() - started);
    return status;
  }
  Result<uint64_t> size() override { return base_->size(); }
  Status truncate(uint64_t size) override { return base_->truncate(size); }

 private:
  std::unique_ptr<File> base_;
  Env* clock_;
  LatencyHistogram* histogram_;
};

std::string format_seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", seconds);
  return text;
}

void render_value(const char* name, const char* type, const char* help, const std::string& value, std::string& out) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + value +
         "\n";
}
template <typename T>
void render_value(const char* name, const char* type, const char* help, const std::atomic<T>& value,
                  std::string& out) {
  render_value(name, type, help, std::to_string(value.load(std::memory_order_relaxed)), out);
}

}  // namespace

void LatencyHistogram::observe_micros(uint64_t micros) {
  const double seconds = static_cast<double>(micros) / 1e6;
  size_t bucket = 0;
  while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(micros, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void LatencyHistogram::render(const std::string& name, const std::string& help, std::string& out) const {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    const std::string bound = i < kBounds.size() ? format_seconds(kBounds[i]) : "+Inf";
    out += name + "_bucket{le=\"" + bound + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum " + format_seconds(static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6) +
         "\n" + name + "_count " + std::to_string(cumulative) + "\n";
}

std::string ServerMetrics::render_prometheus() const {
  std::string out;
  render_value("sqlsync_documents_loaded", "gauge", "Documents open in memory.", documents_loaded, out);
  render_value("sqlsync_documents_unloaded_total", "counter", "Idle documents unloaded from memory.",
               documents_unloaded, out);
  render_value("sqlsync_connections", "gauge", "Open WebSocket sync connections.", connections, out);
  render_value("sqlsync_connections_total", "counter", "WebSocket sync connections accepted.", connections_total,
               out);
  render_value("sqlsync_connections_refused_total", "counter",
               "Sync connections refused before the upgrade (auth, limits, unknown documents).", connections_refused,
               out);
  render_value("sqlsync_protocol_errors_total", "counter", "Connections closed for a bad message.", protocol_errors,
               out);
  render_value("sqlsync_http_requests_total", "counter", "HTTP requests handled.", http_requests, out);
  render_value("sqlsync_messages_in_total", "counter", "WebSocket messages received.", messages_in, out);
  render_value("sqlsync_messages_out_total", "counter", "WebSocket messages sent.", messages_out, out);
  render_value("sqlsync_frames_in_total", "counter", "Protocol frames (timeline entries) received.", frames_in, out);
  render_value("sqlsync_frames_out_total", "counter", "Protocol frames (storage-log entries) sent.", frames_out, out);
  render_value("sqlsync_bytes_in_total", "counter", "WebSocket payload bytes received.", bytes_in, out);
  render_value("sqlsync_bytes_out_total", "counter", "WebSocket payload bytes sent.", bytes_out, out);
  render_value("sqlsync_mutations_applied_total", "counter", "Mutations the reducers accepted.", mutations_applied,
               out);
  render_value("sqlsync_mutations_rejected_total", "counter", "Mutations the reducers refused.", mutations_rejected,
               out);
  render_value("sqlsync_rounds_total", "counter", "Document rounds (receive, step, durable poll).", rounds, out);
  fsync_seconds.render("sqlsync_fsync_seconds", "Duration of file and directory fsyncs.", out);
  round_seconds.render("sqlsync_round_seconds", "Duration of document rounds, fsync included.", out);
  inbox_wait_seconds.render("sqlsync_inbox_wait_seconds",
                            "Time a received message waits for its document's round to start.", out);
  send_wait_seconds.render("sqlsync_send_wait_seconds",
                           "Time an outgoing message waits in its connection's queue for its write to start.", out);
  return out;
}

Result<std::unique_ptr<File>> MeteringEnv::open_file(const std::string& path, OpenMode mode) {
  SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, base_->open_file(path, mode));
  return std::unique_ptr<File>(std::make_unique<MeteringFile>(std::move(file), base_, &metrics_->fsync_seconds));
}

Status MeteringEnv::sync_dir(const std::string& path) {
  const uint64_t started = base_->now_micros();
  Status status = base_->sync_dir(path);
  metrics_->fsync_seconds.observe_micros(base_->now_micros() - started);
  return status;
}

}  // namespace sqlsync
