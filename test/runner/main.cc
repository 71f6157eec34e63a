// dux_e2e_runner [--data-dir DIR] [--local-workers N [--min-workers M] [--shuffle-joins]]
// FILE...: runs end-to-end test files locally and, with --local-workers, distributed on
// M (1 by default), M + 1, ... N real `dux worker` processes ($DUX_BINARY names the dux
// binary); with --shuffle-joins, once more on each number of workers with joins forced to
// exchange both sides (broadcast threshold 0).
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "dux/rpc/local_cluster.h"
#include "runner.h"

int main(int argc, char** argv) {
  std::string data_dir = "test/e2e/data";
  std::vector<std::string> files;
  int local_workers = 0, min_workers = 1;
  bool shuffle_joins = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--data-dir" && i + 1 < argc) {
      data_dir = argv[++i];
    } else if (arg == "--local-workers" && i + 1 < argc) {
      local_workers = std::stoi(argv[++i]);
    } else if (arg == "--min-workers" && i + 1 < argc) {
      min_workers = std::stoi(argv[++i]);
    } else if (arg == "--shuffle-joins") {
      shuffle_joins = true;
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) {
    std::cerr << "usage: dux_e2e_runner [--data-dir DIR] [--local-workers N [--min-workers M] "
                 "[--shuffle-joins]] FILE...\n";
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
  std::vector<dux::test::Executor*> executors;
  for (const auto& e : owned) executors.push_back(e.get());
  std::vector<std::string> synced;
  dux::test::AfterStatement copy_tables;
  if (cluster) {
    copy_tables = [&](dux::Session& session) {
      return dux::test::CopyTablesToWorkers(session, cluster->clients(), &synced);
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
