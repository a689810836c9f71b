// Slash-separated paths as the in-memory environments (memory_env.cc, the
// browser's slot pool) key their files and directories: the key of a path is
// its normalized form, and "" and "/" are both the root. Header-only; part of
// the core (native and emscripten).
#pragma once

#include <string>

namespace sqlsync {

// Collapses repeated slashes and drops trailing ones; "/" stays "/".
inline std::string normalize_path(const std::string& path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// Whether the normalized `key` names the root.
inline bool is_root_path(const std::string& key) { return key.empty() || key == "/"; }

// The directory holding the normalized `key`, which must not be the root:
// "" for a relative key without a slash, "/" for "/name".
inline std::string parent_path(const std::string& key) {
  const size_t slash = key.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return key.substr(0, slash);
}

// What the keys below directory `dir` (normalized) start with: "dir/", or the
// root as it is spelled.
inline std::string child_prefix(const std::string& dir) { return is_root_path(dir) ? dir : dir + "/"; }

// `path` between single quotes, for error messages.
inline std::string quoted_path(const std::string& path) { return "'" + path + "'"; }

}  // namespace sqlsync
