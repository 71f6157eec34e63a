// BucketStore (bucket_store.h): buckets in memory read by name like tables, moved to DuckDB
// tables beyond the budget or when a later fill's types differ, and dropped.
#include "dux/worker/bucket_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "dux/arrow_ipc/streams.h"
#include "dux/exec/arrow_export.h"
#include "dux/exec/arrow_import.h"

namespace dux::worker {
namespace {

// Long strings (kept in the vectors' heaps), NULLs and a nested column, over several chunks.
constexpr const char* kRows =
    "SELECT range AS id, CASE WHEN range % 7 = 0 THEN NULL ELSE 'a fairly long string ' || "
    "range END AS s, [range, range + 1] AS l FROM range(0, 10000)";

class BucketStoreTest : public ::testing::Test {
 protected:
  void Install(int64_t budget, const std::string& threads = "2") {
    db_ = std::move(exec::Database::Open("", {{"threads", threads}})).value();
    con_ = std::make_unique<exec::Connection>(std::move(exec::Connection::Open(db_)).value());
    store_ = std::move(BucketStore::Install(db_, budget)).value();
  }
  // Fills bucket `name` with the rows of `sql`, as an exchange's owner does.
  Status Fill(const std::string& name, const std::string& sql) {
    arrow_ipc::StringOutputStream ipc;
    DUX_ASSIGN_OR_RETURN(exec::Connection c, exec::Connection::Open(db_));
    DUX_RETURN_NOT_OK(exec::WriteQueryIpc(c, sql, &ipc, {}).status());
    return exec::ReadIpcChunks(
               c, std::make_unique<arrow_ipc::StringInputStream>(ipc.bytes()),
               [&](const exec::RoutedColumns& columns) { return store_->Open(db_, name, columns); })
        .status();
  }
  std::string One(const std::string& sql) {
    auto rows = con_->QueryText("SELECT CAST((" + sql + ") AS VARCHAR)");
    EXPECT_TRUE(rows.ok()) << rows.status().message();
    return rows.ok() ? (*rows)[0][0].value_or("NULL") : "error";
  }
  // Whether the store's bytes come down to `bytes` within 10 s (dropped buckets are freed
  // on the store's own thread).
  bool BytesReach(int64_t bytes) {
    for (int i = 0; i < 1000 && store_->bytes() != bytes; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return store_->bytes() == bytes;
  }
  bool IsTable(const std::string& name) {
    return One("SELECT count(*) FROM duckdb_tables() WHERE table_name = '" + name + "'") == "1";
  }
  exec::Database db_;
  std::unique_ptr<exec::Connection> con_;
  std::shared_ptr<BucketStore> store_;
};

TEST_F(BucketStoreTest, ABucketReadsLikeATableAsOftenAsAQueryNamesIt) {
  Install(int64_t{1} << 30);
  ASSERT_TRUE(Fill("b0", kRows).ok());
  EXPECT_TRUE(store_->Holds("b0"));
  EXPECT_FALSE(IsTable("b0"));
  EXPECT_GT(store_->bytes(), 10000 * 16);
  // Every row, column and type as they went in (compared with the source both ways).
  std::string diff = "SELECT count(*) FROM ((SELECT * FROM b0 EXCEPT ALL " + std::string(kRows) +
                     ") UNION ALL (" + kRows + " EXCEPT ALL SELECT * FROM b0))";
  EXPECT_EQ(One(diff), "0");
  EXPECT_EQ(One("SELECT typeof(s) || typeof(l) FROM b0 LIMIT 1"), "VARCHARBIGINT[]");
  // Scanned twice in one query (a self-join), on two threads, from another connection.
  auto other = std::move(exec::Connection::Open(db_)).value();
  auto joined = other.QueryText(
      "SELECT CAST(count(*) AS VARCHAR) FROM b0 AS a JOIN b0 AS b ON a.id = b.id + 1");
  ASSERT_TRUE(joined.ok()) << joined.status().message();
  EXPECT_EQ((*joined)[0][0], "9999");
  // A name no bucket has is DuckDB's own error.
  auto missing = con_->QueryText("SELECT CAST(count(*) AS VARCHAR) FROM b1");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("b1"), std::string::npos);

