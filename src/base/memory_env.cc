#include "base/memory_env.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "base/path.h"

namespace sqlsync {
namespace {

// A file or a directory. Several names may share one node: after a rename
// whose old name is still durable, a crash brings back both.
struct Node {
  bool is_dir = false;
  Bytes content;  // what a read sees now
  Bytes synced;   // what survives a crash
};

using Namespace = std::map<std::string, std::shared_ptr<Node>>;

// The keys of `names` that are direct children of directory `dir`, sorted.
std::vector<std::string> children(const Namespace& names, const std::string& dir) {
  const std::string prefix = child_prefix(dir);
  std::vector<std::string> keys;
  for (auto it = names.lower_bound(prefix); it != names.end(); ++it) {
    const std::string& key = it->first;
    if (key.compare(0, prefix.size(), prefix) != 0) break;
    if (key.size() > prefix.size() && key.find('/', prefix.size()) == std::string::npos) keys.push_back(key);
  }
  return keys;
}

// rng() % bound: std::uniform_int_distribution differs between libstdc++
// and libc++, and crashes must replay identically natively and in wasm.
uint64_t uniform(std::mt19937_64& rng, uint64_t bound) { return rng() % bound; }

}  // namespace

struct MemoryEnv::State {
  explicit State(uint64_t seed) : random(seed) {}

  // Everything below is guarded by `mutex`.
  std::mutex mutex;
  Namespace names;    // the namespace as the process sees it
  Namespace durable;  // the namespace a crash reverts to
  uint64_t now_micros = 0;
  std::mt19937_64 random;
  // Bumped by each crash; files from an earlier generation are dead.
  uint64_t generation = 0;

  // The directory at `key`: ok, NotFound, or IOError if it is a file.
  Status check_dir(const std::string& action, const std::string& key) const {
    if (is_root_path(key)) return Status::ok();
    auto it = names.find(key);
    if (it == names.end()) return Status::not_found(action + ": no such file or directory");
    if (!it->second->is_dir) return Status::io_error(action + ": " + quoted_path(key) + " is not a directory");
    return Status::ok();
  }
};

class MemoryEnv::OpenFile final : public File {
 public:
  OpenFile(std::shared_ptr<State> state, std::shared_ptr<Node> node, std::string path, bool writable,
           uint64_t generation)
      : state_(std::move(state)),
        node_(std::move(node)),
        path_(std::move(path)),
        writable_(writable),
        generation_(generation) {}

  Status read_at(uint64_t offset, size_t length, Bytes& out) override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    SQLSYNC_RETURN_IF_ERROR(check_alive("read"));
    const Bytes& content = node_->content;
    uint64_t begin = std::min<uint64_t>(offset, content.size());
    uint64_t end = std::min<uint64_t>(content.size(), begin + length);
    out.assign(content.begin() + static_cast<ptrdiff_t>(begin), content.begin() + static_cast<ptrdiff_t>(end));
    return Status::ok();
  }

  Status write_at(uint64_t offset, ByteView data) override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    SQLSYNC_RETURN_IF_ERROR(check_writable("write"));
    write_locked(offset, data);
    return Status::ok();
  }

  Status append(ByteView data) override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    SQLSYNC_RETURN_IF_ERROR(check_writable("append"));
    write_locked(node_->content.size(), data);
    return Status::ok();
  }

  Status sync() override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    SQLSYNC_RETURN_IF_ERROR(check_alive("sync"));
    node_->synced = node_->content;
    return Status::ok();
  }

  Result<uint64_t> size() override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    SQLSYNC_RETURN_IF_ERROR(check_alive("stat"));
    return static_cast<uint64_t>(node_->content.size());
  }

  Status truncate(uint64_t size) override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    SQLSYNC_RETURN_IF_ERROR(check_writable("truncate"));
    node_->content.resize(size);
    return Status::ok();
  }

 private:
  Status check_alive(const char* action) const {
    if (generation_ != state_->generation) {
      return Status::io_error(std::string(action) + " " + quoted_path(path_) +
                              ": file was opened before a simulated crash");
    }
    return Status::ok();
  }
  Status check_writable(const char* action) const {
    SQLSYNC_RETURN_IF_ERROR(check_alive(action));
    if (!writable_) return Status::io_error(std::string(action) + " " + quoted_path(path_) + ": file is open read-only");
    return Status::ok();
  }
  void write_locked(uint64_t offset, ByteView data) {
    Bytes& content = node_->content;
    if (content.size() < offset + data.size()) content.resize(offset + data.size());
    std::copy(data.begin(), data.end(), content.begin() + static_cast<ptrdiff_t>(offset));
  }

  const std::shared_ptr<State> state_;
  const std::shared_ptr<Node> node_;
  const std::string path_;
  const bool writable_;
  const uint64_t generation_;
};

