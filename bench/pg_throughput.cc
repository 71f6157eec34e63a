// Reading and writing PostgreSQL through pg/ against the bare transport in the same run:
// rows/s of pg::ReadInto (binary COPY decoded into DuckDB chunks) against the binary COPY
// stream alone (libpq receiving and discarding) and against COPY to CSV read by DuckDB's
// read_csv; rows/s of pg::InsertQuery against pre-rendered COPY text sent alone.
//
//   pg_throughput [rows]          starts its own server (test/support/pg_server.h)
//   DUX_PG_CONNINFO=... pg_throughput [rows]   uses an existing database
#include <stdio.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "dux/exec/duckdb_connection.h"
#include "dux/pg/catalog.h"
#include "dux/pg/connection.h"
#include "dux/pg/table_reader.h"
#include "dux/pg/table_writer.h"
#include "pg_bench.h"

namespace {

using dux::bench::Check;
using dux::bench::Clock;
using dux::bench::Seconds;

void Report(const char* what, int64_t rows, double seconds, double baseline = 0) {
  printf("%-44s %10.0f rows/s  %6.2f s", what, rows / seconds, seconds);
  if (baseline > 0) printf("  (%.2fx the baseline's time)", seconds / baseline);
  printf("\n");
}

}  // namespace

// An exception (a malformed argument) ends the benchmark with std::terminate's message.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 2000000;
  std::unique_ptr<dux::test::PgServer> server;
  std::string conninfo = dux::bench::PgConnInfo(&server);
  auto pg = Check(dux::pg::Connection::Open(conninfo), "connect");
  auto db = Check(dux::exec::Database::Open("", {{"threads", "2"}}), "duckdb");
  auto duck = Check(dux::exec::Connection::Open(db), "duckdb");

  Check(pg.Execute("DROP TABLE IF EXISTS bench_src, bench_dst").status(), "drop");
  Check(pg.Execute("CREATE TABLE bench_src AS SELECT i::bigint AS id, (i % 1000)::int AS a, "
                   "i * 0.5::float8 AS b, 'name ' || (i % 977) AS s, "
                   "DATE '2020-01-01' + (i % 1500) AS d, "
                   "TIMESTAMP '2020-01-01' + i * INTERVAL '1 second' AS ts, "
                   "(i % 100000) / 100.0::numeric(12,2) AS n FROM generate_series(1, " +
                   std::to_string(n) + ") i")
            .status(),
        "fill");
  Check(pg.Execute("VACUUM ANALYZE bench_src").status(), "vacuum");
  printf("%lld rows of (bigint, int, float8, text, date, timestamp, numeric(12,2))\n",
         static_cast<long long>(n));

  // Reading.
  auto table = Check(dux::pg::DescribeTable(pg, {"", "bench_src"}), "describe");
  dux::pg::ReadSpec all;
  std::string select = dux::pg::SelectSql(table, all);
  auto start = Clock::now();
  int64_t bytes = 0;
  Check(pg.CopyOut("COPY (" + select + ") TO STDOUT (FORMAT binary)",
                   [&](std::string_view data) {
                     bytes += static_cast<int64_t>(data.size());
                     return dux::Status::OK();
                   }),
        "copy out");
  double transport = Seconds(start);
  Report("binary COPY received and discarded", n, transport);
  printf("%-44s %10.1f MB/s\n", "", bytes / transport / 1e6);

  start = Clock::now();
  Check(duck.Execute(Check(dux::pg::CreateTableSql(table, all, "t"), "create")).status(), "create");
  int64_t rows = Check(dux::pg::ReadInto(pg, duck, table, all, "t"), "read");
  Report("pg::ReadInto into a DuckDB table", rows, Seconds(start), transport);

  std::string csv = (std::filesystem::temp_directory_path() / "dux_pg_bench.csv").string();
  start = Clock::now();
  {
    FILE* out = fopen(csv.c_str(), "wb");
    Check(pg.CopyOut("COPY (" + select + ") TO STDOUT (FORMAT csv)",
                     [&](std::string_view data) {
                       fwrite(data.data(), 1, data.size(), out);
                       return dux::Status::OK();
                     }),
          "copy csv");
    fclose(out);
  }
  Check(duck.Execute("CREATE TEMPORARY TABLE c AS SELECT * FROM read_csv('" + csv +
                     "', header = false)")
            .status(),
        "read_csv");
  Report("COPY to CSV file, then DuckDB read_csv", n, Seconds(start), transport);
  std::filesystem::remove(csv);

  if (getenv("DUX_BENCH_READ_ONLY")) return 0;

  // Writing.
  Check(pg.Execute("CREATE TABLE bench_dst (LIKE bench_src)").status(), "create dst");
  // The baseline: the same rows as COPY text rendered by PostgreSQL, sent back alone.
  std::string copy_text;
  Check(pg.CopyOut("COPY bench_src TO STDOUT",
                   [&](std::string_view data) {
                     copy_text.append(data);
                     return dux::Status::OK();
                   }),
        "render");
  start = Clock::now();
  Check(pg.CopyIn("COPY bench_dst FROM STDIN",
                  [&](const std::function<dux::Status(std::string_view)>& send) {
                    for (size_t at = 0; at < copy_text.size(); at += 1 << 20) {
                      DUX_RETURN_NOT_OK(send(std::string_view(copy_text).substr(at, 1 << 20)));
                    }
                    return dux::Status::OK();
                  })
            .status(),
        "copy in");
  double send_only = Seconds(start);
  Report("COPY text sent alone (PostgreSQL parses)", n, send_only);
  Check(pg.Execute("TRUNCATE bench_dst").status(), "truncate");

  auto schema = Check(duck.Describe("SELECT * FROM t"), "describe");
  for (bool atomic : {false, true}) {
    Check(pg.Execute("TRUNCATE bench_dst").status(), "truncate");
    start = Clock::now();
    rows = Check(dux::pg::InsertQuery(duck, "SELECT * FROM t", schema, pg,
                                      {{"", "bench_dst"}, false, atomic, "bench_dst"}),
                 "insert");
    Report(atomic ? "pg::InsertQuery atomic (staging + swap)" : "pg::InsertQuery", rows,
           Seconds(start), send_only);
  }
  Check(pg.Execute("DROP TABLE bench_src, bench_dst").status(), "drop");
  return 0;
}
