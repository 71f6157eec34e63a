#include "dux/s3/config.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace dux::s3 {
namespace {

namespace fs = std::filesystem;

// A temporary HOME with ~/.aws/, and an environment holding only HOME: the machine's own
// variables and files never reach these tests.
class S3ConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dux-s3-config-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    home_ = tmpl;
    fs::create_directories(home_ / ".aws");
    env_ = {{"HOME", home_.string()}};
  }
  void TearDown() override { fs::remove_all(home_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(home_ / ".aws" / name) << text;
  }

  fs::path home_;
  Environment env_;
};

TEST_F(S3ConfigTest, DefaultsWithNothingConfigured) {
  Result<Config> c = LoadConfig(env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->credentials.anonymous());
  EXPECT_EQ(c->credentials_source, "none (requests are not signed)");
  EXPECT_EQ(c->region, "us-east-1");
  EXPECT_EQ(c->endpoint.ToString(), "https://s3.us-east-1.amazonaws.com");
  EXPECT_EQ(c->url_style, UrlStyle::kAuto);
  EXPECT_EQ(c->StyleFor("lake"), UrlStyle::kVirtualHost);
  EXPECT_EQ(c->StyleFor("my.lake"), UrlStyle::kPath);
}

TEST_F(S3ConfigTest, EnvironmentCredentialsRegionAndEndpoint) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "secret-env";
  env_["AWS_SESSION_TOKEN"] = "token-env";
  env_["AWS_DEFAULT_REGION"] = "eu-west-1";
  env_["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9000";
  Result<Config> c = LoadConfig(env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AKIDENV");
  EXPECT_EQ(c->credentials.secret_access_key.Reveal(), "secret-env");
  EXPECT_EQ(c->credentials.session_token.Reveal(), "token-env");
  EXPECT_EQ(c->credentials_source, "environment");
  EXPECT_EQ(c->region, "eu-west-1");
  EXPECT_FALSE(c->endpoint.tls());
  EXPECT_EQ(c->endpoint.Authority(), "127.0.0.1:9000");
  // An IP address (or localhost) cannot take virtual-host URLs: path style.
  EXPECT_EQ(c->StyleFor("lake"), UrlStyle::kPath);

  // AWS_REGION wins over AWS_DEFAULT_REGION; AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL.
  env_["AWS_REGION"] = "ap-south-1";
  env_["AWS_ENDPOINT_URL_S3"] = "https://localhost:9443";
  c = LoadConfig(env_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->region, "ap-south-1");
  EXPECT_EQ(c->endpoint.ToString(), "https://localhost:9443");
  EXPECT_EQ(c->StyleFor("lake"), UrlStyle::kPath);
}

TEST_F(S3ConfigTest, HalfAKeyPairIsAnErrorThatShowsNoValue) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  Result<Config> c = LoadConfig(env_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "s3: the environment sets AWS_ACCESS_KEY_ID but not AWS_SECRET_ACCESS_KEY");
  env_.erase("AWS_ACCESS_KEY_ID");
  env_["AWS_SECRET_ACCESS_KEY"] = "very-secret";
  c = LoadConfig(env_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().find("very-secret"), std::string::npos);
  // Empty variables count as unset.
  env_["AWS_SECRET_ACCESS_KEY"] = "";
  EXPECT_TRUE(LoadConfig(env_).ok());
}

