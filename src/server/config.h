// sqlsync-server's settings: command-line flags, an optional config file
// (JSON or key=value lines) and the `token` subcommand. Every setting has a
// flag `--name` and a config-file key `name`; flags override the file.
// docs/server.md lists them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sqlsync/env.h"
#include "sqlsync/status.h"

namespace sqlsync {

struct ServerConfig {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 8080;  // 0: an ephemeral port (the startup line names it)
  std::string data_directory = "sqlsync-data";
  std::string static_directory;  // empty: no static files
  std::string auth_secret;       // empty: no authentication (development)
  uint32_t threads = 2;           // network I/O
  uint32_t document_threads = 4;  // document rounds: reducers, SQLite, fsync
  uint64_t max_message_bytes = uint64_t{4} << 20;  // one WebSocket message
  uint64_t max_reducer_bytes = uint64_t{8} << 20;  // one PUT /reducers body
  uint64_t max_connections = 10'000;               // open TCP connections
  uint64_t max_documents = 1'000;                  // documents loaded in memory
  // Protocol frames a client may send beyond the server's last
  // acknowledgement of that timeline; at least the protocol's window.
  uint64_t max_in_flight_frames = 64;
  // How a round makes its document durable: false, fdatasync of the
  // document's files; true, one syncfs of the data directory's file system
  // shared by every document syncing at the same time (Env::posix_shared_sync:
  // for a data directory on a disk of its own).
  bool sync_filesystem = false;
  // Protocol messages of at least this many bytes are compressed
  // (permessage-deflate, when the client offers it), and a batch holding
  // one; smaller ones are sent as they are. Each connection compresses a
  // frame again, so a low value costs CPU per replica (docs/server.md).
  uint64_t deflate_min_bytes = 256 << 10;
};

// What `sqlsync-server token ...` should sign.
struct TokenCommand {
  std::string document = "*";  // a 32-hex document id or "*"
  std::string right = "write";  // "read" or "write"
  uint64_t ttl_seconds = 3600;
  std::string secret;  // from --auth-secret or the config file
};

struct Command {
  enum class Kind { kServe, kToken, kHelp };
  Kind kind = Kind::kServe;
  ServerConfig config;  // kServe
  TokenCommand token;   // kToken
  std::string help;     // kHelp: the text to print
};

// Parses argv (argv[0] is the program). `--config FILE` is read through
// `env` and applied before the other flags, whatever their order.
// InvalidArgument naming the flag, key or line for anything malformed: an
// unknown flag, a missing or out-of-range value, a bad config file.
Result<Command> parse_command_line(const std::vector<std::string>& args, Env* env);

// Applies the settings in `text`, the content of config file `path` (named
// in errors): a JSON object {"port": 8080, "data": "dir", ...}, or lines
// `key = value` with blank lines and `#` comments.
Status apply_config_file(std::string_view text, const std::string& path, ServerConfig& config);

// The text of `sqlsync-server --help` and `sqlsync-server token --help`.
std::string server_usage();
std::string token_usage();

}  // namespace sqlsync
