// ReadIpcChunks (arrow_import.h): batches of a chunk's length become DuckDB chunks directly;
// what that cannot read (ENUM columns, no batches at all, batches longer than a chunk) goes
// through DuckDB's arrow scan, and either way the sink sees the rows and types ImportIpc
// would give a table.
#include "dux/exec/arrow_import.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "dux/arrow_ipc/ipc_writer.h"
#include "dux/arrow_ipc/streams.h"
#include "dux/exec/arrow_export.h"
#include "dux/exec/logical_type_sql.h"
#include "dux/exec/row_sink.h"

namespace dux::exec {
namespace {

// Keeps what ReadIpcChunks hands over: the columns it was opened with and every chunk.
class KeepingSink : public RowSink {
 public:
  explicit KeepingSink(std::vector<DataChunkHandle>* chunks, bool* finished)
      : chunks_(chunks), finished_(finished) {}
  Status Append(duckdb_data_chunk) override { return Status::Internal("chunks come with Take"); }
  Status Take(DataChunkHandle* chunk) override {
    chunks_->push_back(std::move(*chunk));
    return Status::OK();
  }
  Status Finish() override {
    *finished_ = true;
    return Status::OK();
  }

 private:
  std::vector<DataChunkHandle>* chunks_;
  bool* finished_;
};

class ReadIpcChunksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(Database::Open()).value();
    con_ = std::make_unique<Connection>(std::move(Connection::Open(db_)).value());
  }
  // Reads `ipc` into a KeepingSink; the column names and type spellings it was opened with
  // go to names_ and types_.
  Result<int64_t> Read(const std::string& ipc) {
    return ReadIpcChunks(*con_, std::make_unique<arrow_ipc::StringInputStream>(ipc),
                         [&](const RoutedColumns& columns) -> Result<std::unique_ptr<RowSink>> {
                           names_ = columns.names;
                           for (auto* type : columns.types) {
                             DUX_ASSIGN_OR_RETURN(std::string sql, LogicalTypeSql(type));
                             types_.push_back(sql);
                           }
                           return std::make_unique<KeepingSink>(&chunks_, &finished_);
                         });
  }
  std::string QueryIpc(const std::string& sql) {
    arrow_ipc::StringOutputStream out;
    EXPECT_TRUE(WriteQueryIpc(*con_, sql, &out, {}).ok());
    return out.bytes();
  }
  std::unique_ptr<Connection> Other() {
    return std::make_unique<Connection>(std::move(Connection::Open(db_)).value());
  }
  Database db_;
  std::unique_ptr<Connection> con_;
  std::vector<std::string> names_, types_;
  std::vector<DataChunkHandle> chunks_;
  bool finished_ = false;
};

// A record batch of one int64 column "id" holding [start, start + n), owning its buffers.
struct IdBatch {
  std::vector<int64_t> values;
  const void* child_buffers[2] = {nullptr, nullptr};
  const void* batch_buffers[1] = {nullptr};
  ArrowArray child{};
  ArrowArray* children[1] = {&child};
  ArrowArray batch{};
  IdBatch(int64_t start, int64_t n) : values(static_cast<size_t>(n)) {
    for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = start + i;
    child_buffers[1] = values.data();
    child = {n, 0, 0, 2, 0, child_buffers, nullptr, nullptr, &NoRelease, nullptr};
    batch = {n, 0, 0, 1, 1, batch_buffers, children, nullptr, &NoRelease, nullptr};
  }
  static void NoRelease(ArrowArray* a) { a->release = nullptr; }
};

void NoSchemaRelease(ArrowSchema* s) { s->release = nullptr; }

std::string IdBatchesIpc(const std::vector<int64_t>& lengths) {
  ArrowSchema id{"l", "id", nullptr, ARROW_FLAG_NULLABLE, 0, nullptr, nullptr, nullptr, nullptr};
  ArrowSchema* fields[1] = {&id};
  // The writer copies the schema, so these never release anything.
  id.release = &NoSchemaRelease;
  ArrowSchema schema{"+s", "", nullptr, 0, 1, fields, nullptr, &NoSchemaRelease, nullptr};
  arrow_ipc::StringOutputStream out;
  auto opened = arrow_ipc::Writer::Open(&out, schema);
  EXPECT_TRUE(opened.ok()) << opened.status().message();
  if (!opened.ok()) return "";
  auto writer = std::move(opened).value();
  int64_t start = 0;
  for (int64_t n : lengths) {
    IdBatch batch(start, n);
    Status written = writer->WriteBatch(batch.batch);
    EXPECT_TRUE(written.ok()) << written.message();
    start += n;
  }
  EXPECT_TRUE(writer->Close().ok());
  return out.bytes();
}

TEST_F(ReadIpcChunksTest, ABatchLongerThanAChunkIsReadByTheScanFromThereOn) {
  // A chunk's worth, then more than a chunk, then a short batch: every id once, in order.
  auto rows = Read(IdBatchesIpc({100, 5000, 10}));
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, 5110);
  EXPECT_TRUE(finished_);
  EXPECT_EQ(names_, std::vector<std::string>{"id"});
  EXPECT_EQ(types_, std::vector<std::string>{"BIGINT"});
  int64_t next = 0;
  for (auto& chunk : chunks_) {
    idx_t size = duckdb_data_chunk_get_size(chunk.get());
    EXPECT_LE(size, duckdb_vector_size());
    const auto* ids = static_cast<const int64_t*>(
        duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk.get(), 0)));
    for (idx_t i = 0; i < size; ++i) ASSERT_EQ(ids[i], next++);
  }
  EXPECT_EQ(next, 5110);
  EXPECT_EQ(duckdb_data_chunk_get_size(chunks_.front().get()), 100u);
}

