#include "web/slot_pool_env.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "base/checksum.h"
#include "base/encoding.h"
#include "base/path.h"

namespace sqlsync {
namespace {

constexpr uint64_t kSlotMagic = 0x4c4f4f50434e5953;  // "SYNCPOOL" little-endian
constexpr uint32_t kSlotFormatVersion = 1;
// magic, version, sequence, path length, checksum.
constexpr size_t kFixedHeaderBytes = 8 + 4 + 8 + 4 + 8;
constexpr size_t kMaxPathBytes = kSlotHeaderBytes - kFixedHeaderBytes;

struct SlotHeader {
  uint64_t sequence = 0;
  std::string path;
};

Bytes encode_header(const SlotHeader& header) {
  Bytes out;
  Encoder encoder(&out);
  encoder.u64(kSlotMagic);
  encoder.u32(kSlotFormatVersion);
  encoder.u64(header.sequence);
  encoder.bytes32(as_bytes(header.path));
  encoder.u64(checksum64(out));
  return out;
}

// nullopt for anything but a valid header: a new (empty) slot, a torn or
// foreign one. Such a slot is free.
std::optional<SlotHeader> decode_header(ByteView bytes) {
  Decoder decoder(bytes, StatusCode::kCorruption, "slot header");
  Result<uint64_t> magic = decoder.u64();
  Result<uint32_t> version = decoder.u32();
  Result<uint64_t> sequence = decoder.u64();
  Result<ByteView> path = decoder.bytes32(kMaxPathBytes);
  if (!magic.is_ok() || *magic != kSlotMagic || !version.is_ok() || *version != kSlotFormatVersion ||
      !sequence.is_ok() || !path.is_ok()) {
    return std::nullopt;
  }
  const size_t covered = decoder.position();
  Result<uint64_t> checksum = decoder.u64();
  if (!checksum.is_ok() || *checksum != checksum64(bytes.subspan(0, covered))) return std::nullopt;
  return SlotHeader{*sequence, std::string(as_text(*path))};
}

std::string slot_name(uint32_t slot) { return "pool file " + std::to_string(slot); }

}  // namespace

class SlotPoolEnv::PoolFile final : public File {
 public:
  PoolFile(SlotPoolEnv* env, uint32_t slot, std::string path, bool writable)
      : env_(env), slot_(slot), path_(std::move(path)), writable_(writable) {
    ++env_->slots_[slot_].open_files;
  }
  ~PoolFile() override { env_->release(slot_); }

  Status read_at(uint64_t offset, size_t length, Bytes& out) override {
    return context(env_->store_->read(slot_, kSlotHeaderBytes + offset, length, out), "read", offset);
  }
  Status write_at(uint64_t offset, ByteView data) override {
    if (!writable_) return Status::io_error("write " + quoted_path(path_) + ": opened read-only");
    return context(env_->store_->write(slot_, kSlotHeaderBytes + offset, data), "write", offset);
  }
  Status append(ByteView data) override {
    SQLSYNC_ASSIGN_OR_RETURN(uint64_t end, size());
    return write_at(end, data);
  }
  Status sync() override { return context(env_->flush_slot(slot_), "sync", 0); }
  Result<uint64_t> size() override {
    Result<uint64_t> size = env_->store_->size(slot_);
    if (!size.is_ok()) return context(size.status(), "size of", 0);
    return *size > kSlotHeaderBytes ? *size - kSlotHeaderBytes : 0;
  }
  Status truncate(uint64_t size) override {
    if (!writable_) return Status::io_error("truncate " + quoted_path(path_) + ": opened read-only");
    return context(env_->store_->truncate(slot_, kSlotHeaderBytes + size), "truncate", size);
  }

 private:
  Status context(const Status& status, const char* action, uint64_t offset) const {
    if (status.is_ok()) return status;
    return status.with_context(std::string(action) + " " + quoted_path(path_) + " (" + slot_name(slot_) +
                               ") at offset " + std::to_string(offset));
  }

