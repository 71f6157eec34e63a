// `dux worker --http`: real worker processes serving /metrics, scraped with cpp-httplib's
// client and read with the strict Prometheus parser, before and after a distributed query
// with a hash exchange run by `dux run --workers`; and the token on the HTTP port.
#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.h"
#include "prometheus_text.h"
#include "subprocess.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using dux::test::ChildOptions;
using dux::test::ChildProcess;
using dux::test::ProcessOutcome;
using dux::test::PrometheusText;

/// A `dux worker` with its gRPC and HTTP addresses, killed when destroyed.
struct WorkerProcess {
  std::unique_ptr<ChildProcess> process;
  std::string address, http;
};

class WorkerMetricsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* name : {"DUX_TOKEN", "DUX_WORKERS", "DUX_REGISTRY"}) unsetenv(name);
  }
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dux-metrics-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    workers_.clear();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  /// Starts `dux worker --http 127.0.0.1:0 args...` and reads its two address lines.
  WorkerProcess* StartWorker(const std::vector<std::string>& args = {}) {
    std::vector<std::string> argv = {DUX_BINARY,  "worker", "--listen", "127.0.0.1:0",
                                     "--threads", "1",      "--http",   "127.0.0.1:0"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto worker = std::make_unique<WorkerProcess>();
    ChildOptions options;
    options.stderr_file = dir_ / ("worker-" + std::to_string(workers_.size()) + ".err");
    std::string error;
    // The gRPC address stays the first line: tools read it.
    auto started = dux::test::StartListening(argv, options, 30s, &error);
    if (!started) {
      ADD_FAILURE() << error;
      return nullptr;
    }
    worker->process = std::move(started->process);
    worker->address = started->address;
    std::optional<std::string> second = worker->process->ReadLine(30s);
    if (worker->address.rfind("127.0.0.1:", 0) != 0 || !second ||
        second->rfind("http 127.0.0.1:", 0) != 0) {
      ADD_FAILURE() << "the worker listens on " << worker->address << ", then printed \""
                    << second.value_or("")
                    << "\"; stderr: " << dux::test::ReadFile(options.stderr_file);
      return nullptr;
    }
    worker->http = second->substr(std::string("http ").size());
    workers_.push_back(std::move(worker));
    return workers_.back().get();
  }

  ProcessOutcome Dux(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {DUX_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return dux::test::RunProcess(argv, dir_);
  }

  /// GET `path` from `address` (HOST:PORT) with `headers`.
  static httplib::Result Get(const std::string& address, const std::string& path,
                             const httplib::Headers& headers = {}) {
    size_t colon = address.rfind(':');
    httplib::Client client(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
    client.set_read_timeout(30, 0);
    return client.Get(path.c_str(), headers);
  }

  /// /metrics of `worker`, parsed strictly (a test failure and an empty text when it does
  /// not parse).
  static PrometheusText Scrape(const WorkerProcess& worker, const httplib::Headers& headers = {}) {
    auto response = Get(worker.http, "/metrics", headers);
    if (!response || response->status != 200) {
      ADD_FAILURE() << "GET /metrics from " << worker.http << " failed";
      return PrometheusText();
    }
    EXPECT_EQ(response->get_header_value("Content-Type"),
              "text/plain; version=0.0.4; charset=utf-8");
    std::string error;
    auto parsed = PrometheusText::Parse(response->body, &error);
    if (!parsed) {
      ADD_FAILURE() << "/metrics of " << worker.http << ": " << error << "\n" << response->body;
      return PrometheusText();
    }
    return *parsed;
  }

  fs::path dir_;
  std::vector<std::unique_ptr<WorkerProcess>> workers_;
};

double Value(const PrometheusText& text, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  std::optional<double> value = text.Value(name, labels);
  EXPECT_TRUE(value) << "no sample " << name;
  return value.value_or(-1);
}

/// The lines of `text` that hold both `part` and `other`.
size_t CountLines(const std::string& text, const std::string& part, const std::string& other) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    n += line.find(part) != std::string::npos && line.find(other) != std::string::npos;
  }
  return n;
}

