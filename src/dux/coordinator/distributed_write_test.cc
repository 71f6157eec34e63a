// Distributed writes through the gather's queue: a partition whose worker fails after it has
// written (part of) its files is retried on another worker, which replaces them; a query that
// fails leaves none of its files. Workers run in this process; a wrapping client makes one of
// them fail after its write, leaving what a killed worker leaves.
#include "dux/coordinator/distributed_write.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "dux/api/session.h"
#include "dux/coordinator/forwarding_client_testing.h"
#include "dux/pipeline/language.h"
#include "dux/worker/in_process_client.h"

namespace dux::coordinator {
namespace {

namespace fs = std::filesystem;

// A worker whose Write writes, then leaves a stray temporary file of the same partition (as
// an attempt killed midway would) and reports itself lost. Everything else passes through.
class DyingWriter : public ForwardingClient {
 public:
  using ForwardingClient::ForwardingClient;
  int writes = 0;
  Result<v1::WriteReply> Write(const v1::WriteRequest& r) override {
    DUX_ASSIGN_OR_RETURN(v1::WriteReply reply, in_->Write(r));
    if (!reply.files().empty()) {
      fs::path dir = fs::path(reply.files(0)).parent_path();
      std::ofstream(dir / fmt::format(".part-{:05d}-{}.stray.dux-tmp", r.partition(), r.write_id()))
          << "half a file";
    }
    ++writes;
    return Status(StatusCode::kUnavailable, "worker " + address() + " is unreachable or went away");
  }
};

class WriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dux-write-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    for (int i = 0; i < 2; ++i) {
      worker::WorkerOptions options;
      options.threads = 1;
      workers_.push_back(std::move(worker::Worker::Open(options)).value());
      clients_.push_back(
          worker::MakeInProcessClient(workers_.back().get(), "in-process:" + std::to_string(i)));
    }
    session_ = std::move(Session::Open()).value();
    // Two files of 3000 rows: one partition each.
    for (int f = 0; f < 2; ++f) {
      ASSERT_TRUE(session_->connection()
                      .Execute(fmt::format("COPY (SELECT range AS k, range % 3 AS g, 'v' || range "
                                           "AS s FROM range({}, {})) TO '{}/src-{}.parquet'",
                                           f * 3000, f * 3000 + 3000, dir_.string(), f))
                      .ok());
    }
    session_->telemetry().Subscribe([this](const Event& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e.name);
    });
  }
  void TearDown() override {
    session_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  void Distribute(std::vector<std::shared_ptr<protocol::WorkerClient>> workers) {
    ClusterOptions options;
    options.workers = std::move(workers);
    session_->Distribute(std::move(options));
  }

  Result<exec::WriteReport> Run(const std::string& sink) {
    auto script = pipeline::ParseScript("from_parquet(\"" + (dir_ / "src-*.parquet").string() +
                                        "\") |> " + sink);
    if (!script.ok()) return script.status();
    return session_->Write(script->pipeline);
  }

  // Every file under `d`, hidden ones included.
  static std::vector<std::string> Files(const fs::path& d) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(d, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it->is_regular_file()) out.push_back(fs::relative(it->path(), d).string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string Text(const std::string& sql) {
    auto rows = session_->connection().QueryText(sql);
    EXPECT_TRUE(rows.ok()) << rows.status().message();
    return rows.ok() ? rows->at(0).at(0).value_or("NULL") : "";
  }

  bool Saw(const std::string& event) {
    std::lock_guard lock(mu_);
    return std::find(events_.begin(), events_.end(), event) != events_.end();
  }

  fs::path dir_;
  std::vector<std::unique_ptr<worker::Worker>> workers_;
  std::vector<std::shared_ptr<protocol::WorkerClient>> clients_;
  std::unique_ptr<Session> session_;
  std::mutex mu_;
  std::vector<std::string> events_;
};

TEST_F(WriteTest, RetryReplacesTheFailedAttemptsFiles) {
  auto dying = std::make_shared<DyingWriter>(clients_[1]);
  Distribute({clients_[0], dying});
  fs::path out = dir_ / "out";
  auto report = Run("to_parquet(\"" + out.string() + "\")");
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(dying->writes, 1);
  EXPECT_TRUE(Saw("partition.retry"));
  EXPECT_TRUE(Saw("distributed.write.stop"));
  EXPECT_EQ(report->rows, 6000);
  // One file per partition, no stray temporary: the retry removed it and replaced the file.
  std::vector<std::string> files = Files(out);
  ASSERT_EQ(files.size(), 2u) << fmt::format("{}", fmt::join(files, ", "));
  EXPECT_EQ(files[0].rfind("part-00000-q", 0), 0u) << files[0];
  EXPECT_EQ(files[1].rfind("part-00001-q", 0), 0u) << files[1];
  EXPECT_EQ(report->files.size(), 2u);
  EXPECT_EQ(
      Text("SELECT count(*) || '/' || count(DISTINCT k) || '/' || sum(k) FROM read_parquet('" +
           out.string() + "')"),
      "6000/6000/17997000");
}

TEST_F(WriteTest, RetryReplacesTheFailedAttemptsHiveFiles) {
  auto dying = std::make_shared<DyingWriter>(clients_[1]);
  Distribute({clients_[0], dying});
  fs::path out = dir_ / "by_g";
  auto report = Run("to_parquet(\"" + out.string() + "\", partition_by: g)");
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(dying->writes, 1);
  std::vector<std::string> files = Files(out);
  // Three keys, one file from each partition in each: the failed attempt's were replaced.
  ASSERT_EQ(files.size(), 6u) << fmt::format("{}", fmt::join(files, ", "));
  for (const auto& f : files) EXPECT_EQ(f.find("dux-tmp"), std::string::npos) << f;
  EXPECT_EQ(
      Text("SELECT count(*) || '/' || count(DISTINCT k) || '/' || sum(g) FROM read_parquet('" +
           out.string() + "/**/*.parquet', hive_partitioning = true)"),
      "6000/6000/6000");
}

TEST_F(WriteTest, FailedQueryLeavesNoneOfItsFiles) {
  auto a = std::make_shared<DyingWriter>(clients_[0]);
  auto b = std::make_shared<DyingWriter>(clients_[1]);
  Distribute({a, b});
  fs::path out = dir_ / "out";
  auto report = Run("to_csv(\"" + out.string() + "/\")");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("is unreachable or went away"), std::string::npos)
      << report.status().message();
  EXPECT_FALSE(fs::exists(out)) << fmt::format("{}", fmt::join(Files(out), ", "));

  // Into an existing empty directory: it stays, empty.
  fs::create_directory(out);
  auto again = Run("to_parquet(\"" + out.string() + "\", partition_by: g)");
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(fs::is_directory(out));
  EXPECT_EQ(Files(out), std::vector<std::string>{});
  EXPECT_TRUE(fs::is_empty(out));
}

