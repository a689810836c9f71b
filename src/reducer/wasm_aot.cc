#include "reducer/wasm_aot.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wasm-rt.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/digest.h"
#include "base/encoding.h"
#include "reducer/wasm_aot_shim.h"
#include "sqlsync/env.h"

extern char** environ;

namespace sqlsync {
namespace wasm {
namespace {

// The shared library's flags; part of every cache key. Guard pages (not
// explicit bounds checks) catch out-of-bounds accesses.
const char* const kCompileFlags[] = {
    "-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-DNDEBUG", "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=1", "-w"};

// wasm_rt_memory_t::size is a u32: one page less than 4 GiB.
constexpr uint32_t kMaxPages = 65535;
// A guest address is a u32 plus a u32 offset, accessed with up to 16 bytes:
// everything it can reach lies in this reservation, and what is beyond the
// memory's size is mapped PROT_NONE, so a stray access faults.
constexpr uint64_t kReservationBytes = (uint64_t{8} << 30) + kWasmPageBytes;
// Host code (SQLite included) called from a guest needs this much of the
// thread's stack; a guest that recursed deeper traps instead of calling it.
constexpr uintptr_t kHostStackReserve = 256 << 10;
constexpr size_t kSignalStackBytes = 64 << 10;

// Cache entry trailer (docs/reducer-abi.md, "AOT backend"): magic, library
// size, cache key, SHA-256 of the library.
constexpr char kEntryMagic[8] = {'s', 'q', 'l', 'a', 'o', 't', '0', '1'};
constexpr size_t kTrailerBytes = 8 + 8 + 32 + 32;

// ---------------------------------------------------------------------------
// The runtime: traps, signals, linear memories.

// One guest call in progress on this thread; the innermost is t_frame.
struct GuestFrame {
  sigjmp_buf jump;
  GuestFrame* outer = nullptr;
  // False while the host runs an import for the guest: a fault then is the
  // host's own, not the guest's.
  bool in_guest = true;
  uint32_t trap = 0;
  std::string host_message;  // for kTrapHost and kTrapHostMemory
  uintptr_t stack_low = 0;   // this thread's stack
  uintptr_t stack_high = 0;
};

thread_local GuestFrame* t_frame = nullptr;

// Bounds of the calling thread's stack, read once per thread.
struct ThreadStack {
  ThreadStack() {
    pthread_attr_t attributes;
    if (pthread_getattr_np(pthread_self(), &attributes) != 0) return;
    void* address = nullptr;
    size_t size = 0;
    if (pthread_attr_getstack(&attributes, &address, &size) == 0) {
      low = reinterpret_cast<uintptr_t>(address);
      high = low + size;
    }
    pthread_attr_destroy(&attributes);
  }
  uintptr_t low = 0;
  uintptr_t high = 0;
};

const ThreadStack& thread_stack() {
  thread_local ThreadStack stack;
  return stack;
}

// Whether the calling thread has less than kHostStackReserve of stack left.
bool stack_nearly_exhausted() {
  const ThreadStack& stack = thread_stack();
  const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  return stack.low != 0 && here > stack.low && here - stack.low < kHostStackReserve;
}

// The alternate signal stack a stack overflow's SIGSEGV is handled on; one
// per thread that runs guests, unless the thread has one already.
class SignalStack {
 public:
  SignalStack() {
    stack_t current;
    if (sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) {
      ready_ = true;
      return;
    }
    void* memory = mmap(nullptr, kSignalStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) return;
    stack_t stack{};
    stack.ss_sp = memory;
    stack.ss_size = kSignalStackBytes;
    if (sigaltstack(&stack, nullptr) != 0) {
      munmap(memory, kSignalStackBytes);
      return;
    }
    memory_ = memory;
    ready_ = true;
  }
  ~SignalStack() {
    if (memory_ == nullptr) return;
    stack_t disable{};
    disable.ss_flags = SS_DISABLE;
    sigaltstack(&disable, nullptr);
    munmap(memory_, kSignalStackBytes);
  }
  SignalStack(const SignalStack&) = delete;
  SignalStack& operator=(const SignalStack&) = delete;

