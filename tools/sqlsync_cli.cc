// sqlsync: the command-line client of sqlsync-server. Uploads reducers,
// creates documents, and mutates, queries and watches documents through a
// replica synced like any other client (include/sqlsync/client.h); inspects
// the journals of a durable replica or server data directory. Reference:
// docs/client.md.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <future>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "client/url.h"
#include "sqlsync/client.h"
#include "storage/file_journal.h"
#include "storage/frame.h"

namespace sqlsync {
namespace {

// Exit statuses (docs/client.md).
constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;  // the server, a reducer or SQL said no
constexpr int kExitUsage = 2;
constexpr int kExitUnavailable = 3;  // network, timeout or local I/O

constexpr const char* kMainUsage =
    "Usage: sqlsync <command> [arguments] [options]\n"
    "\n"
    "Commands:\n"
    "  reducer push FILE --server URL      upload a .wasm or .sql reducer; prints its digest\n"
    "  doc new --reducer DIGEST --server URL [--name NAME]\n"
    "                                      create a document; prints its URL\n"
    "  doc info URL                        what the server knows of a document\n"
    "  mutate URL JSON...                  apply mutations and wait for the server's verdict\n"
    "  query URL SQL                       sync a replica, then run a read-only query\n"
    "  watch URL SQL                       print a query's result again whenever it changes\n"
    "  inspect DIR                         summarize the journals of a durable directory\n"
    "\n"
    "URL is a document's URL as `doc new` prints it: http://HOST:PORT/docs/<id>.\n"
    "Run `sqlsync <command> --help` for a command's options.\n"
    "\n"
    "Exit status: 0 success; 1 refused by the server, a reducer or SQL (rejected\n"
    "mutation, bad SQL, unknown document, invalid reducer, bad token); 2 usage\n"
    "error; 3 unavailable (server unreachable, timeout, local I/O failure).\n";

constexpr const char* kConnectionOptions =
    "  --token TOKEN     bearer token for the server (default: $SQLSYNC_TOKEN)\n"
    "  --timeout SECONDS give up after this long (default 30; 0: never)\n";

constexpr const char* kReplicaOptions =
    "  --data DIR        keep a durable replica in DIR/<document id> (created if\n"
    "                    missing): later runs sync only what changed, and\n"
    "                    mutations that could not be sent are sent next time\n"
    "  --reducer DIGEST  run this reducer instead of the one the server names for\n"
    "                    the document (a document the server does not know yet is\n"
    "                    created with it)\n";

struct CommandSpec {
  const char* name;  // "reducer push"
  const char* usage;
  std::vector<std::string_view> flags;  // value flags it accepts
};

const CommandSpec kCommands[] = {
    {"reducer push",
     "Usage: sqlsync reducer push FILE --server URL [--token TOKEN] [--timeout SECONDS]\n"
     "\n"
     "Uploads the reducer FILE (a .wasm module or a .sql reducer) to the server,\n"
     "which validates it by loading it and stores it under its SHA-256 digest.\n"
     "Prints the digest (the name `doc new --reducer` wants) on stdout.\n",
     {"--server", "--token", "--timeout"}},
    {"doc new",
     "Usage: sqlsync doc new --reducer DIGEST --server URL [--name NAME] [--token TOKEN]\n"
     "\n"
     "Creates a document bound to the reducer DIGEST and prints its URL on stdout.\n"
     "With --name, the id is derived from the name: the same name always gives the\n"
     "same document.\n",
     {"--server", "--reducer", "--name", "--token", "--timeout"}},
    {"doc info",
     "Usage: sqlsync doc info URL [--token TOKEN] [--timeout SECONDS]\n"
     "\n"
     "Prints what the server knows of the document: its reducer, schema version\n"
     "and storage log range.\n",
     {"--token", "--timeout"}},
    {"mutate",
     "Usage: sqlsync mutate URL JSON... [options]\n"
     "\n"
     "Syncs a local replica of the document, applies each JSON mutation (e.g.\n"
     "'{\"tag\":\"CreateTask\",\"id\":\"t1\",...}') on it with the document's reducer,\n"
     "sends them to the server and waits for its verdict on every one. JSON '-'\n"
     "reads one mutation per line from stdin. Prints one line per mutation refused\n"
     "locally or rejected by the server, with the reducer's reason.\n",
     {"--token", "--timeout", "--data", "--reducer"}},
    {"query",
     "Usage: sqlsync query URL SQL [options]\n"
     "\n"
     "Syncs a replica of the document with the server, then runs the read-only\n"
     "query SQL on it and prints the result as a table.\n",
     {"--token", "--timeout", "--data", "--reducer"}},
    {"watch",
     "Usage: sqlsync watch URL SQL [options]\n"
     "\n"
     "Prints the result of the read-only query SQL, then prints it again whenever\n"
     "it changes, until interrupted (Ctrl-C, exit status 0). Connection changes\n"
     "are reported on stderr; the replica reconnects by itself.\n",
     {"--token", "--data", "--reducer"}},
    {"inspect",
     "Usage: sqlsync inspect DIR\n"
     "\n"
     "Summarizes every journal under DIR (a replica's --data directory, a server's\n"
     "data directory, or any directory below them): id, LSN range, entries and\n"
     "bytes, files on disk, and for storage logs the page frames (pages written,\n"
     "database size). Read-only: it never repairs anything, so a journal a crash\n"
     "left with a torn tail is reported as needing recovery (opening it with the\n"
     "server or the replica repairs it).\n",
     {}},
};

struct Args {
  const CommandSpec* command = nullptr;
  std::vector<std::string> positional;
  std::map<std::string, std::string, std::less<>> flags;
  bool help = false;
};

int usage_error(const std::string& message, const char* usage) {
  std::fprintf(stderr, "sqlsync: %s\n\n%s", message.c_str(), usage);
  return kExitUsage;
}

// Exit status for a failed operation.
int fail(const Status& status, const std::string& context = {}) {
  std::string text = context.empty() ? status.to_string() : context + ": " + status.to_string();
  std::fprintf(stderr, "sqlsync: %s\n", text.c_str());
  return status.code() == StatusCode::kIOError ? kExitUnavailable : kExitRefused;
}

// Parses argv into `args`. Returns an exit status to stop with, or -1.
int parse_args(int argc, char** argv, Args& args) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    std::fputs(kMainUsage, words.empty() ? stderr : stdout);
    return words.empty() ? kExitUsage : kExitOk;
  }
  size_t consumed = 0;
  for (const CommandSpec& spec : kCommands) {
    const std::string name = spec.name;
    const size_t space = name.find(' ');
    if (space == std::string::npos ? words[0] == name
                                   : words.size() >= 2 && words[0] == name.substr(0, space) &&
                                         words[1] == name.substr(space + 1)) {
      args.command = &spec;
      consumed = space == std::string::npos ? 1 : 2;
    }
  }
  if (args.command == nullptr) {
    for (const CommandSpec& spec : kCommands) {
      if (std::string(spec.name).rfind(words[0] + " ", 0) != 0) continue;
      if (words.size() >= 2 && (words[1] == "--help" || words[1] == "-h")) {
        std::fputs(kMainUsage, stdout);
        return kExitOk;
      }
      return usage_error("'" + words[0] + "' needs a subcommand", kMainUsage);
    }
    return usage_error("unknown command '" + words[0] + "'", kMainUsage);
  }
  for (size_t i = consumed; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word == "--help" || word == "-h") {
      args.help = true;
    } else if (word.size() > 2 && word.compare(0, 2, "--") == 0) {
      bool known = false;
      for (std::string_view flag : args.command->flags) known = known || flag == word;
      if (!known) return usage_error("unknown option '" + word + "'", args.command->usage);
      if (i + 1 >= words.size()) return usage_error(word + " needs a value", args.command->usage);
      args.flags[word] = words[++i];
    } else {
      args.positional.push_back(word);
    }
  }
  if (args.help) {
    std::fputs(args.command->usage, stdout);
    if (!args.command->flags.empty()) {
      std::fputs("\nOptions:\n", stdout);
      std::fputs(kConnectionOptions, stdout);
      std::string_view name = args.command->name;
      if (name == "mutate" || name == "query" || name == "watch") std::fputs(kReplicaOptions, stdout);
    }
    return kExitOk;
  }
  return -1;
}

