#include "dux/s3/s3_path.h"

#include <gtest/gtest.h>

namespace dux::s3 {
namespace {

TEST(S3PathTest, ParsesBucketAndKey) {
  Result<S3Path> p = ParseS3Path("s3://lake/events/2024/a b=c.parquet");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->bucket, "lake");
  EXPECT_EQ(p->key, "events/2024/a b=c.parquet");
  EXPECT_EQ(p->ToString(), "s3://lake/events/2024/a b=c.parquet");

  p = ParseS3Path("s3://lake");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->key, "");
  p = ParseS3Path("s3://lake/");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->key, "");
  // Glob characters are plain key bytes.
  p = ParseS3Path("s3://lake/**/*.parquet");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->key, "**/*.parquet");
}

TEST(S3PathTest, ErrorsNameThePath) {
  EXPECT_EQ(ParseS3Path("/data/a.parquet").status().message(),
            "s3: invalid path \"/data/a.parquet\": an S3 path starts with s3://");
  EXPECT_EQ(ParseS3Path("S3://lake/a").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseS3Path("s3:///a").status().message(),
            "s3: invalid path \"s3:///a\": no bucket name after s3://");
  EXPECT_EQ(ParseS3Path("s3://Lake/a").status().message(),
            "s3: invalid path \"s3://Lake/a\": bucket name \"Lake\" may hold only lowercase "
            "letters, digits, '.' and '-'");
  EXPECT_EQ(ParseS3Path("s3://lake/" + std::string(1025, 'k')).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(ParseS3Path("s3://lake/" + std::string(1024, 'k')).ok());
  EXPECT_EQ(ParseS3Path("s3://lake/bad\xff").status().message(),
            "s3: invalid path \"s3://lake/bad\xff\": the key is not valid UTF-8");
  EXPECT_FALSE(ParseS3Path("s3://lake/trunc\xe2\x82").ok());
  EXPECT_FALSE(ParseS3Path("s3://lake/overlong\xc0\xaf").ok());
  EXPECT_TRUE(ParseS3Path("s3://lake/\xe2\x82\xac\xf0\x9f\x98\x80").ok());
}

TEST(S3PathTest, BucketNameRules) {
  EXPECT_TRUE(ValidateBucketName("my-bucket.2024").ok());
  EXPECT_TRUE(ValidateBucketName("abc").ok());
  EXPECT_FALSE(ValidateBucketName("ab").ok());
  EXPECT_FALSE(ValidateBucketName(std::string(64, 'a')).ok());
  EXPECT_TRUE(ValidateBucketName(std::string(63, 'a')).ok());
  EXPECT_FALSE(ValidateBucketName("my_bucket").ok());
  EXPECT_FALSE(ValidateBucketName("-bucket").ok());
  EXPECT_FALSE(ValidateBucketName("bucket.").ok());
  EXPECT_FALSE(ValidateBucketName("a..b").ok());
  EXPECT_EQ(ValidateBucketName("192.168.5.4").message(),
            "bucket name \"192.168.5.4\" must not be an IP address");
  EXPECT_TRUE(ValidateBucketName("192.168.5").ok());
  EXPECT_FALSE(ValidateBucketName("xn--bucket").ok());
  EXPECT_FALSE(ValidateBucketName("bucket-s3alias").ok());
  EXPECT_TRUE(IsVirtualHostCompatible("lake"));
  EXPECT_FALSE(IsVirtualHostCompatible("my.lake"));
}

TEST(S3PathTest, EncodesTheUnreservedSetOnly) {
  EXPECT_EQ(UriEncode("AZaz09-._~", false), "AZaz09-._~");
  EXPECT_EQ(UriEncode("a b/c=d+e%f", true), "a%20b/c%3Dd%2Be%25f");
  EXPECT_EQ(UriEncode("a b/c=d+e%f", false), "a%20b%2Fc%3Dd%2Be%25f");
  EXPECT_EQ(UriEncode("\xc3\xbc*!'()", true), "%C3%BC%2A%21%27%28%29");
}

TEST(S3PathTest, DecodesPercentAndOptionallyPlus) {
  EXPECT_EQ(*UriDecode("a%20b+c%2Fd%c3%bc", false), "a b+c/d\xc3\xbc");
  EXPECT_EQ(*UriDecode("a%20b+c", true), "a b c");
  EXPECT_FALSE(UriDecode("a%2", false).ok());
  EXPECT_FALSE(UriDecode("a%zz", false).ok());
  EXPECT_FALSE(UriDecode("%", false).ok());
  // Round trip of every byte.
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  EXPECT_EQ(*UriDecode(UriEncode(all, false), false), all);
}

}  // namespace
}  // namespace dux::s3
