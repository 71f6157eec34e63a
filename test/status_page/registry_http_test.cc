// The registry's HTTP port with real processes: /api/workers and /api/queries show what the
// workers' heartbeats and the coordinators' reports said, partitions add up to the query,
// /metrics parses strictly and moves by what a query did, nothing answers without the token,
// and a registry that takes no reports changes nothing for the query.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <set>
#include <sstream>

#include "dux/v1/worker.grpc.pb.h"
#include "prometheus_text.h"
#include "registry_fixture.h"

namespace dux::test {
namespace {

using nlohmann::json;

/// /metrics of the registry, parsed by the strict parser (a test failure when it does not).
std::optional<PrometheusText> Scrape(const std::string& http) {
  HttpReply reply = HttpGet(http, "/metrics");
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.content_type.rfind("text/plain; version=0.0.4", 0), 0u) << reply.content_type;
  std::string error;
  std::optional<PrometheusText> parsed = PrometheusText::Parse(reply.body, &error);
  EXPECT_TRUE(parsed) << error << "\n" << reply.body;
  return parsed;
}

size_t CsvRows(const std::string& csv) {
  return static_cast<size_t>(std::count(csv.begin(), csv.end(), '\n')) - 1;  // the header
}

class RegistryHttpTest : public RegistryTest {
 protected:
  /// `dux generate groupby` of `rows` rows in 4 files; the glob of its files.
  std::string GroupbyData(int rows) {
    const fs::path out = dir_ / "groupby";
    ProcessOutcome o = Dux({"generate", "groupby", "--rows", std::to_string(rows), "--files", "4",
                            "--out", out.string()});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return (out / "*.parquet").string();
  }
};

TEST_F(RegistryHttpTest, ShowsTheWorkersAndTheQueriesTheirCoordinatorsReport) {
  ASSERT_TRUE(StartRegistry());
  const std::set<std::string> addresses = {StartWorker(), StartWorker()};
  json workers = WaitForWorkers(2);
  ASSERT_EQ(workers.size(), 2u);
  for (const json& w : workers) {
    EXPECT_TRUE(addresses.count(w["address"].get<std::string>())) << w.dump();
    EXPECT_EQ(w["threads"], 1) << w.dump();
    EXPECT_FALSE(w["dux_version"].get<std::string>().empty());
    EXPECT_FALSE(w["duckdb_version"].get<std::string>().empty());
    EXPECT_GE(w["uptime_seconds"].get<double>(), 0);
    EXPECT_TRUE(w["running_queries"].is_array());
    EXPECT_LT(w["seconds_since_heartbeat"].get<double>(), 10);
  }

  const std::string data = GroupbyData(20000);
  std::optional<PrometheusText> before = Scrape(http_);
  ASSERT_TRUE(before);
  EXPECT_EQ(before->Value("dux_queries_total", {{"status", "ok"}}), 0);
  const std::string pipeline =
      "from_parquet(\"" + data + "\")\n|> filter(v1 > 2)\n|> select(id1, v1)";
  ProcessOutcome run = Dux({"run", "--registry", registry_, "--format", "csv", pipeline});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const size_t rows = CsvRows(run.out);
  ASSERT_GT(rows, 1000u);

  json summary = NewestFinished();
  EXPECT_EQ(summary["status"], "ok");
  EXPECT_EQ(summary["pipeline"], pipeline);
  EXPECT_EQ(summary["rows"], rows);
  json q = Query(summary["id"].get<std::string>());
  ASSERT_TRUE(q.is_object());
  EXPECT_EQ(q["error"], "");
  // The plan as explain renders it: one partition per worker here (2 of 2 files each).
  EXPECT_NE(q["plan"].get<std::string>().find("-- distributed: 2 partitions on 2 workers"),
            std::string::npos)
      << q["plan"];
  EXPECT_GT(q["seconds"].get<double>(), 0);
  // Every partition ran on one of the workers, and they add up to the bytes gathered and to
  // the rows of the result (nothing is left for the coordinator to do but gather).
  ASSERT_EQ(q["partitions"].size(), 2u) << q.dump();
  double partition_bytes = 0, partition_rows = 0;
  for (const json& p : q["partitions"]) {
    EXPECT_TRUE(addresses.count(p["worker"].get<std::string>())) << p.dump();
    EXPECT_EQ(p["status"], "ok");
    EXPECT_EQ(p["stage"], "scan");
    EXPECT_GE(p["start_seconds"].get<double>(), 0);
    EXPECT_LE(p["start_seconds"].get<double>() + p["seconds"].get<double>(),
              q["seconds"].get<double>() + 0.01);
    partition_bytes += p["bytes"].get<double>();
    ASSERT_TRUE(p["rows"].is_number()) << p.dump();
    partition_rows += p["rows"].get<double>();
  }
  EXPECT_GT(partition_bytes, 0);
  EXPECT_EQ(partition_bytes, q["gathered_bytes"].get<double>());
  EXPECT_EQ(partition_rows, static_cast<double>(rows));
  ASSERT_FALSE(q["stages"].empty());
  EXPECT_EQ(q["stages"][0]["name"], "scan");
  EXPECT_EQ(q["stages"][0]["partitions"], 2);
  EXPECT_EQ(q["stages"][0]["rows"], rows);
  EXPECT_EQ(q["partitions_done"], 2);

  std::optional<PrometheusText> after = Scrape(http_);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->Value("dux_queries_total", {{"status", "ok"}}), 1);
  EXPECT_EQ(after->Sum("dux_queries_total"), 1);
  EXPECT_EQ(after->Value("dux_rows_out_total"), static_cast<double>(rows));
  EXPECT_EQ(*after->Value("dux_gathered_bytes_total") - *before->Value("dux_gathered_bytes_total"),
            q["gathered_bytes"].get<double>());
  // The workers read parquet: its bytes, reported per partition, reach the page and the counter.
  EXPECT_GT(q["read_bytes"].get<double>(), 0);
  EXPECT_EQ(*after->Value("dux_read_bytes_total") - *before->Value("dux_read_bytes_total"),
            q["read_bytes"].get<double>());
  EXPECT_EQ(after->Value("dux_partition_duration_seconds_count"), 2);
  EXPECT_EQ(after->Value("dux_query_duration_seconds_count"), 1);
  EXPECT_EQ(after->Value("dux_partition_retries_total"), 0);
  EXPECT_EQ(after->Value("dux_workers_live"), 2);
  EXPECT_EQ(after->Value("dux_queries_running"), 0);
  for (const char* name : {"dux_exchanged_bytes_total", "dux_broadcast_bytes_total"}) {
    EXPECT_TRUE(after->Family(name)) << name;
  }
}