  SlotPoolEnv* const env_;
  const uint32_t slot_;
  const std::string path_;
  const bool writable_;
};

SlotPoolEnv::SlotPoolEnv(SlotStore* store, Env* base, Options options)
    : store_(store), base_(base), options_(options) {}

SlotPoolEnv::~SlotPoolEnv() = default;

Result<std::unique_ptr<SlotPoolEnv>> SlotPoolEnv::open(SlotStore* store, Env* base, Options options) {
  std::unique_ptr<SlotPoolEnv> env(new SlotPoolEnv(store, base, options));
  SQLSYNC_RETURN_IF_ERROR(env->scan_new_slots());
  SQLSYNC_RETURN_IF_ERROR(env->resolve_duplicate_claims());
  env->request_more_if_low();
  return env;
}

Status SlotPoolEnv::scan_new_slots() {
  const uint32_t count = store_->slot_count();
  Bytes bytes;
  for (uint32_t slot = static_cast<uint32_t>(slots_.size()); slot < count; ++slot) {
    Status read = store_->read(slot, 0, kSlotHeaderBytes, bytes);
    if (!read.is_ok()) return read.with_context("read the header of " + slot_name(slot));
    Slot entry;
    if (std::optional<SlotHeader> header = decode_header(bytes)) {
      entry.sequence = header->sequence;
      entry.path = std::move(header->path);
      next_sequence_ = std::max(next_sequence_, entry.sequence + 1);
    }
    slots_.push_back(std::move(entry));
    if (slots_.back().path.empty()) continue;
    // A rename that crashed before freeing its target leaves two claims:
    // the newer one is the file.
    auto [it, inserted] = files_.emplace(slots_.back().path, slot);
    if (!inserted && slots_[it->second].sequence < slots_.back().sequence) it->second = slot;
  }
  return Status::ok();
}

Status SlotPoolEnv::resolve_duplicate_claims() {
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const std::string& path = slots_[slot].path;
    if (path.empty() || files_.at(path) == slot) continue;
    SQLSYNC_RETURN_IF_ERROR(write_header(slot, ""));
    SQLSYNC_RETURN_IF_ERROR(flush_slot(slot));
  }
  return Status::ok();
}

Status SlotPoolEnv::write_header(uint32_t slot, const std::string& path) {
  const uint64_t sequence = next_sequence_++;
  Status status = store_->write(slot, 0, encode_header(SlotHeader{sequence, path}));
  if (!status.is_ok()) {
    return status.with_context("write the header of " + slot_name(slot) + (path.empty() ? " (free)" : " for " + quoted_path(path)));
  }
  slots_[slot].path = path;
  slots_[slot].sequence = sequence;
  slots_[slot].header_dirty = true;
  return Status::ok();
}

Status SlotPoolEnv::flush_slot(uint32_t slot) {
  SQLSYNC_RETURN_IF_ERROR(store_->flush(slot));
  slots_[slot].header_dirty = false;
  return Status::ok();
}

uint32_t SlotPoolEnv::free_slots() const {
  uint32_t free = 0;
  for (const Slot& slot : slots_) free += slot.path.empty() && slot.open_files == 0 ? 1 : 0;
  return free;
}

void SlotPoolEnv::request_more_if_low() {
  if (free_slots() < options_.min_free_slots) {
    store_->request_slots(static_cast<uint32_t>(slots_.size()) + options_.growth);
  }
}

