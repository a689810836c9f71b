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

Signature signature_of(const wabt::FuncSignature& type) {
  Signature signature;
  for (wabt::Type param : type.param_types) signature.params += type_letter(param);
  for (wabt::Type result : type.result_types) signature.results += type_letter(result);
  return signature;
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

std::optional<ExportInfo> InstrumentedModule::find_export(const std::string& name) const {
  for (const auto& [export_name, info] : exports) {
    if (export_name == name) return info;
  }
  return std::nullopt;
}

bool instrument(const uint8_t* bytes, size_t size, uint64_t memory_bytes, uint64_t fuel_per_call,
                InstrumentedModule* module, std::string* error) {
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
  for (const char* reserved : {kFuelExport, kGrowResultExport}) {
    if (ir.GetExport(reserved) != nullptr) {
      *error = std::string("reducer exports ") + reserved + ", a name reserved for the host";
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

  auto add_exported_global = [&ir](const char* name, wabt::Type type, const wabt::Const& initial) {
    auto global = std::make_unique<wabt::GlobalModuleField>();
    global->global.type = type;
    global->global.mutable_ = true;
    global->global.init_expr.push_back(std::make_unique<wabt::ConstExpr>(initial));
    ir.AppendField(std::move(global));
    const auto index = static_cast<wabt::Index>(ir.globals.size() - 1);
    auto exported = std::make_unique<wabt::ExportModuleField>();
    exported->export_.name = name;
    exported->export_.kind = wabt::ExternalKind::Global;
    exported->export_.var = wabt::Var(index, wabt::Location());
    ir.AppendField(std::move(exported));
    return index;
  };
  // The instance starts with a full budget, which bounds the start function.
  const wabt::Index fuel = add_exported_global(kFuelExport, wabt::Type::I64, wabt::Const::I64(fuel_per_call));
  const wabt::Index grow = add_exported_global(kGrowResultExport, wabt::Type::I32, wabt::Const::I32(0));
  Instrumenter instrumenter(fuel, grow);
  for (size_t i = ir.num_func_imports; i < ir.funcs.size(); ++i) instrumenter.function_body(ir.funcs[i]->exprs);

  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions write_options(features, /*canonicalize_lebs=*/true, /*relocatable=*/false,
                                         /*write_debug_names=*/false);
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, &ir, write_options))) {
    *error = "could not re-encode the instrumented reducer module";
    return false;
  }
  module->binary = std::move(stream.output_buffer().data);
  module->imports.clear();
  for (const wabt::Import* import : ir.imports) {
    const auto* function = wabt::cast<wabt::FuncImport>(import);
    module->imports.push_back({import->module_name, import->field_name, signature_of(function->func.decl.sig)});
  }
  module->exports.clear();
  for (const wabt::Export* exported : ir.exports) {
    ExportInfo info;
    if (exported->kind == wabt::ExternalKind::Func) {
      info.kind = ExportInfo::Kind::kFunction;
      info.signature = signature_of(ir.GetFunc(exported->var)->decl.sig);
    } else if (exported->kind == wabt::ExternalKind::Memory) {
      info.kind = ExportInfo::Kind::kMemory;
    }
    module->exports.emplace_back(exported->name, std::move(info));
  }
  return true;
}

namespace {

// wabt's interpreter. Its store holds every object; the Ptr members are GC
// roots into it.
class InterpreterEngine final : public Engine {
 public:
  explicit InterpreterEngine(InstrumentedModule module) : Engine(std::move(module)) {}
  ~InterpreterEngine() override { drop_instance(); }

  // Reads the instrumented binary into the interpreter's form.
  bool load(std::string* error) {
    wabt::Errors errors;
    interp::ModuleDesc desc;
    wabt::ReadBinaryOptions options(wabt::Features(), nullptr, false, true, false);
    const std::vector<uint8_t>& binary = module().binary;
    if (wabt::Failed(interp::ReadBinaryInterp(kModuleName, binary.data(), binary.size(), options, &errors, &desc))) {
      *error = "not a WebAssembly module: " + first_error(errors);
      return false;
    }
    module_ = interp::Module::New(store_, std::move(desc));
    const std::vector<interp::ExportType>& exports = module_->export_types();
    for (size_t i = 0; i < exports.size(); ++i) {
      export_index_.emplace(exports[i].name, i);
      if (exports[i].name == kFuelExport) fuel_export_ = i;
      if (exports[i].name == kGrowResultExport) grow_export_ = i;
    }
    return true;
  }

