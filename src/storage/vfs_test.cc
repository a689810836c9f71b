#include "storage/vfs.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "base/encoding.h"

namespace sqlsync {
namespace {

// SQLite's database header (page 1).
constexpr size_t kChangeCounterOffset = 24;
constexpr size_t kSchemaCookieOffset = 40;

JournalId test_journal_id(uint8_t seed) {
  std::array<uint8_t, JournalId::kSize> bytes{};
  bytes.fill(seed);
  return JournalId(bytes);
}

// A storage over a memory journal, bound to the VFS, with both connections.
// Members are destroyed in reverse order: connections, binding, storage.
struct Replica {
  std::unique_ptr<Storage> storage;
  std::unique_ptr<VfsBinding> binding;
  StorageConnections db;

  Database& writer() { return *db.read_write; }
  Database& reader() { return *db.read_only; }
};

std::string unique_name() {
  static int counter = 0;
  return "vfs-test-" + std::to_string(++counter);
}

// Use as ASSERT_NO_FATAL_FAILURE(open_replica(&replica, ...)).
void open_replica(Replica* replica, std::unique_ptr<Journal> log) {
  Result<std::unique_ptr<Storage>> storage = Storage::open(std::move(log));
  ASSERT_TRUE(storage.is_ok()) << storage.status().to_string();
  replica->storage = std::move(storage).value();
  replica->binding = std::make_unique<VfsBinding>(unique_name(), replica->storage.get());
  Result<StorageConnections> connections = open_storage_connections(*replica->binding);
  ASSERT_TRUE(connections.is_ok()) << connections.status().to_string();
  replica->db = std::move(connections).value();
}

void open_replica(Replica* replica, uint8_t seed = 1) {
  open_replica(replica, std::make_unique<MemoryJournal>(test_journal_id(seed)));
}

QueryResult must_query(Database& db, std::string_view sql, std::vector<Value> params = {}) {
  Result<QueryResult> result = db.query(sql, params);
  EXPECT_TRUE(result.is_ok()) << sql << ": " << result.status().to_string();
  return result.is_ok() ? std::move(result).value() : QueryResult{};
}

void must_exec(Database& db, std::string_view sql) {
  Status status = db.exec(sql);
  ASSERT_TRUE(status.is_ok()) << sql << ": " << status.to_string();
}

void must_execute(Database& db, std::string_view sql, std::vector<Value> params = {}) {
  Status status = db.execute(sql, params);
  ASSERT_TRUE(status.is_ok()) << sql << ": " << status.to_string();
}

Value single_value(Database& db, std::string_view sql) {
  QueryResult result = must_query(db, sql);
  EXPECT_EQ(result.rows.size(), 1u) << sql;
  if (result.rows.size() != 1 || result.rows[0].size() != 1) return std::monostate{};
  return result.rows[0][0];
}

// Every page as reads see it, with the header fields a storage presents as
// its own masked: the change counter and the schema cookie (equal content
// may show different values there, in two storages or after a reset).
std::vector<Bytes> all_pages(const Storage& storage) {
  std::vector<Bytes> pages(storage.file_size() / kPageSize, Bytes(kPageSize));
  for (size_t i = 0; i < pages.size(); ++i) storage.read(i * kPageSize, pages[i]);
  if (!pages.empty()) {
    std::memset(pages[0].data() + kChangeCounterOffset, 0, 4);
    std::memset(pages[0].data() + kSchemaCookieOffset, 0, 4);
  }
  return pages;
}

void ship_frames(Storage& from, Storage& to) {
  const LsnRange range = from.log().range();
  for (Lsn lsn = to.log().range().next(); lsn < range.next(); ++lsn) {
    Result<ByteView> frame = from.log().read(lsn);
    ASSERT_TRUE(frame.is_ok()) << frame.status().to_string();
    Status status = to.receive_frame(lsn, *frame);
    ASSERT_TRUE(status.is_ok()) << status.to_string();
  }
}

void must_commit(Storage& storage) {
  Result<bool> committed = storage.commit();
  ASSERT_TRUE(committed.is_ok()) << committed.status().to_string();
}

// --- Database (on SQLite's default VFS) ---

std::unique_ptr<Database> memory_database() {
  Result<std::unique_ptr<Database>> db = Database::open(":memory:", nullptr, Database::Access::kReadWrite);
  EXPECT_TRUE(db.is_ok()) << db.status().to_string();
  return std::move(db).value();
}

TEST(DatabaseTest, BindsAndReadsEveryValueType) {
  auto db = memory_database();
  must_exec(*db, "CREATE TABLE t(v)");
  const std::vector<Value> values = {
      std::monostate{},
      int64_t{-9223372036854775807LL - 1},
      1.5,
      std::string("text with \0 inside", 18),
      std::string(),
      Bytes{0, 1, 2, 255},
      Bytes{},
  };
  for (const Value& value : values) must_execute(*db, "INSERT INTO t(v) VALUES (?1)", {value});
  QueryResult result = must_query(*db, "SELECT v, typeof(v) FROM t ORDER BY rowid");
  EXPECT_EQ(result.columns, (std::vector<std::string>{"v", "typeof(v)"}));
  ASSERT_EQ(result.rows.size(), values.size());
  const char* types[] = {"null", "integer", "real", "text", "text", "blob", "blob"};
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(result.rows[i][0], values[i]) << i;
    EXPECT_EQ(result.rows[i][1], Value(std::string(types[i]))) << i;
  }
}

TEST(DatabaseTest, CachedStatementsRebindEachCall) {
  auto db = memory_database();
  must_exec(*db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT)");
  for (int64_t i = 0; i < 300; ++i) {
    must_execute(*db, "INSERT INTO t(id, name) VALUES (?1, ?2)", {i, "n" + std::to_string(i)});
    EXPECT_EQ(db->changes(), 1);
  }
  for (int64_t i = 0; i < 300; i += 37) {
    QueryResult row = must_query(*db, "SELECT name FROM t WHERE id = ?", {i});
    ASSERT_EQ(row.rows.size(), 1u);
    EXPECT_EQ(row.rows[0][0], Value("n" + std::to_string(i)));
  }
  must_execute(*db, "DELETE FROM t WHERE id < ?1", {int64_t{10}});
  EXPECT_EQ(db->changes(), 10);
}

TEST(DatabaseTest, ParameterCountMustMatch) {
  auto db = memory_database();
  Status status = db->execute("SELECT ?1, ?2", std::vector<Value>{int64_t{1}});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
  status = db->execute("SELECT 1", std::vector<Value>{int64_t{1}});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
  // The failed calls left nothing bound behind.
  EXPECT_EQ(must_query(*db, "SELECT ?1, ?2", {int64_t{3}, int64_t{4}}).rows,
            (std::vector<Row>{{int64_t{3}, int64_t{4}}}));
}

TEST(DatabaseTest, ExecuteRunsExactlyOneStatement) {
  auto db = memory_database();
  must_exec(*db, "CREATE TABLE t(a); CREATE TABLE u(b);");
  Status status = db->execute("INSERT INTO t VALUES (1); INSERT INTO u VALUES (2)");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
  EXPECT_EQ(single_value(*db, "SELECT count(*) FROM t"), Value(int64_t{0}));
  must_execute(*db, "INSERT INTO t VALUES (1); -- a trailing comment");
  EXPECT_EQ(db->execute("  -- nothing").code(), StatusCode::kInvalidArgument);
}

TEST(DatabaseTest, ErrorsNameTheProblemAndTheStatement) {
  auto db = memory_database();
  must_exec(*db, "CREATE TABLE t(id INTEGER PRIMARY KEY)");
  must_execute(*db, "INSERT INTO t VALUES (1)");
  Status status = db->execute("INSERT INTO t VALUES (1)");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("UNIQUE constraint failed: t.id"), std::string::npos) << status.to_string();
  EXPECT_NE(status.message().find("INSERT INTO t VALUES (1)"), std::string::npos) << status.to_string();

