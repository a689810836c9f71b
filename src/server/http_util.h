// HTTP helpers of sqlsync-server that need no network code: request
// targets, static-file resolution, content types and JSON bodies.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

struct RequestTarget {
  std::string path;                           // percent-decoded, e.g. "/docs/0a1b.../query"
  std::vector<std::string> segments;          // path split on '/', empty ones dropped
  std::map<std::string, std::string> query;   // decoded ('+' is a space); a repeated key keeps the last
};

// Parses a request target ("/docs/x/query?sql=SELECT%201"). InvalidArgument
// for a target not starting with '/', a bad %-escape or a decoded NUL.
Result<RequestTarget> parse_target(std::string_view target);

// The content type for a file by its extension (.html, .js, .mjs, .wasm,
// .css, .json, .svg, .png, ...); application/octet-stream if unknown.
const char* content_type_for(std::string_view file_name);

// The file under `root` that serves URL path `url_path` (already decoded):
// the file itself, a directory's index.html, or, for a path whose last
// segment has no extension (a single-page app's route), root/index.html.
// InvalidArgument for a path that tries to leave `root` (a ".." segment, a
// backslash, or a symbolic link pointing outside); NotFound otherwise.
Result<std::string> resolve_static_file(const std::string& root, std::string_view url_path);

// {"columns":[...],"rows":[[...],...]}: NULL, INTEGER, REAL and TEXT map to
// JSON null, number and string, a BLOB to {"blob":[byte,...]} (the mapping of
// docs/wasm-abi.md); a non-finite REAL becomes null.
std::string query_result_json(const QueryResult& result);
// {"error":"<message>"}
std::string error_json(std::string_view message);

}  // namespace sqlsync
