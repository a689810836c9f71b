// The JSON form of SQL values (docs/wasm-abi.md, "Values"): NULL, INTEGER,
// REAL and TEXT are JSON null, number and string; a BLOB is
// {"blob": [byte, ...]}. Spoken by the server's HTTP API, the native client
// that reads it, and the browser core's C ABI. Part of the core (native and
// emscripten).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

// The JSON for `value`; a non-finite REAL becomes null.
nlohmann::json value_to_json(const Value& value);

// {"columns": [...], "rows": [[...], ...]} with values as value_to_json.
nlohmann::json query_result_to_json(const QueryResult& result);

// The value JSON `json` stands for: the forms value_to_json makes, and a
// boolean as the INTEGER 0 or 1. InvalidArgument otherwise: "<subject> does
// not fit a 64-bit signed integer: <json>" (an integer over 2^63 - 1),
// "<subject> has a blob byte outside 0..255: <json>", or "<subject> is not
// null, a boolean, a number, a string or {"blob": [bytes]}: <json>".
Result<Value> value_from_json(const nlohmann::json& json, std::string_view subject);

// `json` as compact text; invalid UTF-8 in strings is replaced (never throws).
std::string dump_json(const nlohmann::json& json);

}  // namespace sqlsync