  const std::string long_sql = "SELECT * FROM missing WHERE " + std::string(1000, ' ') + "1";
  Result<QueryResult> missing = db->query(long_sql);
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("no such table: missing"), std::string::npos);
  EXPECT_LT(missing.status().message().size(), 400u) << "SQL is truncated in messages";

  EXPECT_EQ(db->exec("BEGIN; SELEC 1").code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(db->in_transaction()) << "exec ran the statements before the error";
  must_exec(*db, "ROLLBACK");
  EXPECT_FALSE(db->in_transaction());
}

// --- The VFS ---

TEST(VfsTest, NewStorageGetsPageSizeAndIncrementalAutoVacuum) {
  Replica r;
  ASSERT_NO_FATAL_FAILURE(open_replica(&r));
  EXPECT_EQ(r.storage->file_size(), 0u);
  EXPECT_EQ(r.storage->write_count(), 0u) << "opening wrote to the storage";
  EXPECT_FALSE(r.storage->has_pending());
  must_exec(r.writer(), "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT)");
  ASSERT_GE(r.storage->file_size(), 3 * kPageSize) << "page 1, a pointer map, the table";
  EXPECT_EQ(r.storage->file_size() % kPageSize, 0u);

  for (Database* db : {&r.writer(), &r.reader()}) {
    EXPECT_EQ(single_value(*db, "PRAGMA page_size"), Value(int64_t{4096}));
    EXPECT_EQ(single_value(*db, "PRAGMA auto_vacuum"), Value(int64_t{2}));
  }
  EXPECT_EQ(single_value(r.writer(), "PRAGMA journal_mode"), Value(std::string("memory")));

  // The header of page 1 as stored: page size (offset 16, big-endian u16),
  // largest root page (52, nonzero in auto-vacuum mode), incremental (64).
  Bytes header(100);
  r.storage->read(0, header);
  EXPECT_EQ(std::string(header.begin(), header.begin() + 15), "SQLite format 3");
  EXPECT_EQ(header[16] * 256 + header[17], 4096);
  EXPECT_NE(load_big_endian32(&header[52]), 0u);
  EXPECT_EQ(load_big_endian32(&header[64]), 1u);
}

