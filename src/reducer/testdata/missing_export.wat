;; ABI v1 but without sqlsync_reduce.
(module
  (memory (export "memory") 1)
  (func (export "sqlsync_abi_version") (result i32) (i32.const 1))
  (func (export "sqlsync_schema_version") (result i32) (i32.const 0))
  (func (export "sqlsync_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sqlsync_free") (param i32 i32))
  (func (export "sqlsync_migrate") (param i32 i32) (result i32) (i32.const 0)))
