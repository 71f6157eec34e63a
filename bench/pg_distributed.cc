// A partitioned PostgreSQL read on real `dux worker` processes against one binary
// `COPY ... TO STDOUT` of the same table in the same run (BENCHMARKS.md): the baseline
// receives and discards the COPY stream through libpq; dux reads the table in slices, one
// per worker (partition_by an integer key), each worker decoding its slice into its own
// DuckDB, then either counts its rows (the read alone) or sends them all to the coordinator
// (the read and the gather). Also the same read by one connection (locally) for reference.
//
//   pg_distributed [rows] [workers]          starts its own server (test/support/pg_server.h)
//   DUX_PG_CONNINFO=... pg_distributed ...   uses an existing database
// The workers are `dux worker` processes: $DUX_BINARY, or `dux` beside this program's
// build (build/src/dux/cli/dux is found through DUX_BINARY by bench/pg_distributed.sh).
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dux/api/session.h"
#include "dux/coordinator/planner.h"
#include "dux/pg/connection.h"
#include "dux/pipeline/language.h"
#include "dux/rpc/local_cluster.h"
#include "pg_bench.h"

namespace {

using dux::bench::Check;
using dux::bench::Clock;
using dux::bench::Seconds;

// The median of `runs` timings of `f`.
template <typename F>
double Median(int runs, F f) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    auto start = Clock::now();
    f();
    times.push_back(Seconds(start));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void Report(const char* what, int64_t rows, double seconds, double baseline) {
  printf("%-58s %10.0f rows/s  %6.2f s  (%.2fx the baseline's time)\n", what, rows / seconds,
         seconds, seconds / baseline);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 2000000;
  const int n_workers = argc > 2 ? std::atoi(argv[2]) : 2;
  const int runs = 3;
  std::unique_ptr<dux::test::PgServer> server;
  std::string conninfo = dux::bench::PgConnInfo(&server);
  auto pg = Check(dux::pg::Connection::Open(conninfo), "connect");
  Check(pg.Execute("DROP TABLE IF EXISTS bench_src").status(), "drop");
  Check(pg.Execute("CREATE TABLE bench_src AS SELECT i::bigint AS id, (i % 1000)::int AS a, "
                   "i * 0.5::float8 AS b, 'name ' || (i % 977) AS s, "
                   "DATE '2020-01-01' + (i % 1500) AS d, "
                   "TIMESTAMP '2020-01-01' + i * INTERVAL '1 second' AS ts, "
                   "(i % 100000) / 100.0::numeric(12,2) AS n FROM generate_series(1, " +
                   std::to_string(n) + ") i")
            .status(),
        "create");
  Check(pg.Execute("VACUUM ANALYZE bench_src").status(), "vacuum");
  printf(
      "%lld rows of (bigint, int, float8, text, date, timestamp, numeric(12,2)), %d workers, "
      "median of %d runs\n",
      static_cast<long long>(n), n_workers, runs);

  // Baseline: one binary COPY of the whole table, received and discarded.
  int64_t bytes = 0;
  double copy = Median(runs, [&] {
    bytes = 0;
    Check(pg.CopyOut("COPY (SELECT * FROM bench_src) TO STDOUT (FORMAT binary)",
                     [&](std::string_view data) {
                       bytes += static_cast<int64_t>(data.size());
                       return dux::Status::OK();
                     }),
          "copy out");
  });
  Report("baseline: one binary COPY TO STDOUT, discarded", n, copy, copy);

  // The transport alone of the partitioned read: each slice's COPY on a connection of its
  // own, all at once, received and discarded.
  std::vector<dux::pg::Connection> slices;
  slices.reserve(n_workers);
  for (int i = 0; i < n_workers; ++i) {
    slices.push_back(Check(dux::pg::Connection::Open(conninfo), "connect"));
  }
  double sliced_copy = Median(runs, [&] {
    std::vector<std::thread> threads;
    threads.reserve(n_workers);
    for (int i = 0; i < n_workers; ++i) {
      threads.emplace_back([&, i] {
        std::string predicate = "((id % " + std::to_string(n_workers) + ") + " +
                                std::to_string(n_workers) + ") % " + std::to_string(n_workers) +
                                " = " + std::to_string(i);
        Check(slices[i].CopyOut("COPY (SELECT * FROM bench_src WHERE " + predicate +
                                    ") TO STDOUT (FORMAT binary)",
                                [](std::string_view) { return dux::Status::OK(); }),
              "slice copy out");
      });
    }
    for (auto& t : threads) t.join();
  });
  std::string label = "transport: " + std::to_string(n_workers) + " slice COPYs at once, discarded";
  Report(label.c_str(), n, sliced_copy, copy);

  dux::rpc::LocalClusterOptions options;
  options.workers = n_workers;
  options.threads = n_workers;  // one DuckDB thread per worker
  auto cluster = Check(dux::rpc::LocalCluster::Start(options), "workers");
  dux::SessionOptions session_options;
  session_options.threads = 1;
  auto session = Check(dux::Session::Open(session_options), "session");
  const std::string attach = "attach(\"pg\", \"" + conninfo + "\", type: postgres)\n";
  auto run = [&](const std::string& text) {
    auto script = Check(dux::pipeline::ParseScript(attach + text), "parse");
    for (const auto& a : script.attachments) Check(session->Attach(a, true), "attach");
    auto t = Check(session->Compute(script.pipeline), "run");
    return t.NumRows();
  };

  // Locally: one connection reads the whole table into the coordinator's DuckDB.
  double local = Median(runs, [&] {
    run("from_attached(\"pg\", \"bench_src\") |> "
        "summarise(n: count(*))");
  });
  Report("local: one connection, pg::ReadInto, count(*)", n, local, copy);

  dux::coordinator::ClusterOptions distributed;
  distributed.workers = cluster->clients();
  session->Distribute(distributed);
  double sliced = Median(runs, [&] {
    run("from_attached(\"pg\", \"bench_src\", partition_by: id) |> summarise(n: count(*))");
  });
  label = "distributed: " + std::to_string(n_workers) + " slices by id, count(*)";
  Report(label.c_str(), n, sliced, copy);
  double gathered = Median(runs, [&] {
    size_t rows = run("from_attached(\"pg\", \"bench_src\", partition_by: id)");
    if (static_cast<int64_t>(rows) != n) {
      fprintf(stderr, "gathered %zu rows, expected %lld\n", rows, static_cast<long long>(n));
      exit(1);
    }
  });
  label = "distributed: " + std::to_string(n_workers) + " slices by id, every row gathered";
  Report(label.c_str(), n, gathered, copy);
  printf("binary COPY stream: %.1f MB\n", bytes / 1e6);
  return 0;
}