TEST(VfsTest, ReopenedStorageKeepsItsData) {
  auto log = std::make_unique<MemoryJournal>(test_journal_id(1));
  Replica first;
  ASSERT_NO_FATAL_FAILURE(open_replica(&first, std::move(log)));
  must_exec(first.writer(), "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT)");
  must_execute(first.writer(), "INSERT INTO a(v) VALUES (?1)", {std::string("kept")});
  must_commit(*first.storage);

  auto copy = std::make_unique<MemoryJournal>(test_journal_id(1));
  for (Lsn lsn = 0; lsn < first.storage->log().range().next(); ++lsn) {
    ASSERT_TRUE(copy->append(*first.storage->log().read(lsn)).is_ok());
  }
  Replica second;
  ASSERT_NO_FATAL_FAILURE(open_replica(&second, std::move(copy)));
  EXPECT_EQ(must_query(second.reader(), "SELECT v FROM a").rows, (std::vector<Row>{{std::string("kept")}}));
  EXPECT_EQ(second.storage->write_count(), 0u) << "opening wrote to the storage";
}

TEST(VfsTest, StorageWithoutPointerMapsIsRefused) {
  ASSERT_TRUE(register_vfs().is_ok());
  auto storage = Storage::open(std::make_unique<MemoryJournal>(test_journal_id(3)));
  ASSERT_TRUE(storage.is_ok());
  VfsBinding binding(unique_name(), storage->get());
  {
    auto plain = Database::open(binding.name(), kVfsName, Database::Access::kReadWrite);
    ASSERT_TRUE(plain.is_ok()) << plain.status().to_string();
    must_exec(**plain, "PRAGMA journal_mode=MEMORY; CREATE TABLE a(x);");
  }
  Result<StorageConnections> connections = open_storage_connections(binding);
  EXPECT_EQ(connections.status().code(), StatusCode::kUnsupported) << connections.status().to_string();
}