  bool ready() const { return ready_; }

 private:
  void* memory_ = nullptr;
  bool ready_ = false;
};

struct sigaction g_previous_segv;
struct sigaction g_previous_bus;

[[noreturn]] void trap_guest(uint32_t code) {
  GuestFrame* frame = t_frame;
  // wasm2c's code only traps inside a guest call.
  if (frame == nullptr) std::abort();
  frame->trap = code;
  siglongjmp(frame->jump, 1);
}

// Traps with "<what>: <strerror(error)>".
[[noreturn]] void trap_host_memory(const char* what, int error) {
  GuestFrame* frame = t_frame;
  if (frame == nullptr) std::abort();
  frame->host_message.assign(what);
  frame->host_message.append(": ");
  frame->host_message.append(std::strerror(error));
  trap_guest(kTrapHostMemory);
}

void on_fault(int signal, siginfo_t* info, void* context) {
  GuestFrame* frame = t_frame;
  if (frame != nullptr && frame->in_guest) {
    // A fault next to this thread's stack is the guest recursing past its
    // end; anything else is a guest access beyond its memory's size.
    const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
    const bool stack = address < frame->stack_high && address + (uintptr_t{1} << 20) >= frame->stack_low;
    frame->trap = stack ? WASM_RT_TRAP_EXHAUSTION : WASM_RT_TRAP_OOB;
    siglongjmp(frame->jump, 1);
  }
  // Not ours: whoever handled it before decides.
  const struct sigaction& previous = signal == SIGSEGV ? g_previous_segv : g_previous_bus;
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(signal, info, context);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(signal);
  } else {
    // Returning re-runs the faulting instruction, which now gets the default
    // action (the process dies as it would have without us).
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigaction(signal, &default_action, nullptr);
  }
}

// Installs the fault handlers once per process; "" or why not.
const std::string& install_fault_handlers() {
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_fault;
    // SA_NODEFER: the handler leaves by siglongjmp without restoring the
    // signal mask (sigsetjmp(..., 0) spares a system call per guest call), so
    // the signal must not be blocked while it runs.
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSEGV, &action, &g_previous_segv) != 0 || sigaction(SIGBUS, &action, &g_previous_bus) != 0) {
      failure = std::string("cannot install the SIGSEGV handler: ") + std::strerror(errno);
    }
  });
  return failure;
}

void host_trap(uint32_t code) { trap_guest(code); }

void allocate_memory(wasm_rt_memory_t* memory, uint32_t initial_pages, uint32_t max_pages) {
  memory->data = nullptr;
  memory->pages = 0;
  memory->size = 0;
  memory->max_pages = max_pages;
  // instrument() caps the memory far lower unless WasmLimits allow 4 GiB.
  if (initial_pages > kMaxPages) trap_host_memory("cannot map the reducer's memory", EFBIG);
  void* base = mmap(nullptr, kReservationBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) trap_host_memory("cannot reserve address space for the reducer's memory", errno);
  const uint64_t size = uint64_t{initial_pages} * kWasmPageBytes;
  if (size != 0 && mprotect(base, size, PROT_READ | PROT_WRITE) != 0) {
    const int error = errno;
    munmap(base, kReservationBytes);
    trap_host_memory("cannot map the reducer's memory", error);
  }
  memory->data = static_cast<uint8_t*>(base);
  memory->pages = initial_pages;
  memory->size = static_cast<uint32_t>(size);
}

