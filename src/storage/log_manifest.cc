#include "storage/log_manifest.h"

#include <algorithm>

#include "base/checksum.h"
#include "base/encoding.h"
#include "storage/file_journal.h"

namespace sqlsync {
namespace {

constexpr const char* kManifestName = "/LOGS";
constexpr const char* kLogsDirectory = "/logs";

bool listed(const LogManifest& manifest, const JournalId& log) {
  return manifest.current == log ||
         std::find(manifest.retained.begin(), manifest.retained.end(), log) != manifest.retained.end();
}

}  // namespace

std::string log_directory(const std::string& directory, const JournalId& document_id, const JournalId& log) {
  if (log == document_id) return directory + "/storage";
  return directory + kLogsDirectory + "/" + log.to_hex();
}

Result<LogManifest> read_log_manifest(Env& env, const std::string& directory, const JournalId& document_id) {
  const std::string path = directory + kManifestName;
  SQLSYNC_ASSIGN_OR_RETURN(bool exists, env.file_exists(path));
  if (!exists) return LogManifest{document_id, {}};
  SQLSYNC_ASSIGN_OR_RETURN(Bytes bytes, env.read_file(path));
  Decoder decoder(bytes, StatusCode::kCorruption, "log manifest " + path);
  if (bytes.size() < 8) return decoder.error("too short (" + std::to_string(bytes.size()) + " bytes)");
  Decoder trailer(ByteView(bytes).last(8), StatusCode::kCorruption, "log manifest " + path);
  SQLSYNC_ASSIGN_OR_RETURN(uint64_t stored, trailer.u64());
  if (stored != checksum64(ByteView(bytes).first(bytes.size() - 8))) return decoder.error("checksum mismatch");
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t magic, decoder.u32());
  if (magic != kLogManifestMagic) return decoder.error("bad magic");
  SQLSYNC_ASSIGN_OR_RETURN(uint8_t version, decoder.u8());
  if (version != kLogManifestVersion) {
    return Status::unsupported("log manifest " + path + " has version " + std::to_string(version) +
                               "; this build reads version " + std::to_string(kLogManifestVersion));
  }
  LogManifest manifest;
  SQLSYNC_ASSIGN_OR_RETURN(manifest.current, decoder.journal_id());
  SQLSYNC_ASSIGN_OR_RETURN(uint32_t count, decoder.u32());
  if (uint64_t{count} * JournalId::kSize + 8 != decoder.remaining()) {
    return decoder.error("size does not match " + std::to_string(count) + " retained logs");
  }
  for (uint32_t i = 0; i < count; ++i) {
    SQLSYNC_ASSIGN_OR_RETURN(JournalId log, decoder.journal_id());
    manifest.retained.push_back(log);
  }
  return manifest;
}

Status publish_log_manifest(Env& env, const std::string& directory, const LogManifest& manifest) {
  Bytes out;
  Encoder encoder(&out);
  encoder.u32(kLogManifestMagic);
  encoder.u8(kLogManifestVersion);
  encoder.journal_id(manifest.current);
  encoder.u32(static_cast<uint32_t>(manifest.retained.size()));
  for (const JournalId& log : manifest.retained) encoder.journal_id(log);
  encoder.u64(checksum64(out));
  return env.write_file_durably(directory + kManifestName, out);
}

Status remove_unlisted_logs(Env& env, const std::string& directory, const JournalId& document_id,
                            const LogManifest& manifest) {
  if (!listed(manifest, document_id)) {
    SQLSYNC_RETURN_IF_ERROR(FileJournal::remove(&env, log_directory(directory, document_id, document_id)));
  }
  const std::string logs = directory + kLogsDirectory;
  SQLSYNC_ASSIGN_OR_RETURN(bool exists, env.file_exists(logs));
  if (!exists) return Status::ok();
  SQLSYNC_ASSIGN_OR_RETURN(std::vector<std::string> names, env.list_dir(logs));
  for (const std::string& name : names) {
    Result<JournalId> log = JournalId::from_hex(name);
    if (log.is_ok() && listed(manifest, *log)) continue;
    SQLSYNC_RETURN_IF_ERROR(FileJournal::remove(&env, logs + "/" + name));
  }
  return Status::ok();
}

Result<std::unique_ptr<FileJournal>> open_current_log(Env& env, const std::string& directory,
                                                      const JournalId& document_id, LogManifest* manifest) {
  SQLSYNC_RETURN_IF_ERROR(env.create_dir_durably(directory));
  SQLSYNC_ASSIGN_OR_RETURN(*manifest, read_log_manifest(env, directory, document_id));
  SQLSYNC_RETURN_IF_ERROR(remove_unlisted_logs(env, directory, document_id, *manifest));
  return FileJournal::open(&env, log_directory(directory, document_id, manifest->current), manifest->current);
}

}  // namespace sqlsync
