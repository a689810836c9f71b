#include "client/server_answers.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "base/value_json.h"

namespace sqlsync {
namespace {

using Json = nlohmann::json;

Json parse_json(std::string_view text) { return Json::parse(text, nullptr, /*allow_exceptions=*/false); }

}  // namespace

std::string server_error_message(std::string_view body) {
  Json json = parse_json(body);
  if (json.is_object() && json.contains("error") && json["error"].is_string()) return json["error"].get<std::string>();
  constexpr size_t kMaxShown = 300;
  return body.size() > kMaxShown ? std::string(body.substr(0, kMaxShown)) + "..." : std::string(body);
}

Result<QueryResult> parse_query_answer(std::string_view body) {
  const Json json = parse_json(body);
  if (!json.is_object() || !json.contains("columns") || !json["columns"].is_array() || !json.contains("rows") ||
      !json["rows"].is_array()) {
    return Status::corruption("query answer is not {\"columns\": [...], \"rows\": [...]}");
  }
  QueryResult result;
  for (const Json& column : json["columns"]) {
    if (!column.is_string()) return Status::corruption("query answer has a column name that is not a string");
    result.columns.push_back(column.get<std::string>());
  }
  for (const Json& row : json["rows"]) {
    if (!row.is_array() || row.size() != result.columns.size()) {
      return Status::corruption("query answer has a row that is not an array of " +
                                std::to_string(result.columns.size()) + " values");
    }
    Row values;
    for (const Json& cell : row) {
      Result<Value> value = value_from_json(cell, "query answer value");
      if (!value.is_ok()) return Status::corruption(value.status().message());
      values.push_back(std::move(value).value());
    }
    result.rows.push_back(std::move(values));
  }
  return result;
}

}  // namespace sqlsync