TEST(VfsTest, ReadOnlyConnectionSeesCommittedPendingWrites) {
  Replica r;
  ASSERT_NO_FATAL_FAILURE(open_replica(&r));
  must_exec(r.writer(), "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT)");
  for (int i = 0; i < 3; ++i) {
    must_execute(r.writer(), "INSERT INTO a(v) VALUES (?1)", {"row" + std::to_string(i)});
    EXPECT_TRUE(r.storage->has_pending());
    EXPECT_EQ(single_value(r.reader(), "SELECT count(*) FROM a"), Value(int64_t{i + 1}));
  }
  must_execute(r.writer(), "UPDATE a SET v = 'changed' WHERE id = 2");
  EXPECT_EQ(must_query(r.reader(), "SELECT v FROM a ORDER BY id").rows,
            (std::vector<Row>{{std::string("row0")}, {std::string("changed")}, {std::string("row2")}}));
}

TEST(VfsTest, ReadOnlyConnectionRejectsWritesAndSettings) {
  Replica r;
  ASSERT_NO_FATAL_FAILURE(open_replica(&r));
  must_exec(r.writer(), "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX a_v ON a(v);");
  must_execute(r.writer(), "INSERT INTO a(v) VALUES ('x')");
  const uint64_t writes = r.storage->write_count();

  for (const char* sql : {
           "INSERT INTO a(v) VALUES ('y')",
           "UPDATE a SET v = 'z'",
           "DELETE FROM a",
           "CREATE TABLE b(x)",
           "CREATE TEMP TABLE t(x)",
           "CREATE INDEX a_id ON a(id)",
           "DROP TABLE a",
           "ALTER TABLE a ADD COLUMN w",
           "ATTACH 'other' AS other",
           "DETACH main",
           "PRAGMA user_version = 5",
           "PRAGMA journal_mode = DELETE",
           "PRAGMA writable_schema = ON",
           "PRAGMA incremental_vacuum",
           "PRAGMA shrink_memory",
           "VACUUM",
           "ANALYZE",
           "REINDEX",
       }) {
    Status status = r.reader().execute(sql);
    EXPECT_EQ(status.code(), StatusCode::kRejected) << sql << ": " << status.to_string();
    EXPECT_NE(status.message().find("read-only connection"), std::string::npos) << status.to_string();
    EXPECT_EQ(r.reader().exec(sql).code(), StatusCode::kRejected) << sql;
  }
  EXPECT_EQ(r.storage->write_count(), writes);
  EXPECT_EQ(single_value(r.reader(), "SELECT count(*) FROM a"), Value(int64_t{1}));

  // What it may do.
  EXPECT_EQ(must_query(r.reader(), "PRAGMA table_info(a)").rows.size(), 2u);
  EXPECT_EQ(must_query(r.reader(), "PRAGMA index_list(a)").rows.size(), 1u);
  EXPECT_EQ(must_query(r.reader(), "SELECT name FROM pragma_table_info('a') ORDER BY cid").rows,
            (std::vector<Row>{{std::string("id")}, {std::string("v")}}));
  EXPECT_EQ(single_value(r.reader(), "PRAGMA user_version"), Value(int64_t{0}));
  EXPECT_EQ(single_value(r.reader(), "PRAGMA integrity_check"), Value(std::string("ok")));
  EXPECT_EQ(single_value(r.reader(),
                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) "
                         "SELECT sum(i) FROM n"),
            Value(int64_t{55}));
  // Each query is its own snapshot: a transaction left open would block the
  // writer and see pages change under it.
  for (const char* sql : {"BEGIN", "SAVEPOINT s"}) {
    EXPECT_EQ(r.reader().exec(sql).code(), StatusCode::kRejected) << sql;
  }
}