std::string flag(const Args& args, std::string_view name) {
  auto it = args.flags.find(name);
  return it == args.flags.end() ? std::string() : it->second;
}

std::string token_of(const Args& args) {
  std::string token = flag(args, "--token");
  if (token.empty()) {
    const char* env = std::getenv("SQLSYNC_TOKEN");
    if (env != nullptr) token = env;
  }
  return token;
}

// --timeout in microseconds; 0 means no limit. Nullopt if malformed.
std::optional<uint64_t> timeout_of(const Args& args) {
  std::string text = flag(args, "--timeout");
  if (text.empty()) return uint64_t{30'000'000};
  uint64_t seconds = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || seconds > 1'000'000) return std::nullopt;
    seconds = seconds * 10 + static_cast<uint64_t>(c - '0');
  }
  return seconds * 1'000'000;
}

// --- Output ---

std::string display(const Value& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  return value_to_string(value);
}

// Prints a result as an aligned table with a row count.
void print_table(const QueryResult& result) {
  std::vector<size_t> widths;
  for (const std::string& column : result.columns) widths.push_back(column.size());
  std::vector<std::vector<std::string>> cells;
  for (const Row& row : result.rows) {
    std::vector<std::string> line;
    for (size_t i = 0; i < row.size(); ++i) {
      line.push_back(display(row[i]));
      if (i < widths.size()) widths[i] = std::max(widths[i], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  auto print_line = [&](const std::vector<std::string>& line) {
    std::string out;
    for (size_t i = 0; i < line.size(); ++i) {
      if (i > 0) out += " | ";
      out += line[i];
      if (i + 1 < line.size() && i < widths.size()) out.append(widths[i] - line[i].size(), ' ');
    }
    std::printf("%s\n", out.c_str());
  };
  if (!result.columns.empty()) {
    print_line(result.columns);
    std::string rule;
    for (size_t i = 0; i < widths.size(); ++i) rule += (i > 0 ? "-+-" : "") + std::string(widths[i], '-');
    std::printf("%s\n", rule.c_str());
  }
  for (const std::vector<std::string>& line : cells) print_line(line);
  std::printf("(%zu row%s)\n", result.rows.size(), result.rows.size() == 1 ? "" : "s");
}

std::string describe_connection(const ConnectionStatus& status) {
  std::string text = connection_state_name(status.state);
  if (!status.reason.empty()) text += " (" + status.reason + ")";
  return text;
}

// --- Waiting with progress ---

// Waits until `future` is ready (ok) or `timeout_micros` passed (0: no
// limit; IOError). Every second it prints a progress line on stderr made by
// `progress`.
template <typename T>
Status wait_for(std::future<T>& future, uint64_t timeout_micros, const std::string& what,
                const std::function<std::string()>& progress) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (future.wait_for(std::chrono::seconds(1)) == std::future_status::ready) return Status::ok();
    const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    const std::string line = progress();
    if (timeout_micros != 0 && static_cast<uint64_t>(elapsed.count()) >= timeout_micros) {
      return Status::io_error("timed out after " + std::to_string(timeout_micros / 1'000'000) + " s waiting for " +
                              what + "; " + line);
    }
    std::fprintf(stderr, "sqlsync: waiting for %s: %s\n", what.c_str(), line.c_str());
  }
}

std::string sync_progress(SyncedDocument& document, std::optional<Lsn> server_next) {
  SyncedDocument::SyncState state = document.sync_state().get();
  std::string text = "storage log at lsn " + std::to_string(state.storage_range.next());
  if (server_next) text += " of " + std::to_string(*server_next);
  text += ", " + std::to_string(state.pending_mutations) + " mutation(s) unconfirmed, " +
          describe_connection(state.connection);
  return text;
}

// --- Commands ---

int reducer_push(const Args& args) {
  if (args.positional.size() != 1) return usage_error("reducer push needs one FILE", args.command->usage);
  const std::string server_url = flag(args, "--server");
  if (server_url.empty()) return usage_error("reducer push needs --server URL", args.command->usage);
  std::optional<uint64_t> timeout = timeout_of(args);
  if (!timeout) return usage_error("--timeout needs a number of seconds", args.command->usage);
  Result<Bytes> bytes = Env::posix()->read_file(args.positional[0]);
  if (!bytes.is_ok()) return fail(bytes.status(), "reading the reducer");
  Result<ServerClient> server = ServerClient::create(server_url, token_of(args));
  if (!server.is_ok()) return usage_error(server.status().message(), args.command->usage);
  server->set_timeout_micros(*timeout);
  Result<ReducerUpload> upload = server->upload_reducer(*bytes);
  if (!upload.is_ok()) return fail(upload.status());
  std::fprintf(stderr, "sqlsync: uploaded %s reducer %s (%zu bytes)\n", upload->kind.c_str(),
               args.positional[0].c_str(), bytes->size());
  std::printf("%s\n", upload->digest.c_str());
  return kExitOk;
}

int doc_new(const Args& args) {
  if (!args.positional.empty()) return usage_error("doc new takes no arguments", args.command->usage);
  const std::string server_url = flag(args, "--server");
  const std::string digest = flag(args, "--reducer");
  if (server_url.empty() || digest.empty()) {
    return usage_error("doc new needs --server URL and --reducer DIGEST", args.command->usage);
  }
  std::optional<uint64_t> timeout = timeout_of(args);
  if (!timeout) return usage_error("--timeout needs a number of seconds", args.command->usage);
  Result<ServerClient> server = ServerClient::create(server_url, token_of(args));
  if (!server.is_ok()) return usage_error(server.status().message(), args.command->usage);
  server->set_timeout_micros(*timeout);
  Result<JournalId> id = server->create_document(digest, flag(args, "--name"));
  if (!id.is_ok()) return fail(id.status());
  std::printf("%s/docs/%s\n", server->url().c_str(), id->to_hex().c_str());
  return kExitOk;
}

// The document a command works on.
struct Target {
  DocumentUrl url;
  std::optional<ServerClient> server;
  uint64_t timeout_micros = 0;
};

// Parses the document URL (the first argument) and the connection options.
// Returns an exit status to stop with, or -1.
int parse_target(const Args& args, Target& target) {
  Result<DocumentUrl> url = parse_document_url(args.positional[0]);
  if (!url.is_ok()) return usage_error(url.status().message(), args.command->usage);
  std::optional<uint64_t> timeout = timeout_of(args);
  if (!timeout) return usage_error("--timeout needs a number of seconds", args.command->usage);
  target.url = std::move(*url);
  target.timeout_micros = *timeout;
  Result<ServerClient> server = ServerClient::create(target.url.server.to_string(), token_of(args));
  if (!server.is_ok()) return usage_error(server.status().message(), args.command->usage);
  target.server = std::move(*server);
  // HTTP calls use the same limit (or 30 s when waiting has none).
  target.server->set_timeout_micros(*timeout != 0 ? *timeout : 30'000'000);
  return -1;
}

int doc_info(const Args& args) {
  if (args.positional.size() != 1) return usage_error("doc info needs one URL", args.command->usage);
  Target target;
  int status = parse_target(args, target);
  if (status >= 0) return status;
  Result<DocumentInfo> info = target.server->document_info(target.url.document_id);
  if (!info.is_ok()) return fail(info.status());
  std::printf("document       %s\nreducer        %s\nschema version %u\nstorage log    %s\n", info->id.to_hex().c_str(),
              info->reducer_digest.c_str(), info->schema_version, info->storage_range.to_string().c_str());
  return kExitOk;
}

// Opens a replica of the target document with its reducer.
Result<std::unique_ptr<SyncedDocument>> open_replica(const Args& args, const Target& target,
                                                     SyncedDocument::StatusCallback on_status = nullptr) {
  const std::string digest = flag(args, "--reducer");
  LoadedReducer reducer;
  if (digest.empty()) {
    SQLSYNC_ASSIGN_OR_RETURN(reducer, target.server->fetch_reducer(target.url.document_id));
  } else {
    SQLSYNC_ASSIGN_OR_RETURN(Bytes bytes, target.server->download_reducer(digest));
    SQLSYNC_ASSIGN_OR_RETURN(reducer, load_reducer(bytes));
  }
  SyncedDocument::Options options;
  options.server_url = target.url.server.to_string();
  options.document_id = target.url.document_id;
  options.reducer = std::move(reducer.reducer);
  options.reducer_digest = std::move(reducer.digest);
  options.token = token_of(args);
  const std::string data = flag(args, "--data");
  if (!data.empty()) options.directory = data + "/" + target.url.document_id.to_hex();
  options.on_connection_status = std::move(on_status);
  return SyncedDocument::open(std::move(options));
}

// Waits until the replica caught up with the server, with progress lines
// against the server's storage log end (when the server tells it).
Status sync_replica(SyncedDocument& document, const Target& target) {
  Result<DocumentInfo> info = target.server->document_info(target.url.document_id);
  const std::optional<Lsn> server_next =
      info.is_ok() ? std::optional<Lsn>(info->storage_range.next()) : std::nullopt;
  std::future<Status> synced = document.sync(server_next.value_or(0));
  SQLSYNC_RETURN_IF_ERROR(wait_for(synced, target.timeout_micros, "the replica to sync",
                                   [&] { return sync_progress(document, server_next); }));
  return synced.get();
}

Result<std::vector<std::string>> read_mutations(const std::vector<std::string>& arguments) {
  std::vector<std::string> mutations;
  for (const std::string& argument : arguments) {
    if (argument != "-") {
      mutations.push_back(argument);
      continue;
    }
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.find_first_not_of(" \t\r") != std::string::npos) mutations.push_back(line);
    }
  }
  if (mutations.empty()) return Status::invalid_argument("no mutations given");
  return mutations;
}

