// The fixture of the registry's HTTP tests: a real `dux registry --http` and `dux worker`
// processes that joined it, on loopback, `dux run --registry` against them, and GETs of the
// registry's HTTP port as a browser or a scraper makes them.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "http_get.h"
#include "subprocess.h"

namespace dux::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class RegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The children inherit the environment: nothing in it may pick workers or tokens.
    for (const char* name : {"DUX_TOKEN", "DUX_WORKERS", "DUX_REGISTRY"}) unsetenv(name);
  }

  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dux-registry-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }

  void TearDown() override {
    processes_.clear();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  /// Starts `dux args...` and returns the lines it printed first (`lines` of them): the
  /// addresses a server prints. Empty, with a test failure, when it prints fewer in time.
  std::vector<std::string> Serve(const std::vector<std::string>& args, int lines = 1) {
    std::vector<std::string> argv = {DUX_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildOptions options;
    options.stderr_file = dir_ / ("server-" + std::to_string(processes_.size()) + ".err");
    std::string error;
    auto process = ChildProcess::Start(argv, options, &error);
    if (!process) {
      ADD_FAILURE() << "cannot start dux " << args.front() << ": " << error;
      return {};
    }
    std::vector<std::string> printed;
    for (int i = 0; i < lines; ++i) {
      std::optional<std::string> line = process->ReadLine(30s);
      if (!line) {
        ADD_FAILURE() << "dux " << args.front() << " printed " << printed.size()
                      << " lines; stderr: " << ReadFile(options.stderr_file);
        return {};
      }
      printed.push_back(*line);
    }
    processes_.push_back(std::move(process));
    return printed;
  }

  /// Starts `dux registry --http 127.0.0.1:0 args...`: sets registry_ and http_.
  bool StartRegistry(const std::vector<std::string>& args = {}) {
    std::vector<std::string> all = {"registry",    "--listen",       "127.0.0.1:0", "--http",
                                    "127.0.0.1:0", "--heartbeat-ms", "200"};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<std::string> lines = Serve(all, 2);
    if (lines.size() != 2) return false;
    EXPECT_EQ(lines[0].rfind("listening ", 0), 0u) << lines[0];
    EXPECT_EQ(lines[1].rfind("http ", 0), 0u) << lines[1];
    registry_ = lines[0].substr(lines[0].find(' ') + 1);
    http_ = lines[1].substr(lines[1].find(' ') + 1);
    return true;
  }

  /// Starts a worker of one thread that joins the registry; its address.
  std::string StartWorker(const std::vector<std::string>& args = {}) {
    std::vector<std::string> all = {"worker", "--listen", "127.0.0.1:0", "--threads",
                                    "1",      "--join",   registry_};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<std::string> lines = Serve(all);
    return lines.empty() ? "" : lines[0].substr(lines[0].find(' ') + 1);
  }

  /// Waits until /api/workers lists `n` workers that sent their Info; that list.
  nlohmann::json WaitForWorkers(size_t n, const HttpHeaders& headers = {}) {
    nlohmann::json workers;
    for (auto deadline = std::chrono::steady_clock::now() + 30s;
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(50ms)) {
      HttpReply reply = HttpGet(http_, "/api/workers", headers);
      if (reply.status != 200) continue;
      workers = nlohmann::json::parse(reply.body)["workers"];
      size_t reported = 0;
      for (const auto& w : workers) reported += w["dux_version"].is_string() ? 1 : 0;
      if (reported == n && workers.size() == n) return workers;
    }
    ADD_FAILURE() << "the registry never listed " << n << " workers: " << workers.dump();
    return workers;
  }

  /// Runs `dux args...` to completion.
  ProcessOutcome Dux(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {DUX_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, dir_);
  }

  /// `files` parquet files of 10,000 keys each in the test's directory, and a pipeline over
  /// them whose partitions (one per file) each take about a second on a worker of one thread.
  std::string SlowPipeline(int files) {
    for (int i = 0; i < files; ++i) {
      const std::string path = (dir_ / ("keys-" + std::to_string(i) + ".parquet")).string();
      ProcessOutcome o = Dux(
          {"run", "from_query(\"SELECT range AS k FROM range(" + std::to_string(i * 10000) + ", " +
                      std::to_string((i + 1) * 10000) + ")\") |> to_parquet(\"" + path + "\")"});
      EXPECT_EQ(o.exit_code, 0) << o.err;
    }
    return "from_parquet(\"" + (dir_ / "keys-*.parquet").string() +
           "\") |> mutate(s: list_sum(range(0, k % 7 + 12000))::BIGINT)";
  }

  /// The query of `id` from /api/queries/ID.
  nlohmann::json Query(const std::string& id, const HttpHeaders& headers = {}) {
    HttpReply reply = HttpGet(http_, "/api/queries/" + id, headers);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return reply.status == 200 ? nlohmann::json::parse(reply.body) : nlohmann::json();
  }

  /// The newest finished query of /api/queries.
  nlohmann::json NewestFinished() {
    HttpReply reply = HttpGet(http_, "/api/queries");
    EXPECT_EQ(reply.status, 200) << reply.body;
    if (reply.status != 200) return {};
    nlohmann::json list = nlohmann::json::parse(reply.body);
    if (list["finished"].empty()) {
      ADD_FAILURE() << "no finished query: " << reply.body;
      return {};
    }
    return list["finished"][0];
  }

  fs::path dir_;
  std::string registry_;  ///< its gRPC HOST:PORT
  std::string http_;      ///< its HTTP HOST:PORT
  std::vector<std::unique_ptr<ChildProcess>> processes_;
};

}  // namespace dux::test