uint32_t grow_memory(wasm_rt_memory_t* memory, uint32_t delta) {
  const uint32_t old_pages = memory->pages;
  const uint64_t new_pages = uint64_t{old_pages} + delta;
  if (new_pages > memory->max_pages || new_pages > kMaxPages) return UINT32_MAX;
  if (delta != 0 &&
      mprotect(memory->data + memory->size, uint64_t{delta} * kWasmPageBytes, PROT_READ | PROT_WRITE) != 0) {
    return UINT32_MAX;
  }
  memory->pages = static_cast<uint32_t>(new_pages);
  memory->size = static_cast<uint32_t>(new_pages * kWasmPageBytes);
  return old_pages;
}

void free_memory(wasm_rt_memory_t* memory) {
  if (memory->data != nullptr) munmap(memory->data, kReservationBytes);
  memory->data = nullptr;
  memory->pages = 0;
  memory->size = 0;
}

uint32_t call_import(void* context, uint32_t index, const uint32_t* args, uint32_t* result);

const AotHost kHost = {kShimVersion, host_trap, allocate_memory, grow_memory, free_memory, call_import};

// Runs body(argument) under `frame`: 0, or the trap code after a trap or a
// fault unwound it. Nothing here changes after sigsetjmp, so nothing is
// clobbered by the jump back.
__attribute__((noinline)) uint32_t run_guarded(GuestFrame* frame, void (*body)(void*), void* argument) {
  if (sigsetjmp(frame->jump, 0) != 0) return frame->trap;
  body(argument);
  return 0;
}

std::string trap_message(uint32_t code, GuestFrame& frame) {
  switch (code) {
    case WASM_RT_TRAP_OOB:
      return "out of bounds memory access";
    case WASM_RT_TRAP_INT_OVERFLOW:
      return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO:
      return "integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION:
      return "invalid conversion to integer";
    case WASM_RT_TRAP_UNREACHABLE:
      return "unreachable executed";
    case WASM_RT_TRAP_CALL_INDIRECT:
      return "invalid indirect call (null or out-of-range element, or signature mismatch)";
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION:
      return "uncaught exception";
    case WASM_RT_TRAP_EXHAUSTION:
      return "call stack exhausted";
    case kTrapHost:
    case kTrapHostMemory:
      return std::move(frame.host_message);
    default:
      return "unknown trap " + std::to_string(code);
  }
}

// ---------------------------------------------------------------------------
// Tools and cache.

std::atomic<uint64_t> g_compiled{0};
std::atomic<uint64_t> g_loaded_from_disk{0};
std::atomic<uint64_t> g_corrupt_entries{0};

// The absolute path of `name` on PATH, or "".
std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string directories = path != nullptr && *path != '\0' ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= directories.size()) {
    size_t end = directories.find(':', start);
    if (end == std::string::npos) end = directories.size();
    std::string directory = directories.substr(start, end - start);
    if (directory.empty()) directory = ".";
    std::string candidate = directory + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return std::string();
}

