#include "server/config.h"

#include <gtest/gtest.h>

#include "base/memory_env.h"

namespace sqlsync {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void write(const std::string& path, std::string_view content) {
    Result<std::unique_ptr<File>> file = env_.open_file(path, OpenMode::kCreateTruncate);
    ASSERT_TRUE(file.is_ok());
    ASSERT_TRUE((*file)->write_at(0, as_bytes(content)).is_ok());
  }
  Result<Command> parse(std::vector<std::string> args) {
    args.insert(args.begin(), "sqlsync-server");
    return parse_command_line(args, &env_);
  }

  MemoryEnv env_{1};
};

TEST_F(ConfigTest, DefaultsWithoutArguments) {
  Result<Command> command = parse({});
  ASSERT_TRUE(command.is_ok()) << command.status().to_string();
  EXPECT_EQ(command->kind, Command::Kind::kServe);
  EXPECT_EQ(command->config.listen_address, "127.0.0.1");
  EXPECT_EQ(command->config.port, 8080);
  EXPECT_EQ(command->config.threads, 2u);
  EXPECT_TRUE(command->config.auth_secret.empty());
  EXPECT_TRUE(command->config.static_directory.empty());
  EXPECT_FALSE(command->config.sync_filesystem);
  EXPECT_EQ(command->config.deflate_min_bytes, 262144u);
}

TEST_F(ConfigTest, ParsesEveryFlag) {
  Result<Command> command = parse({"--listen", "0.0.0.0", "--port", "0", "--data", "/srv/data", "--static", "web/dist",
                                   "--auth-secret", "k", "--threads", "4", "--document-threads", "8",
                                   "--max-message-bytes", "2048", "--max-reducer-bytes", "4096",
                                   "--max-connections", "10", "--max-documents", "3", "--max-in-flight-frames",
                                   "128", "--sync", "filesystem", "--deflate-min-bytes", "0"});
  ASSERT_TRUE(command.is_ok()) << command.status().to_string();
  const ServerConfig& config = command->config;
  EXPECT_EQ(config.listen_address, "0.0.0.0");
  EXPECT_EQ(config.port, 0);
  EXPECT_EQ(config.data_directory, "/srv/data");
  EXPECT_EQ(config.static_directory, "web/dist");
  EXPECT_EQ(config.auth_secret, "k");
  EXPECT_EQ(config.threads, 4u);
  EXPECT_EQ(config.document_threads, 8u);
  EXPECT_EQ(config.max_message_bytes, 2048u);
  EXPECT_EQ(config.max_reducer_bytes, 4096u);
  EXPECT_EQ(config.max_connections, 10u);
  EXPECT_EQ(config.max_documents, 3u);
  EXPECT_EQ(config.max_in_flight_frames, 128u);
  EXPECT_TRUE(config.sync_filesystem);
  EXPECT_EQ(config.deflate_min_bytes, 0u);
}

TEST_F(ConfigTest, RefusesBadArgumentsNamingThem) {
  Result<Command> unknown = parse({"--prot", "1"});
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("'--prot'"), std::string::npos);
  Result<Command> range = parse({"--port", "70000"});
  ASSERT_FALSE(range.is_ok());
  EXPECT_NE(range.status().message().find("--port needs a whole number from 0 to 65535"), std::string::npos);
  EXPECT_FALSE(parse({"--threads", "0"}).is_ok());
  EXPECT_FALSE(parse({"--port"}).is_ok());
  EXPECT_FALSE(parse({"--max-documents", "-1"}).is_ok());
  // Below the protocol window a well-behaved client would be cut off.
  EXPECT_FALSE(parse({"--max-in-flight-frames", "63"}).is_ok());
  Result<Command> deflate = parse({"--deflate-min-bytes", "16k"});
  ASSERT_FALSE(deflate.is_ok());
  EXPECT_NE(deflate.status().message().find("--deflate-min-bytes"), std::string::npos) << deflate.status().to_string();
  Result<Command> sync = parse({"--sync", "disk"});
  ASSERT_FALSE(sync.is_ok());
  EXPECT_NE(sync.status().message().find("must be file or filesystem, not 'disk'"), std::string::npos)
      << sync.status().to_string();
}