TEST_F(S3ConfigTest, SharedFilesAndProfiles) {
  Write("credentials",
        "# comment\n"
        "[default]\n"
        "aws_access_key_id = AKIDDEFAULT\n"
        "aws_secret_access_key = secret-default\n"
        "\n"
        "[dev]\n"
        "aws_access_key_id=AKIDDEV\n"
        "aws_secret_access_key=secret-dev\n"
        "aws_session_token = token-dev\n");
  Write("config",
        "[default]\n"
        "region = us-west-2\n"
        "[profile dev]\n"
        "region = eu-central-1\n"
        "endpoint_url = http://minio.internal:9000\n"
        "s3 =\n"
        "  addressing_style = path\n"
        "[profile  keys-in-config]\n"
        "aws_access_key_id = AKIDCONFIG\n"
        "aws_secret_access_key = secret-config\n");

  Result<Config> c = LoadConfig(env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AKIDDEFAULT");
  EXPECT_EQ(c->credentials_source,
            "profile \"default\" in " + (home_ / ".aws/credentials").string());
  EXPECT_EQ(c->region, "us-west-2");
  EXPECT_EQ(c->endpoint.ToString(), "https://s3.us-west-2.amazonaws.com");

  env_["AWS_PROFILE"] = "dev";
  c = LoadConfig(env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AKIDDEV");
  EXPECT_EQ(c->credentials.session_token.Reveal(), "token-dev");
  EXPECT_EQ(c->region, "eu-central-1");
  EXPECT_EQ(c->endpoint.ToString(), "http://minio.internal:9000");
  EXPECT_EQ(c->url_style, UrlStyle::kPath);
  EXPECT_EQ(c->StyleFor("lake"), UrlStyle::kPath);

  // Keys in the config file count when the credentials file has none for the profile.
  env_["AWS_PROFILE"] = "keys-in-config";
  c = LoadConfig(env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AKIDCONFIG");
  EXPECT_EQ(c->credentials_source,
            "profile \"keys-in-config\" in " + (home_ / ".aws/config").string());
  EXPECT_EQ(c->region, "us-east-1");
}

TEST_F(S3ConfigTest, PrecedenceFollowsTheAwsCli) {
  Write("credentials", "[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s-dev\n");
  Write("config", "[profile dev]\nregion = eu-central-1\n");
  env_["AWS_PROFILE"] = "dev";
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "s-env";
  env_["AWS_REGION"] = "ap-south-1";

  // The environment's keys win over AWS_PROFILE's file (the CLI's order)...
  Result<Config> c = LoadConfig(env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AKIDENV");
  EXPECT_EQ(c->region, "ap-south-1");

  // ...but a profile chosen for the run (like --profile) makes them ignored.
  ConfigOverrides overrides;
  overrides.profile = "dev";
  c = LoadConfig(env_, overrides);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AKIDDEV");
  EXPECT_EQ(c->region, "ap-south-1");  // the environment still wins over the file

  // Per-run settings win over everything.
  overrides.region = "sa-east-1";
  overrides.endpoint = "localhost:4566";
  overrides.use_tls = false;
  overrides.url_style = UrlStyle::kVirtualHost;
  Credentials run;
  run.access_key_id = "AKIDRUN";
  run.secret_access_key = Secret("s-run");
  overrides.credentials = run;
  c = LoadConfig(env_, overrides);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "AKIDRUN");
  EXPECT_EQ(c->credentials_source, "per-run settings");
  EXPECT_EQ(c->region, "sa-east-1");
  EXPECT_EQ(c->endpoint.ToString(), "http://localhost:4566");
  EXPECT_EQ(c->StyleFor("lake"), UrlStyle::kVirtualHost);
}

TEST_F(S3ConfigTest, FileLocationsFromTheEnvironment) {
  fs::path elsewhere = home_ / "elsewhere";
  fs::create_directories(elsewhere);
  std::ofstream(elsewhere / "creds") << "[default]\naws_access_key_id = A1\n"
                                        "aws_secret_access_key = s1\n";
  std::ofstream(elsewhere / "conf") << "[default]\nregion = eu-north-1\n"
                                       "services = local\n"
                                       "[services local]\n"
                                       "s3 =\n"
                                       "  endpoint_url = http://127.0.0.2:7000\n";
  env_["AWS_SHARED_CREDENTIALS_FILE"] = (elsewhere / "creds").string();
  env_["AWS_CONFIG_FILE"] = (elsewhere / "conf").string();
  Write("credentials", "[default]\naws_access_key_id = NOT-THIS\naws_secret_access_key = x\n");
  Result<Config> c = LoadConfig(env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->credentials.access_key_id, "A1");
  EXPECT_EQ(c->region, "eu-north-1");
  EXPECT_EQ(c->endpoint.ToString(), "http://127.0.0.2:7000");

  env_["AWS_CONFIG_FILE"] = "~/elsewhere/conf";  // ~ is $HOME
  c = LoadConfig(env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->region, "eu-north-1");
}

TEST_F(S3ConfigTest, ErrorsNameTheFileAndLine) {
  env_["AWS_PROFILE"] = "missing";
  Result<Config> c = LoadConfig(env_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(),
            "s3: the AWS profile \"missing\" (from AWS_PROFILE) is in neither " +
                (home_ / ".aws/credentials").string() + " nor " + (home_ / ".aws/config").string());
  env_.erase("AWS_PROFILE");

  Write("config", "[default]\nregion = us-east-1\nthis line is wrong\n");
  c = LoadConfig(env_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "s3: cannot read " + (home_ / ".aws/config").string() +
                                      " line 3: expected \"name = value\"");

  Write("config", "region = us-east-1\n");
  EXPECT_FALSE(LoadConfig(env_).ok());

  Write("config", "[default]\ns3 =\n  addressing_style = sideways\n");
  c = LoadConfig(env_);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("unknown URL style \"sideways\""), std::string::npos);

  Write("config", "[default]\n");
  Write("credentials", "[default]\naws_secret_access_key = shh-123\n");
  c = LoadConfig(env_);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("sets aws_secret_access_key but not aws_access_key_id"),
            std::string::npos);
  EXPECT_EQ(c.status().message().find("shh-123"), std::string::npos);
}

TEST(S3EndpointTest, Parses) {
  Result<Endpoint> e = ParseEndpoint("http://127.0.0.1:9000");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->scheme, "http");
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 9000);
  EXPECT_TRUE(e->IsIpOrLocalhost());
  e = ParseEndpoint("https://S3.Example.com/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->ToString(), "https://s3.example.com");
  EXPECT_FALSE(e->IsIpOrLocalhost());
  e = ParseEndpoint("https://s3.example.com:443");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->Authority(), "s3.example.com");  // the default port is left out of Host
  e = ParseEndpoint("[::1]:9000");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->ToString(), "https://[::1]:9000");
  EXPECT_TRUE(e->IsIpOrLocalhost());
  e = ParseEndpoint("localhost");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->tls());
  EXPECT_TRUE(e->IsIpOrLocalhost());

  EXPECT_EQ(ParseEndpoint("ftp://x").status().message(),
            "s3: invalid endpoint \"ftp://x\": the scheme must be http or https");
  EXPECT_FALSE(ParseEndpoint("http://x/bucket").ok());
  EXPECT_FALSE(ParseEndpoint("http://user:pw@x").ok());
  EXPECT_FALSE(ParseEndpoint("http://x:0").ok());
  EXPECT_FALSE(ParseEndpoint("http://x:65536").ok());
  EXPECT_FALSE(ParseEndpoint("http://x:").ok());
  EXPECT_FALSE(ParseEndpoint("http://:80").ok());
}

TEST(S3SecretTest, NeverPrintsItsValue) {
  Secret secret("wJalrXUtnFEMI/K7MDENG");
  std::ostringstream streamed;
  streamed << secret;
  EXPECT_EQ(streamed.str(), "<redacted>");
  EXPECT_EQ(fmt::format("{}", secret), "<redacted>");
  EXPECT_EQ(fmt::format("{:>12}", secret), "  <redacted>");
  EXPECT_EQ(fmt::format("{}", Secret()), "<empty>");
  EXPECT_EQ(testing::PrintToString(secret), "<redacted>");
  EXPECT_EQ(secret.Reveal(), "wJalrXUtnFEMI/K7MDENG");

  Config config;
  config.credentials.access_key_id = "AKID";
  config.credentials.secret_access_key = secret;
  config.credentials.session_token = Secret("token-value");
  config.credentials_source = "environment";
  config.endpoint.host = "s3.us-east-1.amazonaws.com";
  const std::string described = config.Describe();
  EXPECT_EQ(described,
            "endpoint https://s3.us-east-1.amazonaws.com, region us-east-1, auto URL style, "
            "credentials: environment");
}

}  // namespace
}  // namespace dux::s3