int mutate(const Args& args) {
  if (args.positional.size() < 2) return usage_error("mutate needs a URL and at least one JSON", args.command->usage);
  Target target;
  int status = parse_target(args, target);
  if (status >= 0) return status;
  Result<std::vector<std::string>> mutations =
      read_mutations(std::vector<std::string>(args.positional.begin() + 1, args.positional.end()));
  if (!mutations.is_ok()) return usage_error(mutations.status().message(), args.command->usage);

  Result<std::unique_ptr<SyncedDocument>> opened = open_replica(args, target);
  if (!opened.is_ok()) return fail(opened.status());
  SyncedDocument& document = **opened;
  // Mutations run on the current state, as the server will run them.
  Status synced = sync_replica(document, target);
  if (!synced.is_ok()) return fail(synced);

  std::vector<SyncedDocument::MutationHandle> handles;
  handles.reserve(mutations->size());
  for (const std::string& mutation : *mutations) handles.push_back(document.mutate(as_bytes(mutation)));

  const size_t total = handles.size();
  size_t confirmed = 0;
  size_t refused = 0;
  int exit_status = kExitOk;
  for (size_t i = 0; i < total; ++i) {
    const std::string label = total == 1 ? "the mutation" : "mutation " + std::to_string(i + 1);
    Result<Lsn> applied = handles[i].applied.get();
    if (!applied.is_ok()) {
      std::fprintf(stderr, "sqlsync: %s was refused locally, nothing sent: %s\n", label.c_str(),
                   applied.status().to_string().c_str());
      ++refused;
      exit_status = kExitRefused;
      continue;
    }
    Status waited = wait_for(handles[i].confirmed, target.timeout_micros, "the server's verdict", [&] {
      return std::to_string(confirmed) + "/" + std::to_string(total) + " confirmed, " +
             sync_progress(document, std::nullopt);
    });
    if (!waited.is_ok()) {
      std::fprintf(stderr, "sqlsync: %s\n", waited.message().c_str());
      if (!flag(args, "--data").empty()) {
        std::fprintf(stderr, "sqlsync: unconfirmed mutations stay in the replica in --data and are sent next time\n");
      }
      document.close().ignore();
      return kExitUnavailable;
    }
    Status verdict = handles[i].confirmed.get();
    if (!verdict.is_ok()) {
      std::fprintf(stderr, "sqlsync: %s was rejected by the server: %s\n", label.c_str(), verdict.message().c_str());
      ++refused;
      exit_status = kExitRefused;
      continue;
    }
    ++confirmed;
  }
  Status closed = document.close();
  if (!closed.is_ok()) return fail(closed, "closing the replica");
  std::printf("%zu mutation%s confirmed, %zu refused\n", confirmed, confirmed == 1 ? "" : "s", refused);
  return exit_status;
}

