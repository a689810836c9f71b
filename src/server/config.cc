#include "server/config.h"

#include <nlohmann/json.hpp>

#include "sync/replication.h"

namespace sqlsync {
namespace {

Result<uint64_t> parse_unsigned(std::string_view text, uint64_t min, uint64_t max, const std::string& what) {
  uint64_t value = 0;
  bool valid = !text.empty() && text.size() <= 20;
  for (char c : text) {
    if (!valid) break;
    const auto digit = static_cast<uint64_t>(c - '0');
    valid = c >= '0' && c <= '9' && value <= (UINT64_MAX - digit) / 10;
    value = value * 10 + digit;
  }
  if (!valid || value < min || value > max) {
    return Status::invalid_argument(what + " needs a whole number from " + std::to_string(min) + " to " +
                                    std::to_string(max) + ", got '" + std::string(text) + "'");
  }
  return value;
}

// One setting: flag `--name`, config-file key `name`.
struct Setting {
  const char* name;
  const char* placeholder;
  const char* help;
  Status (*apply)(ServerConfig& config, std::string_view value, const std::string& what);
  std::string (*show)(const ServerConfig& config);  // the current value, for --help defaults
};

template <uint64_t ServerConfig::*member, uint64_t min, uint64_t max>
Status set_number(ServerConfig& config, std::string_view value, const std::string& what) {
  SQLSYNC_ASSIGN_OR_RETURN(config.*member, parse_unsigned(value, min, max, what));
  return Status::ok();
}
template <uint64_t ServerConfig::*member>
std::string show_number(const ServerConfig& config) {
  return std::to_string(config.*member);
}
template <std::string ServerConfig::*member>
Status set_text(ServerConfig& config, std::string_view value, const std::string& what) {
  if (value.empty()) return Status::invalid_argument(what + " needs a value");
  config.*member = std::string(value);
  return Status::ok();
}
template <std::string ServerConfig::*member>
std::string show_text(const ServerConfig& config) {
  return (config.*member).empty() ? "none" : config.*member;
}

constexpr uint64_t kMaxBytes = uint64_t{1} << 40;

const Setting kSettings[] = {
    {"listen", "ADDR", "address to listen on", set_text<&ServerConfig::listen_address>,
     show_text<&ServerConfig::listen_address>},
    {"port", "PORT", "TCP port; 0 picks a free one (the startup line names it)",
     [](ServerConfig& config, std::string_view value, const std::string& what) -> Status {
       SQLSYNC_ASSIGN_OR_RETURN(uint64_t port, parse_unsigned(value, 0, 65535, what));
       config.port = static_cast<uint16_t>(port);
       return Status::ok();
     },
     [](const ServerConfig& config) { return std::to_string(config.port); }},
    {"data", "DIR", "data directory: reducers and documents (created if missing)",
     set_text<&ServerConfig::data_directory>, show_text<&ServerConfig::data_directory>},
    {"static", "DIR", "serve the files of DIR for every other GET (single-page apps fall back to index.html)",
     set_text<&ServerConfig::static_directory>, show_text<&ServerConfig::static_directory>},
    {"auth-secret", "SECRET", "require bearer tokens signed with SECRET (see `token`); without it anyone may do anything",
     set_text<&ServerConfig::auth_secret>,
     [](const ServerConfig& config) { return std::string(config.auth_secret.empty() ? "none" : "(set)"); }},
    {"threads", "N", "network I/O threads, 1..256",
     [](ServerConfig& config, std::string_view value, const std::string& what) -> Status {
       SQLSYNC_ASSIGN_OR_RETURN(uint64_t threads, parse_unsigned(value, 1, 256, what));
       config.threads = static_cast<uint32_t>(threads);
       return Status::ok();
     },
     [](const ServerConfig& config) { return std::to_string(config.threads); }},
    {"document-threads", "N", "threads running document rounds (reducers, SQLite, fsync), 1..256",
     [](ServerConfig& config, std::string_view value, const std::string& what) -> Status {
       SQLSYNC_ASSIGN_OR_RETURN(uint64_t threads, parse_unsigned(value, 1, 256, what));
       config.document_threads = static_cast<uint32_t>(threads);
       return Status::ok();
     },
     [](const ServerConfig& config) { return std::to_string(config.document_threads); }},
    {"max-message-bytes", "BYTES", "largest WebSocket message a client may send (larger: closed with 1009)",
     set_number<&ServerConfig::max_message_bytes, 1024, kMaxBytes>,
     show_number<&ServerConfig::max_message_bytes>},
    {"max-reducer-bytes", "BYTES", "largest reducer upload (larger: 413)",
     set_number<&ServerConfig::max_reducer_bytes, 1024, kMaxBytes>,
     show_number<&ServerConfig::max_reducer_bytes>},
    {"max-connections", "N", "open TCP connections (more: 503)",
     set_number<&ServerConfig::max_connections, 1, UINT32_MAX>, show_number<&ServerConfig::max_connections>},
    {"max-documents", "N", "documents kept in memory; idle ones beyond it are unloaded",
     set_number<&ServerConfig::max_documents, 1, UINT32_MAX>, show_number<&ServerConfig::max_documents>},
    {"max-in-flight-frames", "N",
     "frames a client may send beyond the last acknowledgement (at least the protocol window, 64)",
     set_number<&ServerConfig::max_in_flight_frames, ReplicationSession::Options{}.window, UINT32_MAX>,
     show_number<&ServerConfig::max_in_flight_frames>},
    {"sync", "file|filesystem",
     "make a round durable with fdatasync of its document's files, or with one syncfs of the whole file system "
     "shared by all documents syncing at once (faster under load; for a data directory on a disk of its own)",
     [](ServerConfig& config, std::string_view value, const std::string& what) -> Status {
       if (value != "file" && value != "filesystem") {
         return Status::invalid_argument(what + " must be file or filesystem, not '" + std::string(value) + "'");
       }
       config.sync_filesystem = value == "filesystem";
       return Status::ok();
     },
     [](const ServerConfig& config) { return std::string(config.sync_filesystem ? "filesystem" : "file"); }},
    {"deflate-min-bytes", "BYTES",
     "compress protocol messages (and batches holding one) of at least BYTES (permessage-deflate, if the "
     "client offers it); lower saves bandwidth, higher saves CPU (each connection compresses every frame again)",
     set_number<&ServerConfig::deflate_min_bytes, 0, kMaxBytes>, show_number<&ServerConfig::deflate_min_bytes>},
};

const Setting* find_setting(std::string_view name) {
  for (const Setting& setting : kSettings) {
    if (name == setting.name) return &setting;
  }
  return nullptr;
}

std::string_view trim(std::string_view text) {
  const char* kSpace = " \t\r";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

Status apply_json(std::string_view text, const std::string& path, ServerConfig& config) {
  using Json = nlohmann::json;
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return Status::invalid_argument("config file " + path + ": not a valid JSON object");
  }
  for (const auto& [key, value] : json.items()) {
    const Setting* setting = find_setting(key);
    if (setting == nullptr || key == "config") {
      return Status::invalid_argument("config file " + path + ": unknown setting \"" + key + "\"");
    }
    std::string text_value;
    if (value.is_string()) {
      text_value = value.get<std::string>();
    } else if (value.is_number_unsigned()) {
      text_value = std::to_string(value.get<uint64_t>());
    } else {
      return Status::invalid_argument("config file " + path + ": setting \"" + key +
                                      "\" needs a string or a non-negative whole number");
    }
    SQLSYNC_RETURN_IF_ERROR(setting->apply(config, text_value, "config file " + path + ": " + key));
  }
  return Status::ok();
}

Status apply_lines(std::string_view text, const std::string& path, ServerConfig& config) {
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t end = text.find('\n');
    std::string_view line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "config file " + path + " line " + std::to_string(line_number);
    const size_t equals = line.find('=');
    if (equals == std::string_view::npos) return Status::invalid_argument(where + ": expected key = value");
    const std::string_view key = trim(line.substr(0, equals));
    const Setting* setting = find_setting(key);
    if (setting == nullptr) {
      return Status::invalid_argument(where + ": unknown setting \"" + std::string(key) + "\"");
    }
    SQLSYNC_RETURN_IF_ERROR(setting->apply(config, trim(line.substr(equals + 1)), where + ": " + std::string(key)));
  }
  return Status::ok();
}

Status read_config_file(Env* env, const std::string& path, ServerConfig& config) {
  Result<Bytes> content = env->read_file(path);
  if (!content.is_ok()) return content.status().with_context("reading config file " + path);
  return apply_config_file(as_text(*content), path, config);
}

// The value following flag `args[i]`, advancing i.
Result<std::string> flag_value(const std::vector<std::string>& args, size_t& i) {
  if (i + 1 >= args.size()) return Status::invalid_argument(args[i] + " needs a value");
  return args[++i];
}

Result<Command> parse_token_command(const std::vector<std::string>& args, Env* env) {
  Command command;
  command.kind = Command::Kind::kToken;
  ServerConfig config;
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--config") {
      SQLSYNC_ASSIGN_OR_RETURN(std::string path, flag_value(args, i));
      SQLSYNC_RETURN_IF_ERROR(read_config_file(env, path, config));
    }
  }
  for (size_t i = 2; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--help" || flag == "-h") return Command{Command::Kind::kHelp, {}, {}, token_usage()};
    SQLSYNC_ASSIGN_OR_RETURN(std::string value, flag_value(args, i));
    if (flag == "--doc") {
      command.token.document = value;
    } else if (flag == "--right") {
      if (value != "read" && value != "write") return Status::invalid_argument("--right must be read or write");
      command.token.right = value;
    } else if (flag == "--ttl") {
      SQLSYNC_ASSIGN_OR_RETURN(command.token.ttl_seconds, parse_unsigned(value, 1, uint64_t{10} * 365 * 86400, flag));
    } else if (flag == "--auth-secret") {
      config.auth_secret = value;
    } else if (flag != "--config") {
      return Status::invalid_argument("unknown argument '" + flag + "' (try sqlsync-server token --help)");
    }
  }
  if (config.auth_secret.empty()) {
    return Status::invalid_argument("token needs the server's secret: --auth-secret SECRET or --config FILE");
  }
  command.token.secret = config.auth_secret;
  return command;
}

}  // namespace