Result<uint32_t> SlotPoolEnv::claim_slot(const std::string& path) {
  if (path.size() > kMaxPathBytes) {
    return Status::invalid_argument("create " + quoted_path(path) + ": path longer than " + std::to_string(kMaxPathBytes) +
                                    " bytes");
  }
  SQLSYNC_RETURN_IF_ERROR(scan_new_slots());
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    if (!slots_[slot].path.empty() || slots_[slot].open_files > 0) continue;
    // The slot's old file must stay removed if we crash below: make its
    // "free" header durable before its data goes, and drop the data before
    // the new name appears, so a crash never shows the new name with old
    // content.
    if (slots_[slot].header_dirty) SQLSYNC_RETURN_IF_ERROR(flush_slot(slot));
    Status truncated = store_->truncate(slot, 0);
    if (!truncated.is_ok()) return truncated.with_context("create " + quoted_path(path) + " in " + slot_name(slot));
    SQLSYNC_RETURN_IF_ERROR(write_header(slot, path));
    files_[path] = slot;
    request_more_if_low();
    return slot;
  }
  store_->request_slots(static_cast<uint32_t>(slots_.size()) + options_.growth);
  return Status::io_error("create " + quoted_path(path) + ": all " + std::to_string(slots_.size()) +
                          " files of the storage pool are in use; more are being opened, retry shortly");
}

