#include "reducer/wasm_engine.h"

#include <wabt/binary-reader-ir.h>
#include <wabt/binary-reader.h>
#include <wabt/binary-writer.h>
#include <wabt/cast.h>
#include <wabt/error.h>
#include <wabt/interp/binary-reader-interp.h>
#include <wabt/interp/interp.h>
#include <wabt/ir.h>
#include <wabt/stream.h>
#include <wabt/validator.h>

#include <iterator>
#include <unordered_map>
#include <utility>

namespace sqlsync {
namespace wasm {
namespace {

namespace interp = wabt::interp;

constexpr uint64_t kWasmPageBytes = 65536;
constexpr const char* kModuleName = "reducer.wasm";

std::string first_error(const wabt::Errors& errors) {
  if (errors.empty()) return "unknown error";
  const wabt::Error& error = errors.front();
  return error.message + " (at byte offset " + std::to_string(error.loc.offset) + ")";
}

char type_letter(wabt::Type type) {
  switch (static_cast<wabt::Type::Enum>(type)) {
    case wabt::Type::I32:
      return 'i';
    case wabt::Type::I64:
      return 'I';
    case wabt::Type::F32:
      return 'f';
    case wabt::Type::F64:
      return 'F';
    case wabt::Type::V128:
      return 'v';
    default:
      return 'r';
  }
}

Signature signature_of(const interp::FuncType& type) {
  Signature signature;
  for (wabt::Type param : type.params) signature.params += type_letter(param);
  for (wabt::Type result : type.results) signature.results += type_letter(result);
  return signature;
}

interp::ValueTypes i32_types(size_t count) { return interp::ValueTypes(count, wabt::Type::I32); }

// Rewrites function bodies so runaway code stops: every function entry and
// loop iteration spends one unit of the fuel global and traps at zero, and a
// failed memory.grow traps after storing -1 in the grow-result global (so the
// host can tell these traps from the guest's own).
class Instrumenter {
 public:
  Instrumenter(wabt::Index fuel_global, wabt::Index grow_global) : fuel_(fuel_global), grow_(grow_global) {}

  void function_body(wabt::ExprList& body) {
    rewrite(body);
    body.splice(body.begin(), fuel_check());
  }

 private:
  void rewrite(wabt::ExprList& list) {
    for (auto it = list.begin(); it != list.end(); ++it) {
      switch (it->type()) {
        case wabt::ExprType::Block:
          rewrite(wabt::cast<wabt::BlockExpr>(&*it)->block.exprs);
          break;
        case wabt::ExprType::Loop: {
          wabt::ExprList& body = wabt::cast<wabt::LoopExpr>(&*it)->block.exprs;
          rewrite(body);
          body.splice(body.begin(), fuel_check());
          break;
        }
        case wabt::ExprType::If: {
          auto* expr = wabt::cast<wabt::IfExpr>(&*it);
          rewrite(expr->true_.exprs);
          rewrite(expr->false_);
          break;
        }
        case wabt::ExprType::Try: {
          auto* expr = wabt::cast<wabt::TryExpr>(&*it);
          rewrite(expr->block.exprs);
          for (wabt::Catch& handler : expr->catches) rewrite(handler.exprs);
          break;
        }
        case wabt::ExprType::MemoryGrow: {
          wabt::ExprList check = grow_check();
          size_t inserted = check.size();
          list.splice(std::next(it), check);
          std::advance(it, inserted);
          break;
        }
        default:
          break;
      }
    }
  }

  // if (fuel == 0) unreachable; fuel -= 1
  wabt::ExprList fuel_check() const {
    wabt::ExprList list;
    list.push_back(std::make_unique<wabt::GlobalGetExpr>(var(fuel_)));
    list.push_back(std::make_unique<wabt::ConvertExpr>(wabt::Opcode::I64Eqz));
    list.push_back(trap_if());
    list.push_back(std::make_unique<wabt::GlobalGetExpr>(var(fuel_)));
    list.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I64(1)));
    list.push_back(std::make_unique<wabt::BinaryExpr>(wabt::Opcode::I64Sub));
    list.push_back(std::make_unique<wabt::GlobalSetExpr>(var(fuel_)));
    return list;
  }