// Runs `argv` (argv[0] an absolute path) with stdin from /dev/null and
// stdout+stderr into *output (the first 64 KiB); ok only if it exits 0.
Status run_tool(const std::vector<std::string>& argv, std::string* output) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return Status::internal(std::string("cannot create a pipe for ") + argv[0] + ": " + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (spawned != 0) {
    close(pipe_fds[0]);
    return Status::internal("cannot start " + argv[0] + ": " + std::strerror(spawned));
  }
  output->clear();
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
    if (n > 0) {
      if (output->size() < (64 << 10)) output->append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::internal("cannot wait for " + argv[0] + ": " + std::strerror(errno));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::ok();
  std::string command;
  for (const std::string& arg : argv) command += (command.empty() ? "" : " ") + arg;
  const std::string reason = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                               : "signal " + std::to_string(WTERMSIG(status));
  return Status::internal(command + " failed (" + reason + "): " + output->substr(0, 2000));
}

struct Toolchain {
  std::string wasm2c;
  std::string compiler;
  // What the generated code depends on: both tools' versions and paths.
  std::string identity;
};

// The tools, found and identified once per process.
const Result<Toolchain>& toolchain() {
  static const Result<Toolchain> found = []() -> Result<Toolchain> {
    if (sizeof(void*) != 8) return Status::unsupported("AOT reducers need a 64-bit host (guard pages)");
    Toolchain tools;
    tools.wasm2c = find_on_path("wasm2c");
    tools.compiler = find_on_path("cc");
    if (tools.wasm2c.empty()) return Status::unsupported("wasm2c not found on PATH (Debian package wabt)");
    if (tools.compiler.empty()) return Status::unsupported("no C compiler (cc) on PATH");
    std::string version;
    SQLSYNC_RETURN_IF_ERROR(run_tool({tools.wasm2c, "--version"}, &version));
    tools.identity = tools.wasm2c + " " + version;
    SQLSYNC_RETURN_IF_ERROR(run_tool({tools.compiler, "--version"}, &version));
    tools.identity += tools.compiler + " " + version;
    return tools;
  }();
  return found;
}

// A loaded library; shared by the engines of one cache entry.
class Library {
 public:
  Library(void* handle, const AotModule* module) : handle_(handle), module_(module) {}
  ~Library() { dlclose(handle_); }
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  const AotModule& module() {
    std::call_once(initialized_, [this] { module_->init_module(); });
    return *module_;
  }

 private:
  void* handle_;
  const AotModule* module_;
  std::once_flag initialized_;
};

// Libraries in use, by cache entry path: an entry is dlopened once while any
// engine uses it.
std::mutex g_libraries_mutex;
std::map<std::string, std::weak_ptr<Library>> g_libraries;

std::shared_ptr<Library> find_loaded(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_libraries_mutex);
  auto found = g_libraries.find(path);
  return found == g_libraries.end() ? nullptr : found->second.lock();
}

// Verifies the cache entry at `path` for `key` and dlopens it. NotFound when
// there is no entry; Corruption when it fails verification or does not load.
Result<std::shared_ptr<Library>> load_entry(const std::string& path, const Sha256& key) {
  SQLSYNC_ASSIGN_OR_RETURN(Bytes entry, Env::posix()->read_file(path));
  if (entry.size() < kTrailerBytes) {
    return Status::corruption("AOT cache entry " + path + " is " + std::to_string(entry.size()) +
                              " bytes, shorter than its trailer");
  }
  const size_t library_size = entry.size() - kTrailerBytes;
  Decoder trailer(ByteView(entry).subspan(library_size), StatusCode::kCorruption, "AOT cache entry " + path);
  SQLSYNC_ASSIGN_OR_RETURN(ByteView magic, trailer.raw(sizeof kEntryMagic));
  if (std::memcmp(magic.data(), kEntryMagic, sizeof kEntryMagic) != 0) return trailer.error("bad magic");
  SQLSYNC_ASSIGN_OR_RETURN(uint64_t recorded_size, trailer.u64());
  if (recorded_size != library_size) {
    return trailer.error("records a " + std::to_string(recorded_size) + "-byte library, holds " +
                         std::to_string(library_size) + " bytes");
  }
  SQLSYNC_ASSIGN_OR_RETURN(ByteView recorded_key, trailer.raw(key.size()));
  if (std::memcmp(recorded_key.data(), key.data(), key.size()) != 0) return trailer.error("is for another key");
  SQLSYNC_ASSIGN_OR_RETURN(ByteView recorded_digest, trailer.raw(32));
  const Sha256 digest = sha256(ByteView(entry).first(library_size));
  if (std::memcmp(recorded_digest.data(), digest.data(), digest.size()) != 0) {
    return trailer.error("library checksum mismatch");
  }

  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return Status::corruption(std::string("cannot load AOT cache entry: ") + dlerror());
  auto bind = reinterpret_cast<AotBind>(dlsym(handle, "sqlsync_aot_bind"));
  const AotModule* module = bind != nullptr ? bind(&kHost) : nullptr;
  if (module == nullptr || module->version != kShimVersion || module->host_size != sizeof(AotHost)) {
    dlclose(handle);
    return Status::corruption("AOT cache entry " + path + " does not have shim version " +
                              std::to_string(kShimVersion));
  }
  return std::make_shared<Library>(handle, module);
}

