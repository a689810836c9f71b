#include "reducer/wasm_aot_shim.h"

#include <optional>

namespace sqlsync {
namespace wasm {
namespace {

// wasm2c's name mangling: letters, digits and '_' stay, except 'Z', which
// like every other byte becomes 'Z' and two uppercase hex digits.
std::string mangle(const std::string& name) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out = "Z_";
  for (unsigned char c : name) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Y') || (c >= '0' && c <= '9') || c == '_';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += 'Z';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// `text` as a C string literal.
std::string c_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                       c == '-' || c == '.' || c == ' ';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      const char octal[5] = {'\\', static_cast<char>('0' + (c >> 6)), static_cast<char>('0' + ((c >> 3) & 7)),
                             static_cast<char>('0' + (c & 7)), 0};
      out += octal;
    }
  }
  return out + "\"";
}

bool all_i32(const std::string& letters) { return letters.find_first_not_of('i') == std::string::npos; }

// The part of every shim that does not depend on the module. It follows the
// #include of module.h and the definitions of SQLSYNC_TRAP_HOST and
// SQLSYNC_TRAP_HOST_MEMORY; the structs mirror AotHost, AotExport, AotModule.
constexpr const char kShimPrelude[] = R"shim(
struct sqlsync_aot_host {
  uint32_t version;
  void (*trap)(uint32_t code);
  void (*allocate_memory)(wasm_rt_memory_t*, uint32_t, uint32_t);
  uint32_t (*grow_memory)(wasm_rt_memory_t*, uint32_t);
  void (*free_memory)(wasm_rt_memory_t*);
  uint32_t (*call_import)(void*, uint32_t, const uint32_t*, uint32_t*);
};
struct sqlsync_aot_export {
  const char* name;
  uint32_t params;
  void (*call)(void*, const uint32_t*, uint32_t*);
};
struct sqlsync_aot_module {
  uint32_t version;
  uint32_t host_size;
  size_t instance_size;
  void (*init_module)(void);
  void (*instantiate)(void*, void*);
  void (*free_instance)(void*);
  wasm_rt_memory_t* (*memory)(void*);
  uint64_t* (*fuel)(void*);
  uint32_t* (*grow_result)(void*);
  uint32_t export_count;
  const struct sqlsync_aot_export* exports;
};

static const struct sqlsync_aot_host* host;

void wasm_rt_trap(wasm_rt_trap_t code) {
  host->trap((uint32_t)code);
  abort();
}

bool wasm_rt_is_initialized(void) { return true; }

/* Function types, deduplicated structurally (call_indirect compares them):
   one letter per parameter, '|', one per result. */
static char** type_keys;
static uint32_t type_count;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  char* key = malloc(params + results + 2);
  if (!key) host->trap(SQLSYNC_TRAP_HOST_MEMORY);
  va_list types;
  va_start(types, results);
  uint32_t n = 0;
  for (uint32_t i = 0; i < params + results; ++i) {
    if (i == params) key[n++] = '|';
    key[n++] = (char)('a' + va_arg(types, int));
  }
  if (results == 0) key[n++] = '|';
  key[n] = 0;
  va_end(types);
  for (uint32_t i = 0; i < type_count; ++i) {
    if (strcmp(type_keys[i], key) == 0) {
      free(key);
      return i + 1;
    }
  }
  char** keys = realloc(type_keys, (type_count + 1) * sizeof *keys);
  if (!keys) host->trap(SQLSYNC_TRAP_HOST_MEMORY);
  type_keys = keys;
  type_keys[type_count++] = key;
  return type_count;
}

__attribute__((destructor)) static void free_type_keys(void) {
  for (uint32_t i = 0; i < type_count; ++i) free(type_keys[i]);
  free(type_keys);
}

void wasm_rt_allocate_memory(wasm_rt_memory_t* m, uint32_t initial, uint32_t max) {
  host->allocate_memory(m, initial, max);
}
uint32_t wasm_rt_grow_memory(wasm_rt_memory_t* m, uint32_t delta) { return host->grow_memory(m, delta); }
void wasm_rt_free_memory(wasm_rt_memory_t* m) { host->free_memory(m); }

#define SQLSYNC_TABLE_FUNCTIONS(kind)                                                             \
  void wasm_rt_allocate_##kind##_table(wasm_rt_##kind##_table_t* t, uint32_t n, uint32_t max) {   \
    t->size = n;                                                                                  \
    t->max_size = max;                                                                            \
    t->data = n ? calloc(n, sizeof *t->data) : NULL;                                              \
    if (n && !t->data) host->trap(SQLSYNC_TRAP_HOST_MEMORY);                                      \
  }                                                                                               \
  void wasm_rt_free_##kind##_table(wasm_rt_##kind##_table_t* t) {                                 \
    free(t->data);                                                                                \
    t->data = NULL;                                                                               \
  }                                                                                               \
  uint32_t wasm_rt_grow_##kind##_table(wasm_rt_##kind##_table_t* t, uint32_t delta,               \
                                       wasm_rt_##kind##_t init) {                                 \
    uint64_t size = (uint64_t)t->size + delta;                                                    \
    if (size > t->max_size) return UINT32_MAX;                                                    \
    wasm_rt_##kind##_t* data = realloc(t->data, size ? size * sizeof *data : 1);                  \
    if (!data) return UINT32_MAX;                                                                 \
    uint32_t old = t->size;                                                                       \
    for (uint64_t i = old; i < size; ++i) data[i] = init;                                         \
    t->data = data;                                                                               \
    t->size = (uint32_t)size;                                                                     \
    return old;                                                                                   \
  }
SQLSYNC_TABLE_FUNCTIONS(funcref)
SQLSYNC_TABLE_FUNCTIONS(externref)

)shim";

}  // namespace

