// ExportArrow's two ways (arrow_bridge_internal.h): on a database of one thread, chunks taken
// from inside the query's last pipeline, which must give what the streaming result gives, byte
// for byte, stop on the sink's first error, report DuckDB's errors as the stream does, and
// leave the connection as it was.
#include "dux/exec/arrow_export.h"

#include <gtest/gtest.h>

#include <string>

#include "dux/arrow_ipc/ipc_writer.h"
#include "dux/arrow_ipc/streams.h"
#include "dux/exec/arrow_bridge_internal.h"
#include "dux/s3_filesystem/chunk_callback.h"

namespace dux::exec {
namespace {

// Every kind of column DuckDB exports, nulls, several chunks, in an order the query sets.
constexpr const char* kQuery =
    "SELECT range AS i, 'value ' || range AS s, CASE WHEN range % 7 = 0 THEN NULL ELSE range * "
    "1.5 END AS d, [range, range + 1] AS l, {'a': range, 'b': 'x' || range} AS st, "
    "(range % 3)::VARCHAR::ENUM('0', '1', '2') AS e, range::DECIMAL(18, 2) AS dec, "
    "DATE '2024-01-01' + (range % 400)::INTEGER AS day, range % 2 = 0 AS flag "
    "FROM range(10000) ORDER BY i DESC";

// The IPC stream of a query exported one way, the batches as they came.
class IpcOf : public ArrowBatchSink {
 public:
  explicit IpcOf(int fail_at = -1) : fail_at_(fail_at) {}
  Status Schema(const ArrowSchema& schema) override {
    DUX_ASSIGN_OR_RETURN(writer_, arrow_ipc::Writer::Open(&out_, schema));
    return Status::OK();
  }
  Status Batch(const ArrowArray& batch) override {
    // As Execute's output does when the receiver went away.
    if (batches_++ == fail_at_) {
      return Status(StatusCode::kCancelled, "the sink failed at batch " + std::to_string(fail_at_));
    }
    return writer_->WriteBatch(batch);
  }
  std::string Bytes() {
    EXPECT_TRUE(writer_->Close().ok());
    return out_.bytes();
  }
  int batches() const { return batches_; }

 private:
  int fail_at_;
  int batches_ = 0;
  arrow_ipc::StringOutputStream out_;
  std::unique_ptr<arrow_ipc::Writer> writer_;
};

class ExportArrowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(Database::Open("", {{"threads", "1"}})).value();
    con_ = std::make_unique<Connection>(std::move(Connection::Open(db_)).value());
  }
  Database db_;
  std::unique_ptr<Connection> con_;
};

TEST_F(ExportArrowTest, OnlyADatabaseOfOneThreadTakesChunksFromThePipeline) {
  EXPECT_TRUE(s3_filesystem::RunsOneThread(con_->get()));
  Database two = std::move(Database::Open("", {{"threads", "2"}})).value();
  Connection other = std::move(Connection::Open(two)).value();
  EXPECT_FALSE(s3_filesystem::RunsOneThread(other.get()));
}

TEST_F(ExportArrowTest, AQueryInTheScopeGivesItsChunksToTheCallbackAndAnEmptyResult) {
  PreparedHandle prepared;
  ASSERT_EQ(duckdb_prepare(con_->get(), kQuery, prepared.out()), DuckDBSuccess);
  int64_t seen = 0;
  int64_t first = -1;
  ResultHandle result;
  {
    s3_filesystem::ChunkCallbackScope scope(con_->get(), [&](duckdb_data_chunk chunk) {
      if (first < 0) {
        first = static_cast<const int64_t*>(
            duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 0)))[0];
      }
      seen += static_cast<int64_t>(duckdb_data_chunk_get_size(chunk));
      return Status::OK();
    });
    ASSERT_EQ(duckdb_execute_prepared(prepared.get(), result.out()), DuckDBSuccess);
    EXPECT_TRUE(scope.collected());
    EXPECT_EQ(scope.rows(), 10000);
    EXPECT_TRUE(scope.status().ok());
  }
  EXPECT_EQ(seen, 10000);
  EXPECT_EQ(first, 9999) << "in the query's order";
  DataChunkHandle left(duckdb_fetch_chunk(*result.get()));
  EXPECT_TRUE(!left || duckdb_data_chunk_get_size(left.get()) == 0)
      << "the rows went to the callback";
}