TEST_F(WriteTest, PartsWithoutRowsAreRemoved) {
  Distribute(clients_);
  fs::path out = dir_ / "out";
  auto report = Run("filter(k < 10) |> to_ndjson(\"" + out.string() + "\")");
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->rows, 10);
  ASSERT_EQ(report->files.size(), 1u);
  EXPECT_EQ(Files(out).size(), 1u);

  fs::path none = dir_ / "none";
  auto empty = Run("filter(k < 0) |> to_csv(\"" + none.string() + "\")");
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_EQ(empty->rows, 0);
  // One file is kept, so that the columns can be read back.
  ASSERT_EQ(empty->files.size(), 1u);
  EXPECT_EQ(Files(none), std::vector<std::string>{fs::path(empty->files[0]).filename().string()});
  EXPECT_EQ(fs::path(empty->files[0]).filename().string().rfind("part-00000-", 0), 0u);
}

TEST_F(WriteTest, ExplainSaysWhoWrites) {
  Distribute(clients_);
  auto explain = [&](const std::string& sink) {
    auto script = pipeline::ParseScript("from_parquet(\"" + (dir_ / "src-*.parquet").string() +
                                        "\") |> " + sink);
    EXPECT_TRUE(script.ok());
    auto text = session_->Explain(script->pipeline);
    EXPECT_TRUE(text.ok()) << text.status().message();
    return text.ok() ? *text : "";
  };
  EXPECT_NE(explain("to_parquet(\"out\")")
                .find("no rows come to the coordinator: each "
                      "partition's worker writes its own part files"),
            std::string::npos);
  EXPECT_NE(explain("group_by(g) |> summarise(m: median(k)) |> to_csv(\"out/\")")
                .find("each bucket owner writes its own part files (to_csv)"),
            std::string::npos);
  EXPECT_NE(explain("to_parquet(\"out.parquet\")")
                .find("the coordinator writes the result: to_parquet (the path names one file"),
            std::string::npos);
  EXPECT_NE(explain("sort_by(k) |> to_parquet(\"out\")")
                .find("the coordinator writes the result: to_parquet (sort_by after the gather"),
            std::string::npos);
}

}  // namespace
}  // namespace dux::coordinator