  void set_host_functions(std::vector<HostFunction> functions) override {
    const std::vector<ImportInfo>& imported = imports();
    for (size_t i = 0; i < functions.size() && i < imported.size(); ++i) {
      const Signature& signature = *imported[i].function;
      interp::FuncType type(i32_types(signature.params.size()), i32_types(signature.results.size()));
      const bool has_result = !signature.results.empty();
      interp::HostFunc::Ptr host = interp::HostFunc::New(
          store_, type,
          [this, has_result, function = std::move(functions[i])](interp::Thread& thread, const interp::Values& params,
                                                                 interp::Values& results, interp::Trap::Ptr* out_trap) {
            uint32_t args[kMaxHostParams];
            for (size_t p = 0; p < params.size() && p < kMaxHostParams; ++p) args[p] = params[p].Get<uint32_t>();
            uint32_t result = 0;
            interp::Thread* outer = active_thread_;
            active_thread_ = &thread;
            std::string trap = function(args, &result);
            active_thread_ = outer;
            if (!trap.empty()) {
              *out_trap = interp::Trap::New(store_, trap);
              return wabt::Result::Error;
            }
            if (has_result) results[0] = interp::Value::Make(result);
            return wabt::Result::Ok;
          });
      import_refs_.push_back(host.ref());
      host_functions_.push_back(std::move(host));
    }
  }

  std::string instantiate() override {
    drop_instance();
    // A Thread that trapped would resume the failed frame: start a new one.
    thread_ = std::make_unique<interp::Thread>(store_);
    store_.Collect();
    interp::Trap::Ptr trap;
    instance_ = interp::Instance::Instantiate(store_, module_.ref(), import_refs_, &trap);
    if (!instance_) return trap ? trap->message() : std::string("instantiation failed");
    const std::vector<interp::ExportType>& exports = module_->export_types();
    export_functions_.resize(exports.size());
    for (size_t i = 0; i < exports.size(); ++i) {
      interp::Ref ref = instance_->exports()[i];
      if (exports[i].type->kind == wabt::ExternalKind::Func) {
        export_functions_[i] = store_.UnsafeGet<interp::Func>(ref);
      } else if (exports[i].type->kind == wabt::ExternalKind::Memory && exports[i].name == "memory") {
        memory_ = store_.UnsafeGet<interp::Memory>(ref);
      }
    }
    fuel_ = store_.UnsafeGet<interp::Global>(instance_->exports()[fuel_export_]);
    grow_result_ = store_.UnsafeGet<interp::Global>(instance_->exports()[grow_export_]);
    return std::string();
  }

  std::string call(const std::string& name, const uint32_t* args, size_t count, uint32_t* result) override {
    auto found = export_index_.find(name);
    if (!instance_ || found == export_index_.end() || !export_functions_[found->second]) {
      return "no exported function " + name;
    }
    const interp::Func::Ptr& function = export_functions_[found->second];
    interp::Values params;
    params.reserve(count);
    for (size_t i = 0; i < count; ++i) params.push_back(interp::Value::Make(args[i]));
    interp::Values results;
    interp::Trap::Ptr trap;
    interp::Thread& thread = active_thread_ ? *active_thread_ : *thread_;
    if (wabt::Failed(function->Call(thread, params, results, &trap))) {
      return trap ? trap->message() : std::string("unknown failure");
    }
    if (result != nullptr && !results.empty()) *result = results[0].Get<uint32_t>();
    return std::string();
  }

  void set_fuel(uint64_t fuel) override {
    if (fuel_) fuel_->UnsafeSet(interp::Value::Make(fuel));
  }
  uint64_t fuel() const override { return fuel_ ? fuel_->Get().Get<uint64_t>() : 0; }
  bool memory_grow_failed() const override {
    return grow_result_ && grow_result_->Get().Get<uint32_t>() == 0xffffffffu;
  }
  uint8_t* memory_data() override { return memory_ ? memory_->UnsafeData() : nullptr; }
  uint64_t memory_size() const override { return memory_ ? memory_->ByteSize() : 0; }

 private:
  // Host functions of the reducer ABI take at most four parameters; the
  // caller checks every import's signature against them.
  static constexpr size_t kMaxHostParams = 8;

  void drop_instance() {
    export_functions_.clear();
    memory_.reset();
    fuel_.reset();
    grow_result_.reset();
    instance_.reset();
    thread_.reset();
  }

  // Declared first so every reference into it is released before it dies.
  interp::Store store_;
  interp::Module::Ptr module_;
  std::unordered_map<std::string, size_t> export_index_;
  size_t fuel_export_ = 0;
  size_t grow_export_ = 0;
  std::vector<interp::HostFunc::Ptr> host_functions_;
  interp::RefVec import_refs_;

  // The current instance.
  std::unique_ptr<interp::Thread> thread_;
  interp::Instance::Ptr instance_;
  interp::Memory::Ptr memory_;
  interp::Global::Ptr fuel_;
  interp::Global::Ptr grow_result_;
  std::vector<interp::Func::Ptr> export_functions_;  // by export index; empty for non-functions
  // The thread of the host function running now (for re-entrant calls).
  interp::Thread* active_thread_ = nullptr;
};

}  // namespace

std::unique_ptr<Engine> new_interpreter(InstrumentedModule module, std::string* error) {
  auto engine = std::make_unique<InterpreterEngine>(std::move(module));
  if (!engine->load(error)) return nullptr;
  return engine;
}

}  // namespace wasm
}  // namespace sqlsync
