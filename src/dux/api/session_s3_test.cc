// Sinks and Arrow sources with s3:// paths, against s3rver (test/support/s3_server.h), run
// locally and on an in-process worker: one object is written in place by dux's file system,
// a directory write puts part objects below a prefix, Arrow IPC objects are written and read
// by dux's codec; failures leave no object, and nothing lands on the local disk.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>

#include "dux/api/session.h"
#include "dux/coordinator/planner.h"
#include "dux/exec/sink_writer.h"
#include "dux/pipeline/language.h"
#include "dux/s3/config.h"
#include "dux/worker/in_process_client.h"
#include "dux/worker/worker.h"
#include "s3_test_environment.h"

namespace dux {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBucket = "lake";

test::S3Server* server = nullptr;

const testing::Environment* const kEnvironment =
    testing::AddGlobalTestEnvironment(new test::S3TestEnvironment({kBucket}, &server));

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

// The names below the test's prefix with every write id replaced by "ID".
std::vector<std::string> WithoutIds(const std::vector<std::string>& objects,
                                    const std::string& prefix) {
  std::vector<std::string> out;
  for (std::string name : objects) {
    name.erase(0, prefix.size());
    size_t part = name.find("part-");
    size_t end = name.find('.', part);
    // A copy suffix is "-c" and digits right before the extension; an id may hold "-c" too.
    size_t copy = name.rfind("-c", end);
    const bool copied = copy != std::string::npos && copy > part + 11 && end > copy + 2 &&
                        std::all_of(name.begin() + static_cast<std::ptrdiff_t>(copy) + 2,
                                    name.begin() + static_cast<std::ptrdiff_t>(end),
                                    [](char c) { return c >= '0' && c <= '9'; });
    if (part != std::string::npos)
      name.replace(part + 11, (copied ? copy : end) - (part + 11), "ID");
    out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST_P(SessionS3Test, DirectoriesOfPartObjects) {
  const std::string rows = "from_query(\"SELECT range AS i, range % 3 AS k FROM range(30)\") |> ";
  auto parquet = Write(rows + "to_parquet(\"" + prefix_ + "out\")");
  ASSERT_TRUE(parquet.ok()) << parquet.status().ToString();
  EXPECT_EQ(parquet->rows, 30);
  auto csv = Write(rows + "to_csv(\"" + prefix_ + "out.csv/\")");
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  auto hive = Write(rows + "to_parquet(\"" + prefix_ + "hive\", partition_by: [k])");
  ASSERT_TRUE(hive.ok()) << hive.status().ToString();
  EXPECT_EQ(hive->files.size(), 3u);
  // Each object under its final name: no temporary, nothing renamed.
  EXPECT_EQ(WithoutIds(Objects(), prefix_),
            (std::vector<std::string>{"hive/k=0/part-00000-ID-c0.parquet",
                                      "hive/k=1/part-00000-ID-c0.parquet",
                                      "hive/k=2/part-00000-ID-c0.parquet",
                                      "out.csv/part-00000-ID.csv", "out/part-00000-ID.parquet"}));
  std::vector<std::string> all;
  all.reserve(30);
  for (int i = 0; i < 30; ++i) all.push_back(std::to_string(i) + "|" + std::to_string(i % 3));
  std::sort(all.begin(), all.end());
  EXPECT_EQ(Rows("SELECT i, k FROM '" + prefix_ + "out/*.parquet'"), all);
  EXPECT_EQ(Rows("SELECT i, k FROM read_csv('" + prefix_ + "out.csv/*.csv')"), all);
  EXPECT_EQ(Rows("SELECT i, k FROM read_parquet('" + prefix_ +
                 "hive/**/*.parquet', "
                 "hive_partitioning = true)"),
            all);
  // A prefix with objects below it is a directory that is not empty.
  auto again = Write(rows + "to_parquet(\"" + prefix_ + "hive\", partition_by: [k])");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().message(), "to_parquet: target \"" + prefix_ +
                                          "hive\" exists and is not an empty directory "
                                          "(line 1, col 67)");
  EXPECT_EQ(Objects().size(), 5u);
}

TEST_P(SessionS3Test, AFailedDirectoryWriteLeavesNoObject) {
  for (const std::string& sink :
       {"to_parquet(\"" + prefix_ + "flat\")",
        "to_parquet(\"" + prefix_ + "hive\", partition_by: [k], row_group_size: 1000)"}) {
    auto written = Write(
        "from_query(\"SELECT range % 4 AS k, CASE WHEN range < 150000 THEN range ELSE "
        "error('boom') END AS i FROM range(200000)\") |> " +
        sink);
    ASSERT_FALSE(written.ok()) << sink;
    EXPECT_NE(written.status().message().find("boom"), std::string::npos)
        << written.status().message();
    EXPECT_TRUE(Objects().empty()) << sink;
  }
}

TEST_P(SessionS3Test, ARetryReplacesWhatAnEarlierAttemptWrote) {
  // Two attempts of partition 3 of one write: the second (a retry) leaves its own objects
  // only, and partition 2's stay.
  auto script = pipeline::ParseScript(
      "from_query(\"SELECT range AS i, range % 2 AS k FROM "
      "range(10)\") |> to_parquet(\"" +
      prefix_ + "w\", partition_by: [k])");
  ASSERT_TRUE(script.ok());
  auto query = session_->Compile(script->pipeline);
  ASSERT_TRUE(query.ok()) << query.status().ToString();
  const pipeline::Sink& sink = *script->pipeline.sink();
  const std::string id = exec::NewWriteId();
  ASSERT_TRUE(exec::WritePart(session_->connection(), sink, *query, {id, 2, false}).ok());
  ASSERT_TRUE(exec::WritePart(session_->connection(), sink, *query, {id, 3, false}).ok());
  auto retried = exec::WritePart(session_->connection(), sink, *query, {id, 3, true});
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->files.size(), 2u);
  EXPECT_EQ(WithoutIds(Objects(), prefix_),
            (std::vector<std::string>{
                "w/k=0/part-00002-ID-c0.parquet", "w/k=0/part-00003-ID-c0.parquet",
                "w/k=1/part-00002-ID-c0.parquet", "w/k=1/part-00003-ID-c0.parquet"}));
  // A failed write's clean-up removes every object of the write, and nothing else.
  ASSERT_TRUE(
      Write("from_query(\"SELECT 1 AS a\") |> to_csv(\"" + prefix_ + "w/other.csv\")").ok());
  exec::RemoveWrite(session_->connection(), prefix_ + "w", id, true);
  EXPECT_EQ(WithoutIds(Objects(), prefix_), std::vector<std::string>{"w/other.csv"});
}

TEST_P(SessionS3Test, ArrowIpcObjects) {
  for (const std::string options : {"", ", format: \"stream\"", ", compression: \"zstd\""}) {
    auto written = Write(
        "from_query(\"SELECT range AS i, 'v' || range AS s FROM range(5)\") "
        "|> to_arrow(\"" +
        prefix_ + "a.arrow\"" + options + ")");
    ASSERT_TRUE(written.ok()) << options << ": " << written.status().ToString();
    auto script = pipeline::ParseScript("from_arrow(\"" + prefix_ + "a.arrow\")");
    ASSERT_TRUE(script.ok());
    auto read = session_->Compute(script->pipeline);
    ASSERT_TRUE(read.ok()) << options << ": " << read.status().ToString();
    EXPECT_EQ(read->NumRows(), 5u) << options;
  }
  // A failed write leaves the object there whole.
  auto failed = Write(
      "from_query(\"SELECT CASE WHEN range < 100000 THEN range ELSE "
      "error('boom') END AS i FROM range(200000)\") |> to_arrow(\"" +
      prefix_ + "a.arrow\")");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(Objects(), std::vector<std::string>{prefix_ + "a.arrow"});
  auto missing = pipeline::ParseScript("from_arrow(\"" + prefix_ + "missing.arrow\")");
  ASSERT_TRUE(missing.ok());
  auto read = session_->Compute(missing->pipeline);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().message(),
            "from_arrow: cannot read \"" + prefix_ + "missing.arrow\": s3: HEAD " + prefix_ +
                "missing.arrow: 404 Not Found: no such object (or no such bucket) (line 1, col 1)");
}

INSTANTIATE_TEST_SUITE_P(LocalAndDistributed, SessionS3Test, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? "Distributed" : "Local";
                         });

}  // namespace
}  // namespace dux
