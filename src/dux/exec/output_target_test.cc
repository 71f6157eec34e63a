#include "dux/exec/output_target.h"

#include <gtest/gtest.h>

namespace dux::exec {
namespace {

TEST(IsUrlTest, ASchemeBeforeSlashesMakesAUrl) {
  for (const char* url : {"s3://lake/a.parquet", "s3://lake", "S3://lake/k", "gs://b/k",
                          "hf://datasets/x", "s3a+v2.x-y://b/k"}) {
    EXPECT_TRUE(IsUrl(url)) << url;
  }
  // Local paths, including ones that hold "://" after a directory or lack the slashes.
  for (const char* path :
       {"", "/tmp/a.parquet", "out.csv", "./s3://lake/a", "dir/s3://lake", "s3:/lake/a", "s3:lake",
        "://lake", "3s://lake", "s 3://lake", "/s3://lake"}) {
    EXPECT_FALSE(IsUrl(path)) << path;
  }
}

}  // namespace
}  // namespace dux::exec
