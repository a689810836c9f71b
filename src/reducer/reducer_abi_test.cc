// The engine-independent host side of the WASM reducer ABI: byte layouts of
// docs/reducer-abi.md and the bracketing rules of GuestCall, on real SQLite.
#include "reducer/reducer_abi.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/database.h"

namespace sqlsync {
namespace {

Bytes bytes_of(std::initializer_list<uint8_t> list) { return Bytes(list); }

// A params encoding of `values`, as a guest SDK builds it.
Bytes encode_params(const std::vector<Value>& values) {
  Bytes params;
  Encoder out(&params);
  out.u32(static_cast<uint32_t>(values.size()));
  for (const Value& value : values) encode_value(out, value);
  return params;
}

// Records the calls and can fail one.
class RecordingScope final : public MutationScope {
 public:
  Status begin_mutation() override {
    calls.push_back("begin");
    return fail_begin ? Status::io_error("injected begin failure") : Status::ok();
  }
  Status end_mutation(bool keep) override {
    calls.push_back(keep ? "keep" : "undo");
    return Status::ok();
  }
  std::vector<std::string> calls;
  bool fail_begin = false;
};

class ReducerAbiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Database>> db = Database::open(":memory:", nullptr, Database::Access::kReadWrite);
    ASSERT_TRUE(db.is_ok()) << db.status().to_string();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->exec("CREATE TABLE t(a, b)").is_ok());
  }

  std::unique_ptr<Database> db_;
  std::vector<Value> scratch_;
  Bytes reply_;
};

TEST(ReducerAbiCodecTest, BatchIsCountThenSizedMutations) {
  const ByteView mutations[] = {as_bytes("ab"), as_bytes("")};
  EXPECT_EQ(encode_batch(mutations), bytes_of({2, 0, 0, 0, 2, 0, 0, 0, 'a', 'b', 0, 0, 0, 0}));
}

TEST(ReducerAbiCodecTest, BufferHeaderIsTheLittleEndianLength) {
  uint8_t buffer[7] = {};
  write_abi_buffer(buffer, as_bytes("xyz"));
  EXPECT_EQ(Bytes(buffer, buffer + 7), bytes_of({3, 0, 0, 0, 'x', 'y', 'z'}));
  Result<uint32_t> length = read_abi_buffer_length(ByteView(buffer, 7), "buffer");
  ASSERT_TRUE(length.is_ok());
  EXPECT_EQ(*length, 3u);
  Result<uint32_t> short_header = read_abi_buffer_length(ByteView(buffer, 3), "verdicts buffer");
  EXPECT_EQ(short_header.status().code(), StatusCode::kRejected);
  EXPECT_EQ(short_header.status().message().rfind("verdicts buffer: truncated", 0), 0u);
}

TEST(ReducerAbiCodecTest, ParamsRoundTripEveryValueType) {
  const std::vector<Value> values = {Value(), Value(int64_t{-5}), Value(2.5), Value(std::string("h\xC3\xA9")),
                                     Value(bytes_of({0, 255}))};
  const Bytes params = encode_params(values);
  EXPECT_EQ(params.size(), 4u + 1 + 9 + 9 + (5 + 3) + (5 + 2));
  std::vector<Value> decoded = {Value(int64_t{99})};  // replaced
  ASSERT_TRUE(decode_params(params, &decoded).is_ok());
  EXPECT_EQ(decoded, values);
  ASSERT_TRUE(decode_params({}, &decoded).is_ok());
  EXPECT_TRUE(decoded.empty());
}

TEST(ReducerAbiCodecTest, MalformedParamsAreRejectedWithTheirOffset) {
  std::vector<Value> values;
  struct Case {
    Bytes params;
    std::string message;
  };
  const Case cases[] = {
      {bytes_of({1, 0, 0, 0, 7}), "malformed params: unknown value tag 7 at offset 4"},
      {bytes_of({1, 0, 0, 0, 1, 0}), "malformed params: truncated (needed 8 bytes at offset 5, 1 left)"},
      {bytes_of({0, 0, 0, 0, 0}), "malformed params: 1 trailing bytes"},
      {bytes_of({1, 0, 0, 0, 3, 9, 0, 0, 0, 'a'}), "malformed params: length 9 exceeds limit 5"},
      {bytes_of({255, 255, 255, 255, 0}), "malformed params: count 4294967295 exceeds the 1 bytes that follow"},
      {bytes_of({1, 0}), "malformed params: truncated (needed 4 bytes at offset 0, 2 left)"},
  };
  for (const Case& c : cases) {
    Status status = decode_params(c.params, &values);
    EXPECT_EQ(status.code(), StatusCode::kRejected);
    EXPECT_EQ(status.message(), c.message);
  }
}