TEST(VfsTest, RolledBackTransactionLeavesStorageUnchanged) {
  Replica r;
  ASSERT_NO_FATAL_FAILURE(open_replica(&r));
  must_exec(r.writer(), "CREATE TABLE a(id INTEGER PRIMARY KEY, v BLOB)");
  for (int64_t i = 0; i < 50; ++i) must_execute(r.writer(), "INSERT INTO a(v) VALUES (zeroblob(500))");
  must_commit(*r.storage);
  ASSERT_FALSE(r.storage->has_pending());
  const std::vector<Bytes> before = all_pages(*r.storage);
  const uint32_t counter = r.storage->file_change_counter();
  const uint64_t writes = r.storage->write_count();

  // More dirty pages than the page cache holds (cache_size is 8 MiB): without
  // cache_spill=off SQLite would write some to the storage mid-transaction.
  must_exec(r.writer(), "BEGIN");
  must_execute(r.writer(), "UPDATE a SET v = zeroblob(600)");
  for (int i = 0; i < 3000; ++i) must_execute(r.writer(), "INSERT INTO a(v) VALUES (zeroblob(4000))");
  must_exec(r.writer(), "ROLLBACK");

  EXPECT_EQ(r.storage->write_count(), writes) << "a rolled-back transaction wrote to the storage";
  EXPECT_FALSE(r.storage->has_pending());
  EXPECT_EQ(r.storage->file_change_counter(), counter);
  EXPECT_TRUE(all_pages(*r.storage) == before);
  EXPECT_EQ(single_value(r.reader(), "SELECT count(*) FROM a"), Value(int64_t{50}));
  EXPECT_EQ(single_value(r.writer(), "PRAGMA integrity_check"), Value(std::string("ok")));
}

TEST(VfsTest, SavepointRollbackKeepsTheRestOfTheTransaction) {
  Replica r;
  ASSERT_NO_FATAL_FAILURE(open_replica(&r));
  must_exec(r.writer(), "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT)");
  must_exec(r.writer(), "BEGIN");
  must_execute(r.writer(), "INSERT INTO a(v) VALUES ('kept')");
  must_exec(r.writer(), "SAVEPOINT m");
  for (int i = 0; i < 100; ++i) must_execute(r.writer(), "INSERT INTO a(v) VALUES (hex(zeroblob(1000)))");
  must_exec(r.writer(), "ROLLBACK TO m; RELEASE m; COMMIT");
  EXPECT_EQ(must_query(r.reader(), "SELECT v FROM a").rows, (std::vector<Row>{{std::string("kept")}}));
}

TEST(VfsTest, ResetRestoresTheVisibleStateOnBothConnections) {
  Replica r;
  ASSERT_NO_FATAL_FAILURE(open_replica(&r));
  must_exec(r.writer(), "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT)");
  must_execute(r.writer(), "INSERT INTO a(v) VALUES ('base')");
  must_commit(*r.storage);
  const std::vector<Bytes> base = all_pages(*r.storage);

  must_execute(r.writer(), "INSERT INTO a(v) VALUES ('pending')");
  must_execute(r.writer(), "UPDATE a SET v = 'edited' WHERE id = 1");
  must_exec(r.writer(), "CREATE TABLE b(x)");
  for (Database* db : {&r.writer(), &r.reader()}) {
    EXPECT_EQ(single_value(*db, "SELECT count(*) FROM a"), Value(int64_t{2}));
  }

  r.storage->reset();
  EXPECT_FALSE(r.storage->has_pending());
  EXPECT_TRUE(all_pages(*r.storage) == base);
  for (Database* db : {&r.writer(), &r.reader()}) {
    EXPECT_EQ(must_query(*db, "SELECT v FROM a").rows, (std::vector<Row>{{std::string("base")}}));
    EXPECT_EQ(db->query("SELECT * FROM b").status().code(), StatusCode::kInvalidArgument) << "b was dropped";
  }
  // The writer continues from the visible state.
  must_execute(r.writer(), "INSERT INTO a(v) VALUES ('after')");
  EXPECT_EQ(single_value(r.reader(), "SELECT group_concat(v, ',') FROM a"), Value(std::string("base,after")));
}