Status apply_config_file(std::string_view text, const std::string& path, ServerConfig& config) {
  const std::string_view content = trim(text);
  if (!content.empty() && content.front() == '{') return apply_json(content, path, config);
  return apply_lines(text, path, config);
}

Result<Command> parse_command_line(const std::vector<std::string>& args, Env* env) {
  if (args.size() >= 2 && args[1] == "token") return parse_token_command(args, env);
  Command command;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") return Command{Command::Kind::kHelp, {}, {}, server_usage()};
    if (args[i] == "--config") {
      SQLSYNC_ASSIGN_OR_RETURN(std::string path, flag_value(args, i));
      SQLSYNC_RETURN_IF_ERROR(read_config_file(env, path, command.config));
    }
  }
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& flag = args[i];
    const Setting* setting = flag.size() > 2 && flag.compare(0, 2, "--") == 0 ? find_setting(flag.substr(2)) : nullptr;
    if (setting == nullptr && flag != "--config") {
      return Status::invalid_argument("unknown argument '" + flag + "' (try sqlsync-server --help)");
    }
    SQLSYNC_ASSIGN_OR_RETURN(std::string value, flag_value(args, i));
    if (setting != nullptr) SQLSYNC_RETURN_IF_ERROR(setting->apply(command.config, value, flag));
  }
  return command;
}

