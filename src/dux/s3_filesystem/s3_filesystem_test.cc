// Registration and the rules that keep a confined database's S3 access inside its prefixes,
// without a server (the server tests are in s3_filesystem_server_test.cc).
#include "dux/s3_filesystem/s3_filesystem.h"

#include <gtest/gtest.h>

#include "dux/exec/duckdb_connection.h"
#include "file_system_internal.h"

namespace dux::s3_filesystem {
namespace {

TEST(S3AllowedDirectoryTest, NamesABucketOrAPrefixWithoutTrailingSlash) {
  EXPECT_EQ(*S3AllowedDirectory("s3://lake"), "s3://lake");
  EXPECT_EQ(*S3AllowedDirectory("s3://lake/"), "s3://lake");
  EXPECT_EQ(*S3AllowedDirectory("s3://lake/events/2024"), "s3://lake/events/2024");
  EXPECT_EQ(*S3AllowedDirectory("s3://lake/events/"), "s3://lake/events");
  EXPECT_EQ(*S3AllowedDirectory("s3://lake/a b=c/é"), "s3://lake/a b=c/é");
}

TEST(S3AllowedDirectoryTest, RefusesWhatDuckDBWouldResolveDifferentlyFromS3) {
  for (const char* url : {"s3://lake/a/../b", "s3://lake/./a", "s3://lake/a//b", "s3://lake/*",
                          "s3://lake/a?", "s3://lake/[ab]", "s3://Lake/a", "s3://", "/local"}) {
    Result<std::string> entry = S3AllowedDirectory(url);
    EXPECT_FALSE(entry.ok()) << url << " -> " << *entry;
    if (!entry.ok()) {
      EXPECT_EQ(entry.status().code(), StatusCode::kInvalidArgument) << url;
    }
  }
}

TEST(S3PathForDuckDBTest, ClaimsEveryPathDuckDBsAllowListReadsAsS3) {
  for (const char* path :
       {"s3://lake/a", "s3:/lake/a", "./s3:/lake/a", "x/../s3:/lake/a", "s3:", ".//s3://lake/a"}) {
    EXPECT_TRUE(IsS3PathForDuckDB(path)) << path;
  }
  for (const char* path : {"/s3:/lake/a", "data/s3:/a", "s3a://lake/a", "S3://lake/a", "", "a.csv",
                           "/tmp/x/../s3:/a"}) {
    EXPECT_FALSE(IsS3PathForDuckDB(path)) << path;
  }
}

TEST(S3RegisterTest, RegistersOnceAndNeverTouchesTheNetwork) {
  Result<exec::Database> db = exec::Database::Open();
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  // An unusable client: the database still opens, s3:// paths fail with its error.
  Result<std::shared_ptr<s3::Client>> broken =
      Status::InvalidArgument("AWS_PROFILE: no such profile");
  ASSERT_TRUE(RegisterS3FileSystem(db->get(), broken).ok());
  EXPECT_EQ(RegisterS3FileSystem(db->get(), broken).code(), StatusCode::kAlreadyExists);
  Result<exec::Connection> c = exec::Connection::Open(*db);
  ASSERT_TRUE(c.ok());
  Result<sql::TextRows> rows = c->QueryText("SELECT * FROM read_csv('s3://lake/a.csv')");
  ASSERT_FALSE(rows.ok());
  EXPECT_NE(rows.status().message().find("AWS_PROFILE: no such profile"), std::string::npos)
      << rows.status().ToString();
  // Local files are untouched.
  EXPECT_TRUE(c->QueryText("SELECT count(*)::VARCHAR FROM range(3)").ok());
  EXPECT_EQ(RegisterS3FileSystem(nullptr, broken).code(), StatusCode::kInvalidArgument);
  S3FileSystemOptions small;
  small.part_bytes = 1 << 20;
  EXPECT_EQ(RegisterS3FileSystem(db->get(), broken, small).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dux::s3_filesystem