TEST_F(ReducerAbiTest, ExecuteReplyCarriesChangesOrTheError) {
  const Bytes params = encode_params({Value(int64_t{1}), Value(std::string("x"))});
  ASSERT_TRUE(run_sql_import(*db_, SqlImport::kExecute, as_bytes("INSERT INTO t VALUES (?1, ?2), (?1, ?2)"), params,
                             &scratch_, &reply_)
                  .is_ok());
  EXPECT_EQ(reply_, bytes_of({0, 2, 0, 0, 0, 0, 0, 0, 0}));

  ASSERT_TRUE(
      run_sql_import(*db_, SqlImport::kExecute, as_bytes("INSERT INTO missing VALUES (1)"), {}, &scratch_, &reply_)
          .is_ok());
  Decoder reply(reply_, StatusCode::kInvalidArgument, "reply");
  EXPECT_EQ(*reply.u8(), 1);
  Result<ByteView> message = reply.bytes32(reply.remaining());
  ASSERT_TRUE(message.is_ok());
  EXPECT_NE(as_text(*message).find("no such table: missing"), std::string::npos) << as_text(*message);
  EXPECT_TRUE(reply.expect_end().is_ok());
}

TEST_F(ReducerAbiTest, QueryReplyIsColumnsThenRowMajorValues) {
  ASSERT_TRUE(db_->exec("INSERT INTO t VALUES (7, 'seven'), (NULL, x'01')").is_ok());
  ASSERT_TRUE(
      run_sql_import(*db_, SqlImport::kQuery, as_bytes("SELECT a, b FROM t ORDER BY rowid"), {}, &scratch_, &reply_)
          .is_ok());
  Bytes expected;
  Encoder out(&expected);
  out.u8(0);
  out.u32(2);
  out.bytes32(as_bytes("a"));
  out.bytes32(as_bytes("b"));
  out.u32(2);
  for (const Value& value : {Value(int64_t{7}), Value(std::string("seven")), Value(), Value(bytes_of({1}))}) {
    encode_value(out, value);
  }
  EXPECT_EQ(reply_, expected);
}

TEST_F(ReducerAbiTest, MalformedParamsFailTheImportWithoutRunningSql) {
  Status status = run_sql_import(*db_, SqlImport::kExecute, as_bytes("INSERT INTO t VALUES (1, 2)"),
                                 bytes_of({1, 0, 0, 0}), &scratch_, &reply_);
  EXPECT_EQ(status.code(), StatusCode::kRejected);
  Result<QueryResult> rows = db_->query("SELECT count(*) FROM t");
  ASSERT_TRUE(rows.is_ok());
  EXPECT_EQ(rows->rows[0][0], Value(int64_t{0}));
}

TEST_F(ReducerAbiTest, GuestCallEnforcesTheBracketing) {
  GuestCall outside;
  EXPECT_EQ(outside.check_sql_allowed().message(), "called outside sqlsync_reduce and sqlsync_migrate");
  EXPECT_EQ(outside.begin_mutation().message(), "called outside sqlsync_reduce");

  GuestCall migrate(*db_);
  EXPECT_TRUE(migrate.check_sql_allowed().is_ok());
  EXPECT_EQ(migrate.end_mutation(1).message(), "called outside sqlsync_reduce");

  RecordingScope scope;
  GuestCall reduce(*db_, scope, 2);
  EXPECT_EQ(reduce.check_sql_allowed().message(), "called outside a mutation (call mutation_begin first)");
  EXPECT_EQ(reduce.end_mutation(1).message(), "no mutation is open (call mutation_begin first)");
  ASSERT_TRUE(reduce.begin_mutation().is_ok());
  EXPECT_TRUE(reduce.check_sql_allowed().is_ok());
  EXPECT_EQ(reduce.begin_mutation().message(), "mutation 0 is still open (call mutation_end first)");
  EXPECT_EQ(reduce.check_batch_ended().message(),
            "reducer broke the ABI: sqlsync_reduce returned after ending 0 of 2 mutations");
  ASSERT_TRUE(reduce.end_mutation(1).is_ok());
  ASSERT_TRUE(reduce.begin_mutation().is_ok());
  ASSERT_TRUE(reduce.end_mutation(0).is_ok());
  EXPECT_EQ(reduce.begin_mutation().message(), "all 2 mutations of the batch have already begun");
  EXPECT_TRUE(reduce.check_batch_ended().is_ok());
  EXPECT_EQ(scope.calls, (std::vector<std::string>{"begin", "keep", "begin", "undo"}));
  EXPECT_TRUE(reduce.host_error().is_ok());
}