TEST_F(ExportArrowTest, ThePipelineGivesTheStreamsBytes) {
  IpcOf streamed, piped;
  auto rows_streamed = internal::ExportFromStream(*con_, kQuery, &streamed);
  auto rows_piped = internal::ExportFromPipeline(*con_, kQuery, &piped);
  ASSERT_TRUE(rows_streamed.ok()) << rows_streamed.status().message();
  ASSERT_TRUE(rows_piped.ok()) << rows_piped.status().message();
  EXPECT_EQ(*rows_piped, 10000);
  EXPECT_EQ(*rows_streamed, 10000);
  EXPECT_GT(piped.batches(), 1);
  EXPECT_EQ(piped.batches(), streamed.batches());
  EXPECT_EQ(piped.Bytes(), streamed.Bytes());
}

TEST_F(ExportArrowTest, ChunksOfEveryVectorKindAndSettingGiveTheStreamsBytes) {
  // The last pipeline's chunks are not always flat: after a filter, columns are dictionary
  // vectors of the rows selected. The conversion must see them as the streaming result's copy
  // does, BOOLEAN columns included.
  std::string file = ::testing::TempDir() + "/export_arrow_booleans.parquet";
  ASSERT_TRUE(con_->Execute("COPY (SELECT range AS id, range % 2 = 0 AS flag, range < 5000 AS "
                            "low, true AS always, 's' || range AS s FROM range(10000)) TO '" +
                            file + "'")
                  .ok());
  ASSERT_TRUE(con_->Execute("CREATE TABLE t AS SELECT range AS id, range % 2 = 0 AS flag, "
                            "'s' || range AS s, range * 0.5 AS d FROM range(10000)")
                  .ok());
  // Both conversions, as the session sets them: DuckDB's lossless one (BOOLEAN as Int8, what
  // workers send) and the standard one (WriteQueryIpc's standard types turn lossless off).
  for (const char* lossless : {"true", "false"}) {
    ASSERT_TRUE(
        con_->Execute(std::string("SET SESSION arrow_lossless_conversion = ") + lossless).ok());
    for (const std::string& query :
         {"SELECT * FROM read_parquet('" + file + "')",
          "SELECT * FROM read_parquet('" + file + "') WHERE id % 5 <> 1",
          "SELECT *, id / 2 AS half FROM read_parquet('" + file + "') WHERE id % 5 <> 1",
          std::string("SELECT * FROM t WHERE id % 5 <> 1"),
          std::string("SELECT flag, id FROM t WHERE id % 3 = 0 AND flag"), std::string(kQuery)}) {
      IpcOf streamed, piped;
      ASSERT_TRUE(internal::ExportFromStream(*con_, query, &streamed).ok());
      ASSERT_TRUE(internal::ExportFromPipeline(*con_, query, &piped).ok());
      EXPECT_EQ(piped.Bytes(), streamed.Bytes()) << query << ", lossless " << lossless;
    }
  }
}

TEST_F(ExportArrowTest, TheSinksErrorStopsTheQueryAndTheConnectionStaysAsItWas) {
  IpcOf failing(/*fail_at=*/2);
  auto rows = ExportArrow(*con_, kQuery, &failing);
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(rows.status().message(), "the sink failed at batch 2");
  EXPECT_EQ(failing.batches(), 3) << "no batch after the failing one";
  // Statements after it get DuckDB's own results again, and the next export is whole.
  auto text = con_->QueryText("SELECT (40 + 2)::VARCHAR AS answer");
  ASSERT_TRUE(text.ok()) << text.status().message();
  ASSERT_EQ(text->size(), 1u);
  EXPECT_EQ((*text)[0][0], "42");
  IpcOf whole;
  auto again = ExportArrow(*con_, kQuery, &whole);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(*again, 10000);
}

TEST_F(ExportArrowTest, DuckDbsErrorMidwayReadsAsTheStreamsDoes) {
  const char* failing =
      "SELECT CASE WHEN range = 5000 THEN error('boom at 5000') ELSE range END AS v "
      "FROM range(10000)";
  IpcOf piped, streamed;
  auto from_pipeline = internal::ExportFromPipeline(*con_, failing, &piped);
  auto from_stream = internal::ExportFromStream(*con_, failing, &streamed);
  ASSERT_FALSE(from_pipeline.ok());
  ASSERT_FALSE(from_stream.ok());
  EXPECT_EQ(from_pipeline.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(from_pipeline.status().message(), from_stream.status().message());
  EXPECT_NE(from_pipeline.status().message().find("boom at 5000"), std::string::npos)
      << from_pipeline.status().message();
  IpcOf bad;
  auto unparsable = ExportArrow(*con_, "SELEC 1", &bad);
  ASSERT_FALSE(unparsable.ok());
  EXPECT_NE(unparsable.status().message().find("syntax error"), std::string::npos)
      << unparsable.status().message();
}

}  // namespace
}  // namespace dux::exec
