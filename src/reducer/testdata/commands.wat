;; A test reducer (ABI v1, schema version 1) driven by its mutations: the first
;; byte is a command, the rest its argument.
;;   i<text>  insert <text> into t; rejects with the SQL error if that fails
;;   r<text>  insert <text>, then reject with message <text> (undone)
;;   s        insert into a missing table; rejects with the SQL error
;;   q        query the newest row of t and insert its value again
;;   g        log "hello from wasm" at level 1
;;   n        nothing (accepted)
;;   t        trap (unreachable)
;;   l        loop forever
;;   m        grow memory until it fails
;;   p        pass an out-of-bounds SQL pointer to execute
;;   k        call mutation_begin twice
;;   u        insert into __sqlsync_timelines; rejects with the SQL error
;;   o        load from an address far past the memory (out-of-bounds trap)
;;   d        recurse without end (call stack exhaustion)
;; migrate creates table t (and fails the second time: it already exists).
;; Memory: a bump allocator whose heap resets when every buffer is freed.
(module
  (import "sqlsync" "execute" (func $execute (param i32 i32 i32 i32) (result i32)))
  (import "sqlsync" "query" (func $query (param i32 i32 i32 i32) (result i32)))
  (import "sqlsync" "mutation_begin" (func $begin (result i32)))
  (import "sqlsync" "mutation_end" (func $end (param i32) (result i32)))
  (import "sqlsync" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (global $live (mut i32) (i32.const 0))
  (data (i32.const 16) "INSERT INTO t(v) VALUES (?1)")
  (data (i32.const 64) "INSERT INTO missing_table(v) VALUES (1)")
  (data (i32.const 128) "SELECT v FROM t ORDER BY rowid DESC LIMIT 1")
  (data (i32.const 192) "CREATE TABLE t(v TEXT)")
  (data (i32.const 240) "hello from wasm")
  (data (i32.const 256) "INSERT INTO __sqlsync_timelines(id, lsn) VALUES (x'00', 1)")

  (func (export "sqlsync_abi_version") (result i32) (i32.const 1))
  (func (export "sqlsync_schema_version") (result i32) (i32.const 1))

  (func $alloc (export "sqlsync_alloc") (param $size i32) (result i32)
    (local $ptr i32) (local $end i32)
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.and (i32.add (i32.add (local.get $ptr) (local.get $size)) (i32.const 7))
                             (i32.const -8)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (memory.grow (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535))
                                                     (i32.const 16))
                                          (memory.size)))
                    (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (global.set $live (i32.add (global.get $live) (i32.const 1)))
    (local.get $ptr))

  (func $free (export "sqlsync_free") (param i32 i32)
    (global.set $live (i32.sub (global.get $live) (i32.const 1)))
    (if (i32.eqz (global.get $live)) (then (global.set $heap (i32.const 1024)))))

  ;; Recurses forever. The store after the call keeps it from being a tail call
  ;; a C compiler could turn into a loop.
  (func $deep (param $n i32) (result i32)
    (local $r i32)
    (local.set $r (call $deep (i32.add (local.get $n) (i32.const 1))))
    (i32.store (i32.const 0) (local.get $r))
    (local.get $r))

  ;; Inserts the text [ptr, ptr + len) into t; returns the execute result.
  (func $insert (param $ptr i32) (param $len i32) (result i32)
    (local $params i32) (local $result i32)
    (local.set $params (call $alloc (i32.add (local.get $len) (i32.const 9))))
    (i32.store (local.get $params) (i32.const 1))
    (i32.store8 offset=4 (local.get $params) (i32.const 3))
    (i32.store offset=5 (local.get $params) (local.get $len))
    (memory.copy (i32.add (local.get $params) (i32.const 9)) (local.get $ptr) (local.get $len))
    (local.set $result (call $execute (i32.const 16) (i32.const 28)
                                      (local.get $params) (i32.add (local.get $len) (i32.const 9))))
    (call $free (local.get $params) (i32.add (local.get $len) (i32.const 9)))
    (local.get $result))

  (func (export "sqlsync_reduce") (param $batch i32) (param $batch_len i32) (result i32)
    (local $count i32) (local $i i32) (local $p i32) (local $m i32) (local $mlen i32)
    (local $cmd i32) (local $out i32) (local $w i32) (local $result i32) (local $keep i32)
    (local $msg i32) (local $msglen i32) (local $q i32)
    (local.set $count (i32.load offset=4 (local.get $batch)))
    (local.set $p (i32.add (local.get $batch) (i32.const 8)))
    ;; Verdicts: u32 length, u32 count, count x (u8, u32, <= 256 message bytes).
    (local.set $out (call $alloc (i32.add (i32.const 8) (i32.mul (local.get $count) (i32.const 261)))))
    (i32.store offset=4 (local.get $out) (local.get $count))
    (local.set $w (i32.add (local.get $out) (i32.const 8)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $mlen (i32.load (local.get $p)))
        (local.set $m (i32.add (local.get $p) (i32.const 4)))
        (local.set $p (i32.add (local.get $m) (local.get $mlen)))
        (drop (call $begin))
        (local.set $keep (i32.const 1))
        (local.set $msglen (i32.const 0))
        (local.set $result (i32.const 0))
        (local.set $cmd (i32.load8_u (local.get $m)))
        (block $command
          (if (i32.eq (local.get $cmd) (i32.const 105)) ;; i
            (then
              (local.set $result (call $insert (i32.add (local.get $m) (i32.const 1))
                                               (i32.sub (local.get $mlen) (i32.const 1))))
              (br $command)))
          (if (i32.eq (local.get $cmd) (i32.const 114)) ;; r
            (then
              (local.set $result (call $insert (i32.add (local.get $m) (i32.const 1))
                                               (i32.sub (local.get $mlen) (i32.const 1))))
              (call $free (local.get $result) (i32.const 0))
              (local.set $result (i32.const 0))
              (local.set $keep (i32.const 0))
              (local.set $msg (i32.add (local.get $m) (i32.const 1)))
              (local.set $msglen (i32.sub (local.get $mlen) (i32.const 1)))
              (br $command)))
          (if (i32.eq (local.get $cmd) (i32.const 115)) ;; s
            (then
              (local.set $result (call $execute (i32.const 64) (i32.const 39) (i32.const 0) (i32.const 0)))
              (br $command)))
          (if (i32.eq (local.get $cmd) (i32.const 113)) ;; q
            (then
              (local.set $q (call $query (i32.const 128) (i32.const 43) (i32.const 0) (i32.const 0)))
              ;; One row, one column "v": the row count (1) at +14 doubles as the
              ;; params count, followed by the text value.
              (local.set $result (call $execute (i32.const 16) (i32.const 28)
                                                (i32.add (local.get $q) (i32.const 14))
                                                (i32.add (i32.const 9) (i32.load offset=19 (local.get $q)))))
              (call $free (local.get $q) (i32.const 0))
              (br $command)))
          (if (i32.eq (local.get $cmd) (i32.const 103)) ;; g
            (then (call $log (i32.const 1) (i32.const 240) (i32.const 15)) (br $command)))
          (if (i32.eq (local.get $cmd) (i32.const 110)) ;; n
            (then (br $command)))
          (if (i32.eq (local.get $cmd) (i32.const 116)) ;; t
            (then unreachable))
          (if (i32.eq (local.get $cmd) (i32.const 108)) ;; l
            (then (loop $forever (br $forever))))
          (if (i32.eq (local.get $cmd) (i32.const 109)) ;; m
            (then (loop $grow (drop (memory.grow (i32.const 16))) (br $grow))))
          (if (i32.eq (local.get $cmd) (i32.const 112)) ;; p
            (then (drop (call $execute (i32.const -256) (i32.const 1000) (i32.const 0) (i32.const 0)))
                  (br $command)))
          (if (i32.eq (local.get $cmd) (i32.const 107)) ;; k
            (then (drop (call $begin)) (br $command)))
          (if (i32.eq (local.get $cmd) (i32.const 117)) ;; u
            (then
              (local.set $result (call $execute (i32.const 256) (i32.const 58) (i32.const 0) (i32.const 0)))
              (br $command)))
          (if (i32.eq (local.get $cmd) (i32.const 111)) ;; o
            (then (drop (i32.load offset=16 (i32.const -8))) (br $command)))
          (if (i32.eq (local.get $cmd) (i32.const 100)) ;; d
            (then (drop (call $deep (i32.const 0))) (br $command)))
          ;; Unknown command: reject with the mutation as message.
          (local.set $keep (i32.const 0))
          (local.set $msg (local.get $m))
          (local.set $msglen (local.get $mlen)))
        ;; A failed execute rejects with its message.
        (if (local.get $result)
          (then
            (if (i32.load8_u offset=4 (local.get $result))
              (then
                (local.set $keep (i32.const 0))
                (local.set $msg (i32.add (local.get $result) (i32.const 9)))
                (local.set $msglen (i32.load offset=5 (local.get $result)))))))
        (if (i32.gt_u (local.get $msglen) (i32.const 256)) (then (local.set $msglen (i32.const 256))))
        (drop (call $end (local.get $keep)))
        (i32.store8 (local.get $w) (i32.eqz (local.get $keep)))
        (i32.store offset=1 (local.get $w) (local.get $msglen))
        (memory.copy (i32.add (local.get $w) (i32.const 5)) (local.get $msg) (local.get $msglen))
        (local.set $w (i32.add (local.get $w) (i32.add (i32.const 5) (local.get $msglen))))
        (if (local.get $result) (then (call $free (local.get $result) (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store (local.get $out) (i32.sub (i32.sub (local.get $w) (local.get $out)) (i32.const 4)))
    (call $free (local.get $batch) (i32.add (local.get $batch_len) (i32.const 4)))
    (local.get $out))

  (func (export "sqlsync_migrate") (param $from i32) (param $to i32) (result i32)
    (local $result i32) (local $len i32) (local $error i32)
    (local.set $result (call $execute (i32.const 192) (i32.const 22) (i32.const 0) (i32.const 0)))
    (if (i32.eqz (i32.load8_u offset=4 (local.get $result)))
      (then (call $free (local.get $result) (i32.const 0)) (return (i32.const 0))))
    (local.set $len (i32.load offset=5 (local.get $result)))
    (local.set $error (call $alloc (i32.add (local.get $len) (i32.const 4))))
    (i32.store (local.get $error) (local.get $len))
    (memory.copy (i32.add (local.get $error) (i32.const 4))
                 (i32.add (local.get $result) (i32.const 9)) (local.get $len))
    (call $free (local.get $result) (i32.const 0))
    (local.get $error))
)
