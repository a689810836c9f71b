;; A valid ABI v1 reducer that uses a SIMD instruction, which wasm2c 1.0.32
;; cannot translate: the AOT backend fails on it, the interpreter runs it.
(module
  (memory (export "memory") 1)
  (func (export "sqlsync_abi_version") (result i32) (i32x4.extract_lane 0 (i32x4.splat (i32.const 1))))
  (func (export "sqlsync_schema_version") (result i32) (i32.const 3))
  (func (export "sqlsync_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sqlsync_free") (param i32 i32))
  (func (export "sqlsync_reduce") (param i32 i32) (result i32) unreachable)
  (func (export "sqlsync_migrate") (param i32 i32) (result i32) (i32.const 0)))