MemoryEnv::MemoryEnv(uint64_t seed) : seed_(seed), state_(std::make_shared<State>(seed)) {}

MemoryEnv::~MemoryEnv() = default;

Result<std::unique_ptr<File>> MemoryEnv::open_file(const std::string& path, OpenMode mode) {
  std::string key = normalize_path(path);
  std::string action = "open " + quoted_path(path);
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (is_root_path(key)) return Status::io_error(action + ": is a directory");
  std::shared_ptr<Node> node;
  auto it = state_->names.find(key);
  if (it != state_->names.end()) {
    node = it->second;
    if (node->is_dir) return Status::io_error(action + ": is a directory");
    if (mode == OpenMode::kCreateTruncate) node->content.clear();
  } else {
    if (mode == OpenMode::kRead || mode == OpenMode::kReadWrite) {
      return Status::not_found(action + ": no such file or directory");
    }
    SQLSYNC_RETURN_IF_ERROR(state_->check_dir(action, parent_path(key)));
    node = std::make_shared<Node>();
    state_->names.emplace(key, node);
  }
  bool writable = mode != OpenMode::kRead;
  return std::unique_ptr<File>(new OpenFile(state_, std::move(node), path, writable, state_->generation));
}

Status MemoryEnv::remove_file(const std::string& path) {
  std::string key = normalize_path(path);
  std::string action = "remove " + quoted_path(path);
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->names.find(key);
  if (is_root_path(key) || (it != state_->names.end() && it->second->is_dir)) {
    return Status::io_error(action + ": is a directory");
  }
  if (it == state_->names.end()) return Status::not_found(action + ": no such file or directory");
  state_->names.erase(it);
  return Status::ok();
}

Status MemoryEnv::rename_file(const std::string& from, const std::string& to) {
  std::string from_key = normalize_path(from);
  std::string to_key = normalize_path(to);
  std::string action = "rename " + quoted_path(from) + " to " + quoted_path(to);
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto source = state_->names.find(from_key);
  if (source == state_->names.end()) return Status::not_found(action + ": no such file or directory");
  if (source->second->is_dir) return Status::io_error(action + ": MemoryEnv renames files only");
  if (is_root_path(to_key)) return Status::io_error(action + ": target is a directory");
  SQLSYNC_RETURN_IF_ERROR(state_->check_dir(action, parent_path(to_key)));
  auto target = state_->names.find(to_key);
  if (target != state_->names.end() && target->second->is_dir) {
    return Status::io_error(action + ": target is a directory");
  }
  if (from_key == to_key) return Status::ok();
  std::shared_ptr<Node> node = source->second;
  state_->names.erase(source);
  state_->names[to_key] = std::move(node);
  return Status::ok();
}

Result<bool> MemoryEnv::file_exists(const std::string& path) {
  std::string key = normalize_path(path);
  std::lock_guard<std::mutex> lock(state_->mutex);
  return is_root_path(key) || state_->names.count(key) > 0;
}

Status MemoryEnv::create_dir(const std::string& path) {
  std::string key = normalize_path(path);
  if (key.empty()) return Status::invalid_argument("create_dir: empty path");
  std::lock_guard<std::mutex> lock(state_->mutex);
  // Each prefix ending before a '/' is a parent; the whole path comes last.
  for (size_t end = key.find('/', 1);; end = key.find('/', end + 1)) {
    std::string prefix = key.substr(0, end);
    auto it = state_->names.find(prefix);
    if (it == state_->names.end()) {
      auto dir = std::make_shared<Node>();
      dir->is_dir = true;
      state_->names.emplace(prefix, std::move(dir));
    } else if (!it->second->is_dir) {
      return Status::io_error("create directory " + quoted_path(prefix) + ": a file of that name exists");
    }
    if (end == std::string::npos) break;
  }
  return Status::ok();
}

