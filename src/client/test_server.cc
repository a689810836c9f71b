#include "client/test_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sqlsync::testing {
namespace {

constexpr std::string_view kStartupMarker = "listening on http://";

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const std::string& arg : argv) out.push_back(const_cast<char*>(arg.c_str()));
  out.push_back(nullptr);
  return out;
}

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/sqlsync-client-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) std::abort();
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

Result<std::unique_ptr<ChildProcess>> ChildProcess::start(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return Status::io_error("pipe failed");
  std::vector<char*> args = c_argv(argv);
  const pid_t pid = fork();
  if (pid < 0) return Status::io_error("fork failed");
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    execv(argv[0].c_str(), args.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->pid_ = pid;
  child->reader_ = std::thread([raw = child.get(), fd = pipe_fds[0]] { raw->read_output(fd); });
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) stop();
  if (reader_.joinable()) reader_.join();
}

void ChildProcess::read_output(int fd) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    std::lock_guard lock(mutex_);
    output_.append(buffer, static_cast<size_t>(n));
    changed_.notify_all();
  }
  close(fd);
  std::lock_guard lock(mutex_);
  output_closed_ = true;
  changed_.notify_all();
}

bool ChildProcess::wait_for_output(const std::string& text, int seconds) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, std::chrono::seconds(seconds),
                    [&] { return output_.find(text) != std::string::npos || output_closed_; });
  return output_.find(text) != std::string::npos;
}

std::string ChildProcess::output() const {
  std::lock_guard lock(mutex_);
  return output_;
}

void ChildProcess::send_signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

int ChildProcess::wait_exit(int seconds) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (reader_.joinable()) reader_.join();
      return decode_wait_status(status);
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int ChildProcess::stop() {
  send_signal(SIGTERM);
  int status = wait_exit(10);
  if (status == -1) kill_hard();
  return status;
}

void ChildProcess::kill_hard() {
  send_signal(SIGKILL);
  wait_exit(3600);
}

Result<std::unique_ptr<ServerProcess>> ServerProcess::start(const std::string& binary,
                                                            const std::string& data_directory, uint16_t port,
                                                            std::vector<std::string> extra_args) {
  std::vector<std::string> argv = {binary, "--listen", "127.0.0.1", "--port", std::to_string(port),
                                   "--data", data_directory};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  std::unique_ptr<ServerProcess> server(new ServerProcess());
  SQLSYNC_ASSIGN_OR_RETURN(server->process_, ChildProcess::start(argv));
  if (!server->process_->wait_for_output(std::string(kStartupMarker), 30)) {
    return Status::io_error("sqlsync-server (" + binary + ") did not start; its output:\n" +
                            server->process_->output());
  }
  const std::string output = server->process_->output();
  const size_t begin = output.find(kStartupMarker) + kStartupMarker.size() - std::string_view("http://").size();
  const size_t end = output.find_first_of(" \n", begin);
  server->url_ = output.substr(begin, end - begin);
  server->port_ = static_cast<uint16_t>(std::strtoul(server->url_.c_str() + server->url_.rfind(':') + 1, nullptr, 10));
  return server;
}

TestServer::TestServer(std::string binary, uint16_t port, std::vector<std::string> extra_args)
    : binary_(std::move(binary)),
      extra_args_(std::move(extra_args)),
      data_directory_(data_.path() + "/server"),
      port_(port) {}

Result<std::unique_ptr<TestServer>> TestServer::start(const std::string& binary, uint16_t port,
                                                      std::vector<std::string> extra_args) {
  std::unique_ptr<TestServer> server(new TestServer(binary, port, std::move(extra_args)));
  SQLSYNC_RETURN_IF_ERROR(server->restart());
  SQLSYNC_ASSIGN_OR_RETURN(ServerClient http, ServerClient::create(server->url()));
  server->http_.emplace(std::move(http));
  return server;
}

Status TestServer::restart() {
  SQLSYNC_ASSIGN_OR_RETURN(server_, ServerProcess::start(binary_, data_directory_, port_, extra_args_));
  port_ = server_->port();
  return Status::ok();
}

Result<std::string> TestServer::upload_reducer_file(const std::string& path) const {
  SQLSYNC_ASSIGN_OR_RETURN(Bytes reducer, Env::posix()->read_file(path));
  SQLSYNC_ASSIGN_OR_RETURN(ReducerUpload upload, http_->upload_reducer(reducer));
  return upload.digest;
}

Result<SyncedDocument::Options> TestServer::client_options(const JournalId& document, const std::string& path,
                                                           uint64_t seed) const {
  SQLSYNC_ASSIGN_OR_RETURN(Bytes bytes, Env::posix()->read_file(path));
  SQLSYNC_ASSIGN_OR_RETURN(LoadedReducer reducer, load_reducer(bytes));
  SyncedDocument::Options options;
  options.server_url = url();
  options.document_id = document;
  options.reducer = std::move(reducer.reducer);
  options.reducer_digest = std::move(reducer.digest);
  options.reconnect_min_micros = 20'000;
  options.reconnect_max_micros = 200'000;
  options.jitter_seed = seed;
  return options;
}

Result<ProgramResult> run_program(const std::vector<std::string>& argv, const std::string& input) {
  TempDir files;
  const std::string in_path = files.path() + "/in";
  const std::string out_path = files.path() + "/out";
  const std::string err_path = files.path() + "/err";
  std::ofstream(in_path, std::ios::binary) << input;
  std::vector<char*> args = c_argv(argv);
  const pid_t pid = fork();
  if (pid < 0) return Status::io_error("fork failed");
  if (pid == 0) {
    const int in = open(in_path.c_str(), O_RDONLY);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    execv(argv[0].c_str(), args.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return Status::io_error("waitpid failed for " + argv[0]);
  ProgramResult result;
  result.exit_status = decode_wait_status(status);
  result.out = read_whole(out_path);
  result.err = read_whole(err_path);
  if (result.exit_status == 127) return Status::io_error("cannot run " + argv[0] + ": " + result.err);
  return result;
}

Status sync_with_server(SyncedDocument& document, const ServerClient& server, int seconds) {
  SQLSYNC_ASSIGN_OR_RETURN(DocumentInfo info, server.document_info(document.document_id()));
  std::future<Status> synced = document.sync(info.storage_range.next());
  if (!ready_within(synced, seconds)) {
    SyncedDocument::SyncState state = document.sync_state().get();
    return Status::io_error("the replica did not catch up with the server's storage log " +
                            info.storage_range.to_string() + " within " + std::to_string(seconds) +
                            " s: it holds " + state.storage_range.to_string() + ", timeline " +
                            state.timeline_range.to_string() + ", " + connection_state_name(state.connection.state) +
                            " " + state.connection.reason);
  }
  return synced.get();
}

TodoQuery query_replica(SyncedDocument& document) {
  return [&document](std::string_view sql, std::span<const Value> params) {
    return document.query(std::string(sql), std::vector<Value>(params.begin(), params.end())).get();
  };
}

TodoQuery query_server(const ServerClient& server, const JournalId& document) {
  return [&server, document](std::string_view sql, std::span<const Value> params) -> Result<QueryResult> {
    if (!params.empty()) return Status::internal("the server's query endpoint takes no parameters");
    return server.query(document, sql);
  };
}

uint16_t unused_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::abort();
  }
  close(fd);
  return ntohs(address.sin_port);
}

}  // namespace sqlsync::testing