  // After memory.grow: grow = result; if (grow == -1) unreachable; push grow
  wabt::ExprList grow_check() const {
    wabt::ExprList list;
    list.push_back(std::make_unique<wabt::GlobalSetExpr>(var(grow_)));
    list.push_back(std::make_unique<wabt::GlobalGetExpr>(var(grow_)));
    list.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I32(0xffffffffu)));
    list.push_back(std::make_unique<wabt::CompareExpr>(wabt::Opcode::I32Eq));
    list.push_back(trap_if());
    list.push_back(std::make_unique<wabt::GlobalGetExpr>(var(grow_)));
    return list;
  }

  static std::unique_ptr<wabt::IfExpr> trap_if() {
    auto expr = std::make_unique<wabt::IfExpr>();
    expr->true_.exprs.push_back(std::make_unique<wabt::UnreachableExpr>());
    return expr;
  }

  static wabt::Var var(wabt::Index index) { return wabt::Var(index, wabt::Location()); }

  wabt::Index fuel_;
  wabt::Index grow_;
};

// The module rewritten by compile(), and where its added globals are.
struct Prepared {
  std::vector<uint8_t> binary;
  wabt::Index fuel_global = 0;
  wabt::Index grow_global = 0;
};

bool prepare(const uint8_t* bytes, size_t size, uint64_t memory_bytes, uint64_t fuel_per_call, Prepared* prepared,
             std::string* error) {
  wabt::Features features;
  wabt::Errors errors;
  wabt::Module ir;
  wabt::ReadBinaryOptions read_options(features, nullptr, /*read_debug_names=*/false,
                                       /*stop_on_first_error=*/true, /*fail_on_custom_section_error=*/false);
  if (wabt::Failed(wabt::ReadBinaryIr(kModuleName, bytes, size, read_options, &errors, &ir)) ||
      wabt::Failed(wabt::ValidateModule(&ir, &errors, wabt::ValidateOptions(features)))) {
    *error = "not a WebAssembly module: " + first_error(errors);
    return false;
  }
  for (const wabt::Import* import : ir.imports) {
    if (import->kind() != wabt::ExternalKind::Func) {
      *error = "reducer imports " + import->module_name + "." + import->field_name + " (a " +
               wabt::GetKindName(import->kind()) + "), which this host does not provide: see docs/reducer-abi.md";
      return false;
    }
  }
  if (ir.memories.size() != 1) {
    *error = "reducer must define exactly one memory, it has " + std::to_string(ir.memories.size());
    return false;
  }
  wabt::Limits& memory = ir.memories[0]->page_limits;
  if (memory.is_64 || memory.is_shared) {
    *error = "reducer memory must be a 32-bit, unshared memory";
    return false;
  }
  const uint64_t cap_pages = memory_bytes / kWasmPageBytes;
  if (memory.initial > cap_pages) {
    *error = "reducer memory starts at " + std::to_string(memory.initial * kWasmPageBytes) +
             " bytes, over the limit of " + std::to_string(memory_bytes) + " bytes";
    return false;
  }
  if (!memory.has_max || memory.max > cap_pages) {
    memory.max = cap_pages;
    memory.has_max = true;
  }

  auto add_global = [&ir](wabt::Type type, const wabt::Const& initial) {
    auto field = std::make_unique<wabt::GlobalModuleField>();
    field->global.type = type;
    field->global.mutable_ = true;
    field->global.init_expr.push_back(std::make_unique<wabt::ConstExpr>(initial));
    ir.AppendField(std::move(field));
    return static_cast<wabt::Index>(ir.globals.size() - 1);
  };
  // The instance starts with a full budget, which bounds the start function.
  prepared->fuel_global = add_global(wabt::Type::I64, wabt::Const::I64(fuel_per_call));
  prepared->grow_global = add_global(wabt::Type::I32, wabt::Const::I32(0));
  Instrumenter instrumenter(prepared->fuel_global, prepared->grow_global);
  for (size_t i = ir.num_func_imports; i < ir.funcs.size(); ++i) instrumenter.function_body(ir.funcs[i]->exprs);

  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions write_options(features, /*canonicalize_lebs=*/true, /*relocatable=*/false,
                                         /*write_debug_names=*/false);
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, &ir, write_options))) {
    *error = "could not re-encode the instrumented reducer module";
    return false;
  }
  prepared->binary = std::move(stream.output_buffer().data);
  return true;
}

}  // namespace