TEST_F(ConfigTest, ReadsJsonConfigAndFlagsWinWhateverTheOrder) {
  write("/server.json", R"({"port": 9000, "data": "/var/lib/sqlsync", "auth-secret": "abc", "max-documents": "5"})");
  Result<Command> command = parse({"--port", "9001", "--config", "/server.json"});
  ASSERT_TRUE(command.is_ok()) << command.status().to_string();
  EXPECT_EQ(command->config.port, 9001);
  EXPECT_EQ(command->config.data_directory, "/var/lib/sqlsync");
  EXPECT_EQ(command->config.auth_secret, "abc");
  EXPECT_EQ(command->config.max_documents, 5u);
}

TEST_F(ConfigTest, ReadsKeyValueConfig) {
  write("/server.conf", "# sqlsync\n\nport = 9100\n  static=  /srv/www  \nmax-message-bytes = 65536\n");
  Result<Command> command = parse({"--config", "/server.conf"});
  ASSERT_TRUE(command.is_ok()) << command.status().to_string();
  EXPECT_EQ(command->config.port, 9100);
  EXPECT_EQ(command->config.static_directory, "/srv/www");
  EXPECT_EQ(command->config.max_message_bytes, 65536u);
}

TEST_F(ConfigTest, RefusesBadConfigFilesNamingTheLine) {
  ServerConfig config;
  Status bad_line = apply_config_file("port = 1\nnonsense\n", "a.conf", config);
  ASSERT_FALSE(bad_line.is_ok());
  EXPECT_NE(bad_line.message().find("a.conf line 2"), std::string::npos);
  Status unknown = apply_config_file("colour = blue\n", "a.conf", config);
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.message().find("\"colour\""), std::string::npos);
  EXPECT_FALSE(apply_config_file(R"({"port": -1})", "a.json", config).is_ok());
  EXPECT_FALSE(apply_config_file(R"({"port": 80, )", "a.json", config).is_ok());
  EXPECT_FALSE(apply_config_file(R"({"config": "x"})", "a.json", config).is_ok());
  Result<Command> missing = parse({"--config", "/nope.json"});
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("/nope.json"), std::string::npos);
}

TEST_F(ConfigTest, HelpListsEveryFlag) {
  Result<Command> command = parse({"--port", "1", "--help"});
  ASSERT_TRUE(command.is_ok());
  EXPECT_EQ(command->kind, Command::Kind::kHelp);
  for (const char* flag : {"--listen", "--port", "--data", "--static", "--auth-secret", "--threads",
                           "--document-threads", "--max-message-bytes", "--max-reducer-bytes", "--max-connections",
                           "--max-documents", "--max-in-flight-frames", "--config", "--help", "token"}) {
    EXPECT_NE(command->help.find(flag), std::string::npos) << flag;
  }
}

TEST_F(ConfigTest, ParsesTheTokenSubcommand) {
  write("/server.conf", "auth-secret = from-file\n");
  Result<Command> command = parse({"token", "--doc", "ab", "--right", "read", "--ttl", "60", "--config", "/server.conf"});
  ASSERT_TRUE(command.is_ok()) << command.status().to_string();
  EXPECT_EQ(command->kind, Command::Kind::kToken);
  EXPECT_EQ(command->token.document, "ab");
  EXPECT_EQ(command->token.right, "read");
  EXPECT_EQ(command->token.ttl_seconds, 60u);
  EXPECT_EQ(command->token.secret, "from-file");

  Result<Command> no_secret = parse({"token", "--doc", "*"});
  ASSERT_FALSE(no_secret.is_ok());
  EXPECT_NE(no_secret.status().message().find("secret"), std::string::npos);
  EXPECT_FALSE(parse({"token", "--right", "admin", "--auth-secret", "k"}).is_ok());
  Result<Command> help = parse({"token", "--help"});
  ASSERT_TRUE(help.is_ok());
  EXPECT_EQ(help->kind, Command::Kind::kHelp);
  EXPECT_NE(help->help.find("--ttl"), std::string::npos);
}

}  // namespace
}  // namespace sqlsync