TEST_F(ReadIpcChunksTest, AStreamWithoutBatchesStillOpensTheSinkWithItsColumns) {
  auto rows = Read(QueryIpc("SELECT 1::INTEGER AS x, 'a' AS s LIMIT 0"));
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, 0);
  EXPECT_TRUE(finished_);
  EXPECT_EQ(names_, (std::vector<std::string>{"x", "s"}));
  EXPECT_EQ(types_, (std::vector<std::string>{"INTEGER", "VARCHAR"}));
  EXPECT_TRUE(chunks_.empty());
}

TEST_F(ReadIpcChunksTest, EnumColumnsComeBackAsTheSameEnum) {
  auto rows = Read(QueryIpc(
      "SELECT (['b', 'a'])[range % 2 + 1]::ENUM('b', 'a') AS e, range AS id FROM range(3000)"));
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, 3000);
  EXPECT_EQ(types_, (std::vector<std::string>{"ENUM('b', 'a')", "BIGINT"}));
}

// DuckDB hands the batch's ownership to the conversion of its first column only. When that
// column is converted by a copy (an extension type such as the BOOLEAN-as-Int8 arrow.bool8
// that dux's processes exchange), the batch was freed before the columns after it were read:
// a worker died on a group-by whose key was a BOOLEAN. Every column must still read true,
// long strings included (they point into the batch's buffers).
TEST_F(ReadIpcChunksTest, ALosslessBooleanFirstColumnKeepsTheBatchForTheColumnsAfterIt) {
  ASSERT_TRUE(con_->Execute("SET arrow_lossless_conversion = true").ok());
  auto rows =
      Read(QueryIpc("SELECT range % 3 = 0 AS b, range % 2 = 0 AS c, range AS id, "
                    "'a string longer than inlined ' || range AS s FROM range(5000)"));
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, 5000);
  EXPECT_EQ(types_, (std::vector<std::string>{"BOOLEAN", "BOOLEAN", "BIGINT", "VARCHAR"}));
  int64_t next = 0;
  for (auto& chunk : chunks_) {
    const auto* b = static_cast<const bool*>(
        duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk.get(), 0)));
    const auto* c = static_cast<const bool*>(
        duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk.get(), 1)));
    const auto* ids = static_cast<const int64_t*>(
        duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk.get(), 2)));
    auto* s = static_cast<duckdb_string_t*>(
        duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk.get(), 3)));
    for (idx_t i = 0; i < duckdb_data_chunk_get_size(chunk.get()); ++i, ++next) {
      ASSERT_EQ(ids[i], next);
      ASSERT_EQ(b[i], next % 3 == 0);
      ASSERT_EQ(c[i], next % 2 == 0);
      ASSERT_EQ(std::string(duckdb_string_t_data(&s[i]), duckdb_string_t_length(s[i])),
                "a string longer than inlined " + std::to_string(next));
    }
  }
  EXPECT_EQ(next, 5000);
}

// Every type of test_all_types() but the ENUMs (above): the direct path gives the types and
// values the arrow scan gives a table, with DuckDB's standard Arrow types and with the
// lossless ones dux's processes exchange (where the first column, a BOOLEAN, is an extension
// type).
class EveryTypeTest : public ReadIpcChunksTest, public ::testing::WithParamInterface<bool> {};

TEST_P(EveryTypeTest, ReadsAsImportIpcReadsIt) {
  ASSERT_TRUE(con_->Execute(std::string("SET arrow_lossless_conversion = ") +
                            (GetParam() ? "true" : "false"))
                  .ok());
  const std::string source =
      "SELECT * EXCLUDE (small_enum, medium_enum, large_enum) FROM test_all_types()";
  std::string ipc = QueryIpc(source);
  ASSERT_TRUE(ImportIpc(*con_, "expected", std::make_unique<arrow_ipc::StringInputStream>(ipc),
                        TableMode::kPersistent)
                  .ok());
  auto rows = Read(ipc);
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, 3);
  std::string columns;
  for (size_t c = 0; c < names_.size(); ++c) {
    columns += (c ? ", \"" : "\"") + names_[c] + "\" " + types_[c];
  }
  ASSERT_TRUE(con_->Execute("CREATE TABLE got (" + columns + ")").ok());
  auto appending = Other();
  auto sink = std::move(OpenTableRowSink(*appending, "got")).value();
  for (auto& chunk : chunks_) ASSERT_TRUE(sink->Append(chunk.get()).ok());
  ASSERT_TRUE(sink->Finish().ok());
  auto text = [&](const std::string& sql) {
    auto out = con_->QueryText(sql);
    EXPECT_TRUE(out.ok()) << out.status().message();
    return out.ok() ? *out : std::vector<std::vector<std::optional<std::string>>>{};
  };
  const std::string types_of =
      "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '{}' ORDER BY "
      "column_index";
  auto types_in = [&](const std::string& table) {
    std::string sql = types_of;
    sql.replace(sql.find("{}"), 2, table);
    return text(sql);
  };
  EXPECT_EQ(types_in("got"), types_in("expected"));
  EXPECT_EQ(text("SELECT count(*)::VARCHAR FROM (SELECT * FROM got EXCEPT ALL SELECT * FROM "
                 "expected)")[0][0],
            "0");
  EXPECT_EQ(text("SELECT count(*)::VARCHAR FROM (SELECT * FROM expected EXCEPT ALL SELECT * FROM "
                 "got)")[0][0],
            "0");
}

INSTANTIATE_TEST_SUITE_P(ArrowTypes, EveryTypeTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Lossless" : "Standard"; });

}  // namespace
}  // namespace dux::exec
