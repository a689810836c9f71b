// The sqlsync CLI against the real server: reducer push, doc new, doc info,
// mutate, query, watch, inspect, usage errors and exit statuses.
#include <gtest/gtest.h>

#include <csignal>

#include "client/test_server.h"
#include "sim/test_status.h"

namespace sqlsync {
namespace {

using testing::ChildProcess;
using testing::ProgramResult;
using testing::TempDir;
using testing::TestServer;

constexpr int kOk = 0;
constexpr int kRefused = 1;
constexpr int kUsage = 2;
constexpr int kUnavailable = 3;

// Runs `sqlsync args...`; the result, or a failed test.
ProgramResult cli(std::vector<std::string> args, const std::string& input = {}) {
  args.insert(args.begin(), SQLSYNC_CLI_BINARY);
  Result<ProgramResult> result = testing::run_program(args, input);
  EXPECT_TRUE(result.is_ok()) << result.status().to_string();
  return result.is_ok() ? *result : ProgramResult{};
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<TestServer>> server = TestServer::start(SQLSYNC_SERVER_BINARY);
    ASSERT_OK(server);
    server_ = std::move(*server);
  }

  // Pushes the guestbook reducer and creates a document named `name`;
  // returns its URL.
  std::string guestbook_document(const std::string& name) {
    ProgramResult pushed = cli({"reducer", "push", SQLSYNC_GUESTBOOK_SQL, "--server", server_->url()});
    EXPECT_EQ(pushed.exit_status, kOk) << pushed.err;
    ProgramResult created =
        cli({"doc", "new", "--reducer", trimmed(pushed.out), "--server", server_->url(), "--name", name});
    EXPECT_EQ(created.exit_status, kOk) << created.err;
    return trimmed(created.out);
  }

