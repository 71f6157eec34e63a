// A worker confined with --allow-dir s3://bucket/prefix (WorkerOptions::allowed_directories)
// reads that prefix and nothing else of S3, against s3rver on loopback
// (test/support/s3_server.h). docs/s3.md, "Security".
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include "dux/pipeline/language.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/s3/client.h"
#include "dux/s3/config.h"
#include "dux/worker/worker.h"
#include "s3_test_environment.h"

namespace dux::worker {
namespace {

namespace fs = std::filesystem;

test::S3Server* server = nullptr;

// The worker's own environment, as `dux worker` would have it.
class S3Environment : public test::S3TestEnvironment {
 public:
  S3Environment() : S3TestEnvironment({"lake"}, &server, "SECRET-VALUE-never-printed") {}
  void SetUp() override {
    S3TestEnvironment::SetUp();
    if (testing::Test::HasFatalFailure()) return;
    Result<s3::Config> config = s3::LoadConfig(s3::ProcessEnvironment());
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    Result<std::unique_ptr<s3::Client>> client = s3::Client::Make(*config);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    for (const char* key :
         {"allowed/a.csv", "allowed/deeper/b.csv", "secret/a.csv", "allowedx/a.csv"}) {
      ASSERT_TRUE((*client)->Put("lake", key, "x\n7\n").ok());
    }
  }
};

const testing::Environment* const kEnvironment =
    testing::AddGlobalTestEnvironment(new S3Environment);

class CountingWriter : public ChunkWriter {
 public:
  bool Write(std::string chunk) override {
    bytes += chunk.size();
    return true;
  }
  size_t bytes = 0;
};

Status RunFragment(Worker& worker, const std::string& text) {
  Result<pipeline::Script> script = pipeline::ParseScript(text);
  if (!script.ok()) return script.status();
  v1::ExecuteRequest request;
  request.mutable_fragment()->set_query_id("q");
  pipeline::ToProto(*script, request.mutable_fragment()->mutable_script());
  CountingWriter out;
  Status status = worker.Execute(request, &out);
  if (status.ok() && out.bytes == 0) return Status::Internal("no rows came back");
  return status;
}

std::unique_ptr<Worker> OpenWorker(std::vector<std::string> allowed) {
  WorkerOptions options;
  options.threads = 1;
  options.allowed_directories = std::move(allowed);
  Result<std::unique_ptr<Worker>> worker = Worker::Open(options);
  EXPECT_TRUE(worker.ok()) << worker.status().ToString();
  return worker.ok() ? std::move(worker).value() : nullptr;
}

TEST(WorkerS3Test, AllowDirOfAnS3PrefixAllowsThatPrefixOnly) {
  const fs::path local = fs::temp_directory_path() / ("dux_worker_s3_" + std::to_string(getpid()));
  fs::create_directories(local);
  auto worker = OpenWorker({"s3://lake/allowed", local.string()});
  ASSERT_TRUE(worker);
  EXPECT_TRUE(RunFragment(*worker, "from_csv(\"s3://lake/allowed/a.csv\")").ok());
  EXPECT_TRUE(RunFragment(*worker, "from_csv(\"s3://lake/allowed/**/*.csv\")").ok());
  for (const char* path : {"s3://lake/secret/a.csv", "s3://lake/allowedx/a.csv",
                           "s3://lake/allowed/../secret/a.csv", "s3://lake/*/a.csv"}) {
    Status status = RunFragment(*worker, std::string("from_csv(\"") + path + "\")");
    ASSERT_FALSE(status.ok()) << path;
    EXPECT_NE(status.message().find("Cannot access"), std::string::npos) << status.ToString();
    EXPECT_EQ(status.message().find("SECRET-VALUE"), std::string::npos) << status.ToString();
  }
  fs::remove_all(local);
}

TEST(WorkerS3Test, LocalDirectoriesOnlyAllowNothingInS3) {
  const fs::path local = fs::temp_directory_path() / ("dux_worker_s3_" + std::to_string(getpid()));
  fs::create_directories(local);
  auto worker = OpenWorker({local.string()});
  ASSERT_TRUE(worker);
  Status status = RunFragment(*worker, "from_csv(\"s3://lake/allowed/a.csv\")");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("Cannot access"), std::string::npos) << status.ToString();
  fs::remove_all(local);
  // Unconfined, the same read works.
  auto free = OpenWorker({});
  ASSERT_TRUE(free);
  EXPECT_TRUE(RunFragment(*free, "from_csv(\"s3://lake/secret/a.csv\")").ok());
}

TEST(WorkerS3Test, AConfinedWorkerKeepsItsEndpointTlsAndProfile) {
  auto worker = OpenWorker({"s3://lake/allowed"});
  ASSERT_TRUE(worker);
  for (const std::string settings :
       {"endpoint: \"http://127.0.0.1:1\"", "tls: true", "profile: \"other\""}) {
    Status status =
        RunFragment(*worker, "s3(" + settings + ")\nfrom_csv(\"s3://lake/allowed/a.csv\")");
    ASSERT_FALSE(status.ok()) << settings;
    EXPECT_EQ(status.code(), StatusCode::kPermissionDenied) << settings;
    EXPECT_EQ(status.message(),
              "s3: this worker is confined (--allow-dir): a run cannot change its S3 endpoint, "
              "TLS or profile (line 1, col 1)");
  }
  // The region and the URL style are the run's to choose.
  EXPECT_TRUE(RunFragment(*worker,
                          "s3(region: \"us-east-1\", url_style: path)\n"
                          "from_csv(\"s3://lake/allowed/a.csv\")")
                  .ok());
  // Unconfined, a run's endpoint is used: this one refuses connections.
  auto free = OpenWorker({});
  ASSERT_TRUE(free);
  Status status = RunFragment(
      *free, "s3(endpoint: \"http://127.0.0.1:1\")\nfrom_csv(\"s3://lake/allowed/a.csv\")");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("127.0.0.1 port 1"), std::string::npos) << status.ToString();
}

TEST(WorkerS3Test, AnS3PrefixDuckDBWouldResolveDifferentlyIsRefusedAtStart) {
  for (const char* dir : {"s3://lake/a/../allowed", "s3://lake/a*", "s3://Bad_Bucket/a"}) {
    WorkerOptions options;
    options.allowed_directories = {dir};
    Result<std::unique_ptr<Worker>> worker = Worker::Open(options);
    ASSERT_FALSE(worker.ok()) << dir;
    EXPECT_EQ(worker.status().code(), StatusCode::kInvalidArgument) << dir;
  }
}

}  // namespace
}  // namespace dux::worker
