// KeyGlob on hand-written listings: prefixes, the single-level shortcut, each pattern form.
// The comparison with DuckDB's own local glob on a real tree is in s3_filesystem_test.cc.
#include <gtest/gtest.h>

#include "key_glob_internal.h"
#include "write_handle_internal.h"

namespace dux::s3_filesystem {
namespace {

const std::vector<std::string_view> kKeys = {
    "a.csv",
    "data/",  // a directory marker
    "data/year=2024/month=1/part-0.parquet",
    "data/year=2024/month=1/part-1.parquet",
    "data/year=2024/month=12/part-0.parquet",
    "data/year=2025/month=2/part-0.parquet",
    "data/top.parquet",
    "data/x*y.csv",
    "data//double.csv",
    "odd/a b=c.csv",
    "odd/été.csv",
};

std::vector<std::string> Matched(const std::string& pattern) {
  Result<KeyGlob> glob = KeyGlob::Make(pattern);
  EXPECT_TRUE(glob.ok()) << glob.status().ToString();
  std::vector<std::string> out;
  // As S3 would list the prefix.
  std::vector<std::string_view> listed;
  for (std::string_view key : kKeys) {
    if (key.substr(0, glob->list_prefix().size()) == glob->list_prefix()) listed.push_back(key);
  }
  for (const KeyMatch& match : glob->Match(listed)) {
    out.push_back((match.is_directory ? "dir:" : "") + match.key);
  }
  return out;
}

using Keys = std::vector<std::string>;

TEST(S3KeyGlobTest, ListsTheLongestLiteralPrefix) {
  EXPECT_EQ(KeyGlob::Make("data/year=2024/*/part-0.parquet")->list_prefix(), "data/year=2024/");
  EXPECT_EQ(KeyGlob::Make("data/year=202[45]/x")->list_prefix(), "data/year=202");
  EXPECT_EQ(KeyGlob::Make("data/x\\*y.csv")->list_prefix(), "data/x");
  EXPECT_EQ(KeyGlob::Make("*.csv")->list_prefix(), "");
  EXPECT_TRUE(KeyGlob::Make("data/*.parquet")->single_level());
  EXPECT_FALSE(KeyGlob::Make("data/*/x.parquet")->single_level());
  EXPECT_FALSE(KeyGlob::Make("data/**")->single_level());
  EXPECT_FALSE(KeyGlob::Make("data/**/*.parquet")->single_level());
}

TEST(S3KeyGlobTest, StarAndQuestionMarkStayInOneSegment) {
  EXPECT_EQ(Matched("data/*.parquet"), Keys({"data/top.parquet"}));
  EXPECT_EQ(Matched("*.csv"), Keys({"a.csv"}));
  EXPECT_EQ(Matched("data/year=2024/month=?/*"), Keys({"data/year=2024/month=1/part-0.parquet",
                                                       "data/year=2024/month=1/part-1.parquet"}));
  EXPECT_EQ(Matched("data/*/*/part-0.parquet"),
            Keys({"data/year=2024/month=1/part-0.parquet", "data/year=2024/month=12/part-0.parquet",
                  "data/year=2025/month=2/part-0.parquet"}));
}

TEST(S3KeyGlobTest, DoubleStarCrossesDirectories) {
  EXPECT_EQ(Matched("data/**/part-0.parquet"),
            Keys({"data/year=2024/month=1/part-0.parquet", "data/year=2024/month=12/part-0.parquet",
                  "data/year=2025/month=2/part-0.parquet"}));
  EXPECT_EQ(Matched("data/**/*.parquet").size(), 5U);  // zero directories too: top.parquet
  EXPECT_EQ(Matched("data/year=2025/**"), Keys({"data/year=2025/month=2/part-0.parquet"}));
  EXPECT_FALSE(KeyGlob::Make("a/**/b/**").ok());
}

TEST(S3KeyGlobTest, ClassesEscapesAndLiterals) {
  EXPECT_EQ(Matched("data/year=202[5-9]/*/*.parquet"),
            Keys({"data/year=2025/month=2/part-0.parquet"}));
  EXPECT_EQ(Matched("data/year=202[!4]/*/*.parquet"),
            Keys({"data/year=2025/month=2/part-0.parquet"}));
  EXPECT_EQ(Matched("data/x\\*y.csv"), Keys({"data/x*y.csv"}));
  // Nothing matches as a glob: the pattern is taken as a key, as DuckDB does.
  EXPECT_EQ(Matched("data/x*y.csv"), Keys({"data/x*y.csv"}));
  EXPECT_EQ(Matched("odd/*=c.csv"), Keys({"odd/a b=c.csv"}));
  EXPECT_EQ(Matched("odd/é*"), Keys({"odd/été.csv"}));
  // Empty segments are kept: S3 keys are not paths.
  EXPECT_EQ(Matched("data//*.csv"), Keys({"data//double.csv"}));
}

TEST(S3KeyGlobTest, ALiteralLastSegmentMatchesDirectoriesToo) {
  EXPECT_EQ(Matched("data/*/month=1"), Keys({"dir:data/year=2024/month=1"}));
  EXPECT_EQ(Matched("*/year=2025"), Keys({"dir:data/year=2025"}));
  EXPECT_TRUE(Matched("data/*/month=3").empty());
}

TEST(S3KeyGlobTest, DirectoryMarkersAreNotObjects) {
  EXPECT_EQ(Matched("d*"), Keys());
  EXPECT_EQ(Matched("dat?"), Keys());
}

TEST(S3WritePartTest, PartsGrowEveryThousandAndStopAtFiveGiB) {
  const uint64_t mib = 1 << 20;
  EXPECT_EQ(PartSize(8 * mib, 1), 8 * mib);
  EXPECT_EQ(PartSize(8 * mib, 1000), 8 * mib);
  EXPECT_EQ(PartSize(8 * mib, 1001), 16 * mib);
  EXPECT_EQ(PartSize(8 * mib, 10000), 4096 * mib);
  uint64_t total = 0;
  for (int part = 1; part <= 10000; ++part) total += PartSize(8 * mib, part);
  EXPECT_GT(total, uint64_t{5} << 40);  // S3's largest object fits
  EXPECT_EQ(PartSize(uint64_t{1} << 30, 9000), uint64_t{5} << 30);
}

}  // namespace
}  // namespace dux::s3_filesystem