TEST_F(WorkerMetricsTest, CountersMoveByWhatADistributedQueryDid) {
  fs::path data = dir_ / "data";
  ProcessOutcome generated =
      Dux({"generate", "groupby", "--rows", "6000", "--files", "3", "--out", data.string()});
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  WorkerProcess* a = StartWorker();
  WorkerProcess* b = StartWorker();
  ASSERT_TRUE(a && b);
  std::vector<PrometheusText> before = {Scrape(*a), Scrape(*b)};
  for (const auto& m : before) {
    EXPECT_EQ(Value(m, "dux_worker_fragments_running"), 0);
    EXPECT_EQ(m.Sum("dux_worker_fragments_total"), 0);
    EXPECT_GT(Value(m, "dux_worker_memory_limit_bytes"), 0);
    EXPECT_GE(Value(m, "dux_worker_memory_bytes", {{"pool", "duckdb"}}), 0);
    EXPECT_GE(Value(m, "dux_worker_uptime_seconds"), 0);
    ASSERT_NE(m.Family("dux_worker_info"), nullptr);
    ASSERT_EQ(m.Family("dux_worker_info")->samples.size(), 1u);
    EXPECT_EQ(m.Family("dux_worker_info")->samples[0].value, 1);
    const auto& labels = m.Family("dux_worker_info")->samples[0].labels;
    EXPECT_EQ(labels.at("version"), DUX_PROJECT_VERSION);
    EXPECT_EQ(labels.at("duckdb_version").rfind("v1.4.4", 0), 0u) << labels.at("duckdb_version");
  }

  // median does not decompose: rows are hash-exchanged on id1, worker to worker.
  ProcessOutcome run =
      Dux({"run", "--workers", a->address + "," + b->address, "--format", "csv", "--telemetry",
           "from_parquet(\"" + (data / "*.parquet").string() +
               "\") |> group_by(id1) |> summarise(m: median(v1))"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // The CSV's rows, without its header.
  const double groups = static_cast<double>(std::count(run.out.begin(), run.out.end(), '\n')) - 1;
  ASSERT_GT(groups, 1);
  // The partitions that ran to the end, by the telemetry's own account.
  const size_t ok = CountLines(run.err, "\"distributed.worker.stop\"", "\"status\":\"ok\"");
  ASSERT_GT(ok, 0u);

  std::vector<PrometheusText> after = {Scrape(*a), Scrape(*b)};
  double fragments = 0, rows_out = 0, exchanged_rows = 0, exchanged_bytes = 0, sent = 0,
         exchange_sent = 0, read = 0;
  for (size_t w = 0; w < 2; ++w) {
    const PrometheusText& m = after[w];
    double finished =
        m.Sum("dux_worker_fragments_total") - before[w].Sum("dux_worker_fragments_total");
    EXPECT_GT(finished, 0) << "worker " << w << " ran nothing";
    fragments += finished;
    EXPECT_EQ(Value(m, "dux_worker_fragments_total", {{"status", "failed"}}), 0);
    EXPECT_EQ(Value(m, "dux_worker_fragment_duration_seconds_count"), finished);
    EXPECT_EQ(Value(m, "dux_worker_fragments_running"), 0);
    rows_out += Value(m, "dux_worker_rows_out_total");
    exchanged_rows += Value(m, "dux_worker_exchange_received_rows_total");
    exchanged_bytes += Value(m, "dux_worker_exchange_received_bytes_sum");
    exchange_sent += Value(m, "dux_worker_exchange_sent_bytes_total");
    sent += Value(m, "dux_worker_sent_bytes_total");
    read += Value(m, "dux_worker_read_bytes_total");
    // Each worker owns a bucket the other filled.
    EXPECT_GT(Value(m, "dux_worker_exchange_received_bytes_count"), 0) << "worker " << w;
    // The coordinator dropped the buckets at the end.
    EXPECT_EQ(Value(m, "dux_worker_tables", {{"kind", "bucket"}}), 0);
  }
  EXPECT_EQ(fragments, static_cast<double>(ok));
  // Rows out: the scan routed every input row into the exchange, the bucket stage returned
  // one row per group.
  EXPECT_EQ(rows_out, 6000 + groups);
  EXPECT_GT(exchanged_rows, 0);
  EXPECT_LT(exchanged_rows, 6000);  // a worker's own buckets never travel
  EXPECT_GT(exchanged_bytes, 0);
  // What the workers pushed is what their peers received.
  EXPECT_EQ(exchange_sent, exchanged_bytes);
  EXPECT_GT(sent, 0);

  // Bytes read: what each fragment reported (telemetry) is what the workers count, and it is
  // the scan's two columns in the files (their chunks, at least), not the whole files.
  double reported = 0;
  std::istringstream lines(run.err);
  for (std::string line; std::getline(lines, line);) {
    size_t at = line.find("\"read_bytes\":");
    if (line.find("\"distributed.worker.stop\"") == std::string::npos || at == std::string::npos) {
      continue;
    }
    reported += std::stod(line.substr(at + std::string("\"read_bytes\":").size()));
  }
  EXPECT_EQ(read, reported);
  ProcessOutcome chunks =
      Dux({"run", "--format", "csv",
           "from_query(\"SELECT sum(total_compressed_size) AS b FROM parquet_metadata('" +
               (data / "*.parquet").string() + "') WHERE path_in_schema IN ('id1', 'v1')\")"});
  ASSERT_EQ(chunks.exit_code, 0) << chunks.err;
  const double chunk_bytes = std::stod(chunks.out.substr(chunks.out.find('\n') + 1));
  double file_bytes = 0;
  for (const auto& entry : fs::directory_iterator(data)) {
    file_bytes += static_cast<double>(entry.file_size());
  }
  EXPECT_GE(read, chunk_bytes);
  EXPECT_LT(read, file_bytes);
}

TEST_F(WorkerMetricsTest, WithATokenMetricsNeedIt) {
  WorkerProcess* w = StartWorker({"--token", "t0ken"});
  ASSERT_TRUE(w);
  auto refused = Get(w->http, "/metrics");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(refused->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(refused->body.find("t0ken"), std::string::npos);
  auto wrong = Get(w->http, "/metrics", {{"Authorization", "Bearer t0keN"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  PrometheusText m = Scrape(*w, {{"Authorization", "Bearer t0ken"}});
  EXPECT_EQ(Value(m, "dux_worker_fragments_running"), 0);
}

TEST_F(WorkerMetricsTest, RefusesAnHttpPortOffLoopbackWithoutAToken) {
  ProcessOutcome o = Dux({"worker", "--listen", "127.0.0.1:0", "--http", "0.0.0.0:0"});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err,
            "dux: --http: refusing to listen on 0.0.0.0:0 without a token: give --token or "
            "DUX_TOKEN (or listen on 127.0.0.1)\n");
  ProcessOutcome bad = Dux({"worker", "--listen", "127.0.0.1:0", "--http", "localhost"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err, "dux: --http: \"localhost\" is not HOST:PORT\n");
}

}  // namespace