TEST_F(RegistryHttpTest, AnExchangedQueryShowsBothStagesAndTheBytesItMoved) {
  ASSERT_TRUE(StartRegistry());
  StartWorker();
  StartWorker();
  WaitForWorkers(2);
  const std::string data = GroupbyData(20000);
  // median does not decompose: the rows of each group meet on one worker (a hash exchange).
  const std::string pipeline =
      "from_parquet(\"" + data + "\") |> group_by(id3) |> summarise(m: median(v1)) |> sort_by(id3)";
  ProcessOutcome run = Dux({"run", "--registry", registry_, "--format", "csv", pipeline});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ProcessOutcome local = Dux({"run", "--format", "csv", pipeline});
  EXPECT_EQ(run.out, local.out) << "reporting changed the result";
  json q = Query(NewestFinished()["id"].get<std::string>());
  ASSERT_TRUE(q.is_object());
  std::vector<std::string> stages;
  for (const json& s : q["stages"]) stages.push_back(s["name"]);
  EXPECT_EQ(stages, (std::vector<std::string>{"scan", "exchange", "final"})) << q["stages"];
  EXPECT_GT(q["exchanged_bytes"].get<double>(), 0);
  EXPECT_EQ(q["rows"], CsvRows(run.out));
  std::optional<PrometheusText> metrics = Scrape(http_);
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->Value("dux_exchanged_bytes_total"), q["exchanged_bytes"].get<double>());
  EXPECT_EQ(metrics->Value("dux_partition_duration_seconds_count"),
            static_cast<double>(q["partitions"].size()));
}

TEST_F(RegistryHttpTest, AFailedQueryShowsTheErrorItsUserSaw) {
  ASSERT_TRUE(StartRegistry());
  StartWorker();
  StartWorker();
  WaitForWorkers(2);
  const std::string data = GroupbyData(1000);
  // Binds (a cast of a column), fails on the workers: id1 holds no dates.
  ProcessOutcome run = Dux({"run", "--registry", registry_,
                            "from_parquet(\"" + data + "\") |> mutate(d: CAST(id1 AS DATE))"});
  ASSERT_EQ(run.exit_code, 1) << run.out;
  json q = NewestFinished();
  EXPECT_NE(q["status"], "ok");
  EXPECT_NE(q["status"], "running");
  EXPECT_FALSE(q["error"].get<std::string>().empty());
  EXPECT_EQ(run.err, "dux: " + q["error"].get<std::string>() + "\n");
  std::optional<PrometheusText> metrics = Scrape(http_);
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->Value("dux_queries_total", {{"status", q["status"].get<std::string>()}}), 1);
  EXPECT_EQ(metrics->Value("dux_queries_total", {{"status", "ok"}}), 0);
}