Result<std::vector<std::string>> MemoryEnv::list_dir(const std::string& path) {
  std::string key = normalize_path(path);
  std::lock_guard<std::mutex> lock(state_->mutex);
  SQLSYNC_RETURN_IF_ERROR(state_->check_dir("list directory " + quoted_path(path), key));
  std::vector<std::string> names;
  for (const std::string& child : children(state_->names, key)) {
    names.push_back(child.substr(child.rfind('/') + 1));
  }
  return names;
}

Status MemoryEnv::sync_dir(const std::string& path) {
  std::string key = normalize_path(path);
  std::lock_guard<std::mutex> lock(state_->mutex);
  SQLSYNC_RETURN_IF_ERROR(state_->check_dir("sync directory " + quoted_path(path), key));
  for (const std::string& child : children(state_->durable, key)) state_->durable.erase(child);
  for (const std::string& child : children(state_->names, key)) state_->durable[child] = state_->names[child];
  return Status::ok();
}

Status MemoryEnv::remove_dir(const std::string& path) {
  std::string key = normalize_path(path);
  std::string action = "remove directory " + quoted_path(path);
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (is_root_path(key)) return Status::io_error(action + ": is a root");
  auto it = state_->names.find(key);
  if (it == state_->names.end()) return Status::not_found(action + ": no such file or directory");
  if (!it->second->is_dir) return Status::io_error(action + ": not a directory");
  if (!children(state_->names, key).empty()) return Status::io_error(action + ": directory not empty");
  state_->names.erase(it);
  return Status::ok();
}

uint64_t MemoryEnv::now_micros() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->now_micros;
}

void MemoryEnv::random_bytes(std::span<uint8_t> out) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  for (size_t i = 0; i < out.size(); i += 8) {
    uint64_t word = state_->random();
    for (size_t j = 0; j < 8 && i + j < out.size(); ++j) out[i + j] = static_cast<uint8_t>(word >> (8 * j));
  }
}

void MemoryEnv::advance_micros(uint64_t micros) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->now_micros += micros;
}

void MemoryEnv::set_now_micros(uint64_t micros) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->now_micros = micros;
}

void MemoryEnv::simulate_crash(CrashMode mode, uint64_t corruption_seed) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  ++state_->generation;

  // Keys sort after their parent directory (a proper prefix), so a parent's
  // fate is known before its children are visited.
  Namespace survivors;
  for (const auto& [key, node] : state_->durable) {
    std::string parent = parent_path(key);
    if (is_root_path(parent)) {
      survivors.emplace(key, node);
      continue;
    }
    auto it = survivors.find(parent);
    if (it != survivors.end() && it->second->is_dir) survivors.emplace(key, node);
  }

  std::mt19937_64 rng(corruption_seed);
  std::set<const Node*> reverted;  // a node may have two durable names
  for (const auto& [key, node] : survivors) {
    if (node->is_dir || !reverted.insert(node.get()).second) continue;
    Bytes content = node->synced;
    if (mode == CrashMode::kCorruptUnsyncedTail && node->content.size() > content.size()) {
      size_t tail_begin = content.size();
      content.insert(content.end(), node->content.begin() + static_cast<ptrdiff_t>(tail_begin),
                     node->content.end());
      // One byte of every 16-byte block of the tail is flipped, so a reader
      // that trusts un-synced bytes sees garbage wherever it looks.
      constexpr size_t kBlock = 16;
      for (size_t block = tail_begin; block < content.size(); block += kBlock) {
        size_t position = block + uniform(rng, std::min(kBlock, content.size() - block));
        content[position] ^= static_cast<uint8_t>(1 + uniform(rng, 255));
      }
    }
    node->content = std::move(content);
    node->synced = node->content;
  }
  state_->durable = survivors;
  state_->names = std::move(survivors);
}

}  // namespace sqlsync