Status write_scratch_file(const std::string& path, ByteView data) {
  SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, Env::posix()->open_file(path, OpenMode::kCreateTruncate));
  return file->append(data);
}

std::string random_hex(size_t bytes) {
  Bytes random(bytes);
  Env::posix()->random_bytes(random);
  return to_hex(random);
}

// Builds the library for `module` (wasm2c module name `name`, shim
// `shim_text`) in a scratch directory of `cache_dir` and publishes it durably
// as the entry `path`.
Status build_entry(const Toolchain& tools, const InstrumentedModule& module, const std::string& name,
                   const std::string& shim_text, const std::string& cache_dir, const std::string& path,
                   const Sha256& key) {
  Env* env = Env::posix();
  const std::string work = cache_dir + "/build-" + random_hex(8);
  SQLSYNC_RETURN_IF_ERROR(env->create_dir(work));
  const std::string wasm = work + "/module.wasm";
  const std::string source = work + "/module.c";
  const std::string shim = work + "/shim.c";
  const std::string library = work + "/module.so";
  auto build = [&]() -> Status {
    SQLSYNC_RETURN_IF_ERROR(write_scratch_file(wasm, module.binary));
    SQLSYNC_RETURN_IF_ERROR(write_scratch_file(shim, as_bytes(shim_text)));
    std::string output;
    SQLSYNC_RETURN_IF_ERROR(run_tool({tools.wasm2c, "-n", name, wasm, "-o", source}, &output));
    std::vector<std::string> compile = {tools.compiler};
    compile.insert(compile.end(), std::begin(kCompileFlags), std::end(kCompileFlags));
    compile.insert(compile.end(), {"-I" + work, source, shim, "-o", library, "-lm"});
    SQLSYNC_RETURN_IF_ERROR(run_tool(compile, &output));

    SQLSYNC_ASSIGN_OR_RETURN(Bytes entry, env->read_file(library));
    const Sha256 digest = sha256(entry);
    const uint64_t library_size = entry.size();
    Encoder trailer(&entry);
    trailer.raw(ByteView(reinterpret_cast<const uint8_t*>(kEntryMagic), sizeof kEntryMagic));
    trailer.u64(library_size);
    trailer.raw(key);
    trailer.raw(digest);
    // A name of its own, not write_file_durably's fixed "<path>.tmp": another
    // process may be publishing the same entry right now.
    const std::string temp = path + ".tmp-" + random_hex(8);
    {
      SQLSYNC_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env->open_file(temp, OpenMode::kCreateTruncate));
      SQLSYNC_RETURN_IF_ERROR(file->append(entry));
      SQLSYNC_RETURN_IF_ERROR(file->sync());
    }
    SQLSYNC_RETURN_IF_ERROR(env->rename_file(temp, path));
    return env->sync_dir(cache_dir);
  };
  Status status = build();
  // Best effort: a leftover scratch directory wastes space but harms nothing.
  Result<std::vector<std::string>> leftovers = env->list_dir(work);
  if (leftovers.is_ok()) {
    for (const std::string& file : *leftovers) (void)env->remove_file(work + "/" + file);
  }
  (void)env->remove_dir(work);
  return status;
}

// ---------------------------------------------------------------------------
// The engine.

class AotEngine final : public Engine {
 public:
  AotEngine(InstrumentedModule module, std::shared_ptr<Library> library)
      : Engine(std::move(module)), library_(std::move(library)), descriptor_(library_->module()) {
    for (uint32_t i = 0; i < descriptor_.export_count; ++i)
      exports_.emplace(descriptor_.exports[i].name, &descriptor_.exports[i]);
  }
  ~AotEngine() override { drop_instance(); }

