// Prepended to sqlsync_core.js (--pre-js): helpers the EM_JS functions of
// src/web share to hand JavaScript text and errors to C++.

// A copy of `text` in the core's heap (malloc; C++ frees it).
function sqlsync_string_to_c(text) {
  const size = lengthBytesUTF8(text) + 1;
  const pointer = _malloc(size);
  stringToUTF8(text, pointer, size);
  return pointer;
}

// What the browser threw, as "Name: message", in the core's heap.
function sqlsync_error_to_c(error) {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return sqlsync_string_to_c(text);
}
