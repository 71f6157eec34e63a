#include "dux/s3/s3_request.h"

#include <gtest/gtest.h>

namespace dux::s3 {
namespace {

const std::chrono::system_clock::time_point kTime{std::chrono::seconds(1440938160)};

Config MakeConfig(const std::string& endpoint, UrlStyle style, bool with_credentials = true) {
  Config config;
  config.endpoint = *ParseEndpoint(endpoint);
  config.url_style = style;
  config.region = "eu-west-1";
  if (with_credentials) {
    config.credentials.access_key_id = "AKID";
    config.credentials.secret_access_key = Secret("secret");
    config.credentials.session_token = Secret("session");
  }
  return config;
}

std::string HeaderOf(const HttpRequest& request, const std::string& name) {
  for (const auto& [n, v] : request.headers) {
    if (n == name) return v;
  }
  return "<none>";
}

TEST(S3RequestTest, PathAndVirtualHostUrls) {
  const S3Request get = GetObjectRequest("lake", "dir/a b=c+d%.parquet", ByteRange{0, 99}, "");
  Result<HttpRequest> path =
      BuildHttpRequest(get, MakeConfig("http://127.0.0.1:9000", UrlStyle::kAuto), kTime);
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  EXPECT_EQ(path->url, "http://127.0.0.1:9000/lake/dir/a%20b%3Dc%2Bd%25.parquet");
  EXPECT_EQ(HeaderOf(*path, "Host"), "127.0.0.1:9000");
  EXPECT_EQ(HeaderOf(*path, "Range"), "bytes=0-99");

  Result<HttpRequest> virtual_host = BuildHttpRequest(
      get, MakeConfig("https://s3.eu-west-1.amazonaws.com", UrlStyle::kAuto), kTime);
  ASSERT_TRUE(virtual_host.ok());
  EXPECT_EQ(virtual_host->url,
            "https://lake.s3.eu-west-1.amazonaws.com/dir/a%20b%3Dc%2Bd%25.parquet");
  EXPECT_EQ(HeaderOf(*virtual_host, "Host"), "lake.s3.eu-west-1.amazonaws.com");

  // A dotted bucket stays in the path under auto.
  Result<HttpRequest> dotted =
      BuildHttpRequest(HeadObjectRequest("my.lake", "k"),
                       MakeConfig("https://s3.eu-west-1.amazonaws.com", UrlStyle::kAuto), kTime);
  ASSERT_TRUE(dotted.ok());
  EXPECT_EQ(dotted->url, "https://s3.eu-west-1.amazonaws.com/my.lake/k");
}

TEST(S3RequestTest, QueryEncodingAndBucketPaths) {
  const S3Request list =
      ListObjectsV2Request("lake", "a b/", std::string("/"), std::string("1/x+y=="), 100);
  Result<HttpRequest> http =
      BuildHttpRequest(list, MakeConfig("http://localhost:9000", UrlStyle::kPath), kTime);
  ASSERT_TRUE(http.ok());
  EXPECT_EQ(http->url,
            "http://localhost:9000/lake?list-type=2&prefix=a%20b%2F&continuation-token=1%2Fx%2By%3D"
            "%3D&delimiter=%2F&max-keys=100&encoding-type=url");
  http = BuildHttpRequest(CreateMultipartUploadRequest("lake", "k"),
                          MakeConfig("http://localhost:9000", UrlStyle::kPath), kTime);
  ASSERT_TRUE(http.ok());
  EXPECT_EQ(http->url, "http://localhost:9000/lake/k?uploads");
  EXPECT_EQ(http->method, "POST");
}

TEST(S3RequestTest, SigningHeaders) {
  const std::string body = "hello";
  Result<HttpRequest> http =
      BuildHttpRequest(PutObjectRequest("lake", "k", body),
                       MakeConfig("http://localhost:9000", UrlStyle::kPath), kTime);
  ASSERT_TRUE(http.ok());
  EXPECT_EQ(HeaderOf(*http, "Content-MD5"), "XUFAKrxLKna5cZ2REBfFkg==");
  EXPECT_EQ(HeaderOf(*http, "x-amz-content-sha256"),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  EXPECT_EQ(HeaderOf(*http, "x-amz-date"), "20150830T123600Z");
  EXPECT_EQ(HeaderOf(*http, "x-amz-security-token"), "session");
  EXPECT_TRUE(HeaderOf(*http, "Authorization")
                  .starts_with("AWS4-HMAC-SHA256 Credential=AKID/20150830/eu-west-1/s3/"
                               "aws4_request, SignedHeaders=content-md5;host;x-amz-content-sha256;"
                               "x-amz-date;x-amz-security-token, Signature="));
  EXPECT_EQ(http->body, "hello");

  // Over TLS an upload signs UNSIGNED-PAYLOAD (Content-MD5 guards it); other bodies are hashed.
  http = BuildHttpRequest(PutObjectRequest("lake", "k", body),
                          MakeConfig("https://s3.eu-west-1.amazonaws.com", UrlStyle::kPath), kTime);
  ASSERT_TRUE(http.ok());
  EXPECT_EQ(HeaderOf(*http, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
  const std::string xml = "<Delete/>";
  http = BuildHttpRequest(DeleteObjectsRequest("lake", xml),
                          MakeConfig("https://s3.eu-west-1.amazonaws.com", UrlStyle::kPath), kTime);
  ASSERT_TRUE(http.ok());
  EXPECT_NE(HeaderOf(*http, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
  EXPECT_NE(HeaderOf(*http, "Content-MD5"), "<none>");
}

TEST(S3RequestTest, AnonymousRequestsAreNotSigned) {
  Result<HttpRequest> http =
      BuildHttpRequest(HeadObjectRequest("lake", "k"),
                       MakeConfig("http://localhost:9000", UrlStyle::kPath, false), kTime);
  ASSERT_TRUE(http.ok());
  EXPECT_EQ(HeaderOf(*http, "Authorization"), "<none>");
  EXPECT_EQ(HeaderOf(*http, "x-amz-security-token"), "<none>");
  EXPECT_NE(HeaderOf(*http, "x-amz-content-sha256"), "<none>");  // s3rver wants it
}

TEST(S3RequestTest, DescribesTheOperation) {
  EXPECT_EQ(GetObjectRequest("lake", "a.parquet", std::nullopt, "").Describe(),
            "GET s3://lake/a.parquet");
  EXPECT_EQ(DeleteObjectsRequest("lake", "").Describe(), "POST s3://lake/");
}

}  // namespace
}  // namespace dux::s3
