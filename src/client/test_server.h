// Test support: runs the real sqlsync-server and the sqlsync CLI as child
// processes, on 127.0.0.1, with temporary data directories.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sim/todo_reducer.h"
#include "sqlsync/client.h"
#include "sqlsync/status.h"

namespace sqlsync::testing {

// A fresh directory under $TMPDIR (default /tmp), removed with everything in
// it when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A program running in the background, its stdout and stderr collected.
class ChildProcess {
 public:
  // Starts argv[0] (a path) with `argv`. IOError if it cannot fork.
  static Result<std::unique_ptr<ChildProcess>> start(const std::vector<std::string>& argv);
  // Stops it (SIGTERM, then SIGKILL after 10 s) if it still runs.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits up to `seconds` until the output contains `text`; false if it
  // does not by then (or the program closed its output first).
  bool wait_for_output(const std::string& text, int seconds);
  // Everything it wrote so far, stdout and stderr interleaved.
  std::string output() const;
  void send_signal(int signal);
  // Waits up to `seconds` for the exit; its status (128 + signal if killed by
  // one), or -1 if it still runs.
  int wait_exit(int seconds);
  // SIGTERM, then waits for the exit (SIGKILL after 10 s: -1).
  int stop();
  // SIGKILL: no shutdown at all; reaps it.
  void kill_hard();

 private:
  ChildProcess() = default;
  void read_output(int fd);

  pid_t pid_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string output_;          // guarded by mutex_
  bool output_closed_ = false;  // guarded by mutex_
};

// A running sqlsync-server.
class ServerProcess {
 public:
  // Starts `binary` with --listen 127.0.0.1 --port `port` (0: any free port)
  // --data `data_directory` plus `extra_args`, and waits (up to 30 s) for its
  // startup line "listening on http://ADDR:PORT". IOError with the server's
  // output if it exits or stays silent.
  static Result<std::unique_ptr<ServerProcess>> start(const std::string& binary, const std::string& data_directory,
                                                      uint16_t port = 0, std::vector<std::string> extra_args = {});

  // "http://127.0.0.1:PORT".
  const std::string& url() const { return url_; }
  uint16_t port() const { return port_; }
  ChildProcess& process() { return *process_; }

 private:
  ServerProcess() = default;
  std::unique_ptr<ChildProcess> process_;
  std::string url_;
  uint16_t port_ = 0;
};

// A sqlsync-server on a data directory of its own, with an HTTP client for
// it: where every end-to-end test starts. Stops the server when it dies.
class TestServer {
 public:
  // Starts `binary` (see ServerProcess::start) with its data in a new
  // temporary directory, on `port` (0: any free port), with `extra_args`
  // (also on every restart).
  static Result<std::unique_ptr<TestServer>> start(const std::string& binary, uint16_t port = 0,
                                                   std::vector<std::string> extra_args = {});

  // Starts the server again, on the same data directory and port (so http()
  // still reaches it), once its process ended (ChildProcess::kill_hard...);
  // process() is then the new one.
  Status restart();

  // "http://127.0.0.1:PORT".
  const std::string& url() const { return server_->url(); }
  ChildProcess& process() { return server_->process(); }
  const ServerClient& http() const { return *http_; }
  const std::string& data_directory() const { return data_directory_; }

  // Reads the reducer in `path` (.wasm module or .sql text) and uploads it;
  // its digest, or the error of either step.
  Result<std::string> upload_reducer_file(const std::string& path) const;
  // Options for a SyncedDocument of `document` on this server, with its own
  // instance of the reducer in `path` (a reducer serves one thread at a
  // time), reconnecting after 20 to 200 ms with jitter seeded by `seed`.
  Result<SyncedDocument::Options> client_options(const JournalId& document, const std::string& path,
                                                 uint64_t seed) const;

 private:
  TestServer(std::string binary, uint16_t port, std::vector<std::string> extra_args);

  TempDir data_;
  const std::string binary_;
  const std::vector<std::string> extra_args_;
  const std::string data_directory_;
  uint16_t port_;
  std::unique_ptr<ServerProcess> server_;
  std::optional<ServerClient> http_;  // set once the first start succeeded
};

struct ProgramResult {
  int exit_status = -1;  // 128 + signal if killed by one
  std::string out;
  std::string err;
};

// Runs `argv` to completion with stdin from `input`, capturing stdout and
// stderr apart. IOError if it cannot be started.
Result<ProgramResult> run_program(const std::vector<std::string>& argv, const std::string& input = {});

// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
uint16_t unused_port();

// True if `future` gets its value within `seconds`.
template <typename T>
bool ready_within(std::future<T>& future, int seconds) {
  return future.wait_for(std::chrono::seconds(seconds)) == std::future_status::ready;
}

// Waits up to `seconds` until `document` caught up with everything the
// server holds of it now (SyncedDocument::sync with the server's storage log
// end). IOError on timeout.
Status sync_with_server(SyncedDocument& document, const ServerClient& server, int seconds = 60);

// Queries of a replica, and of the server's authoritative state (its query
// endpoint takes no parameters: Internal if some are given), for the todo
// helpers (todo_dump...). The referenced objects must outlive the function.
TodoQuery query_replica(SyncedDocument& document);
TodoQuery query_server(const ServerClient& server, const JournalId& document);

}  // namespace sqlsync::testing
