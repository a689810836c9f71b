#include "server/http_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace sqlsync {
namespace {

TEST(ParseTargetTest, SplitsPathSegmentsAndQuery) {
  Result<RequestTarget> target = parse_target("/docs/0a1b/query?sql=SELECT+1%2C%202&token=a.b&flag");
  ASSERT_TRUE(target.is_ok()) << target.status().to_string();
  EXPECT_EQ(target->path, "/docs/0a1b/query");
  EXPECT_EQ(target->segments, (std::vector<std::string>{"docs", "0a1b", "query"}));
  EXPECT_EQ(target->query.at("sql"), "SELECT 1, 2");
  EXPECT_EQ(target->query.at("token"), "a.b");
  EXPECT_EQ(target->query.at("flag"), "");

  Result<RequestTarget> root = parse_target("/");
  ASSERT_TRUE(root.is_ok());
  EXPECT_TRUE(root->segments.empty());
  // '+' is a space only in the query.
  EXPECT_EQ(parse_target("/a+b%20c")->path, "/a+b c");
}

TEST(ParseTargetTest, RefusesMalformedTargets) {
  EXPECT_FALSE(parse_target("docs").is_ok());
  EXPECT_FALSE(parse_target("").is_ok());
  Result<RequestTarget> escape = parse_target("/x?sql=%zz");
  ASSERT_FALSE(escape.is_ok());
  EXPECT_NE(escape.status().message().find("bad %-escape"), std::string::npos);
  EXPECT_FALSE(parse_target("/x%2").is_ok());
  EXPECT_FALSE(parse_target("/x%00y").is_ok());
}

TEST(ContentTypeTest, KnowsTheWebAppTypes) {
  EXPECT_STREQ(content_type_for("/assets/app.js"), "text/javascript; charset=utf-8");
  EXPECT_STREQ(content_type_for("worker.mjs"), "text/javascript; charset=utf-8");
  EXPECT_STREQ(content_type_for("sqlsync_core.wasm"), "application/wasm");
  EXPECT_STREQ(content_type_for("style.CSS"), "text/css; charset=utf-8");
  EXPECT_STREQ(content_type_for("index.html"), "text/html; charset=utf-8");
  EXPECT_STREQ(content_type_for("data.bin"), "application/octet-stream");
  EXPECT_STREQ(content_type_for("dir.js/README"), "application/octet-stream");
}

class StaticFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sqlsync-static-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    base_ = pattern;
    root_ = base_ + "/www";
    std::filesystem::create_directories(root_ + "/assets");
    std::filesystem::create_directories(root_ + "/docs");
    write(root_ + "/index.html", "<html>app</html>");
    write(root_ + "/assets/app.js", "console.log(1)");
    write(root_ + "/docs/index.html", "docs");
    write(base_ + "/secret.txt", "secret");
  }
  void TearDown() override { std::filesystem::remove_all(base_); }
  static void write(const std::string& path, const std::string& content) { std::ofstream(path) << content; }

  std::string base_;
  std::string root_;
};

TEST_F(StaticFileTest, ServesFilesIndexesAndSinglePageRoutes) {
  const std::string root = std::filesystem::canonical(root_).string();
  EXPECT_EQ(*resolve_static_file(root_, "/assets/app.js"), root + "/assets/app.js");
  EXPECT_EQ(*resolve_static_file(root_, "/"), root + "/index.html");
  EXPECT_EQ(*resolve_static_file(root_, "/docs/"), root + "/docs/index.html");
  // A route of the app (no extension) falls back to the app's index.html.
  EXPECT_EQ(*resolve_static_file(root_, "/list/0a1b2c"), root + "/index.html");
  // A missing asset is a 404, not the app.
  Result<std::string> missing = resolve_static_file(root_, "/assets/missing.js");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_F(StaticFileTest, RefusesToLeaveTheRoot) {
  for (const char* path : {"/../secret.txt", "/assets/../../secret.txt", "/..", "/assets\\..\\..\\secret.txt"}) {
    Result<std::string> resolved = resolve_static_file(root_, path);
    ASSERT_FALSE(resolved.is_ok()) << path;
    EXPECT_EQ(resolved.status().code(), StatusCode::kInvalidArgument) << path;
  }
  std::filesystem::create_symlink(base_ + "/secret.txt", root_ + "/leak.txt");
  Result<std::string> link = resolve_static_file(root_, "/leak.txt");
  ASSERT_FALSE(link.is_ok());
  EXPECT_EQ(link.status().code(), StatusCode::kInvalidArgument);
}

TEST(QueryResultJsonTest, MapsValuesAsTheWasmAbiDoes) {
  QueryResult result;
  result.columns = {"n", "i", "r", "t", "b"};
  result.rows.push_back(Row{Value(), Value(int64_t{-7}), Value(1.5), Value(std::string("h\"i")), Value(Bytes{0, 255})});
  EXPECT_EQ(query_result_json(result),
            R"({"columns":["n","i","r","t","b"],"rows":[[null,-7,1.5,"h\"i",{"blob":[0,255]}]]})");
  EXPECT_EQ(error_json("no \"x\""), R"({"error":"no \"x\""})");
}

}  // namespace
}  // namespace sqlsync