TEST_F(RegistryHttpTest, AnswersNothingWithoutTheToken) {
  const std::string token = "s3cret-registry-token";
  ASSERT_TRUE(StartRegistry({"--token", token}));
  StartWorker({"--token", token});
  const HttpHeaders bearer = {{"Authorization", "Bearer " + token}};
  WaitForWorkers(1, bearer);
  for (const char* path : {"/", "/api/workers", "/api/queries", "/api/queries/q1", "/metrics"}) {
    for (const HttpHeaders& wrong : {HttpHeaders{}, HttpHeaders{{"Authorization", "Bearer nope"}},
                                     HttpHeaders{{"Cookie", "dux_token=nope"}}}) {
      HttpReply refused = HttpGet(http_, path, wrong);
      EXPECT_EQ(refused.status, 401) << path;
      EXPECT_EQ(refused.body.find(token), std::string::npos) << path;
      EXPECT_EQ(refused.body.find("\"workers\""), std::string::npos) << path;
    }
    const int expected = std::string(path) == "/api/queries/q1" ? 404 : 200;
    EXPECT_EQ(HttpGet(http_, path, bearer).status, expected) << path;
    EXPECT_EQ(HttpGet(http_, path, {{"Cookie", std::string("dux_token=") + token}}).status,
              expected)
        << path;
  }
  HttpReply page = HttpGet(http_, "/", bearer);
  EXPECT_NE(page.body.find("<title>dux registry</title>"), std::string::npos);
  EXPECT_EQ(page.body.find(token), std::string::npos);
}

TEST_F(RegistryHttpTest, RefusesAnHttpPortOffLoopbackWithoutAToken) {
  ProcessOutcome open = Dux({"registry", "--http", "0.0.0.0:0"});
  EXPECT_EQ(open.exit_code, 1);
  EXPECT_EQ(open.out, "");
  EXPECT_EQ(std::count(open.err.begin(), open.err.end(), '\n'), 1) << open.err;
  EXPECT_NE(open.err.find("0.0.0.0:0"), std::string::npos) << open.err;
  ProcessOutcome bad = Dux({"registry", "--http", "no-port"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.out, "");
  EXPECT_NE(bad.err.find("no-port"), std::string::npos) << bad.err;
}

// A registry that lists a worker but takes no report: it does not know ReportQuery (an older
// registry), refuses it as a registry that is going down does, or never answers.
class SilentRegistry final : public v1::Registry::Service {
 public:
  enum class Reports { kUnknown, kUnavailable, kNoAnswer };
  SilentRegistry(std::string worker, Reports reports)
      : worker_(std::move(worker)), reports_(reports) {}
  ~SilentRegistry() override { Release(); }

  grpc::Status List(grpc::ServerContext*, const v1::ListWorkersRequest*,
                    v1::ListWorkersReply* reply) override {
    reply->add_addresses(worker_);
    return grpc::Status::OK;
  }
  grpc::Status ReportQuery(grpc::ServerContext* context, const v1::QueryReport*,
                           v1::ReportQueryReply*) override {
    if (reports_ == Reports::kUnknown) {
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown method");
    }
    if (reports_ == Reports::kUnavailable) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "going down");
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 60s, [&] { return released_ || context->IsCancelled(); });
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "too late");
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::string worker_;
  Reports reports_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

class SilentRegistryTest : public RegistryTest,
                           public ::testing::WithParamInterface<SilentRegistry::Reports> {};

TEST_P(SilentRegistryTest, TheQueryRunsAsWithoutReports) {
  std::vector<std::string> worker = Serve({"worker", "--listen", "127.0.0.1:0", "--threads", "1"});
  ASSERT_EQ(worker.size(), 1u);
  SilentRegistry registry(worker[0].substr(worker[0].find(' ') + 1), GetParam());
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&registry);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_TRUE(server && port > 0);
  const std::string pipeline =
      "from_query(\"SELECT range AS k FROM range(1, 5)\") |> mutate(s: k * 10) |> sort_by(k)";
  const auto start = std::chrono::steady_clock::now();
  ProcessOutcome run =
      Dux({"run", "--registry", "127.0.0.1:" + std::to_string(port), "--format", "csv", pipeline});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  registry.Release();
  server->Shutdown(std::chrono::system_clock::now() + 1s);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "k,s\n1,10\n2,20\n3,30\n4,40\n");
  EXPECT_EQ(run.err, "");
  // A registry that never answers holds reports 60 s; the run waits for none of them.
  EXPECT_LT(seconds, 30) << "the run waited for the registry";
}

INSTANTIATE_TEST_SUITE_P(Reports, SilentRegistryTest,
                         ::testing::Values(SilentRegistry::Reports::kUnknown,
                                           SilentRegistry::Reports::kUnavailable,
                                           SilentRegistry::Reports::kNoAnswer));

}  // namespace
}  // namespace dux::test
