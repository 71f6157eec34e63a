// SigV4 against AWS's published vectors: the generic test suite (testdata/sigv4/, service
// "service", normalised and unnormalised paths) and the S3 examples of the S3 API reference.
#include "dux/s3/sigv4.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "dux/s3/digest.h"
#include "dux/s3/s3_path.h"

namespace dux::s3 {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Decode(std::string_view text) {
  Result<std::string> decoded = UriDecode(text, /*plus_is_space=*/false);
  EXPECT_TRUE(decoded.ok()) << decoded.status().ToString();
  return decoded.ok() ? *decoded : std::string();
}

// request.txt: "METHOD path?query HTTP/1.1", "Name:value" lines (a line that starts with
// white space continues the previous value), a blank line, the body.
struct SuiteRequest {
  SigningRequest request;
  std::string body;
};

SuiteRequest ParseRequest(const std::string& text) {
  SuiteRequest out;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  const size_t space = line.find(' ');
  const size_t version = line.rfind(" HTTP/");
  out.request.method = line.substr(0, space);
  const std::string target = line.substr(space + 1, version - space - 1);
  const size_t question = target.find('?');
  out.request.path = Decode(target.substr(0, question));
  if (question != std::string::npos) {
    std::string_view query = std::string_view(target).substr(question + 1);
    while (!query.empty()) {
      std::string_view pair = query.substr(0, query.find('&'));
      query.remove_prefix(std::min(query.size(), pair.size() + 1));
      const size_t eq = pair.find('=');
      out.request.query.emplace_back(Decode(pair.substr(0, eq)), eq == std::string_view::npos
                                                                     ? ""
                                                                     : Decode(pair.substr(eq + 1)));
    }
  }
  while (std::getline(in, line) && !line.empty()) {
    if (line[0] == ' ' || line[0] == '\t') {
      out.request.headers.back().second += " " + line;
    } else {
      const size_t colon = line.find(':');
      out.request.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    }
  }
  std::stringstream rest;
  rest << in.rdbuf();
  out.body = rest.str();
  return out;
}

std::string AuthorizationOf(const std::string& signed_request) {
  std::istringstream in(signed_request);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("Authorization:")) return line.substr(14);
  }
  return "";
}

std::vector<std::string> SuiteCases() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(fs::path(DUX_S3_TESTDATA) / "sigv4")) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class S3SigV4SuiteTest : public testing::TestWithParam<std::string> {};

TEST_P(S3SigV4SuiteTest, MatchesEveryIntermediate) {
  const fs::path dir = fs::path(DUX_S3_TESTDATA) / "sigv4" / GetParam();
  const nlohmann::json context = nlohmann::json::parse(ReadFile(dir / "context.json"));
  SuiteRequest parsed = ParseRequest(ReadFile(dir / "request.txt"));

  Credentials credentials;
  credentials.access_key_id = context["credentials"]["access_key_id"];
  credentials.secret_access_key = Secret(context["credentials"]["secret_access_key"]);
  SigningParams params;
  params.region = context["region"];
  params.service = context["service"];
  params.normalize_path = context["normalize"];
  // "2015-08-30T12:36:00Z" -> "20150830T123600Z"
  std::string timestamp = context["timestamp"];
  std::erase(timestamp, '-');
  std::erase(timestamp, ':');
  params.amz_date = timestamp;

  SigningRequest& request = parsed.request;
  request.payload_hash = Sha256Hex(parsed.body);
  if (context["sign_body"])
    request.headers.emplace_back("x-amz-content-sha256", request.payload_hash);
  request.headers.emplace_back("X-Amz-Date", params.amz_date);
  if (context["credentials"].contains("token") && !context.value("omit_session_token", false)) {
    request.headers.emplace_back("X-Amz-Security-Token", context["credentials"]["token"]);
  }

  Result<Signature> signature = SignV4(request, credentials, params);
  ASSERT_TRUE(signature.ok()) << signature.status().ToString();
  EXPECT_EQ(signature->canonical_request, ReadFile(dir / "header-canonical-request.txt"));
  EXPECT_EQ(signature->string_to_sign, ReadFile(dir / "header-string-to-sign.txt"));
  EXPECT_EQ(signature->signature, ReadFile(dir / "header-signature.txt"));
  EXPECT_EQ(signature->authorization, AuthorizationOf(ReadFile(dir / "header-signed-request.txt")));
}

