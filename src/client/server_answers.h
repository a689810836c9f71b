// Decoding of sqlsync-server's JSON answers (docs/server.md), shared by the
// HTTP calls and the WebSocket handshake.
#pragma once

#include <string>
#include <string_view>

#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

// The message of an error answer: the "error" field of a JSON body, else the
// body itself, shortened.
std::string server_error_message(std::string_view body);

// {"columns": [...], "rows": [[...], ...]} with values as in
// docs/wasm-abi.md (null, numbers, strings, {"blob": [bytes]}). Corruption
// naming the problem otherwise.
Result<QueryResult> parse_query_answer(std::string_view body);

}  // namespace sqlsync