  void set_host_functions(std::vector<HostFunction> functions) override { host_functions_ = std::move(functions); }

  std::string instantiate() override {
    drop_instance();
    const size_t words = (descriptor_.instance_size + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t);
    instance_.reset(new std::max_align_t[words == 0 ? 1 : words]());
    InstantiateCall call{descriptor_.instantiate, instance_.get(), this};
    std::string failure = guarded(&InstantiateCall::run, &call);
    if (!failure.empty()) {
      drop_instance();
      return failure;
    }
    memory_ = descriptor_.memory != nullptr ? descriptor_.memory(instance_.get()) : nullptr;
    fuel_ = descriptor_.fuel(instance_.get());
    grow_result_ = descriptor_.grow_result(instance_.get());
    return std::string();
  }

  std::string call(const std::string& name, const uint32_t* args, size_t count, uint32_t* result) override {
    auto found = exports_.find(name);
    if (!instance_ || found == exports_.end()) return "no exported function " + name;
    if (found->second->params != count) {
      return name + " takes " + std::to_string(found->second->params) + " arguments, not " + std::to_string(count);
    }
    uint32_t ignored = 0;
    ExportCall call{found->second->call, instance_.get(), args, result != nullptr ? result : &ignored};
    return guarded(&ExportCall::run, &call);
  }

  void set_fuel(uint64_t fuel) override {
    if (fuel_ != nullptr) *fuel_ = fuel;
  }
  uint64_t fuel() const override { return fuel_ != nullptr ? *fuel_ : 0; }
  bool memory_grow_failed() const override { return grow_result_ != nullptr && *grow_result_ == UINT32_MAX; }
  uint8_t* memory_data() override { return memory_ != nullptr ? memory_->data : nullptr; }
  uint64_t memory_size() const override { return memory_ != nullptr ? memory_->size : 0; }

  // The import call of the shim: runs host function `index` outside guest
  // mode; "" or the message to trap with.
  std::string run_import(uint32_t index, const uint32_t* args, uint32_t* result) {
    return host_functions_[index](args, result);
  }

 private:
  struct InstantiateCall {
    void (*instantiate)(void*, void*);
    void* instance;
    void* context;
    static void run(void* self) {
      auto* call = static_cast<InstantiateCall*>(self);
      call->instantiate(call->instance, call->context);
    }
  };
  struct ExportCall {
    void (*function)(void*, const uint32_t*, uint32_t*);
    void* instance;
    const uint32_t* args;
    uint32_t* result;
    static void run(void* self) {
      auto* call = static_cast<ExportCall*>(self);
      call->function(call->instance, call->args, call->result);
    }
  };

  // Runs body(argument) as guest code on this thread: "" or the trap message.
  std::string guarded(void (*body)(void*), void* argument) {
    thread_local SignalStack signal_stack;
    const std::string& failure = install_fault_handlers();
    if (!failure.empty()) return failure;
    if (!signal_stack.ready()) return "cannot set up a signal stack for this thread";
    if (stack_nearly_exhausted()) return "call stack exhausted";
    GuestFrame frame;
    frame.outer = t_frame;
    frame.stack_low = thread_stack().low;
    frame.stack_high = thread_stack().high;
    t_frame = &frame;
    const uint32_t trap = run_guarded(&frame, body, argument);
    t_frame = frame.outer;
    return trap == 0 ? std::string() : trap_message(trap, frame);
  }

  void drop_instance() {
    if (instance_) descriptor_.free_instance(instance_.get());
    instance_.reset();
    memory_ = nullptr;
    fuel_ = nullptr;
    grow_result_ = nullptr;
  }