int query(const Args& args) {
  if (args.positional.size() != 2) return usage_error("query needs a URL and one SQL statement", args.command->usage);
  Target target;
  int status = parse_target(args, target);
  if (status >= 0) return status;
  Result<std::unique_ptr<SyncedDocument>> opened = open_replica(args, target);
  if (!opened.is_ok()) return fail(opened.status());
  SyncedDocument& document = **opened;
  Status synced = sync_replica(document, target);
  if (!synced.is_ok()) return fail(synced);
  Result<QueryResult> result = document.query(args.positional[1]).get();
  Status closed = document.close();
  if (!result.is_ok()) return fail(result.status());
  print_table(*result);
  if (!closed.is_ok()) return fail(closed, "closing the replica");
  return kExitOk;
}

std::atomic<bool> interrupted{false};
void on_interrupt(int) { interrupted = true; }

int watch(const Args& args) {
  if (args.positional.size() != 2) return usage_error("watch needs a URL and one SQL statement", args.command->usage);
  Target target;
  int status = parse_target(args, target);
  if (status >= 0) return status;
  Result<std::unique_ptr<SyncedDocument>> opened = open_replica(args, target, [](const ConnectionStatus& status) {
    if (status.state != ConnectionState::kConnecting) {
      std::fprintf(stderr, "sqlsync: %s\n", describe_connection(status).c_str());
    }
  });
  if (!opened.is_ok()) return fail(opened.status());
  SyncedDocument& document = **opened;
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);

  // Callbacks run on the client's I/O thread, one at a time.
  std::optional<Result<QueryResult>> last;
  Result<SyncedDocument::SubscriptionId> subscription =
      document.subscribe(args.positional[1], {}, [&last](const Result<QueryResult>& result) {
        if (last && last->is_ok() == result.is_ok() &&
            (result.is_ok() ? last->value() == result.value() : last->status().to_string() == result.status().to_string())) {
          return;
        }
        last = result;
        char when[32];
        std::time_t now = std::time(nullptr);
        std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", std::localtime(&now));
        std::printf("--- %s\n", when);
        if (result.is_ok()) {
          print_table(*result);
        } else {
          std::printf("error: %s\n", result.status().to_string().c_str());
        }
        std::fflush(stdout);
      });
  if (!subscription.is_ok()) return fail(subscription.status());
  while (!interrupted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Status closed = document.close();
  if (!closed.is_ok()) return fail(closed, "closing the replica");
  return kExitOk;
}

