// Sinks and Arrow sources with s3:// paths, against s3rver (test/support/s3_server.h), run
// locally and on an in-process worker: one object is written in place by dux's file system;
// what cannot reach S3 yet (directories of part files, Arrow IPC) is refused before anything
// is written, and never lands on the local disk.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "dux/api/session.h"
#include "dux/coordinator/planner.h"
#include "dux/pipeline/language.h"
#include "dux/s3/config.h"
#include "dux/worker/in_process_client.h"
#include "dux/worker/worker.h"
#include "s3_server.h"

namespace dux {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBucket = "lake";

test::S3Server* server = nullptr;

class S3Environment : public testing::Environment {
 public:
  void SetUp() override {
    std::string why;
    server_ = test::S3Server::Start({kBucket}, &why);
    ASSERT_NE(server_, nullptr) << why;
    server = server_.get();
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ENDPOINT_URL", server->endpoint().c_str(), 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
  }
  void TearDown() override {
    server = nullptr;
    server_.reset();
  }

 private:
  std::unique_ptr<test::S3Server> server_;
};

const testing::Environment* const kEnvironment =
    testing::AddGlobalTestEnvironment(new S3Environment);

// Each test runs twice: in the session, and distributed onto one in-process worker.
class SessionS3Test : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    // A fresh working directory, to see that nothing is written relative to it.
    std::string tmpl = (fs::temp_directory_path() / "dux-session-s3-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    cwd_ = tmpl;
    old_cwd_ = fs::current_path();
    fs::current_path(cwd_);
    auto s = Session::Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    session_ = std::move(s).value();
    if (GetParam()) {
      worker::WorkerOptions options;
      options.threads = 1;
      auto opened = worker::Worker::Open(options);
      ASSERT_TRUE(opened.ok()) << opened.status().ToString();
      worker_ = std::move(opened).value();
      coordinator::ClusterOptions cluster;
      cluster.workers = {worker::MakeInProcessClient(worker_.get(), "in-process:0")};
      session_->Distribute(std::move(cluster));
    }
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info->name();
    for (char& c : name) c = c == '/' ? '-' : c;
    prefix_ = std::string("s3://") + kBucket + "/" + name + "/";
  }
  void TearDown() override {
    session_.reset();
    worker_.reset();
    fs::current_path(old_cwd_);
    // Nothing of the tests' s3:// paths may have been taken for a relative local path.
    EXPECT_TRUE(fs::is_empty(cwd_)) << "the working directory got files";
    fs::remove_all(cwd_);
  }

  Result<exec::WriteReport> Write(const std::string& text) {
    DUX_ASSIGN_OR_RETURN(pipeline::Script script, pipeline::ParseScript(text));
    return session_->Write(script.pipeline);
  }

  // The rows of `query` (run in the session's DuckDB), one "a|b" line each, sorted.
  std::vector<std::string> Rows(const std::string& query) {
    auto rows = session_->connection().QueryText("SELECT COLUMNS(*)::VARCHAR FROM (" + query + ")");
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    std::vector<std::string> out;
    if (!rows.ok()) return out;
    for (const auto& row : *rows) {
      std::string line;
      for (const auto& cell : row) line += (line.empty() ? "" : "|") + cell.value_or("NULL");
      out.push_back(line);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Every object below this test's prefix.
  std::vector<std::string> Objects() { return Rows("SELECT file FROM glob('" + prefix_ + "**')"); }

  fs::path cwd_, old_cwd_;
  std::unique_ptr<worker::Worker> worker_;
  std::unique_ptr<Session> session_;
  std::string prefix_;
};

TEST_P(SessionS3Test, OneObjectIsWrittenInPlace) {
  for (const std::string name : {"t.parquet", "t.csv", "t.ndjson", "t.csv.gz"}) {
    const std::string verb = name.find("parquet") != std::string::npos  ? "to_parquet"
                             : name.find("ndjson") != std::string::npos ? "to_ndjson"
                                                                        : "to_csv";
    auto written = Write(
        "from_query(\"SELECT range AS i, 'v' || range AS s FROM range(5)\")\n"
        "|> " +
        verb + "(\"" + prefix_ + name + "\")");
    ASSERT_TRUE(written.ok()) << name << ": " << written.status().ToString();
    EXPECT_EQ(written->rows, 5);
    EXPECT_EQ(written->files, std::vector<std::string>{prefix_ + name});
    EXPECT_EQ(Rows("SELECT i, s FROM '" + prefix_ + name + "'"),
              (std::vector<std::string>{"0|v0", "1|v1", "2|v2", "3|v3", "4|v4"}))
        << name;
  }
  // Written again: replaced whole.
  ASSERT_TRUE(
      Write("from_query(\"SELECT 7 AS i\") |> to_parquet(\"" + prefix_ + "t.parquet\")").ok());
  EXPECT_EQ(Rows("SELECT i FROM '" + prefix_ + "t.parquet'"), std::vector<std::string>{"7"});
  EXPECT_EQ(Objects().size(), 4u);
}

TEST_P(SessionS3Test, AFailedWriteLeavesNoObject) {
  auto written = Write(
      "from_query(\"SELECT CASE WHEN range < 100000 THEN range ELSE error('boom') END AS i "
      "FROM range(200000)\")\n|> to_parquet(\"" +
      prefix_ + "failed.parquet\")");
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.status().message().find("boom"), std::string::npos)
      << written.status().message();
  EXPECT_TRUE(Objects().empty());
}

TEST_P(SessionS3Test, DirectoryWritesToUrlsAreRefusedBeforeAnythingRuns) {
  for (const std::string& sink :
       {"to_parquet(\"" + prefix_ + "out\")", "to_csv(\"" + prefix_ + "out.csv/\")",
        "to_parquet(\"" + prefix_ + "hive.parquet\", partition_by: [k])"}) {
    auto written = Write("from_query(\"SELECT range AS k FROM range(3)\") |> " + sink);
    ASSERT_FALSE(written.ok()) << sink;
    EXPECT_EQ(written.status().code(), StatusCode::kUnimplemented) << sink;
    EXPECT_NE(
        written.status().message().find("cannot write a directory of part files to \"" + prefix_),
        std::string::npos)
        << written.status().message();
    EXPECT_NE(written.status().message().find("not supported for URLs yet"), std::string::npos)
        << written.status().message();
  }
  EXPECT_TRUE(Objects().empty());
}

TEST_P(SessionS3Test, ArrowIpcOnUrlsIsRefused) {
  auto written = Write("from_query(\"SELECT 1 AS a\") |> to_arrow(\"" + prefix_ + "a.arrow\")");
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().message(),
            "to_arrow: cannot write \"" + prefix_ +
                "a.arrow\": Arrow IPC is written to local files only (line 1, col 32)");
  ASSERT_TRUE(
      Write("from_query(\"SELECT 1 AS a\") |> to_parquet(\"" + prefix_ + "a.arrow\")").ok());
  auto script = pipeline::ParseScript("from_arrow(\"" + prefix_ + "a.arrow\")");
  ASSERT_TRUE(script.ok());
  auto read = session_->Compute(script->pipeline);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().message(), "from_arrow: cannot read \"" + prefix_ +
                                         "a.arrow\": Arrow IPC is read from local files only "
                                         "(line 1, col 1)");
}

INSTANTIATE_TEST_SUITE_P(LocalAndDistributed, SessionS3Test, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? "Distributed" : "Local";
                         });

}  // namespace
}  // namespace dux
