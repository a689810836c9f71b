#include "base/value_json.h"

#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {
namespace {

using Json = nlohmann::json;

TEST(ValueJsonTest, EveryValueRoundTrips) {
  const Value values[] = {Value(), Value(int64_t{-42}), Value(int64_t{INT64_MAX}), Value(2.5),
                          Value(std::string("héllo")), Value(Bytes{0, 7, 255})};
  for (const Value& value : values) {
    const Json json = value_to_json(value);
    Result<Value> back = value_from_json(Json::parse(dump_json(json)), "value");
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    EXPECT_EQ(*back, value) << dump_json(json);
  }
}

TEST(ValueJsonTest, QueryResultUsesTheWasmAbiForms) {
  QueryResult result;
  result.columns = {"a", "b"};
  result.rows = {{Value(int64_t{1}), Value(Bytes{1, 2})},
                 {Value(std::numeric_limits<double>::infinity()), Value(std::string("x"))}};
  EXPECT_EQ(dump_json(query_result_to_json(result)),
            R"({"columns":["a","b"],"rows":[[1,{"blob":[1,2]}],[null,"x"]]})");
}

TEST(ValueJsonTest, BooleansBindAsIntegers) {
  Result<Value> yes = value_from_json(Json(true), "value");
  ASSERT_TRUE(yes.is_ok());
  EXPECT_EQ(*yes, Value(int64_t{1}));
}

TEST(ValueJsonTest, RefusalsNameTheSubjectAndTheJson) {
  Result<Value> too_large = value_from_json(Json(uint64_t{1} << 63), "query parameter 2");
  ASSERT_FALSE(too_large.is_ok());
  EXPECT_EQ(too_large.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(too_large.status().message(),
            "query parameter 2 does not fit a 64-bit signed integer: 9223372036854775808");

  Result<Value> bad_byte = value_from_json(Json::parse(R"({"blob":[1,256]})"), "cell");
  ASSERT_FALSE(bad_byte.is_ok());
  EXPECT_EQ(bad_byte.status().message(), R"(cell has a blob byte outside 0..255: {"blob":[1,256]})");

  Result<Value> array = value_from_json(Json::parse("[1]"), "cell");
  ASSERT_FALSE(array.is_ok());
  EXPECT_EQ(array.status().message(), R"(cell is not null, a boolean, a number, a string or {"blob": [bytes]}: [1])");
}

TEST(ValueJsonTest, DumpReplacesInvalidUtf8InsteadOfThrowing) {
  EXPECT_EQ(dump_json(Json(std::string("a\xff"))), "\"a\xef\xbf\xbd\"");
}

}  // namespace
}  // namespace sqlsync
