// The partitioner on s3:// globs, against s3rver (test/support/s3_server.h), through dux's
// file system registered in the coordinator's DuckDB as engine::OpenDatabase registers it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dux/coordinator/partitioner.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/s3/config.h"
#include "dux/s3_filesystem/s3_filesystem.h"
#include "dux/sql/compiler.h"
#include "dux/sql/quote.h"
#include "s3_test_environment.h"

namespace dux::coordinator {
namespace {

using pipeline::Pipeline;

constexpr const char* kBucket = "lake";

test::S3Server* server = nullptr;

const testing::Environment* const kEnvironment =
    testing::AddGlobalTestEnvironment(new test::S3TestEnvironment({kBucket}, &server));

class PartitionerS3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<s3::Config> config = s3::LoadConfig(s3::ProcessEnvironment());
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    Result<std::unique_ptr<s3::Client>> client = s3::Client::Make(*config);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::shared_ptr<s3::Client>(std::move(client).value());
    auto db = exec::Database::Open();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    s3_filesystem::S3FileSystemOptions options;
    options.stats = stats_;
    Status registered = s3_filesystem::RegisterS3FileSystem(db_.get(), client_, options);
    ASSERT_TRUE(registered.ok()) << registered.ToString();
    auto con = exec::Connection::Open(db_);
    ASSERT_TRUE(con.ok());
    con_ = std::make_unique<exec::Connection>(std::move(con).value());
    prefix_ = std::string("s3://") + kBucket + "/" +
              testing::UnitTest::GetInstance()->current_test_info()->name() + "/";
  }

  void Sql(const std::string& sql) {
    auto done = con_->Execute(sql);
    ASSERT_TRUE(done.ok()) << done.status().ToString() << "\n" << sql;
  }

  /// Writes `select` to the parquet object `relative` below this test's prefix.
  void Write(const std::string& relative, const std::string& select) {
    Sql("COPY (" + select + ") TO " + sql::QuoteString(prefix_ + relative) + " (FORMAT parquet)");
  }

  int64_t Size(const std::string& relative) {
    std::string key = prefix_.substr(prefix_.find('/', 5) + 1) + relative;
    Result<s3::ObjectInfo> info = client_->Head(kBucket, key);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? static_cast<int64_t>(info->size) : -1;
  }

  Partitioning Partition(const Pipeline& p, size_t n) {
    auto out = PartitionSource(con_.get(), p, n);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? std::move(out).value() : Partitioning{};
  }

  std::shared_ptr<s3::Client> client_;
  std::shared_ptr<s3_filesystem::TransferStats> stats_ =
      std::make_shared<s3_filesystem::TransferStats>();
  exec::Database db_;
  std::unique_ptr<exec::Connection> con_;
  std::string prefix_;
};

// The URLs go to the workers as they are (never made "absolute" against the coordinator's
// working directory), each with its object's size, balanced as local files are.
TEST_F(PartitionerS3Test, ObjectsAreBinPackedByTheirListedSizes) {
  Write("d/a.parquet", "SELECT i, md5(i::VARCHAR) AS s FROM range(0, 20000) t(i)");
  for (const char* name : {"b", "c", "e"}) {
    Write(std::string("d/") + name + ".parquet", "SELECT i, 'x' AS s FROM range(0, 10) t(i)");
  }
  Partitioning p = Partition(Pipeline::FromParquet(prefix_ + "d/*.parquet"), 3);
  ASSERT_EQ(p.partitions.size(), 3u);
  EXPECT_EQ(p.unsplit_reason, "");
  EXPECT_EQ(p.partitions[0].files, std::vector<std::string>{prefix_ + "d/a.parquet"});
  EXPECT_EQ(p.partitions[0].bytes, Size("d/a.parquet"));
  std::set<std::string> all;
  int64_t bytes = 0;
  for (const auto& part : p.partitions) {
    all.insert(part.files.begin(), part.files.end());
    bytes += part.bytes;
  }
  EXPECT_EQ(all, (std::set<std::string>{prefix_ + "d/a.parquet", prefix_ + "d/b.parquet",
                                        prefix_ + "d/c.parquet", prefix_ + "d/e.parquet"}));
  EXPECT_EQ(bytes,
            Size("d/a.parquet") + Size("d/b.parquet") + Size("d/c.parquet") + Size("d/e.parquet"));
}

// Sizes come from listings: finding and sizing the files of a glob opens none of them.
TEST_F(PartitionerS3Test, SizingAGlobOpensNoObject) {
  Write("n/1.parquet", "SELECT 1 AS a");
  Write("n/2.parquet", "SELECT 2 AS a");
  const uint64_t heads = stats_->head_requests, gets = stats_->get_requests;
  Partitioning p = Partition(Pipeline::FromParquet(prefix_ + "n/*.parquet"), 1);
  ASSERT_EQ(p.partitions.size(), 1u);
  EXPECT_EQ(p.unsplit_reason, "one worker");
  EXPECT_EQ(stats_->head_requests, heads);
  EXPECT_EQ(stats_->get_requests, gets);
}

TEST_F(PartitionerS3Test, HiveKeysOfObjectsArePruned) {
  Sql("COPY (SELECT y AS year, y * 10 AS v FROM range(2022, 2025) t(y)) TO " +
      sql::QuoteString(prefix_ + "cal") + " (FORMAT parquet, PARTITION_BY (year))");
  Pipeline pipeline =
      Pipeline::FromParquet(prefix_ + "cal/*/*.parquet", true).Filter("year >= 2023");
  Partitioning p = Partition(pipeline, 2);
  EXPECT_EQ(p.pruning.total_files, 3u);
  ASSERT_EQ(p.pruning.files.size(), 1u);
  EXPECT_EQ(p.pruning.files[0].rfind(prefix_ + "cal/year=2022/", 0), 0u) << p.pruning.files[0];
  ASSERT_EQ(p.partitions.size(), 2u);
  for (const auto& part : p.partitions) {
    ASSERT_EQ(part.files.size(), 1u);
    EXPECT_EQ(part.files[0].rfind(prefix_ + "cal/year=202", 0), 0u) << part.files[0];
  }
}

TEST_F(PartitionerS3Test, AGlobMatchingNothingIsReadWhole) {
  Partitioning p = Partition(Pipeline::FromParquet(prefix_ + "none/*.parquet"), 2);
  ASSERT_EQ(p.partitions.size(), 1u);
  EXPECT_TRUE(p.partitions[0].files.empty());
}

}  // namespace
}  // namespace dux::coordinator
