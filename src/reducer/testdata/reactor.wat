;; A reactor: _initialize must run before anything else. Its schema version
;; is set there (to 7), so a host that skips _initialize reads 0.
(module
  (memory (export "memory") 1)
  (global $schema (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $schema (i32.const 7)))
  (func (export "sqlsync_abi_version") (result i32) (i32.const 1))
  (func (export "sqlsync_schema_version") (result i32) (global.get $schema))
  (func (export "sqlsync_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sqlsync_free") (param i32 i32))
  (func (export "sqlsync_reduce") (param i32 i32) (result i32) unreachable)
  (func (export "sqlsync_migrate") (param i32 i32) (result i32) (i32.const 0)))
