// dux_e2e_runner [--data-dir DIR] [--local-workers N] [--in-process-workers N]
//                [--min-workers M] [--shuffle-joins] FILE...: runs end-to-end test files
// locally and, with --local-workers, distributed on M (1 by default), M + 1, ... N real
// `dux worker` processes ($DUX_BINARY names the dux binary); with --in-process-workers, on
// as many workers inside this process (the in-process transport: same messages, no gRPC);
// with --shuffle-joins, once more on each number of workers with joins forced to exchange
// both sides (broadcast threshold 0).
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "dux/rpc/local_cluster.h"
#include "dux/worker/in_process_client.h"
#include "dux/worker/worker.h"
#include "runner.h"

// An exception (a malformed argument) ends the runner with std::terminate's message.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  std::string data_dir = "test/e2e/data";
  std::vector<std::string> files;
  int local_workers = 0, in_process_workers = 0, min_workers = 1;
  bool shuffle_joins = false;
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
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) {
    std::cerr << "usage: dux_e2e_runner [--data-dir DIR] [--local-workers N] "
                 "[--in-process-workers N] [--min-workers M] [--shuffle-joins] FILE...\n";
    return 2;
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
  dux::test::AfterStatement copy_tables;
  std::vector<std::shared_ptr<dux::protocol::WorkerClient>> every_worker = in_process_clients;
  if (cluster) {
    every_worker.insert(every_worker.end(), cluster->clients().begin(), cluster->clients().end());
  }
  if (!every_worker.empty()) {
    copy_tables = [&](dux::Session& session) {
      return dux::test::CopyTablesToWorkers(session, every_worker, &synced);
    };
  }
  int failures = 0;
  bool skipped = false;
  for (const auto& file : files) {
    auto result = dux::test::RunTestFile(file, data_dir, executors, copy_tables, &skipped);
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
