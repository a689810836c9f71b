#include "server/http_util.h"

#include <cctype>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "base/value_json.h"

namespace sqlsync {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      const int high = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      const int low = high >= 0 ? hex_value(text[i + 2]) : -1;
      if (low < 0) return Status::invalid_argument("bad %-escape at offset " + std::to_string(i) + " of the URL");
      c = static_cast<char>(high * 16 + low);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return Status::invalid_argument("the URL holds a NUL character at offset " + std::to_string(i));
    out.push_back(c);
  }
  return out;
}

}  // namespace

Result<RequestTarget> parse_target(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return Status::invalid_argument("request target must start with '/', got '" + std::string(target) + "'");
  }
  RequestTarget parsed;
  const size_t question = target.find('?');
  SQLSYNC_ASSIGN_OR_RETURN(parsed.path, percent_decode(target.substr(0, question), /*plus_is_space=*/false));
  size_t begin = 0;
  while (begin < parsed.path.size()) {
    size_t end = parsed.path.find('/', begin);
    if (end == std::string::npos) end = parsed.path.size();
    if (end > begin) parsed.segments.push_back(parsed.path.substr(begin, end - begin));
    begin = end + 1;
  }
  std::string_view query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t equals = pair.find('=');
    SQLSYNC_ASSIGN_OR_RETURN(std::string key, percent_decode(pair.substr(0, equals), true));
    std::string value;
    if (equals != std::string_view::npos) {
      SQLSYNC_ASSIGN_OR_RETURN(value, percent_decode(pair.substr(equals + 1), true));
    }
    parsed.query[std::move(key)] = std::move(value);
  }
  return parsed;
}

const char* content_type_for(std::string_view file_name) {
  struct Type {
    const char* extension;
    const char* content_type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},   {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
      {".wasm", "application/wasm"},           {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},           {".map", "application/json"},
      {".svg", "image/svg+xml"},               {".png", "image/png"},
      {".jpg", "image/jpeg"},                  {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},                   {".ico", "image/x-icon"},
      {".webp", "image/webp"},                 {".txt", "text/plain; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"}, {".sql", "application/sql; charset=utf-8"},
      {".woff", "font/woff"},                  {".woff2", "font/woff2"},
      {".webmanifest", "application/manifest+json"},
  };
  const size_t slash = file_name.find_last_of('/');
  const std::string_view base = slash == std::string_view::npos ? file_name : file_name.substr(slash + 1);
  const size_t dot = base.find_last_of('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  std::string extension(base.substr(dot));
  for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const Type& type : kTypes) {
    if (extension == type.extension) return type.content_type;
  }
  return "application/octet-stream";
}

Result<std::string> resolve_static_file(const std::string& root, std::string_view url_path) {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path canonical_root = fs::canonical(root, error);
  if (error) return Status::not_found("static directory " + root + " does not exist");
  fs::path candidate = canonical_root;
  std::string_view last_segment;
  size_t begin = 0;
  while (begin <= url_path.size()) {
    size_t end = url_path.find('/', begin);
    if (end == std::string_view::npos) end = url_path.size();
    const std::string_view segment = url_path.substr(begin, end - begin);
    begin = end + 1;
    if (segment.empty() || segment == ".") continue;
    if (segment == ".." || segment.find('\\') != std::string_view::npos) {
      return Status::invalid_argument("path '" + std::string(url_path) + "' leaves the static directory");
    }
    candidate /= std::string(segment);
    last_segment = segment;
  }
  if (fs::is_directory(candidate, error)) candidate /= "index.html";
  if (!fs::is_regular_file(candidate, error)) {
    if (last_segment.find('.') != std::string_view::npos) {
      return Status::not_found("no file " + std::string(url_path));
    }
    candidate = canonical_root / "index.html";
    if (!fs::is_regular_file(candidate, error)) return Status::not_found("no file " + std::string(url_path));
  }
  const fs::path resolved = fs::canonical(candidate, error);
  if (error) return Status::not_found("no file " + std::string(url_path));
  const std::string root_prefix = canonical_root.string() + "/";
  if (resolved.string().compare(0, root_prefix.size(), root_prefix) != 0) {
    return Status::invalid_argument("path '" + std::string(url_path) + "' leaves the static directory");
  }
  return resolved.string();
}

std::string query_result_json(const QueryResult& result) { return dump_json(query_result_to_json(result)); }

std::string error_json(std::string_view message) { return dump_json(nlohmann::json{{"error", message}}); }

}  // namespace sqlsync
