// The guest SDK's wasm-independent parts, compiled natively: the JSON reader
// (checked against nlohmann::json as a reference), Json::quote, Status and
// column<T>.
#include "sqlsync/guest.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace sqlsync {
namespace {

Json parse_ok(std::string_view text) {
  Result<Json> json = Json::parse(text);
  EXPECT_TRUE(json.is_ok()) << text << ": " << json.status().message();
  return json.is_ok() ? *json : Json();
}

TEST(GuestJsonTest, IndexesTheMembersOfARootObject) {
  const std::string text =
      R"( {"s":"a\"b","i":-42,"f":1.5e2,"t":true,"n":null,"o":{"x":[1,{"y":"}"}]},"a":[],"e":{}} )";
  Json json = parse_ok(text);
  ASSERT_EQ(json.type(), JsonType::kObject);
  ASSERT_EQ(json.members().size(), 8u);
  EXPECT_EQ(json.root().text(), text.substr(1, text.size() - 2));

  EXPECT_EQ(*json.find("s")->string(), "a\"b");
  EXPECT_EQ(*json.find("i")->int64(), -42);
  EXPECT_FALSE(json.find("f")->is_integer());
  EXPECT_EQ(*json.find("f")->number(), 150.0);
  EXPECT_EQ(*json.find("t")->boolean(), true);
  EXPECT_EQ(json.find("n")->type(), JsonType::kNull);
  EXPECT_EQ(json.find("o")->text(), R"({"x":[1,{"y":"}"}]})");
  EXPECT_EQ(json.find("a")->text(), "[]");
  EXPECT_EQ(json.find("e")->type(), JsonType::kObject);
  EXPECT_EQ(json.find("x"), nullptr) << "nested members are not root members";

  Result<Json> nested = json.find("o")->document();
  ASSERT_TRUE(nested.is_ok());
  EXPECT_EQ(nested->find("x")->type(), JsonType::kArray);
}

TEST(GuestJsonTest, TheLastDuplicateMemberCounts) {
  Json json = parse_ok(R"({"by":1,"by":2})");
  EXPECT_EQ(*json.find("by")->int64(), 2);
}

TEST(GuestJsonTest, NonObjectRootsHaveNoMembers) {
  for (const char* text : {"[1,2]", "\"x\"", "3", "true", "null"}) {
    Json json = parse_ok(text);
    EXPECT_NE(json.type(), JsonType::kObject);
    EXPECT_TRUE(json.members().empty());
    EXPECT_EQ(json.find("x"), nullptr);
    EXPECT_EQ(json.root().text(), text);
  }
}

TEST(GuestJsonTest, DecodesEscapes) {
  Json json = parse_ok(R"({"s":"q\" b\\ s\/ \b\f\n\r\t \u00e9 \u20AC \ud83d\ude00 \u0000."})");
  EXPECT_EQ(*json.find("s")->string(), std::string("q\" b\\ s/ \b\f\n\r\t \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 ") +
                                           std::string(1, '\0') + ".");
  EXPECT_EQ(*parse_ok("{\"k\\u0041\":1}").find("kA")->int64(), 1) << "member names are decoded";
  EXPECT_EQ(*parse_ok("\"\xC3\xA9\xF0\x9F\x98\x80\"").root().string(), "\xC3\xA9\xF0\x9F\x98\x80");
}

TEST(GuestJsonTest, RejectsInvalidDocumentsWithTheOffset) {
  struct Case {
    std::string text;
    size_t offset;
  };
  const Case cases[] = {
      {"", 0},
      {"   ", 3},
      {"{", 1},
      {R"({"a"})", 4},
      {R"({"a":})", 5},
      {R"({"a":1,})", 7},
      {R"({"a":1 "b":2})", 7},
      {"[1,]", 3},
      {"[1 2]", 3},
      {"[1}", 2},
      {"01", 1},
      {"1.", 2},
      {"1e+", 3},
      {"-", 1},
      {"+1", 0},
      {".5", 0},
      {"tru", 0},
      {"nul", 0},
      {"1 2", 2},
      {R"("\x")", 2},
      {R"("\u12G4")", 5},
      {R"("\ud800")", 1},
      {R"("\ud800\u0041")", 1},
      {R"("\udc00")", 1},
      {"\"a\x01\"", 2},
      {"\"unterminated", 13},
      {"\"\xC0\xAF\"", 1},          // overlong
      {"\"\xED\xA0\x80\"", 1},      // UTF-16 surrogate in UTF-8
      {"\"\xF4\x90\x80\x80\"", 1},  // past U+10FFFF
      {"\"\xE2\x82\"", 1},          // truncated sequence
      {"{'a':1}", 1},
      {"[1e400]", 1},
      {"-2.5E+999", 0},
      {std::string(400, '9'), 0},
  };
  for (const Case& c : cases) {
    Result<Json> json = Json::parse(c.text);
    ASSERT_FALSE(json.is_ok()) << c.text;
    EXPECT_EQ(json.status().code(), StatusCode::kRejected);
    const std::string prefix = "invalid JSON at offset " + std::to_string(c.offset) + ": ";
    EXPECT_EQ(json.status().message().substr(0, prefix.size()), prefix) << c.text << " -> " << json.status().message();
  }
}

