// The bytes read per connection (read_bytes.h), against the parquet file's own column chunk
// sizes. s3:// reads are counted by the same log: s3_filesystem_server_test.cc.
#include "dux/s3_filesystem/read_bytes.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "dux/exec/duckdb_connection.h"

namespace dux::s3_filesystem {
namespace {

namespace fs = std::filesystem;

class ReadBytesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dux-read-bytes-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    Result<exec::Database> db = exec::Database::Open();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    ASSERT_TRUE(CountBytesRead(db_.get()).ok());
    file_ = (dir_ / "t.parquet").string();
    exec::Connection writer = Open();
    ASSERT_TRUE(writer
                    .Execute("COPY (SELECT range AS x, repeat('s', 20) || range AS s FROM "
                             "range(600000)) TO '" +
                             file_ + "' (ROW_GROUP_SIZE 100000)")
                    .ok());
    EXPECT_EQ(TakeBytesRead(writer.get()), 0u) << "writing is not reading";
  }
  void TearDown() override { fs::remove_all(dir_); }

  exec::Connection Open() {
    Result<exec::Connection> c = exec::Connection::Open(db_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(*c);
  }
  // The compressed size of the named columns' chunks in every row group: what a scan of
  // them must read at least.
  uint64_t ChunkBytes(const std::string& columns) {
    exec::Connection c = Open();
    Result<sql::TextRows> rows =
        c.QueryText("SELECT sum(total_compressed_size)::VARCHAR FROM parquet_metadata('" + file_ +
                    "') WHERE path_in_schema IN (" + columns + ")");
    EXPECT_TRUE(rows.ok() && rows->size() == 1);
    return rows.ok() && (*rows)[0][0] ? std::stoull(*(*rows)[0][0]) : 0;
  }

  fs::path dir_;
  exec::Database db_;
  std::string file_;
};

TEST_F(ReadBytesTest, CountsTheColumnsAScanReadsPerConnectionAndRestarts) {
  const uint64_t file_bytes = fs::file_size(file_);
  const uint64_t x_bytes = ChunkBytes("'x'");
  const uint64_t both_bytes = ChunkBytes("'x', 's'");
  ASSERT_GT(x_bytes, 0u);
  ASSERT_GT(both_bytes, 2 * x_bytes) << "s is the larger column";

  exec::Connection one_column = Open();
  exec::Connection idle = Open();
  exec::Connection all_columns = Open();
  ASSERT_TRUE(one_column.QueryText("SELECT sum(x)::VARCHAR FROM '" + file_ + "'").ok());
  ASSERT_TRUE(
      all_columns.QueryText("SELECT sum(x)::VARCHAR, max(length(s))::VARCHAR FROM '" + file_ + "'")
          .ok());
  ASSERT_TRUE(idle.QueryText("SELECT count(*)::VARCHAR FROM range(1000000)").ok());

  // The chunks, give or take the footer and page headers: within 1%.
  const uint64_t one = TakeBytesRead(one_column.get());
  EXPECT_NEAR(static_cast<double>(one), static_cast<double>(x_bytes), 0.01 * x_bytes);
  const uint64_t all = TakeBytesRead(all_columns.get());
  EXPECT_NEAR(static_cast<double>(all), static_cast<double>(both_bytes), 0.01 * both_bytes);
  EXPECT_LT(all, file_bytes);
  EXPECT_EQ(TakeBytesRead(idle.get()), 0u);

  EXPECT_EQ(TakeBytesRead(one_column.get()), 0u) << "a take restarts the count";
  ASSERT_TRUE(one_column.QueryText("SELECT sum(x)::VARCHAR FROM '" + file_ + "'").ok());
  EXPECT_NEAR(static_cast<double>(TakeBytesRead(one_column.get())), static_cast<double>(x_bytes),
              0.01 * x_bytes);
}

TEST_F(ReadBytesTest, SpilledDataIsNotCounted) {
  exec::Connection c = Open();
  ASSERT_TRUE(c.Execute("SET memory_limit = '100MB'").ok());
  ASSERT_TRUE(c.Execute("SET temp_directory = '" + (dir_ / "spill").string() + "'").ok());
  // 320 MB of rows cannot stay in 100 MB: DuckDB writes the table's blocks to its temporary
  // files and the sum reads them back.
  ASSERT_TRUE(c.Execute("CREATE TABLE t AS SELECT range AS x FROM range(40000000)").ok());
  Result<sql::TextRows> sum = c.QueryText("SELECT sum(x)::VARCHAR FROM t");
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  Result<sql::TextRows> spilled =
      c.QueryText("SELECT coalesce(sum(size), 0)::VARCHAR FROM duckdb_temporary_files()");
  ASSERT_TRUE(spilled.ok() && (*spilled)[0][0]);
  EXPECT_GT(std::stoull(*(*spilled)[0][0]), 100u << 20) << "the test must spill";
  EXPECT_EQ(TakeBytesRead(c.get()), 0u);
}

TEST(ReadBytesSetupTest, CountsOncePerDatabaseAndNeedsOne) {
  Result<exec::Database> db = exec::Database::Open();
  ASSERT_TRUE(db.ok());
  EXPECT_TRUE(CountBytesRead(db->get()).ok());
  EXPECT_EQ(CountBytesRead(db->get()).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(CountBytesRead(nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(TakeBytesRead(nullptr), 0u);
  Result<exec::Database> uncounted = exec::Database::Open();
  ASSERT_TRUE(uncounted.ok());
  Result<exec::Connection> c = exec::Connection::Open(*uncounted);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(TakeBytesRead(c->get()), 0u);
}

}  // namespace
}  // namespace dux::s3_filesystem