// --- inspect ---

// Reads through Env::posix() and refuses every write, so that inspecting
// can never change (or "repair") a directory some process is using.
class ReadOnlyEnv final : public Env {
 public:
  Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) override {
    SQLSYNC_ASSIGN_OR_RETURN(bool exists, base_->file_exists(path));
    if (!exists && mode != OpenMode::kRead) return refuse("create " + path);
    SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, base_->open_file(path, OpenMode::kRead));
    return std::unique_ptr<File>(new ReadOnlyFile(std::move(file), path));
  }
  Status remove_file(const std::string& path) override { return refuse("remove " + path); }
  Status rename_file(const std::string& from, const std::string&) override { return refuse("rename " + from); }
  Result<bool> file_exists(const std::string& path) override { return base_->file_exists(path); }
  Status create_dir(const std::string& path) override {
    SQLSYNC_ASSIGN_OR_RETURN(bool exists, base_->file_exists(path));
    return exists ? Status::ok() : refuse("create " + path);
  }
  Result<std::vector<std::string>> list_dir(const std::string& path) override { return base_->list_dir(path); }
  Status sync_dir(const std::string&) override { return Status::ok(); }
  uint64_t now_micros() override { return base_->now_micros(); }
  void random_bytes(std::span<uint8_t> out) override { base_->random_bytes(out); }

 private:
  class ReadOnlyFile final : public File {
   public:
    ReadOnlyFile(std::unique_ptr<File> file, std::string path) : file_(std::move(file)), path_(std::move(path)) {}
    Status read_at(uint64_t offset, size_t length, Bytes& out) override { return file_->read_at(offset, length, out); }
    Status write_at(uint64_t, ByteView) override { return refuse("write " + path_); }
    Status append(ByteView) override { return refuse("write " + path_); }
    Status sync() override { return Status::ok(); }
    Result<uint64_t> size() override { return file_->size(); }
    Status truncate(uint64_t) override { return refuse("truncate " + path_ + " (it has a torn tail)"); }

   private:
    std::unique_ptr<File> file_;
    std::string path_;
  };

  static Status refuse(const std::string& what) {
    return Status::io_error("inspect is read-only but opening the journal would " + what +
                            ": it needs recovery; open it with the server or replica that owns it first");
  }

  Env* base_ = Env::posix();
};