bool SlotPoolEnv::is_dir(const std::string& key) const {
  if (is_root_path(key) || dirs_.count(key) > 0) return true;
  const std::string prefix = key + "/";
  auto it = files_.lower_bound(prefix);
  return it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

void SlotPoolEnv::release(uint32_t slot) { --slots_[slot].open_files; }

Result<std::unique_ptr<File>> SlotPoolEnv::open_file(const std::string& path, OpenMode mode) {
  const std::string key = normalize_path(path);
  const std::string action = "open " + quoted_path(path);
  if (is_root_path(key) || is_dir(key)) return Status::io_error(action + ": is a directory");
  uint32_t slot = 0;
  auto it = files_.find(key);
  if (it != files_.end()) {
    slot = it->second;
    if (mode == OpenMode::kCreateTruncate) {
      Status truncated = store_->truncate(slot, kSlotHeaderBytes);
      if (!truncated.is_ok()) return truncated.with_context(action + " (" + slot_name(slot) + ")");
    }
  } else {
    if (mode == OpenMode::kRead || mode == OpenMode::kReadWrite) {
      return Status::not_found(action + ": no such file or directory");
    }
    if (!is_dir(parent_path(key))) return Status::not_found(action + ": no such directory " + quoted_path(parent_path(key)));
    SQLSYNC_ASSIGN_OR_RETURN(slot, claim_slot(key));
  }
  return std::unique_ptr<File>(new PoolFile(this, slot, key, mode != OpenMode::kRead));
}

Status SlotPoolEnv::remove_file(const std::string& path) {
  const std::string key = normalize_path(path);
  auto it = files_.find(key);
  if (it == files_.end()) {
    if (is_dir(key)) return Status::io_error("remove " + quoted_path(path) + ": is a directory");
    return Status::not_found("remove " + quoted_path(path) + ": no such file or directory");
  }
  // The data stays until the slot is claimed again: open handles may still
  // read it, and a crash before sync_dir() brings the file back whole.
  const uint32_t slot = it->second;
  SQLSYNC_RETURN_IF_ERROR(write_header(slot, "").with_context("remove " + quoted_path(path)));
  files_.erase(it);
  return Status::ok();
}

Status SlotPoolEnv::rename_file(const std::string& from, const std::string& to) {
  const std::string from_key = normalize_path(from);
  const std::string to_key = normalize_path(to);
  const std::string action = "rename " + quoted_path(from) + " to " + quoted_path(to);
  auto source = files_.find(from_key);
  if (source == files_.end()) return Status::not_found(action + ": no such file or directory");
  if (is_root_path(to_key) || is_dir(to_key)) return Status::io_error(action + ": target is a directory");
  if (!is_dir(parent_path(to_key))) return Status::not_found(action + ": no such directory " + quoted_path(parent_path(to_key)));
  if (to_key.size() > kMaxPathBytes) return Status::invalid_argument(action + ": target path too long");
  if (from_key == to_key) return Status::ok();
  const uint32_t slot = source->second;
  // The new header (higher sequence) is flushed before the target's slot is
  // freed: after a crash either the old target or the renamed file holds
  // the name, never neither.
  SQLSYNC_RETURN_IF_ERROR(write_header(slot, to_key).with_context(action));
  SQLSYNC_RETURN_IF_ERROR(flush_slot(slot).with_context(action));
  files_.erase(source);
  auto target = files_.find(to_key);
  if (target != files_.end()) {
    SQLSYNC_RETURN_IF_ERROR(write_header(target->second, "").with_context(action + ": free the old target"));
  }
  files_[to_key] = slot;
  return Status::ok();
}

Result<bool> SlotPoolEnv::file_exists(const std::string& path) {
  const std::string key = normalize_path(path);
  return files_.count(key) > 0 || is_dir(key);
}

Status SlotPoolEnv::create_dir(const std::string& path) {
  const std::string key = normalize_path(path);
  if (key.empty()) return Status::invalid_argument("create_dir: empty path");
  for (size_t end = key.find('/', 1);; end = key.find('/', end + 1)) {
    std::string prefix = key.substr(0, end);
    if (files_.count(prefix) > 0) {
      return Status::io_error("create directory " + quoted_path(prefix) + ": a file of that name exists");
    }
    dirs_.insert(std::move(prefix));
    if (end == std::string::npos) break;
  }
  return Status::ok();
}

Result<std::vector<std::string>> SlotPoolEnv::list_dir(const std::string& path) {
  const std::string key = normalize_path(path);
  if (!is_dir(key)) return Status::not_found("list directory " + quoted_path(path) + ": no such directory");
  const std::string prefix = child_prefix(key);
  std::set<std::string> names;
  auto add_child = [&](const std::string& entry) {
    if (entry.size() <= prefix.size() || entry.compare(0, prefix.size(), prefix) != 0) return false;
    const size_t slash = entry.find('/', prefix.size());
    names.insert(entry.substr(prefix.size(), slash == std::string::npos ? std::string::npos : slash - prefix.size()));
    return true;
  };
  for (auto it = files_.lower_bound(prefix); it != files_.end() && add_child(it->first); ++it) {
  }
  for (auto it = dirs_.lower_bound(prefix); it != dirs_.end() && add_child(*it); ++it) {
  }
  return std::vector<std::string>(names.begin(), names.end());
}

Status SlotPoolEnv::sync_dir(const std::string& path) {
  const std::string key = normalize_path(path);
  if (!is_dir(key)) return Status::not_found("sync directory " + quoted_path(path) + ": no such directory");
  // Headers do not record their directory once freed, so every changed
  // header is flushed: directory syncs are rare (publishing metadata,
  // creating segments) and the pool is small.
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    if (!slots_[slot].header_dirty) continue;
    SQLSYNC_RETURN_IF_ERROR(flush_slot(slot).with_context("sync directory " + quoted_path(path) + ": " + slot_name(slot)));
  }
  return Status::ok();
}

Status SlotPoolEnv::remove_dir(const std::string& path) {
  const std::string key = normalize_path(path);
  const std::string action = "remove directory " + quoted_path(path);
  if (files_.count(key) > 0) return Status::io_error(action + ": not a directory");
  if (!is_dir(key)) return Status::not_found(action + ": no such directory");
  const std::string prefix = child_prefix(key);
  auto file = files_.lower_bound(prefix);
  auto dir = dirs_.upper_bound(prefix);
  if ((file != files_.end() && file->first.compare(0, prefix.size(), prefix) == 0) ||
      (dir != dirs_.end() && dir->compare(0, prefix.size(), prefix) == 0)) {
    return Status::io_error(action + ": directory not empty");
  }
  dirs_.erase(key);
  return Status::ok();
}

uint64_t SlotPoolEnv::now_micros() { return base_->now_micros(); }

void SlotPoolEnv::random_bytes(std::span<uint8_t> out) { base_->random_bytes(out); }

}  // namespace sqlsync