std::string server_usage() {
  std::string text =
      "Usage: sqlsync-server [flags]\n"
      "       sqlsync-server token --doc ID|* --right read|write --ttl SECONDS [--auth-secret S | --config FILE]\n"
      "\n"
      "Serves sqlsync documents over HTTP and WebSocket: reducer uploads, document\n"
      "creation, sync, read-only queries, metrics and static files (docs/server.md).\n"
      "\n"
      "Flags (each is also a config-file key without the dashes):\n";
  const ServerConfig defaults;
  for (const Setting& setting : kSettings) {
    std::string left = std::string("  --") + setting.name + " " + setting.placeholder;
    if (left.size() < 32) left.resize(32, ' ');
    text += left + " " + setting.help + " (default " + setting.show(defaults) + ")\n";
  }
  text +=
      "  --config FILE                  read settings from FILE first: a JSON object\n"
      "                                 {\"port\": 8080, ...} or lines `key = value`\n"
      "  --help                         print this help\n"
      "\n"
      "SIGTERM or SIGINT stops the server gracefully: it stops accepting, makes\n"
      "everything received durable, closes WebSockets with 1001 and exits 0.\n";
  return text;
}

std::string token_usage() {
  return "Usage: sqlsync-server token [--doc ID|*] [--right read|write] [--ttl SECONDS]\n"
         "                            (--auth-secret SECRET | --config FILE)\n"
         "\n"
         "Prints a bearer token signed with the server's secret.\n"
         "\n"
         "  --doc ID|*           the document (32 hex digits) it grants, or * for all (default *)\n"
         "  --right read|write   read: query and sync without sending mutations;\n"
         "                       write: everything (default write)\n"
         "  --ttl SECONDS        validity from now (default 3600)\n"
         "  --auth-secret S      the secret the server runs with\n"
         "  --config FILE        or the server's config file holding auth-secret\n";
}

}  // namespace sqlsync