struct JournalSummary {
  std::string directory;
  JournalId id;
  LsnRange range;
  uint64_t entry_bytes = 0;
  size_t files = 0;
  uint64_t file_bytes = 0;
  // Storage logs: entries that are page frames.
  uint64_t frames = 0;
  uint64_t pages_written = 0;
  uint32_t database_pages = 0;  // after the newest frame
};

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return text;
}

Result<JournalSummary> summarize_journal(Env& env, const std::string& directory, const JournalId& id) {
  JournalSummary summary;
  summary.directory = directory;
  summary.id = id;
  SQLSYNC_ASSIGN_OR_RETURN(std::vector<std::string> names, env.list_dir(directory));
  for (const std::string& name : names) {
    SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env.open_file(directory + "/" + name, OpenMode::kRead));
    SQLSYNC_ASSIGN_OR_RETURN(uint64_t size, file->size());
    ++summary.files;
    summary.file_bytes += size;
  }
  SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<FileJournal> journal, FileJournal::open(&env, directory, id));
  summary.range = journal->range();
  auto last_progress = std::chrono::steady_clock::now();
  bool all_frames = true;
  SQLSYNC_RETURN_IF_ERROR(scan_journal(*journal, summary.range, [&](Lsn lsn, ByteView entry) {
    summary.entry_bytes += entry.size();
    if (all_frames) {
      Result<Frame> frame = decode_frame(entry);
      if (frame.is_ok()) {
        ++summary.frames;
        summary.pages_written += frame->pages.size();
        summary.database_pages = frame->database_pages;
      } else {
        all_frames = false;
      }
    }
    if (std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(1)) {
      last_progress = std::chrono::steady_clock::now();
      std::fprintf(stderr, "sqlsync: reading %s: lsn %llu of %s\n", directory.c_str(),
                   static_cast<unsigned long long>(lsn), summary.range.to_string().c_str());
    }
    return Status::ok();
  }));
  if (!all_frames) summary.frames = 0;
  return summary;
}