TEST(GuestJsonTest, DeepNestingNeedsNoRecursion) {
  const size_t depth = 100000;
  std::string text = std::string(depth, '[') + std::string(depth, ']');
  EXPECT_TRUE(Json::parse(text).is_ok());
  text = "{\"a\":" + std::string(depth, '[') + std::string(depth - 1, ']') + "}";
  EXPECT_FALSE(Json::parse(text).is_ok());
}

TEST(GuestJsonTest, Int64CoversExactlyTheSignedRange) {
  EXPECT_EQ(*parse_ok("9223372036854775807").root().int64(), INT64_MAX);
  EXPECT_EQ(*parse_ok("-9223372036854775808").root().int64(), INT64_MIN);
  EXPECT_EQ(*parse_ok("-0").root().int64(), 0);
  EXPECT_FALSE(parse_ok("9223372036854775808").root().int64());
  EXPECT_FALSE(parse_ok("-9223372036854775809").root().int64());
  EXPECT_FALSE(parse_ok("99999999999999999999999").root().int64());
  EXPECT_TRUE(parse_ok("99999999999999999999999").root().is_integer());
  EXPECT_FALSE(parse_ok("1.0").root().int64());
  EXPECT_FALSE(parse_ok("1e2").root().is_integer());
  EXPECT_EQ(*parse_ok("1e308").root().number(), 1e308);
  EXPECT_EQ(*parse_ok("1e-400").root().number(), 0.0) << "underflow is fine";
  EXPECT_FALSE(parse_ok("\"1\"").root().int64());
}

TEST(GuestJsonTest, TypedAccessorsRejectWithFieldNames) {
  Json json = parse_ok(R"({"id":"t1","by":"x","big":18446744073709551615,"flag":false,"n":null})");
  EXPECT_EQ(*json.string("id"), "t1");
  EXPECT_EQ(*json.boolean("flag"), false);
  EXPECT_EQ(json.string("missing").status().message(), "missing field \"missing\"");
  EXPECT_EQ(json.string("n").status().message(), "field \"n\" must be a string, not null");
  EXPECT_EQ(json.int64("by").status().message(), "field \"by\" must be an integer, not string");
  EXPECT_EQ(json.int64("big").status().message(), "field \"big\" is out of the 64-bit signed range");
  EXPECT_EQ(json.boolean("id").status().message(), "field \"id\" must be a boolean, not string");
  EXPECT_EQ(json.string("missing").status().code(), StatusCode::kRejected);
}

TEST(GuestJsonTest, QuoteMatchesNlohmannDump) {
  const std::string texts[] = {
      "", "plain", "q\"b\\", std::string("c\x01\x1f\x7f\b\f\n\r\t", 10), std::string(1, '\0'), "\xC3\xA9\xF0\x9F\x98\x80",
  };
  for (const std::string& text : texts) {
    EXPECT_EQ(Json::quote(text), nlohmann::json(text).dump()) << text;
  }
  EXPECT_EQ(Json::quote("a\xFF" "b\xC3"), "\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD\"");
}

// Seeded random documents: every one must be accepted or refused exactly as
// nlohmann does, and strings must decode the same.
TEST(GuestJsonTest, AgreesWithNlohmannOnRandomDocuments) {
  const uint32_t seed = 20240611;
  std::mt19937 random(seed);
  const std::vector<std::string> pieces = {
      "{", "}", "[", "]", ",", ":", " ", "\"a\"", "\"b\\n\"", "\"\\u00e9\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"",
      "\"\\q\"", "\"\xC3\xA9\"", "\"\xC3\"", "0", "-1", "12", "1.5", "1e3", "-0.0e-1", "01", "1.", "true", "false",
      "null", "nul", "\"", "\t", "\n", "\"\x01\"", "-", "9223372036854775808"};
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    size_t length = 1 + random() % 8;
    for (size_t j = 0; j < length; ++j) text += pieces[random() % pieces.size()];
    bool reference = nlohmann::json::accept(text);
    Result<Json> json = Json::parse(text);
    ASSERT_EQ(json.is_ok(), reference) << "seed " << seed << " document " << i << ": " << text;
    if (!reference) continue;
    ++accepted;
    nlohmann::json parsed = nlohmann::json::parse(text);
    if (parsed.is_string()) {
      EXPECT_EQ(*json->root().string(), parsed.get<std::string>()) << text;
    }
    if (parsed.is_object()) {
      for (auto& [name, value] : parsed.items()) {
        const JsonValue* member = json->find(name);
        ASSERT_NE(member, nullptr) << text;
        EXPECT_EQ(std::string(json_type_name(member->type())), value.type_name()) << text;
      }
    }
  }
  EXPECT_GT(accepted, 1000) << "the generator should produce many valid documents";
}