std::string describe(const Signature& signature) {
  auto list = [](const std::string& letters) {
    std::string text = "(";
    for (size_t i = 0; i < letters.size(); ++i) {
      if (i) text += ", ";
      switch (letters[i]) {
        case 'i': text += "i32"; break;
        case 'I': text += "i64"; break;
        case 'f': text += "f32"; break;
        case 'F': text += "f64"; break;
        case 'v': text += "v128"; break;
        default: text += "ref"; break;
      }
    }
    return text + ")";
  };
  return list(signature.params) + " -> " + list(signature.results);
}

struct Engine::Impl {
  // Declared first so every reference into it is released before it dies.
  interp::Store store;
  interp::Module::Ptr module;
  wabt::Index fuel_global = 0;
  wabt::Index grow_global = 0;
  std::vector<ImportInfo> imports;
  std::unordered_map<std::string, size_t> export_index;
  std::vector<interp::HostFunc::Ptr> host_functions;
  interp::RefVec import_refs;

  // The current instance.
  std::unique_ptr<interp::Thread> thread;
  interp::Instance::Ptr instance;
  interp::Memory::Ptr memory;
  interp::Global::Ptr fuel;
  interp::Global::Ptr grow_result;
  std::vector<interp::Func::Ptr> export_functions;  // by export index; empty for non-functions
  // The thread of the host function running now (for re-entrant calls).
  interp::Thread* active_thread = nullptr;

  void drop_instance() {
    export_functions.clear();
    memory.reset();
    fuel.reset();
    grow_result.reset();
    instance.reset();
    thread.reset();
  }
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  if (impl_) impl_->drop_instance();
}