TEST_F(ReducerAbiTest, VerdictsMustMatchTheKeeps) {
  RecordingScope scope;
  GuestCall reduce(*db_, scope, 2);
  ASSERT_TRUE(reduce.begin_mutation().is_ok());
  ASSERT_TRUE(reduce.end_mutation(1).is_ok());
  ASSERT_TRUE(reduce.begin_mutation().is_ok());
  ASSERT_TRUE(reduce.end_mutation(0).is_ok());

  auto verdicts_payload = [](uint8_t first, uint8_t second, std::string_view message) {
    Bytes payload;
    Encoder out(&payload);
    out.u32(2);
    out.u8(first);
    out.bytes32({});
    out.u8(second);
    out.bytes32(as_bytes(message));
    return payload;
  };
  Status verdicts[2];
  ASSERT_TRUE(reduce.finish_reduce(verdicts_payload(0, 1, "no"), verdicts).is_ok());
  EXPECT_TRUE(verdicts[0].is_ok());
  EXPECT_EQ(verdicts[1].code(), StatusCode::kRejected);
  EXPECT_EQ(verdicts[1].message(), "no");
  ASSERT_TRUE(reduce.finish_reduce(verdicts_payload(0, 1, ""), verdicts).is_ok());
  EXPECT_EQ(verdicts[1].message(), "reducer rejected the mutation");

  Status mismatch = reduce.finish_reduce(verdicts_payload(0, 0, ""), verdicts);
  EXPECT_EQ(mismatch.code(), StatusCode::kRejected);
  EXPECT_EQ(mismatch.message(),
            "reducer returned a malformed verdicts buffer: verdict 1 is ok but the mutation ended with keep=0");
  EXPECT_EQ(reduce.finish_reduce(verdicts_payload(0, 2, ""), verdicts).message(),
            "reducer returned a malformed verdicts buffer: verdict 1 is 2");
  EXPECT_EQ(reduce.finish_reduce(bytes_of({1, 0, 0, 0}), verdicts).message(),
            "reducer returned a malformed verdicts buffer: 1 verdicts for a batch of 2");
}

TEST_F(ReducerAbiTest, AFailureSettlesEndedMutationsAndBlamesTheOpenOne) {
  RecordingScope scope;
  GuestCall reduce(*db_, scope, 4);
  ASSERT_TRUE(reduce.begin_mutation().is_ok());
  ASSERT_TRUE(reduce.end_mutation(1).is_ok());
  ASSERT_TRUE(reduce.begin_mutation().is_ok());
  ASSERT_TRUE(reduce.end_mutation(0).is_ok());
  ASSERT_TRUE(reduce.begin_mutation().is_ok());
  Status verdicts[4];
  Result<size_t> settled = reduce.settle_failure(Status::rejected("reducer trapped: boom"), verdicts);
  ASSERT_TRUE(settled.is_ok());
  EXPECT_EQ(*settled, 3u);
  EXPECT_TRUE(verdicts[0].is_ok());
  EXPECT_EQ(verdicts[1].message(),
            "reducer rejected the mutation (its message was lost when the reducer failed later in the batch: "
            "reducer trapped: boom)");
  EXPECT_EQ(verdicts[2].message(), "reducer trapped: boom");
  EXPECT_EQ(scope.calls, (std::vector<std::string>{"begin", "keep", "begin", "undo", "begin", "undo"}));

  // With no mutation open, the next one is bracketed and blamed.
  RecordingScope fresh;
  GuestCall before_any(*db_, fresh, 2);
  settled = before_any.settle_failure(Status::rejected("reducer exceeded its execution budget (5 units)"), verdicts);
  ASSERT_TRUE(settled.is_ok());
  EXPECT_EQ(*settled, 1u);
  EXPECT_EQ(verdicts[0].message(), "reducer exceeded its execution budget (5 units)");
  EXPECT_EQ(fresh.calls, (std::vector<std::string>{"begin", "undo"}));
}

TEST_F(ReducerAbiTest, ScopeFailureIsAHostError) {
  RecordingScope scope;
  scope.fail_begin = true;
  GuestCall reduce(*db_, scope, 1);
  Status status = reduce.begin_mutation();
  EXPECT_EQ(status.code(), StatusCode::kIOError);
  EXPECT_EQ(reduce.host_error().message(), "injected begin failure");
}

TEST(ReducerAbiLogTest, LevelsAboveErrorAreErrors) {
  std::vector<std::string> seen;
  WasmLogSink sink = [&seen](WasmLogLevel level, std::string_view text) {
    seen.push_back(std::to_string(static_cast<int>(level)) + ":" + std::string(text));
  };
  forward_guest_log(sink, 1, as_bytes("info"));
  forward_guest_log(sink, 42, as_bytes("too high"));
  forward_guest_log(nullptr, 0, as_bytes("dropped"));
  EXPECT_EQ(seen, (std::vector<std::string>{"1:info", "3:too high"}));
}

}  // namespace
}  // namespace sqlsync