// The reader caches a pending write; reset() drops it and the writer makes
// another of the same shape. SQLite's own counter is the same both times (the
// writer counts up from the visible page 1 again): only the storage's change
// counter tells the reader its cache is stale.
TEST(VfsTest, ReaderCacheDoesNotSurviveResetAndRewrite) {
  Replica r;
  ASSERT_NO_FATAL_FAILURE(open_replica(&r));
  must_exec(r.writer(), "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT)");
  must_execute(r.writer(), "INSERT INTO a(v) VALUES ('base')");
  must_commit(*r.storage);
  EXPECT_EQ(single_value(r.reader(), "SELECT v FROM a"), Value(std::string("base")));

  must_execute(r.writer(), "UPDATE a SET v = 'left'");
  EXPECT_EQ(single_value(r.reader(), "SELECT v FROM a"), Value(std::string("left")));
  r.storage->reset();
  must_execute(r.writer(), "UPDATE a SET v = 'right'");
  EXPECT_EQ(single_value(r.reader(), "SELECT v FROM a"), Value(std::string("right")));
}

// A client rebases onto a coordinator frame that changes the same rows as its
// own dropped write, with the same page count and freelist: only the storage's
// change counter tells the connections' page caches that page 1 is not what
// they cached (SQLite's own counter would be equal on both sides).
TEST(VfsTest, RebaseOntoReceivedFramesInvalidatesPageCaches) {
  Replica server;
  ASSERT_NO_FATAL_FAILURE(open_replica(&server, 1));
  Replica client;
  ASSERT_NO_FATAL_FAILURE(open_replica(&client, 1));
  must_exec(server.writer(), "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT)");
  must_execute(server.writer(), "INSERT INTO a(v) VALUES ('aaaa')");
  must_commit(*server.storage);
  ship_frames(*server.storage, *client.storage);
  ASSERT_TRUE(client.storage->make_visible().is_ok());
  for (Database* db : {&client.writer(), &client.reader()}) {
    EXPECT_EQ(single_value(*db, "SELECT v FROM a"), Value(std::string("aaaa")));
  }

  must_execute(client.writer(), "UPDATE a SET v = 'bbbb'");
  for (Database* db : {&client.writer(), &client.reader()}) {
    EXPECT_EQ(single_value(*db, "SELECT v FROM a"), Value(std::string("bbbb")));
  }
  must_execute(server.writer(), "UPDATE a SET v = 'cccc'");
  must_commit(*server.storage);

  ship_frames(*server.storage, *client.storage);
  client.storage->reset();
  ASSERT_TRUE(client.storage->make_visible().is_ok());
  for (Database* db : {&client.writer(), &client.reader()}) {
    EXPECT_EQ(single_value(*db, "SELECT v FROM a"), Value(std::string("cccc")));
  }
  EXPECT_TRUE(all_pages(*client.storage) == all_pages(*server.storage));
}

TEST(VfsTest, ConnectionsFollowSqliteLocking) {
  Replica r;
  ASSERT_NO_FATAL_FAILURE(open_replica(&r));
  must_exec(r.writer(), "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT)");
  must_execute(r.writer(), "INSERT INTO a(v) VALUES ('one')");

  // A read in progress holds SHARED: a commit cannot get EXCLUSIVE.
  sqlite3_stmt* reading = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(r.reader().handle(), "SELECT v FROM a", -1, &reading, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(reading), SQLITE_ROW);
  const uint64_t writes = r.storage->write_count();
  Status busy = r.writer().execute("INSERT INTO a(v) VALUES ('two')");
  EXPECT_EQ(busy.code(), StatusCode::kBusy) << busy.to_string();
  EXPECT_EQ(r.storage->write_count(), writes);
  sqlite3_finalize(reading);
  must_execute(r.writer(), "INSERT INTO a(v) VALUES ('two')");

  // An open write transaction (RESERVED, pages in its cache) does not stop
  // readers, who see the last committed state.
  must_exec(r.writer(), "BEGIN; INSERT INTO a(v) VALUES ('three');");
  EXPECT_EQ(single_value(r.reader(), "SELECT count(*) FROM a"), Value(int64_t{2}));
  must_exec(r.writer(), "COMMIT");
  EXPECT_EQ(single_value(r.reader(), "SELECT count(*) FROM a"), Value(int64_t{3}));
}