  std::shared_ptr<Library> library_;
  const AotModule& descriptor_;
  std::unordered_map<std::string, const AotExport*> exports_;
  std::vector<HostFunction> host_functions_;
  std::unique_ptr<std::max_align_t[]> instance_;  // wasm2c's instance struct
  wasm_rt_memory_t* memory_ = nullptr;
  uint64_t* fuel_ = nullptr;
  uint32_t* grow_result_ = nullptr;
};

uint32_t call_import(void* context, uint32_t index, const uint32_t* args, uint32_t* result) {
  GuestFrame* frame = t_frame;
  if (stack_nearly_exhausted()) {
    frame->host_message = "call stack exhausted";
    return 1;
  }
  frame->in_guest = false;
  std::string failure = static_cast<AotEngine*>(context)->run_import(index, args, result);
  frame->in_guest = true;
  if (failure.empty()) return 0;
  frame->host_message = std::move(failure);
  return 1;
}

}  // namespace

Result<std::string> default_aot_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && *xdg == '/') return std::string(xdg) + "/sqlsync/aot";
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') return std::string(home) + "/.cache/sqlsync/aot";
  return Status::not_found("no directory for the AOT cache: set WasmLimits::aot_cache_dir, XDG_CACHE_HOME or HOME");
}

Status aot_available() { return toolchain().status(); }

Result<std::unique_ptr<Engine>> new_aot_engine(InstrumentedModule module, const AotOptions& options) {
  const Result<Toolchain>& tools = toolchain();
  if (!tools.is_ok()) return tools.status();
  std::string cache_dir = options.cache_dir;
  if (cache_dir.empty()) {
    SQLSYNC_ASSIGN_OR_RETURN(cache_dir, default_aot_cache_dir());
  }

  // The module name only has to be a C identifier unique among libraries.
  const Sha256 module_digest = sha256(module.binary);
  const std::string name = "r" + to_hex(ByteView(module_digest.data(), 8));
  SQLSYNC_ASSIGN_OR_RETURN(const std::string shim_text, shim_source(name, module));
  Bytes key_input;
  Encoder encoder(&key_input);
  encoder.raw(as_bytes(std::string_view("sqlsync-aot")));
  encoder.u32(kShimVersion);
  encoder.bytes32(as_bytes(tools->identity));
  for (const char* flag : kCompileFlags) encoder.bytes32(as_bytes(std::string_view(flag)));
  encoder.bytes32(as_bytes(shim_text));
  encoder.bytes32(module.binary);
  const Sha256 key = sha256(key_input);
  const std::string path = cache_dir + "/" + to_hex(key) + ".so";

  std::shared_ptr<Library> library = find_loaded(path);
  if (!library) {
    Result<std::shared_ptr<Library>> loaded = load_entry(path, key);
    if (loaded.is_ok()) {
      ++g_loaded_from_disk;
    } else {
      if (loaded.status().code() != StatusCode::kNotFound) ++g_corrupt_entries;
      SQLSYNC_RETURN_IF_ERROR(Env::posix()->create_dir_durably(cache_dir));
      SQLSYNC_RETURN_IF_ERROR(build_entry(*tools, module, name, shim_text, cache_dir, path, key));
      ++g_compiled;
      loaded = load_entry(path, key);
      if (!loaded.is_ok()) return Status::internal("freshly built " + loaded.status().message());
    }
    std::lock_guard<std::mutex> lock(g_libraries_mutex);
    // Another thread may have loaded the same entry meanwhile: use one copy,
    // so the module is initialized once.
    std::weak_ptr<Library>& slot = g_libraries[path];
    library = slot.lock();
    if (!library) {
      library = std::move(loaded).value();
      slot = library;
    }
  }
  return std::unique_ptr<Engine>(new AotEngine(std::move(module), std::move(library)));
}

AotCounters aot_counters() {
  AotCounters counters;
  counters.compiled = g_compiled.load();
  counters.loaded_from_disk = g_loaded_from_disk.load();
  counters.corrupt_entries = g_corrupt_entries.load();
  return counters;
}

}  // namespace wasm
}  // namespace sqlsync
