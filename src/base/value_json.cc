#include "base/value_json.h"

#include <cmath>
#include <cstdint>
#include <utility>

#include <nlohmann/json.hpp>

namespace sqlsync {

using Json = nlohmann::json;

Json value_to_json(const Value& value) {
  if (const auto* integer = std::get_if<int64_t>(&value)) return *integer;
  if (const auto* real = std::get_if<double>(&value)) return std::isfinite(*real) ? Json(*real) : Json();
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  if (const auto* blob = std::get_if<Bytes>(&value)) return Json{{"blob", *blob}};
  return nullptr;
}

Json query_result_to_json(const QueryResult& result) {
  Json rows = Json::array();
  for (const Row& row : result.rows) {
    Json cells = Json::array();
    for (const Value& value : row) cells.push_back(value_to_json(value));
    rows.push_back(std::move(cells));
  }
  return Json{{"columns", result.columns}, {"rows", std::move(rows)}};
}

Result<Value> value_from_json(const Json& json, std::string_view subject) {
  auto bad = [&](const std::string& why) {
    return Status::invalid_argument(std::string(subject) + " " + why + ": " + dump_json(json));
  };
  if (json.is_null()) return Value();
  if (json.is_boolean()) return Value(int64_t{json.get<bool>() ? 1 : 0});
  if (json.is_number_unsigned()) {
    const uint64_t number = json.get<uint64_t>();
    if (number > static_cast<uint64_t>(INT64_MAX)) return bad("does not fit a 64-bit signed integer");
    return Value(static_cast<int64_t>(number));
  }
  if (json.is_number_integer()) return Value(json.get<int64_t>());
  if (json.is_number_float()) return Value(json.get<double>());
  if (json.is_string()) return Value(json.get<std::string>());
  if (json.is_object() && json.size() == 1 && json.contains("blob") && json["blob"].is_array()) {
    Bytes bytes;
    for (const Json& byte : json["blob"]) {
      if (!byte.is_number_unsigned() || byte.get<uint64_t>() > 255) return bad("has a blob byte outside 0..255");
      bytes.push_back(static_cast<uint8_t>(byte.get<uint64_t>()));
    }
    return Value(std::move(bytes));
  }
  return bad("is not null, a boolean, a number, a string or {\"blob\": [bytes]}");
}

std::string dump_json(const Json& json) { return json.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace sqlsync
