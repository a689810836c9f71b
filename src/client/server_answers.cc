#include "client/server_answers.h"

#include <nlohmann/json.hpp>

namespace sqlsync {
namespace {

using Json = nlohmann::json;

Json parse_json(std::string_view text) { return Json::parse(text, nullptr, /*allow_exceptions=*/false); }

Result<Value> value_from_json(const Json& json) {
  if (json.is_null()) return Value();
  if (json.is_boolean()) return Value(int64_t{json.get<bool>() ? 1 : 0});
  if (json.is_number_integer() && json.is_number_unsigned()) {
    uint64_t number = json.get<uint64_t>();
    if (number > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(number));
    return Value(static_cast<int64_t>(number));
  }
  if (json.is_number_integer()) return Value(json.get<int64_t>());
  if (json.is_number_float()) return Value(json.get<double>());
  if (json.is_string()) return Value(json.get<std::string>());
  if (json.is_object() && json.size() == 1 && json.contains("blob") && json["blob"].is_array()) {
    Bytes bytes;
    for (const Json& byte : json["blob"]) {
      if (!byte.is_number_unsigned() || byte.get<uint64_t>() > 255) {
        return Status::corruption("query answer has a blob byte that is not 0..255");
      }
      bytes.push_back(static_cast<uint8_t>(byte.get<uint64_t>()));
    }
    return Value(std::move(bytes));
  }
  return Status::corruption("query answer has a value of unexpected JSON type " + std::string(json.type_name()));
}

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
      SQLSYNC_ASSIGN_OR_RETURN(Value value, value_from_json(cell));
      values.push_back(std::move(value));
    }
    result.rows.push_back(std::move(values));
  }
  return result;
}

}  // namespace sqlsync
