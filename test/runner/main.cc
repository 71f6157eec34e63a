// dux_e2e_runner [--data-dir DIR] [--local-workers N] [--in-process-workers N]
//                [--min-workers M] [--shuffle-joins] [--s3] FILE...: runs end-to-end test files
// locally and, with --local-workers, distributed on M (1 by default), M + 1, ... N real
// `dux worker` processes ($DUX_BINARY names the dux binary); with --in-process-workers, on
// as many workers inside this process (the in-process transport: same messages, no gRPC);
// with --shuffle-joins, once more on each number of workers with joins forced to exchange
// both sides (broadcast threshold 0); with --s3, with every path of the pipelines on an S3
// server started for the run (docs/testing.md, "End-to-end files on S3").
#include <stdlib.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "dux/rpc/local_cluster.h"
#include "dux/worker/in_process_client.h"
#include "dux/worker/worker.h"
#include "runner.h"
#include "s3_mirror.h"
#include "s3_server.h"

namespace {

constexpr const char* kS3Bucket = "dux-e2e";

// Points this process's AWS settings at `server`, and only at it: what dux's file system
// reads when the runner's sessions open their databases, and what the local workers, forked
// from this process, inherit. Settings that would take precedence over these (an S3-only
// endpoint, a profile, a session token, the AWS files) are removed.
void UseS3Server(const dux::test::S3Server& server) {
  setenv("AWS_ENDPOINT_URL", server.endpoint().c_str(), 1);
  setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
  setenv("AWS_REGION", "us-east-1", 1);
  setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
  for (const char* name : {"AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                           "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"}) {
    unsetenv(name);
  }
}

}  // namespace

// An exception (a malformed argument) ends the runner with std::terminate's message.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  std::string data_dir = "test/e2e/data";
  std::vector<std::string> files;
  int local_workers = 0, in_process_workers = 0, min_workers = 1;
  bool shuffle_joins = false, s3 = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--data-dir" && i + 1 < argc) {
      data_dir = argv[++i];
    } else if (arg == "--local-workers" && i + 1 < argc) {
      local_workers = std::stoi(argv[++i]);
    } else if (arg == "--in-process-workers" && i + 1 < argc) {
      in_process_workers = std::stoi(argv[++i]);
    } else if (arg == "--min-workers" && i + 1 < argc) {
      min_workers = std::stoi(argv[++i]);
    } else if (arg == "--shuffle-joins") {
      shuffle_joins = true;
    } else if (arg == "--s3") {
      s3 = true;
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) {
    std::cerr << "usage: dux_e2e_runner [--data-dir DIR] [--local-workers N] "
                 "[--in-process-workers N] [--min-workers M] [--shuffle-joins] [--s3] "
                 "FILE...\n";
    return 2;
  }
  int failures = 0;
  bool skipped = false;
  if (s3) {
    // Files that cannot run on S3 are reported here, before servers and workers start for
    // nothing.
    std::vector<std::string> runnable;
    for (const auto& file : files) {
      auto why = dux::test::ReadS3SkipReason(file);
      if (!why.ok()) {
        std::cerr << file << ": " << why.status().message() << "\n";
        ++failures;
      } else if (*why) {
        std::cerr << file << ": skipped on S3: " << **why << "\n";
        skipped = true;
      } else {
        runnable.push_back(file);
      }
    }
    files = std::move(runnable);
    if (files.empty()) return failures > 0 ? 1 : 77;  // 77: CTest's SKIP_RETURN_CODE
  }
  // The server comes up before any worker starts: the workers inherit its settings.
  std::unique_ptr<dux::test::S3Server> s3_server;
  std::unique_ptr<dux::test::S3Mirror> s3_mirror;
  if (s3) {
    std::string why;
    s3_server = dux::test::S3Server::Start({kS3Bucket}, &why);
    if (!s3_server) {
      std::cerr << "cannot start the S3 server: " << why << "\n";
      return 1;
    }
    UseS3Server(*s3_server);
    auto mirror = dux::test::S3Mirror::Make(kS3Bucket);
    dux::Status uploaded =
        mirror.ok() ? (*mirror)->Up(data_dir, dux::test::kS3DataPrefix) : mirror.status();
    if (!uploaded.ok()) {
      std::cerr << "cannot upload " << data_dir << " to S3: " << uploaded.message() << "\n";
      return 1;
    }
    s3_mirror = std::move(mirror).value();
  }
  std::vector<std::unique_ptr<dux::test::Executor>> owned;
  owned.push_back(dux::test::MakeLocalExecutor());
  std::unique_ptr<dux::rpc::LocalCluster> cluster;
  if (local_workers > 0) {
    dux::rpc::LocalClusterOptions options;
    options.workers = local_workers;
    options.threads = local_workers;  // one thread each: the tests are small
    auto started = dux::rpc::LocalCluster::Start(options);
    if (!started.ok()) {
      std::cerr << "cannot start local workers: " << started.status().message() << "\n";
      return 1;
    }
    cluster = std::move(started).value();
    for (int n = std::max(min_workers, 1); n <= local_workers; ++n) {
      const auto& all = cluster->clients();
      owned.push_back(dux::test::MakeDistributedExecutor({all.begin(), all.begin() + n}));
      if (shuffle_joins) {
        owned.push_back(dux::test::MakeDistributedExecutor({all.begin(), all.begin() + n}, true));
      }
    }
  }
  // Workers in this process, reaching each other for exchanges through the same transport.
  std::vector<std::unique_ptr<dux::worker::Worker>> in_process;
  std::vector<std::shared_ptr<dux::protocol::WorkerClient>> in_process_clients;
  std::vector<std::pair<dux::worker::Worker*, std::string>> peers;
  for (int i = 0; i < in_process_workers; ++i) {
    dux::worker::WorkerOptions options;
    options.threads = 1;
    auto opened = dux::worker::Worker::Open(options);
    if (!opened.ok()) {
      std::cerr << "cannot open an in-process worker: " << opened.status().message() << "\n";
      return 1;
    }
    in_process.push_back(std::move(opened).value());
    std::string address = "in-process:" + std::to_string(i);
    in_process_clients.push_back(
        dux::worker::MakeInProcessClient(in_process.back().get(), address));
    peers.emplace_back(in_process.back().get(), address);
  }
  dux::worker::ConnectInProcessPeers(peers);
  for (int n = std::max(min_workers, 1); n <= in_process_workers; ++n) {
    std::vector<std::shared_ptr<dux::protocol::WorkerClient>> some(in_process_clients.begin(),
                                                                   in_process_clients.begin() + n);
    owned.push_back(dux::test::MakeDistributedExecutor(some, false, "in-process"));
    if (shuffle_joins) {
      owned.push_back(dux::test::MakeDistributedExecutor(some, true, "in-process"));
    }
  }
  std::vector<dux::test::Executor*> executors;
  executors.reserve(owned.size());
  for (const auto& e : owned) executors.push_back(e.get());
  std::vector<std::string> synced;
  dux::test::RunOptions run_options;
  run_options.data_dir = data_dir;
  run_options.s3 = s3_mirror.get();
  std::vector<std::shared_ptr<dux::protocol::WorkerClient>> every_worker = in_process_clients;
  if (cluster) {
    every_worker.insert(every_worker.end(), cluster->clients().begin(), cluster->clients().end());
  }
  if (!every_worker.empty()) {
    run_options.after_statement = [&](dux::Session& session) {
      return dux::test::CopyTablesToWorkers(session, every_worker, &synced);
    };
  }
  for (const auto& file : files) {
    auto result = dux::test::RunTestFile(file, executors, run_options, &skipped);
    if (!result.ok()) {
      std::cerr << file << ": " << result.status().message() << "\n";
      ++failures;
      continue;
    }
    failures += *result;
  }
  if (failures == 0 && skipped) return 77;  // CTest's SKIP_RETURN_CODE
  return failures == 0 ? 0 : 1;
}
