;; Imports a WASI function the host does not provide.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "sqlsync_abi_version") (result i32) (i32.const 1)))