  EXPECT_TRUE(store_->Drop("b0"));
  EXPECT_FALSE(store_->Holds("b0"));
  EXPECT_FALSE(con_->QueryText("SELECT CAST(count(*) AS VARCHAR) FROM b0").ok());
  // Its chunks are freed on the store's thread, and counted until then.
  EXPECT_TRUE(BytesReach(0));
}

TEST_F(BucketStoreTest, ABucketDroppedWhileAQueryReadsItStaysUntilTheQueryEnds) {
  // One DuckDB thread: what is tested is the drop during a read. With two, the scan's state
  // made on DuckDB's task thread and freed by the query's end on this one are handed over
  // through DuckDB's atomics, which ThreadSanitizer cannot see (tsan.supp).
  Install(int64_t{1} << 30, "1");
  ASSERT_TRUE(Fill("b0", kRows).ok());
  // Drops the bucket when the query's first batch arrives; the query reads on.
  struct DropOnFirstBatch : exec::ArrowBatchSink {
    BucketStore* store;
    int64_t rows = 0;
    Status Schema(const ArrowSchema&) override { return Status::OK(); }
    Status Batch(const ArrowArray& batch) override {
      if (rows == 0) {
        EXPECT_TRUE(store->Drop("b0"));
      }
      rows += batch.length;
      return Status::OK();
    }
  } sink;
  sink.store = store_.get();
  auto exported = exec::ExportArrow(*con_, "SELECT id FROM b0", &sink);
  ASSERT_TRUE(exported.ok()) << exported.status().message();
  EXPECT_EQ(*exported, 10000);
  EXPECT_EQ(sink.rows, 10000);
  EXPECT_FALSE(store_->Holds("b0"));
  EXPECT_TRUE(BytesReach(0));
}

TEST_F(BucketStoreTest, BeyondTheBudgetABucketMovesToATable) {
  Install(200 << 10);  // 200 KiB: the first bucket fits, the second does not
  ASSERT_TRUE(Fill("small", "SELECT range AS id FROM range(0, 5000)").ok());
  ASSERT_TRUE(Fill("large", kRows).ok());
  EXPECT_TRUE(store_->Holds("small"));
  EXPECT_FALSE(store_->Holds("large"));
  EXPECT_TRUE(IsTable("large"));
  EXPECT_LE(store_->bytes(), 200 << 10);
  EXPECT_EQ(One("SELECT count(*) FROM large"), "10000");
  EXPECT_EQ(One("SELECT count(*) FROM (SELECT * FROM large EXCEPT ALL " + std::string(kRows) + ")"),
            "0");
  // A later fill of the moved bucket appends to its table.
  ASSERT_TRUE(Fill("large", kRows).ok());
  EXPECT_EQ(One("SELECT count(*) FROM large"), "20000");
  // The caller drops a moved bucket's table; the store only forgets it.
  EXPECT_FALSE(store_->Drop("large"));
  EXPECT_TRUE(con_->Execute("DROP TABLE large").ok());
}

TEST_F(BucketStoreTest, AFillOfOtherTypesMovesTheBucketToATableThatCastsThem) {
  Install(int64_t{1} << 30);
  ASSERT_TRUE(Fill("b", "SELECT range::BIGINT AS k FROM range(0, 3000)").ok());
  ASSERT_TRUE(Fill("b", "SELECT range::BIGINT AS k FROM range(3000, 4000)").ok());
  EXPECT_TRUE(store_->Holds("b"));
  ASSERT_TRUE(Fill("b", "SELECT range::INTEGER AS k FROM range(4000, 5000)").ok());
  EXPECT_FALSE(store_->Holds("b"));
  EXPECT_TRUE(IsTable("b"));
  EXPECT_EQ(One("SELECT sum(k) FROM b"), std::to_string(4999 * 5000 / 2));
  EXPECT_EQ(One("SELECT typeof(k) FROM b LIMIT 1"), "BIGINT");
}

TEST_F(BucketStoreTest, SinksOfOneBucketMayRunAtOnce) {
  Install(400 << 10);  // the bucket moves to a table while several sinks fill it
  std::vector<std::thread> fillers;
  std::vector<Status> filled(4);
  fillers.reserve(filled.size());
  for (int i = 0; i < 4; ++i) {
    fillers.emplace_back([&, i] {
      filled[i] = Fill("shared", "SELECT range AS id FROM range(" + std::to_string(i * 20000) +
                                     ", " + std::to_string((i + 1) * 20000) + ")");
    });
  }
  for (auto& f : fillers) f.join();
  for (const auto& s : filled) EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(One("SELECT count(DISTINCT id) FROM shared"), "80000");
  EXPECT_EQ(One("SELECT count(*) FROM shared"), "80000");
}

TEST(ParseMemorySize, ReadsDuckDbsSpellings) {
  EXPECT_EQ(*ParseMemorySize("1000 bytes"), 1000);
  EXPECT_EQ(*ParseMemorySize("512.0 MiB"), int64_t{512} << 20);
  EXPECT_EQ(*ParseMemorySize("1.5 GiB"), int64_t{3} << 29);
  EXPECT_EQ(*ParseMemorySize("2GB"), 2000000000);
  EXPECT_FALSE(ParseMemorySize("lots").ok());
  EXPECT_FALSE(ParseMemorySize("12 parsecs").ok());
}

}  // namespace
}  // namespace dux::worker