TEST(VfsTest, NamesAreBoundToStorages) {
  ASSERT_TRUE(register_vfs().is_ok());
  Result<std::unique_ptr<Database>> unbound =
      Database::open("vfs-test-unbound", kVfsName, Database::Access::kReadWrite);
  EXPECT_EQ(unbound.status().code(), StatusCode::kIOError) << unbound.status().to_string();

  Replica r;
  ASSERT_NO_FATAL_FAILURE(open_replica(&r));
  must_exec(r.writer(), "CREATE TABLE a(x)");
  // A second binding of the same name binds nothing.
  auto other = Storage::open(std::make_unique<MemoryJournal>(test_journal_id(2)));
  ASSERT_TRUE(other.is_ok());
  {
    VfsBinding duplicate(r.binding->name(), other->get());
    EXPECT_EQ(open_storage_connections(duplicate).status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(single_value(r.reader(), "SELECT count(*) FROM a"), Value(int64_t{0}));

  // Journals of bound names never exist, and bound names are not made
  // absolute (xOpen sees the name the storage is bound under).
  sqlite3_vfs* vfs = sqlite3_vfs_find(kVfsName);
  ASSERT_NE(vfs, nullptr);
  const std::string& name = r.binding->name();
  int exists = -1;
  ASSERT_EQ(vfs->xAccess(vfs, name.c_str(), SQLITE_ACCESS_EXISTS, &exists), SQLITE_OK);
  EXPECT_EQ(exists, 1);
  for (const std::string& journal : {name + "-journal", name + "-wal"}) {
    ASSERT_EQ(vfs->xAccess(vfs, journal.c_str(), SQLITE_ACCESS_EXISTS, &exists), SQLITE_OK);
    EXPECT_EQ(exists, 0) << journal;
  }
  std::vector<char> full(static_cast<size_t>(vfs->mxPathname) + 1);
  ASSERT_EQ(vfs->xFullPathname(vfs, name.c_str(), static_cast<int>(full.size()), full.data()), SQLITE_OK);
  EXPECT_EQ(std::string(full.data()), name);
  // A journal may not go to disk even if asked for.
  EXPECT_EQ(r.writer().exec("PRAGMA journal_mode = DELETE; INSERT INTO a VALUES (1);").code(), StatusCode::kIOError);
}

// A model of table a is checked against both connections and, through the
// storage log, against a replica built only from committed frames.
TEST(VfsTest, RandomWorkloadKeepsIntegrity) {
  constexpr uint64_t kSeed = 20240611;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  std::mt19937_64 random(kSeed);
  auto uniform = [&](int64_t low, int64_t high) { return std::uniform_int_distribution<int64_t>(low, high)(random); };

  Replica r;
  ASSERT_NO_FATAL_FAILURE(open_replica(&r, 1));
  Replica follower;
  ASSERT_NO_FATAL_FAILURE(open_replica(&follower, 1));
  must_exec(r.writer(), "CREATE TABLE a(id INTEGER PRIMARY KEY, v BLOB); CREATE INDEX a_v ON a(v)");
  must_exec(r.writer(), "CREATE TABLE b(id INTEGER PRIMARY KEY, w TEXT)");
  must_commit(*r.storage);
  std::map<int64_t, Bytes> current;
  std::map<int64_t, Bytes> committed;
  // Table c comes and goes: schema changes move root pages (auto-vacuum
  // relocates the last root into a dropped one) and change the schema cookie.
  bool c_exists = false;
  bool c_committed = false;
  auto random_blob = [&] {
    // Mostly small rows, some with overflow pages.
    Bytes blob(static_cast<size_t>(uniform(0, 10) == 0 ? uniform(5000, 20000) : uniform(1, 300)));
    for (uint8_t& byte : blob) byte = static_cast<uint8_t>(random());
    return blob;
  };
  auto check = [&](Database& db, const std::map<int64_t, Bytes>& model) {
    QueryResult rows = must_query(db, "SELECT id, v FROM a ORDER BY id");
    ASSERT_EQ(rows.rows.size(), model.size());
    auto expected = model.begin();
    for (const Row& row : rows.rows) {
      ASSERT_EQ(row[0], Value(expected->first));
      ASSERT_EQ(row[1], Value(expected->second));
      ++expected;
    }
  };

  for (int step = 0; step < 400; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const int64_t op = uniform(0, 99);
    if (op < 35) {
      must_exec(r.writer(), "BEGIN");
      for (int64_t n = uniform(1, 8); n > 0; --n) {
        const int64_t id = uniform(1, 400);
        Bytes blob = random_blob();
        must_execute(r.writer(), "INSERT OR REPLACE INTO a(id, v) VALUES (?1, ?2)", {id, blob});
        current[id] = std::move(blob);
      }
      must_execute(r.writer(), "INSERT INTO b(w) VALUES (hex(zeroblob(50)))");
      must_exec(r.writer(), "COMMIT");
    } else if (op < 50 && !current.empty()) {
      const int64_t id = uniform(1, 400);
      Bytes blob = random_blob();
      must_execute(r.writer(), "UPDATE a SET v = ?2 WHERE id = ?1", {id, blob});
      if (current.count(id) != 0) current[id] = std::move(blob);
    } else if (op < 60) {
      const int64_t low = uniform(1, 400);
      const int64_t high = low + uniform(0, 60);
      must_execute(r.writer(), "DELETE FROM a WHERE id BETWEEN ?1 AND ?2", {low, high});
      current.erase(current.lower_bound(low), current.upper_bound(high));
    } else if (op < 65) {
      // A transaction that fails and rolls back.
      must_exec(r.writer(), "BEGIN");
      must_execute(r.writer(), "DELETE FROM a");
      must_execute(r.writer(), "INSERT INTO b(w) VALUES ('gone')");
      must_exec(r.writer(), "ROLLBACK");
    } else if (op < 68) {
      if (c_exists) {
        must_exec(r.writer(), "DROP TABLE c");
      } else {
        must_exec(r.writer(), "CREATE TABLE c(k INTEGER PRIMARY KEY, t TEXT); CREATE INDEX c_t ON c(t)");
        must_exec(r.writer(), "INSERT INTO c(t) SELECT hex(zeroblob(100)) FROM a");
      }
      c_exists = !c_exists;
    } else if (op < 70) {
      must_exec(r.writer(), "PRAGMA incremental_vacuum");
    } else if (op < 85) {
      must_commit(*r.storage);
      committed = current;
      c_committed = c_exists;
    } else if (op < 95) {
      r.storage->reset();
      current = committed;
      c_exists = c_committed;
    } else {
      ship_frames(*r.storage, *follower.storage);
      ASSERT_TRUE(follower.storage->make_visible().is_ok());
      check(follower.reader(), committed);
    }
    check(step % 2 == 0 ? r.reader() : r.writer(), current);
    EXPECT_EQ(
        single_value(step % 2 == 0 ? r.writer() : r.reader(), "SELECT count(*) FROM sqlite_schema WHERE name = 'c'"),
        Value(int64_t{c_exists ? 1 : 0}));
    if (step % 50 == 0) {
      EXPECT_EQ(single_value(r.reader(), "PRAGMA integrity_check"), Value(std::string("ok")));
    }
  }
  EXPECT_EQ(single_value(r.writer(), "PRAGMA integrity_check"), Value(std::string("ok")));
  must_commit(*r.storage);
  ship_frames(*r.storage, *follower.storage);
  ASSERT_TRUE(follower.storage->make_visible().is_ok());
  check(follower.reader(), current);
  check(follower.writer(), current);
  EXPECT_EQ(single_value(follower.reader(), "PRAGMA integrity_check"), Value(std::string("ok")));
  EXPECT_TRUE(all_pages(*follower.storage) == all_pages(*r.storage));
}

}  // namespace
}  // namespace sqlsync