Result<std::string> shim_source(const std::string& module_name, const InstrumentedModule& module) {
  const std::string prefix = mangle(module_name);  // Z_<module_name>
  const std::string instance_type = prefix + "_instance_t";
  std::string import_module;
  for (const ImportInfo& import : module.imports) {
    if (!import.function || !all_i32(import.function->params) || import.function->results.size() > 1 ||
        !all_i32(import.function->results)) {
      return Status::unsupported("the AOT backend binds only imports of i32 functions, not " + import.module + "." +
                                 import.name);
    }
    if (!import_module.empty() && import_module != import.module) {
      return Status::unsupported("the AOT backend binds imports from one module only, not " + import_module + " and " +
                                 import.module);
    }
    import_module = import.module;
  }

  std::string c =
      "/* Generated by sqlsync (src/reducer/wasm_aot_shim.cc): binds module.c, wasm2c's\n"
      "   translation of a reducer, to the sqlsync host. */\n"
      "#include <stdarg.h>\n#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n"
      "#include \"module.h\"\n\n";
  c += "#define SQLSYNC_TRAP_HOST " + std::to_string(kTrapHost) + "u\n";
  c += "#define SQLSYNC_TRAP_HOST_MEMORY " + std::to_string(kTrapHostMemory) + "u\n";
  c += kShimPrelude;

  const std::string context_type = "struct " + mangle(import_module) + "_instance_t";
  for (size_t i = 0; i < module.imports.size(); ++i) {
    const ImportInfo& import = module.imports[i];
    const Signature& signature = *import.function;
    const size_t params = signature.params.size();
    c += std::string(signature.results.empty() ? "void " : "u32 ") + mangle(import.module) + mangle(import.name) + "(" +
         context_type + "* context";
    for (size_t p = 0; p < params; ++p) c += ", u32 a" + std::to_string(p);
    c += ") {\n  uint32_t args[" + std::to_string(params == 0 ? 1 : params) + "] = {";
    for (size_t p = 0; p < params; ++p) c += (p ? ", a" : "a") + std::to_string(p);
    if (params == 0) c += "0";
    c += "};\n  uint32_t result = 0;\n";
    c +=
        "  if (host->call_import(context, " + std::to_string(i) + "u, args, &result)) host->trap(SQLSYNC_TRAP_HOST);\n";
    c += signature.results.empty() ? "  (void)result;\n}\n\n" : "  return result;\n}\n\n";
  }

  std::string table;
  uint32_t exported = 0;
  for (const auto& [export_name, info] : module.exports) {
    if (info.kind != ExportInfo::Kind::kFunction) continue;
    const Signature& signature = info.signature;
    if (!all_i32(signature.params) || signature.results.size() > 1 || !all_i32(signature.results)) continue;
    const std::string function = "export_" + std::to_string(exported);
    c += "static void " + function + "(void* instance, const uint32_t* args, uint32_t* result) {\n  ";
    c += signature.results.empty() ? "(void)result;\n  " : "*result = ";
    c += prefix + mangle(export_name) + "((" + instance_type + "*)instance";
    for (size_t p = 0; p < signature.params.size(); ++p) c += ", args[" + std::to_string(p) + "]";
    c += ");\n";
    if (signature.params.empty()) c += "  (void)args;\n";
    c += "}\n";
    table += "  {" + c_string(export_name) + ", " + std::to_string(signature.params.size()) + "u, " + function + "},\n";
    ++exported;
  }
  if (exported == 0) table += "  {0, 0, 0},\n";

  const std::optional<ExportInfo> memory = module.find_export("memory");
  const bool has_memory = memory && memory->kind == ExportInfo::Kind::kMemory;
  c += "\nstatic const struct sqlsync_aot_export exports[] = {\n" + table + "};\n\n";
  c += "static void instantiate(void* instance, void* context) {\n";
  if (import_module.empty()) {
    c += "  (void)context;\n  " + prefix + "_instantiate((" + instance_type + "*)instance);\n}\n";
  } else {
    c += "  " + prefix + "_instantiate((" + instance_type + "*)instance, (" + context_type + "*)context);\n}\n";
  }
  c += "static void free_instance(void* instance) { " + prefix + "_free((" + instance_type + "*)instance); }\n";
  if (has_memory) {
    c += "static wasm_rt_memory_t* memory(void* instance) { return " + prefix + mangle("memory") + "((" +
         instance_type + "*)instance); }\n";
  }
  c += "static uint64_t* fuel(void* instance) { return " + prefix + mangle(kFuelExport) + "((" + instance_type +
       "*)instance); }\n";
  c += "static uint32_t* grow_result(void* instance) { return " + prefix + mangle(kGrowResultExport) + "((" +
       instance_type + "*)instance); }\n\n";
  c += "static const struct sqlsync_aot_module descriptor = {\n";
  c += "  " + std::to_string(kShimVersion) + "u,\n";
  c += "  sizeof(struct sqlsync_aot_host),\n";
  c += "  sizeof(" + instance_type + "),\n";
  c += "  " + prefix + "_init_module,\n";
  c += "  instantiate,\n";
  c += "  free_instance,\n";
  c += std::string("  ") + (has_memory ? "memory" : "0") + ",\n";
  c += "  fuel,\n";
  c += "  grow_result,\n";
  c += "  " + std::to_string(exported) + "u,\n";
  c += "  exports,\n";
  c += "};\n\n";
  c += "__attribute__((visibility(\"default\")))\n";
  c += "const struct sqlsync_aot_module* sqlsync_aot_bind(const struct sqlsync_aot_host* h) {\n";
  c += "  host = h;\n";
  c += "  return &descriptor;\n";
  c += "}\n";
  return c;
}

}  // namespace wasm
}  // namespace sqlsync
