// Where a durable document keeps its storage logs once it has been compacted
// (docs/storage-format.md, "Log manifest"): the first log in
// `<dir>/storage/`, each later log in `<dir>/logs/<id hex>/`, and the file
// `<dir>/LOGS` naming the current log and the older ones still kept.
// Coordinators and durable replicas share this layout.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sqlsync/env.h"
#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

constexpr uint32_t kLogManifestMagic = 0x4d515153;  // "SQQM" little-endian
constexpr uint8_t kLogManifestVersion = 1;

struct LogManifest {
  JournalId current;
  std::vector<JournalId> retained;  // older logs still served, oldest first
};

// The directory of log `log` of the document `document_id` under `directory`.
std::string log_directory(const std::string& directory, const JournalId& document_id, const JournalId& log);

// The manifest under `directory`, or, if there is none (never compacted),
// one naming the first log (`document_id`) alone. Corruption/Unsupported for a
// bad file.
Result<LogManifest> read_log_manifest(Env& env, const std::string& directory, const JournalId& document_id);

// Publishes `manifest` durably (write temp, sync, rename, sync directory).
Status publish_log_manifest(Env& env, const std::string& directory, const LogManifest& manifest);

// Deletes every log directory under `directory` that `manifest` does not
// name (a compaction that crashed before its marker was durable), the first
// log's included once the manifest has moved past it.
Status remove_unlisted_logs(Env& env, const std::string& directory, const JournalId& document_id,
                            const LogManifest& manifest);

class FileJournal;

// Opens a durable document's directory: creates it durably if needed, reads
// the manifest into *manifest, deletes the log directories it does not name,
// and opens (recovering) the current storage log. Errors are those of the
// steps, with the paths in them.
Result<std::unique_ptr<FileJournal>> open_current_log(Env& env, const std::string& directory,
                                                      const JournalId& document_id, LogManifest* manifest);

}  // namespace sqlsync