void print_summary(const JournalSummary& summary) {
  std::printf("%s\n", summary.directory.c_str());
  std::printf("  journal %s, lsn %s, %llu entries (%s), %zu file(s) on disk (%s)\n", summary.id.to_hex().c_str(),
              summary.range.to_string().c_str(), static_cast<unsigned long long>(summary.range.size()),
              human_bytes(summary.entry_bytes).c_str(), summary.files, human_bytes(summary.file_bytes).c_str());
  if (summary.frames > 0) {
    std::printf("  page frames: %llu, pages written: %llu, database: %u pages (%s) at lsn %llu\n",
                static_cast<unsigned long long>(summary.frames), static_cast<unsigned long long>(summary.pages_written),
                summary.database_pages, human_bytes(uint64_t{summary.database_pages} * kPageSize).c_str(),
                static_cast<unsigned long long>(summary.range.last()));
  }
}

// Summarizes the journal in `directory` or, if it holds none, every journal
// below it. Counts journals found and failures.
void inspect_tree(Env& env, const std::string& directory, size_t& found, size_t& failed) {
  Result<std::vector<std::string>> names = env.list_dir(directory);
  if (!names.is_ok()) return;  // a file, not a directory
  Result<JournalId> id = FileJournal::stored_id(&env, directory);
  if (id.is_ok()) {
    ++found;
    Result<JournalSummary> summary = summarize_journal(env, directory, *id);
    if (summary.is_ok()) {
      print_summary(*summary);
    } else {
      ++failed;
      std::printf("%s\n  error: %s\n", directory.c_str(), summary.status().to_string().c_str());
    }
    return;
  }
  if (id.status().code() != StatusCode::kNotFound) {
    ++found;
    ++failed;
    std::printf("%s\n  error: %s\n", directory.c_str(), id.status().to_string().c_str());
    return;
  }
  for (const std::string& name : *names) inspect_tree(env, directory + "/" + name, found, failed);
}

