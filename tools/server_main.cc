// sqlsync-server: the coordinator server (docs/server.md), and its `token`
// subcommand that signs bearer tokens.
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "server/auth.h"
#include "server/config.h"
#include "server/server.h"

namespace sqlsync {
namespace {

int print_token(const TokenCommand& command) {
  TokenClaims claims;
  claims.document = command.document;
  if (claims.document != "*") {
    Result<JournalId> id = JournalId::from_hex(claims.document);
    if (!id.is_ok()) {
      std::fprintf(stderr, "sqlsync-server token: --doc must be a document id (32 hex digits) or *\n");
      return 2;
    }
    claims.document = id->to_hex();
  }
  claims.right = command.right == "read" ? AccessRight::kRead : AccessRight::kWrite;
  claims.expires_at = static_cast<int64_t>(std::time(nullptr)) + static_cast<int64_t>(command.ttl_seconds);
  std::printf("%s\n", sign_token(command.secret, claims).c_str());
  return 0;
}

int serve(const ServerConfig& config) {
  Server::Options options;
  options.config = config;
  options.handle_signals = true;
  Result<std::unique_ptr<Server>> server = Server::start(std::move(options));
  if (!server.is_ok()) {
    std::fprintf(stderr, "sqlsync-server: %s\n", server.status().to_string().c_str());
    return 1;
  }
  (*server)->wait();
  return 0;
}

}  // namespace
}  // namespace sqlsync

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  sqlsync::Result<sqlsync::Command> command = sqlsync::parse_command_line(args, sqlsync::Env::posix());
  if (!command.is_ok()) {
    std::fprintf(stderr, "sqlsync-server: %s\n", command.status().message().c_str());
    return 2;
  }
  switch (command->kind) {
    case sqlsync::Command::Kind::kHelp: std::fputs(command->help.c_str(), stdout); return 0;
    case sqlsync::Command::Kind::kToken: return sqlsync::print_token(command->token);
    case sqlsync::Command::Kind::kServe: return sqlsync::serve(command->config);
  }
  return 2;
}
