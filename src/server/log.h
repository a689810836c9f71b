// The server's log: one line per event on stderr, safe to call from any
// thread (lines never interleave).
#pragma once

#include <string_view>

namespace sqlsync {

enum class LogLevel { kInfo, kWarning, kError };

// Writes "[YYYY-MM-DD HH:MM:SS.mmm] <level: >message" (UTC; no level word for
// kInfo) and a newline to stderr.
void log_message(LogLevel level, std::string_view message);

inline void log_info(std::string_view message) { log_message(LogLevel::kInfo, message); }
inline void log_warning(std::string_view message) { log_message(LogLevel::kWarning, message); }
inline void log_error(std::string_view message) { log_message(LogLevel::kError, message); }

}  // namespace sqlsync