INSTANTIATE_TEST_SUITE_P(AwsSuite, S3SigV4SuiteTest, testing::ValuesIn(SuiteCases()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(S3SigV4Test, SuiteIsComplete) {
  // Every case the suite publishes for header signing, normalised and unnormalised paths.
  EXPECT_EQ(SuiteCases().size(), 38u);
}

// The examples of the S3 API reference ("Signature Calculations for the Authorization
// Header: Transferring Payload in a Single Chunk"): service "s3", virtual-host style.
Credentials ExampleCredentials() {
  Credentials c;
  c.access_key_id = "AKIAIOSFODNN7EXAMPLE";
  c.secret_access_key = Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  return c;
}

SigningParams ExampleParams() {
  SigningParams p;
  p.region = "us-east-1";
  p.service = "s3";
  p.amz_date = "20130524T000000Z";
  return p;
}

constexpr const char* kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

TEST(S3SigV4Test, S3ExampleGetObjectWithRange) {
  SigningRequest r;
  r.method = "GET";
  r.path = "/test.txt";
  r.payload_hash = kEmptySha256;
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Range", "bytes=0-9"},
               {"x-amz-content-sha256", kEmptySha256},
               {"x-amz-date", "20130524T000000Z"}};
  Result<Signature> s = SignV4(r, ExampleCredentials(), ExampleParams());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:" +
                std::string(kEmptySha256) +
                "\nx-amz-date:20130524T000000Z\n\n"
                "host;range;x-amz-content-sha256;x-amz-date\n" +
                kEmptySha256);
  EXPECT_EQ(s->signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(s->authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(S3SigV4Test, S3ExamplePutObject) {
  SigningRequest r;
  r.method = "PUT";
  r.path = "/test$file.text";
  r.payload_hash = Sha256Hex("Welcome to Amazon S3.");
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
               {"x-amz-date", "20130524T000000Z"},
               {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
               {"x-amz-content-sha256", r.payload_hash}};
  Result<Signature> s = SignV4(r, ExampleCredentials(), ExampleParams());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(r.payload_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(CanonicalUri(r.path, false), "/test%24file.text");
  EXPECT_EQ(s->signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(S3SigV4Test, S3ExampleGetBucketLifecycleAndList) {
  SigningRequest r;
  r.method = "GET";
  r.path = "/";
  r.payload_hash = kEmptySha256;
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"x-amz-content-sha256", kEmptySha256},
               {"x-amz-date", "20130524T000000Z"}};
  r.query = {{"lifecycle", ""}};
  Result<Signature> s = SignV4(r, ExampleCredentials(), ExampleParams());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");

  r.query = {{"prefix", "J"}, {"max-keys", "2"}};
  s = SignV4(r, ExampleCredentials(), ExampleParams());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(S3SigV4Test, QueryValuesAreEncodedOnceAndSorted) {
  // A continuation token holds '=', '+' and '/': all encoded, nothing decoded twice.
  EXPECT_EQ(CanonicalQuery({{"list-type", "2"},
                            {"continuation-token", "1/a+b==~x y"},
                            {"prefix", "dir/a%b"},
                            {"encoding-type", "url"}}),
            "continuation-token=1%2Fa%2Bb%3D%3D~x%20y&encoding-type=url&list-type=2&"
            "prefix=dir%2Fa%25b");
  // Same names sort by value; a name without value signs as "name=".
  EXPECT_EQ(CanonicalQuery({{"b", "2"}, {"b", "1"}, {"uploads", ""}, {"B", "0"}}),
            "B=0&b=1&b=2&uploads=");
}

TEST(S3SigV4Test, S3PathsAreNotNormalized) {
  EXPECT_EQ(CanonicalUri("/lake/a//b/../c/./d", false), "/lake/a//b/../c/./d");
  EXPECT_EQ(CanonicalUri("/lake/a//b/../c/./d", true), "/lake/a/c/d");
  EXPECT_EQ(CanonicalUri("/lake/x=1/a b+c%~ü.parquet", false),
            "/lake/x%3D1/a%20b%2Bc%25~%C3%BC.parquet");
  EXPECT_EQ(CanonicalUri("", false), "/");
}

TEST(S3SigV4Test, SessionTokenIsSignedWhenGiven) {
  SigningRequest r;
  r.method = "GET";
  r.path = "/k";
  r.payload_hash = kEmptySha256;
  r.headers = {{"host", "h"}, {"x-amz-date", "20130524T000000Z"}};
  Result<Signature> without = SignV4(r, ExampleCredentials(), ExampleParams());
  r.headers.emplace_back("x-amz-security-token", "token");
  Result<Signature> with = SignV4(r, ExampleCredentials(), ExampleParams());
  ASSERT_TRUE(without.ok() && with.ok());
  EXPECT_EQ(with->signed_headers, "host;x-amz-date;x-amz-security-token");
  EXPECT_NE(with->signature, without->signature);
}

TEST(S3SigV4Test, RejectsMissingInputs) {
  SigningRequest r;
  r.method = "GET";
  r.path = "/";
  r.headers = {{"x-amz-date", "20130524T000000Z"}};
  Result<Signature> s = SignV4(r, ExampleCredentials(), ExampleParams());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "sigv4: no host header to sign");

  r.headers.emplace_back("host", "h");
  SigningParams bad_date = ExampleParams();
  bad_date.amz_date = "2013-05-24";
  EXPECT_EQ(SignV4(r, ExampleCredentials(), bad_date).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SignV4(r, Credentials{}, ExampleParams()).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(S3SigV4Test, FormatsAmzDate) {
  // 2015-08-30T12:36:00Z
  auto time = std::chrono::system_clock::time_point(std::chrono::seconds(1440938160));
  EXPECT_EQ(FormatAmzDate(time), "20150830T123600Z");
}

}  // namespace
}  // namespace dux::s3