  std::unique_ptr<TestServer> server_;
};

TEST_F(CliTest, PushNewMutateQuery) {
  ProgramResult pushed = cli({"reducer", "push", SQLSYNC_GUESTBOOK_SQL, "--server", server_->url()});
  ASSERT_EQ(pushed.exit_status, kOk) << pushed.err;
  const std::string digest = trimmed(pushed.out);
  ASSERT_EQ(digest.size(), 64u) << pushed.out;
  EXPECT_NE(pushed.err.find("uploaded sql reducer"), std::string::npos) << pushed.err;

  ProgramResult created = cli({"doc", "new", "--reducer", digest, "--server", server_->url(), "--name", "guests"});
  ASSERT_EQ(created.exit_status, kOk) << created.err;
  const std::string url = trimmed(created.out);
  EXPECT_EQ(url.rfind(server_->url() + "/docs/", 0), 0u) << url;
  ProgramResult again = cli({"doc", "new", "--reducer", digest, "--server", server_->url(), "--name", "guests"});
  EXPECT_EQ(trimmed(again.out), url) << "the same name gives the same document";

  ProgramResult mutated =
      cli({"mutate", url, R"({"tag":"AddEntry","id":"e1","author":"Ada","message":"Hello","at":1})"});
  ASSERT_EQ(mutated.exit_status, kOk) << mutated.err;
  EXPECT_EQ(mutated.out, "1 mutation confirmed, 0 refused\n");

  std::string lines;
  for (int i = 0; i < 40; ++i) {
    lines += "{\"tag\":\"LikeEntry\",\"id\":\"e1\"}\n";
  }
  ProgramResult liked = cli({"mutate", url, "-"}, lines);
  ASSERT_EQ(liked.exit_status, kOk) << liked.err;
  EXPECT_EQ(liked.out, "40 mutations confirmed, 0 refused\n");

  ProgramResult queried = cli({"query", url, "SELECT author, message, likes FROM entries"});
  ASSERT_EQ(queried.exit_status, kOk) << queried.err;
  EXPECT_EQ(queried.out,
            "author | message | likes\n"
            "-------+---------+------\n"
            "Ada    | Hello   | 40\n"
            "(1 row)\n");

  ProgramResult info = cli({"doc", "info", url});
  ASSERT_EQ(info.exit_status, kOk) << info.err;
  EXPECT_NE(info.out.find("reducer        " + digest), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("schema version 2"), std::string::npos) << info.out;
}

TEST_F(CliTest, RefusalsAndUsageErrorsHaveTheirExitStatus) {
  const std::string url = guestbook_document("refusals");
  ProgramResult refused = cli({"mutate", url, R"({"tag":"LikeEntry","id":"nobody"})"});
  EXPECT_EQ(refused.exit_status, kRefused);
  EXPECT_NE(refused.err.find("refused locally"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("no guestbook entry has that id"), std::string::npos) << refused.err;

  ProgramResult bad_sql = cli({"query", url, "SELECT nothing FROM nowhere"});
  EXPECT_EQ(bad_sql.exit_status, kRefused);
  EXPECT_NE(bad_sql.err.find("nowhere"), std::string::npos) << bad_sql.err;

  TempDir files;
  const std::string broken = files.path() + "/broken.sql";
  ASSERT_OK(Env::posix()->write_file_durably(broken, as_bytes("-- mutation Broken\nSELECT (")));
  ProgramResult invalid = cli({"reducer", "push", broken, "--server", server_->url()});
  EXPECT_EQ(invalid.exit_status, kRefused);
  EXPECT_NE(invalid.err.find("400"), std::string::npos) << invalid.err;

  const std::string nowhere = "http://127.0.0.1:" + std::to_string(testing::unused_port()) + "/docs/" +
                              Env::posix()->new_journal_id().to_hex();
  ProgramResult unreachable = cli({"query", nowhere, "SELECT 1", "--timeout", "2"});
  EXPECT_EQ(unreachable.exit_status, kUnavailable);
  EXPECT_NE(unreachable.err.find("cannot connect"), std::string::npos) << unreachable.err;

  ProgramResult unknown_document =
      cli({"query", server_->url() + "/docs/" + Env::posix()->new_journal_id().to_hex(), "SELECT 1"});
  EXPECT_EQ(unknown_document.exit_status, kRefused);
  EXPECT_NE(unknown_document.err.find("404"), std::string::npos) << unknown_document.err;

  EXPECT_EQ(cli({}).exit_status, kUsage);
  EXPECT_EQ(cli({"frobnicate"}).exit_status, kUsage);
  EXPECT_EQ(cli({"doc"}).exit_status, kUsage);
  EXPECT_EQ(cli({"query", url}).exit_status, kUsage);
  EXPECT_EQ(cli({"query", "http://127.0.0.1:1/nodoc", "SELECT 1"}).exit_status, kUsage);
  EXPECT_EQ(cli({"mutate", url, "{}", "--bogus", "x"}).exit_status, kUsage);
  EXPECT_EQ(cli({"doc", "new", "--server", server_->url()}).exit_status, kUsage);

  ProgramResult help = cli({"--help"});
  EXPECT_EQ(help.exit_status, kOk);
  EXPECT_NE(help.out.find("Exit status"), std::string::npos);
  for (std::vector<std::string> command : {std::vector<std::string>{"reducer", "push"}, {"doc", "new"}, {"doc", "info"},
                                           {"mutate"}, {"query"}, {"watch"}, {"inspect"}}) {
    command.push_back("--help");
    ProgramResult command_help = cli(command);
    EXPECT_EQ(command_help.exit_status, kOk) << command[0];
    EXPECT_EQ(command_help.out.rfind("Usage: sqlsync " + command[0], 0), 0u) << command_help.out;
  }
}

TEST_F(CliTest, DataDirectoryKeepsAReplicaThatInspectSummarizes) {
  const std::string url = guestbook_document("durable");
  TempDir replica;
  ProgramResult mutated = cli({"mutate", url, R"({"tag":"AddEntry","id":"e1","author":"Bo","message":"hi","at":2})",
                               "--data", replica.path()});
  ASSERT_EQ(mutated.exit_status, kOk) << mutated.err;
  ProgramResult queried = cli({"query", url, "SELECT count(*) AS n FROM entries", "--data", replica.path()});
  ASSERT_EQ(queried.exit_status, kOk) << queried.err;
  EXPECT_EQ(queried.out, "n\n-\n1\n(1 row)\n");

  ProgramResult replica_summary = cli({"inspect", replica.path()});
  ASSERT_EQ(replica_summary.exit_status, kOk) << replica_summary.err << replica_summary.out;
  EXPECT_NE(replica_summary.out.find("/storage\n"), std::string::npos) << replica_summary.out;
  EXPECT_NE(replica_summary.out.find("page frames:"), std::string::npos) << replica_summary.out;
  EXPECT_NE(replica_summary.out.find("/timeline-"), std::string::npos) << replica_summary.out;

  ProgramResult server_summary = cli({"inspect", server_->data_directory()});
  ASSERT_EQ(server_summary.exit_status, kOk) << server_summary.err << server_summary.out;
  EXPECT_NE(server_summary.out.find("page frames:"), std::string::npos) << server_summary.out;

  TempDir empty;
  EXPECT_EQ(cli({"inspect", empty.path()}).exit_status, kRefused);
  EXPECT_EQ(cli({"inspect", empty.path() + "/missing"}).exit_status, kRefused);
}

TEST_F(CliTest, WatchPrintsTheResultAgainWhenItChanges) {
  const std::string url = guestbook_document("watched");
  Result<std::unique_ptr<ChildProcess>> watch =
      ChildProcess::start({SQLSYNC_CLI_BINARY, "watch", url, "SELECT author FROM entries ORDER BY id"});
  ASSERT_OK(watch);
  ASSERT_TRUE((*watch)->wait_for_output("(0 rows)", 30)) << (*watch)->output();
  ProgramResult mutated = cli({"mutate", url, R"({"tag":"AddEntry","id":"e1","author":"Cy","message":"yo","at":3})"});
  ASSERT_EQ(mutated.exit_status, kOk) << mutated.err;
  ASSERT_TRUE((*watch)->wait_for_output("Cy\n(1 row)", 30)) << (*watch)->output();
  (*watch)->send_signal(SIGINT);
  EXPECT_EQ((*watch)->wait_exit(30), kOk) << (*watch)->output();
}

}  // namespace
}  // namespace sqlsync