int inspect(const Args& args) {
  if (args.positional.size() != 1) return usage_error("inspect needs one DIR", args.command->usage);
  std::string directory = args.positional[0];
  while (directory.size() > 1 && directory.back() == '/') directory.pop_back();
  ReadOnlyEnv env;
  Result<std::vector<std::string>> names = env.list_dir(directory);
  if (!names.is_ok()) return fail(names.status(), "inspect " + directory);
  size_t found = 0;
  size_t failed = 0;
  inspect_tree(env, directory, found, failed);
  if (found == 0) {
    std::fprintf(stderr, "sqlsync: no journal under %s\n", directory.c_str());
    return kExitRefused;
  }
  std::printf("%zu journal%s, %zu unreadable\n", found, found == 1 ? "" : "s", failed);
  return failed == 0 ? kExitOk : kExitRefused;
}

int run(const Args& args) {
  const std::string_view name = args.command->name;
  if (name == "reducer push") return reducer_push(args);
  if (name == "doc new") return doc_new(args);
  if (name == "doc info") return doc_info(args);
  if (name == "mutate") return mutate(args);
  if (name == "query") return query(args);
  if (name == "watch") return watch(args);
  return inspect(args);
}

}  // namespace
}  // namespace sqlsync

int main(int argc, char** argv) {
  // Lines appear as they happen, also through a pipe.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  sqlsync::Args args;
  int status = sqlsync::parse_args(argc, argv, args);
  if (status >= 0) return status;
  return sqlsync::run(args);
}
