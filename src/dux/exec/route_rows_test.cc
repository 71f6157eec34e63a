// RouteRows (route_rows.h): one streaming pass routes every row to its bucket's sink.
#include "dux/exec/route_rows.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dux/arrow_ipc/streams.h"
#include "dux/exec/arrow_import.h"
#include "dux/exec/row_sink.h"

namespace dux::exec {
namespace {

// 10,000 rows: more than a DuckDB vector per bucket, long (not inlined) strings, NULLs and a
// nested column.
constexpr const char* kSource =
    "SELECT range AS id, CASE WHEN range % 7 = 0 THEN NULL ELSE 'a fairly long string ' || "
    "range END AS s, [range, range + 1] AS l FROM range(0, 10000)";

class RouteRowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(Database::Open()).value();
    con_ = std::make_unique<Connection>(std::move(Connection::Open(db_)).value());
    sinks_con_ = std::make_unique<Connection>(std::move(Connection::Open(db_)).value());
    ASSERT_TRUE(con_->Execute(std::string("CREATE TABLE src AS ") + kSource).ok());
  }
  int64_t Count(const std::string& sql) {
    auto rows = con_->QueryText("SELECT CAST(count(*) AS VARCHAR) FROM (" + sql + ")");
    EXPECT_TRUE(rows.ok()) << rows.status().message();
    return rows.ok() ? std::stoll(*(*rows)[0][0]) : -1;
  }
  Database db_;
  std::unique_ptr<Connection> con_, sinks_con_;  // the appenders use a connection of their own
};

TEST_F(RouteRowsTest, EveryRowReachesTheSinkOfItsHashBucket) {
  const int n = 3;
  std::vector<arrow_ipc::StringOutputStream> ipc(n);
  auto routed = RouteRows(
      *con_, "SELECT *, hash(id) AS h FROM src", n,
      [&](int b, const RoutedColumns& columns) -> Result<std::unique_ptr<RowSink>> {
        EXPECT_EQ(columns.names, (std::vector<std::string>{"id", "s", "l"}));
        // Bucket 0 as a table, the others as IPC streams.
        if (b > 0) return OpenIpcRowSink(columns, &ipc[b], {});
        if (auto made = sinks_con_->Execute("CREATE TABLE b0 AS SELECT * FROM src LIMIT 0");
            !made.ok()) {
          return made.status();
        }
        return OpenTableRowSink(*sinks_con_, "b0");
      });
  ASSERT_TRUE(routed.ok()) << routed.status().message();
  for (int b = 1; b < n; ++b) {
    auto in = std::make_unique<arrow_ipc::StringInputStream>(ipc[b].bytes());
    ASSERT_TRUE(
        ImportIpc(*con_, "b" + std::to_string(b), std::move(in), TableMode::kPersistent).ok());
  }
  int64_t total = 0;
  for (int b = 0; b < n; ++b) {
    std::string table = "b" + std::to_string(b);
    EXPECT_EQ(Count("SELECT * FROM " + table), (*routed)[b]);
    EXPECT_GT((*routed)[b], 2048) << "each bucket spans several chunks";
    // BucketOfHash in SQL: the hash's high bits.
    EXPECT_EQ(Count("SELECT * FROM " + table + " WHERE (hash(id)::UHUGEINT * 3) >> 64 <> " +
                    std::to_string(b)),
              0);
    total += (*routed)[b];
  }
  EXPECT_EQ(total, 10000);
  // Not one value changed on the way: the buckets together are the source.
  std::string all = "SELECT * FROM b0 UNION ALL SELECT * FROM b1 UNION ALL SELECT * FROM b2";
  EXPECT_EQ(Count("(SELECT * FROM src) EXCEPT ALL (" + all + ")"), 0);
  EXPECT_EQ(Count("(" + all + ") EXCEPT ALL (SELECT * FROM src)"), 0);
}

TEST_F(RouteRowsTest, RefusesAQueryWithoutAHashColumnAndReportsSinkErrors) {
  auto open = [](int, const RoutedColumns&) -> Result<std::unique_ptr<RowSink>> {
    return Status::IOError("the sink cannot open");
  };
  auto no_hash = RouteRows(*con_, "SELECT id FROM src", 2, open);
  EXPECT_EQ(no_hash.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_hash.status().message().find("UBIGINT hash"), std::string::npos);
  EXPECT_EQ(RouteRows(*con_, "SELECT id, hash(id) FROM src", 0, open).status().code(),
            StatusCode::kInvalidArgument);
  auto failed = RouteRows(*con_, "SELECT id, hash(id) FROM src", 2, open);
  EXPECT_EQ(failed.status().message(), "the sink cannot open");
  EXPECT_FALSE(OpenTableRowSink(*sinks_con_, "no_such_table").ok());
}

TEST(BucketOfHash, TakesTheHashsHighBits) {
  EXPECT_EQ(BucketOfHash(0, 8), 0u);
  EXPECT_EQ(BucketOfHash(~uint64_t{0}, 8), 7u);
  EXPECT_EQ(BucketOfHash(~uint64_t{0}, 3), 2u);
  EXPECT_EQ(BucketOfHash(uint64_t{1} << 63, 2), 1u);
  // Hashes alike in their low bits (which the owner's hash tables index by) still reach
  // every bucket, so a bucket's rows keep every low-bit pattern.
  for (uint64_t k = 0; k < 8; ++k) EXPECT_EQ(BucketOfHash((k << 61) | 5, 8), k);
}

}  // namespace
}  // namespace dux::exec
