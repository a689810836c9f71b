;; Declares an ABI version this host does not support.
(module
  (memory (export "memory") 1)
  (func (export "sqlsync_abi_version") (result i32) (i32.const 2)))