std::unique_ptr<Engine> Engine::compile(const uint8_t* bytes, size_t size, uint64_t memory_bytes,
                                        uint64_t fuel_per_call, std::string* error) {
  Prepared prepared;
  if (!prepare(bytes, size, memory_bytes, fuel_per_call, &prepared, error)) return nullptr;
  auto impl = std::make_unique<Impl>();
  wabt::Errors errors;
  interp::ModuleDesc desc;
  wabt::ReadBinaryOptions options(wabt::Features(), nullptr, false, true, false);
  if (wabt::Failed(interp::ReadBinaryInterp(kModuleName, prepared.binary.data(), prepared.binary.size(), options,
                                            &errors, &desc))) {
    *error = "not a WebAssembly module: " + first_error(errors);
    return nullptr;
  }
  impl->module = interp::Module::New(impl->store, std::move(desc));
  impl->fuel_global = prepared.fuel_global;
  impl->grow_global = prepared.grow_global;
  for (const interp::ImportType& import : impl->module->import_types()) {
    ImportInfo info{import.module, import.name, std::nullopt};
    if (import.type->kind == wabt::ExternalKind::Func) {
      info.function = signature_of(*wabt::cast<interp::FuncType>(import.type.get()));
    }
    impl->imports.push_back(std::move(info));
  }
  const std::vector<interp::ExportType>& exports = impl->module->export_types();
  for (size_t i = 0; i < exports.size(); ++i) impl->export_index.emplace(exports[i].name, i);
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

const std::vector<ImportInfo>& Engine::imports() const { return impl_->imports; }

std::optional<ExportInfo> Engine::find_export(const std::string& name) const {
  auto found = impl_->export_index.find(name);
  if (found == impl_->export_index.end()) return std::nullopt;
  const interp::ExportType& exported = impl_->module->export_types()[found->second];
  ExportInfo info;
  if (exported.type->kind == wabt::ExternalKind::Func) {
    info.kind = ExportInfo::Kind::kFunction;
    info.signature = signature_of(*wabt::cast<interp::FuncType>(exported.type.get()));
  } else if (exported.type->kind == wabt::ExternalKind::Memory) {
    info.kind = ExportInfo::Kind::kMemory;
  }
  return info;
}

void Engine::set_host_functions(std::vector<HostFunction> functions) {
  Impl& impl = *impl_;
  for (size_t i = 0; i < functions.size() && i < impl.imports.size(); ++i) {
    const Signature& signature = *impl.imports[i].function;
    interp::FuncType type(i32_types(signature.params.size()), i32_types(signature.results.size()));
    const bool has_result = !signature.results.empty();
    interp::HostFunc::Ptr host = interp::HostFunc::New(
        impl.store, type,
        [&impl, has_result, function = std::move(functions[i])](interp::Thread& thread, const interp::Values& params,
                                                                  interp::Values& results,
                                                                  interp::Trap::Ptr* out_trap) {
          std::vector<uint32_t> args;
          args.reserve(params.size());
          for (const interp::Value& param : params) args.push_back(param.Get<uint32_t>());
          uint32_t result = 0;
          interp::Thread* outer = impl.active_thread;
          impl.active_thread = &thread;
          std::string trap = function(args, &result);
          impl.active_thread = outer;
          if (!trap.empty()) {
            *out_trap = interp::Trap::New(impl.store, trap);
            return wabt::Result::Error;
          }
          if (has_result) results[0] = interp::Value::Make(result);
          return wabt::Result::Ok;
        });
    impl.import_refs.push_back(host.ref());
    impl.host_functions.push_back(std::move(host));
  }
}

std::string Engine::instantiate() {
  Impl& impl = *impl_;
  impl.drop_instance();
  // A Thread that trapped would resume the failed frame: start a new one.
  impl.thread = std::make_unique<interp::Thread>(impl.store);
  impl.store.Collect();
  interp::Trap::Ptr trap;
  impl.instance = interp::Instance::Instantiate(impl.store, impl.module.ref(), impl.import_refs, &trap);
  if (!impl.instance) return trap ? trap->message() : std::string("instantiation failed");
  impl.fuel = impl.store.UnsafeGet<interp::Global>(impl.instance->globals()[impl.fuel_global]);
  impl.grow_result = impl.store.UnsafeGet<interp::Global>(impl.instance->globals()[impl.grow_global]);
  const std::vector<interp::ExportType>& exports = impl.module->export_types();
  impl.export_functions.resize(exports.size());
  for (size_t i = 0; i < exports.size(); ++i) {
    interp::Ref ref = impl.instance->exports()[i];
    if (exports[i].type->kind == wabt::ExternalKind::Func) {
      impl.export_functions[i] = impl.store.UnsafeGet<interp::Func>(ref);
    } else if (exports[i].type->kind == wabt::ExternalKind::Memory && exports[i].name == "memory") {
      impl.memory = impl.store.UnsafeGet<interp::Memory>(ref);
    }
  }
  return std::string();
}

std::string Engine::call(const std::string& name, const std::vector<uint32_t>& args, uint32_t* result) {
  Impl& impl = *impl_;
  auto found = impl.export_index.find(name);
  if (!impl.instance || found == impl.export_index.end() || !impl.export_functions[found->second]) {
    return "no exported function " + name;
  }
  const interp::Func::Ptr& function = impl.export_functions[found->second];
  interp::Values params;
  params.reserve(args.size());
  for (uint32_t arg : args) params.push_back(interp::Value::Make(arg));
  interp::Values results;
  interp::Trap::Ptr trap;
  interp::Thread& thread = impl.active_thread ? *impl.active_thread : *impl.thread;
  if (wabt::Failed(function->Call(thread, params, results, &trap))) {
    return trap ? trap->message() : std::string("unknown failure");
  }
  if (result != nullptr && !results.empty()) *result = results[0].Get<uint32_t>();
  return std::string();
}

void Engine::set_fuel(uint64_t fuel) { impl_->fuel->UnsafeSet(interp::Value::Make(fuel)); }

uint64_t Engine::fuel() const { return impl_->fuel->Get().Get<uint64_t>(); }

bool Engine::memory_grow_failed() const { return impl_->grow_result->Get().Get<uint32_t>() == 0xffffffffu; }

uint8_t* Engine::memory_data() { return impl_->memory ? impl_->memory->UnsafeData() : nullptr; }

uint64_t Engine::memory_size() const { return impl_->memory ? impl_->memory->ByteSize() : 0; }

}  // namespace wasm
}  // namespace sqlsync