TEST(GuestValueTest, ColumnChecksIndexAndType) {
  Row row = {int64_t{7}, std::string("x"), std::monostate()};
  EXPECT_EQ(*column<int64_t>(row, 0), 7);
  EXPECT_EQ(*column<std::string>(row, 1), "x");
  EXPECT_EQ(column<int64_t>(row, 1).status().message(), "column 1 holds text, not integer");
  EXPECT_EQ(column<double>(row, 2).status().message(), "column 2 holds null, not real");
  EXPECT_EQ(column<Blob>(row, 3).status().message(), "column 3 does not exist (the row has 3)");
}

TEST(GuestStatusTest, ContextAndMacros) {
  auto fails = []() -> Result<int> { return Status::rejected("no"); };
  auto caller = [&]() -> Status {
    SQLSYNC_ASSIGN_OR_RETURN(int value, fails());
    return value == 0 ? Status::ok() : Status::error("unreachable");
  };
  Status status = caller();
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  EXPECT_EQ(status.with_context("CreateTask").message(), "CreateTask: no");
  Result<int> from_ok = Status::ok();
  EXPECT_FALSE(from_ok.is_ok());
}

TEST(GuestJsonTest, DecodesRunsOfAsciiBetweenEscapesAndUtf8) {
  Json json = parse_ok("{\"s\":\"plain text \\n then \\u00e9, then h\xC3\xA9, \\\"quoted\\\" end\"}");
  EXPECT_EQ(*json.find("s")->string(), "plain text \n then \xC3\xA9, then h\xC3\xA9, \"quoted\" end");
}

// The ABI encodings the guest sends (docs/reducer-abi.md).
std::vector<uint8_t> bytes_of(std::span<const uint8_t> span) { return {span.begin(), span.end()}; }

TEST(GuestAbiTest, EncodesParamsInTheAbiLayout) {
  EXPECT_TRUE(guest_internal::encode_params({}).empty());
  const Value params[] = {std::monostate(), int64_t{-2}, 1.5, std::string("h\xC3\xA9"), Blob{7, 8}};
  std::vector<uint8_t> expected = {5, 0, 0, 0, 0, 1, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 2};
  const double real = 1.5;
  const auto* real_bytes = reinterpret_cast<const uint8_t*>(&real);
  expected.insert(expected.end(), real_bytes, real_bytes + 8);
  expected.insert(expected.end(), {3, 3, 0, 0, 0, 'h', 0xC3, 0xA9, 4, 2, 0, 0, 0, 7, 8});
  EXPECT_EQ(bytes_of(guest_internal::encode_params(params)), expected);
}

TEST(GuestAbiTest, ParamsBufferIsReusedAndShrinksAfterALargeStatement) {
  const Value large[] = {Blob(100000, 0xAB)};
  std::span<const uint8_t> encoded = guest_internal::encode_params(large);
  ASSERT_EQ(encoded.size(), 4u + 5u + 100000u);
  EXPECT_EQ(encoded.back(), 0xAB);
  const Value small[] = {int64_t{1}};
  EXPECT_EQ(bytes_of(guest_internal::encode_params(small)),
            (std::vector<uint8_t>{1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(GuestAbiTest, ReleasedBufferStartsWithItsPayloadLength) {
  guest_internal::Writer writer;
  writer.u32(9);
  writer.tagged(1, "ab", 2);
  uint8_t* buffer = writer.release();
  EXPECT_EQ(std::vector<uint8_t>(buffer, buffer + 15),
            (std::vector<uint8_t>{11, 0, 0, 0, 9, 0, 0, 0, 1, 2, 0, 0, 0, 'a', 'b'}));
  std::free(buffer);

  uint8_t* empty = guest_internal::make_buffer("");
  EXPECT_EQ(std::vector<uint8_t>(empty, empty + 4), (std::vector<uint8_t>{0, 0, 0, 0}));
  std::free(empty);
}

}  // namespace
}  // namespace sqlsync
