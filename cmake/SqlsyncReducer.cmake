# sqlsync_add_wasm_reducer(<target> SOURCES <file>... [OUTPUT <name>.wasm])
#
# Compiles C++ reducer sources against the guest SDK (sdk/include,
# docs/guest-sdk.md) into a WASM reactor module <name>.wasm (default
# <target>.wasm) in the current binary directory, and adds the custom target
# <target> that builds it. The module's path is the target's property
# SQLSYNC_WASM_FILE, e.g. $<TARGET_PROPERTY:<target>,SQLSYNC_WASM_FILE>.
#
# The compiler is clang++-14 with the Debian wasm32-wasi sysroot
# (scripts/setup.sh installs it); it is independent of the project's own
# compiler, so this works in native and emscripten builds alike. Each source
# is compiled to its own object with a depfile, so editing an included header
# rebuilds the module.
#
# No -Wl,--export-dynamic: the module exports only what the SDK marks with
# export_name, and neither libc++ nor WASI imports get dragged in.

find_program(SQLSYNC_WASM_CXX NAMES clang++-14
  DOC "clang++ able to target wasm32-wasi (reducer modules)")

# -mbulk-memory turns memcpy/memset into memory.copy/memory.fill, which the
# host's interpreter runs natively instead of as byte loops (the host enables
# bulk memory, docs/reducer-abi.md).
set(SQLSYNC_WASM_FLAGS
  --target=wasm32-wasi -std=c++20 -O2 -mbulk-memory -fno-exceptions -fno-rtti
  -Wall -Wextra -Werror)

function(sqlsync_add_wasm_reducer target)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "OUTPUT" "SOURCES")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "sqlsync_add_wasm_reducer(${target}): unexpected arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "sqlsync_add_wasm_reducer(${target}): SOURCES is required")
  endif()
  if(NOT SQLSYNC_WASM_CXX)
    message(FATAL_ERROR "sqlsync_add_wasm_reducer(${target}): clang++-14 not found; run scripts/setup.sh")
  endif()
  if(NOT ARG_OUTPUT)
    set(ARG_OUTPUT ${target}.wasm)
  endif()
  set(output ${CMAKE_CURRENT_BINARY_DIR}/${ARG_OUTPUT})
  set(object_dir ${CMAKE_CURRENT_BINARY_DIR}/${target}.dir)

  set(objects)
  foreach(source IN LISTS ARG_SOURCES)
    cmake_path(ABSOLUTE_PATH source BASE_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR} OUTPUT_VARIABLE source_path)
    cmake_path(GET source FILENAME source_name)
    set(object ${object_dir}/${source_name}.o)
    add_custom_command(
      OUTPUT ${object}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${object_dir}
      COMMAND ${SQLSYNC_WASM_CXX} ${SQLSYNC_WASM_FLAGS}
              -I${PROJECT_SOURCE_DIR}/sdk/include
              -MD -MF ${object}.d -c ${source_path} -o ${object}
      DEPENDS ${source_path}
      DEPFILE ${object}.d
      COMMENT "Compiling WASM reducer source ${source_name}"
      VERBATIM)
    list(APPEND objects ${object})
  endforeach()

  add_custom_command(
    OUTPUT ${output}
    COMMAND ${SQLSYNC_WASM_CXX} --target=wasm32-wasi -mexec-model=reactor
            -Wl,--strip-all ${objects} -o ${output}
    DEPENDS ${objects}
    COMMENT "Linking WASM reducer ${ARG_OUTPUT}"
    VERBATIM)
  add_custom_target(${target} ALL DEPENDS ${output})
  set_target_properties(${target} PROPERTIES SQLSYNC_WASM_FILE ${output})
endfunction()
