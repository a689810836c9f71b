// sqlsync-server: hosts documents over HTTP and WebSocket (docs/server.md).
//
// Threads: `config.threads` I/O threads run every connection and document.
// Each document is an actor on its own strand (its CoordinatorDocument is
// touched only there); each WebSocket connection has its own strand and one
// write queue. A document runs in rounds: the messages queued since the last
// round are received, queued mutations applied, everything made durable,
// then the replies and new frames are sent.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "server/config.h"
#include "server/metrics.h"
#include "sqlsync/env.h"
#include "sqlsync/status.h"

namespace sqlsync {

class Server {
 public:
  struct Options {
    ServerConfig config;
    // Files go through it (wrapped to measure fsync latency); null:
    // Env::posix(). Must be thread-safe and outlive the server.
    Env* env = nullptr;
    // Stop gracefully on SIGINT and SIGTERM (the sqlsync-server binary).
    bool handle_signals = false;
  };

  // Opens the data directory, listens, starts the I/O threads and logs the
  // startup line "sqlsync-server listening on http://ADDR:PORT (data DIR)".
  // Errors: the data directory cannot be created (IOError), the address is
  // invalid (InvalidArgument) or cannot be bound (IOError).
  static Result<std::unique_ptr<Server>> start(Options options);
  // Shuts down gracefully and waits for it.
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port listened on (the real one when config.port was 0).
  uint16_t port() const;
  // "http://ADDR:PORT".
  std::string url() const;
  const ServerMetrics& metrics() const;

  // Begins a graceful shutdown: stop accepting, run a last durable round
  // of every document, close WebSockets with 1001, stop the threads.
  // Thread-safe, idempotent, returns at once.
  void shutdown();
  // Blocks until the server stopped (shutdown() or a signal). Call from one
  // thread, not from a server thread.
  void wait();

 private:
  class Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sqlsync
