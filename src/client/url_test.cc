#include "client/url.h"

#include <gtest/gtest.h>

#include "sim/test_status.h"

namespace sqlsync {
namespace {

TEST(UrlTest, ParsesHostPortAndPath) {
  Result<HttpUrl> url = parse_http_url("http://127.0.0.1:8080");
  ASSERT_OK(url);
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, "8080");
  EXPECT_EQ(url->path, "");
  EXPECT_EQ(url->to_string(), "http://127.0.0.1:8080");

  url = parse_http_url("http://example.com/sqlsync/");
  ASSERT_OK(url);
  EXPECT_EQ(url->host, "example.com");
  EXPECT_EQ(url->port, "80");
  EXPECT_EQ(url->path, "/sqlsync");
  EXPECT_EQ(url->authority(), "example.com:80");
}

TEST(UrlTest, ParsesBracketedIpv6) {
  Result<HttpUrl> url = parse_http_url("http://[::1]:9000/x");
  ASSERT_OK(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, "9000");
  EXPECT_EQ(url->authority(), "[::1]:9000");
}

TEST(UrlTest, RefusesWhatItCannotServe) {
  struct Case {
    const char* url;
    const char* message_part;
  };
  const Case cases[] = {
      {"https://example.com", "https is not supported"},
      {"ws://example.com", "must start with http://"},
      {"http://", "has no host"},
      {"http://:80", "has no host"},
      {"http://host:", "empty port"},
      {"http://host:65536", "not a number from 0 to 65535"},
      {"http://host:8o", "not a number"},
      {"http://host/x?token=1", "query or fragment"},
      {"http://[::1", "unterminated"},
  };
  for (const Case& c : cases) {
    Result<HttpUrl> url = parse_http_url(c.url);
    ASSERT_FALSE(url.is_ok()) << c.url;
    EXPECT_EQ(url.status().code(), StatusCode::kInvalidArgument) << c.url;
    EXPECT_NE(url.status().message().find(c.message_part), std::string::npos) << url.status().to_string();
  }
}

TEST(UrlTest, ParsesDocumentUrls) {
  const std::string id = "00112233445566778899aabbccddeeff";
  Result<DocumentUrl> url = parse_document_url("http://127.0.0.1:8080/prefix/docs/" + id + "/");
  ASSERT_OK(url);
  EXPECT_EQ(url->server.to_string(), "http://127.0.0.1:8080/prefix");
  EXPECT_EQ(url->document_id.to_hex(), id);

  Result<DocumentUrl> missing = parse_document_url("http://127.0.0.1:8080/" + id);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("must end in /docs/<id>"), std::string::npos);
  Result<DocumentUrl> short_id = parse_document_url("http://127.0.0.1:8080/docs/0011");
  ASSERT_FALSE(short_id.is_ok());
  EXPECT_EQ(short_id.status().code(), StatusCode::kInvalidArgument);
}

TEST(UrlTest, PercentEncodesQueryValues) {
  EXPECT_EQ(percent_encode("SELECT * FROM t WHERE a='x&y'"), "SELECT%20%2A%20FROM%20t%20WHERE%20a%3D%27x%26y%27");
  EXPECT_EQ(percent_encode("Az09-._~"), "Az09-._~");
  EXPECT_EQ(percent_encode("\xc3\xa9"), "%C3%A9");
}

}  // namespace
}  // namespace sqlsync
