// dux demo and dux generate: datasets made by dux itself, through its own writer.
#include <fmt/format.h>
#include <stdlib.h>

#include <filesystem>
#include <iostream>

#include "dux/api/session.h"
#include "dux/cli/commands.h"
#include "dux/pipeline/language.h"

namespace dux::cli {

namespace fs = std::filesystem;

namespace {

// Writes `sql`'s rows to `path` as parquet through a dux pipeline.
Status WriteParquet(Session& session, const std::string& sql, const std::string& path,
                    std::vector<std::string> partition_by = {}) {
  pipeline::Pipeline p = pipeline::Pipeline::FromQuery(sql);
  pipeline::ToParquetSink sink;
  sink.path = path;
  sink.partition_by = std::move(partition_by);
  p.ToParquet(sink);
  return session.Write(p).status();
}

constexpr const char* kShowcase = R"(from_parquet("{dir}/**/*.parquet", hive_partitioning: true)
|> filter(amount > 100 and region != 'EU')
|> group_by(region, year)
|> summarise(total: sum(amount), orders: count(*), avg_amount: round(avg(amount), 2))
|> sort_by(desc: total)
|> head(10)
)";

}  // namespace

Status Demo(const DemoOptions& o) {
  std::string dir = o.dir;
  bool temporary = dir.empty();
  if (temporary) {
    std::string tmpl = (fs::temp_directory_path() / "dux-demo-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) return Status::IOError("cannot create a temporary directory");
    dir = tmpl;
  }
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::Open());
  // Deterministic sample orders, hive-partitioned by year: one parquet file per year.
  std::string orders = fmt::format(
      "SELECT i AS order_id, "
      "['EU', 'US', 'APAC', 'LATAM'][(hash(i * 16 + 1) % 4)::INTEGER + 1] AS region, "
      "2021 + (hash(i * 16 + 2) % 4)::INTEGER AS year, "
      "round((hash(i * 16 + 3) % 50000) / 100.0, 2) AS amount "
      "FROM range({}) AS r(i)",
      o.rows);
  std::string data = dir + "/orders";
  std::error_code ec;
  fs::remove_all(data, ec);
  // --dir may name a directory that does not exist yet; the parquet writer creates only the
  // last level.
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create \"" + dir + "\": " + ec.message());
  DUX_RETURN_NOT_OK(WriteParquet(*session, orders, data, {"year"}));
  size_t files = 0;
  for (auto& e : fs::recursive_directory_iterator(data)) files += e.is_regular_file();

  std::string text = fmt::format(kShowcase, fmt::arg("dir", data));
  std::cout << "dux demo: " << o.rows << " orders in " << files << " parquet files under " << data
            << "\n\n"
            << text << "\n";
  DUX_ASSIGN_OR_RETURN(pipeline::Script script, pipeline::ParseScript(text));
  DUX_ASSIGN_OR_RETURN(exec::Table table, session->Compute(script.pipeline));
  std::cout << table.Format();
  if (temporary) fs::remove_all(dir, ec);
  return Status::OK();
}

Status Generate(const GenerateOptions& o) {
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::Open());
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) return Status::IOError("cannot create \"" + o.out + "\": " + ec.message());
  // H2O db-benchmark groupby shape (DESIGN.md section 8), K = 100, from a hash of the row
  // number so that every run writes the same data.
  const int64_t k = 100;
  const int64_t groups = std::max<int64_t>(1, o.rows / k);
  int64_t per_file = (o.rows + o.files - 1) / o.files;
  for (int f = 0; f < o.files; ++f) {
    int64_t first = f * per_file;
    int64_t last = std::min(o.rows, first + per_file);
    if (first >= last) break;
    std::string sql = fmt::format(
        "SELECT format('id{{:03d}}', (hash(i * 16 + 1) % {k} + 1)::INTEGER) AS id1, "
        "format('id{{:03d}}', (hash(i * 16 + 2) % {k} + 1)::INTEGER) AS id2, "
        "format('id{{:010d}}', (hash(i * 16 + 3) % {g} + 1)::BIGINT) AS id3, "
        "(hash(i * 16 + 4) % {k} + 1)::INTEGER AS id4, "
        "(hash(i * 16 + 5) % {k} + 1)::INTEGER AS id5, "
        "(hash(i * 16 + 6) % {g} + 1)::INTEGER AS id6, "
        "(hash(i * 16 + 7) % 5 + 1)::INTEGER AS v1, "
        "(hash(i * 16 + 8) % 15 + 1)::INTEGER AS v2, "
        "round((hash(i * 16 + 9) % 100000000)::DOUBLE / 1000000.0, 6) AS v3 "
        "FROM range({first}, {last}) AS r(i)",
        fmt::arg("k", k), fmt::arg("g", groups), fmt::arg("first", first), fmt::arg("last", last));
    DUX_RETURN_NOT_OK(WriteParquet(*session, sql, fmt::format("{}/part-{:04d}.parquet", o.out, f)));
  }
  std::cout << "dux generate: " << o.rows << " rows of " << o.dataset << " in " << o.out << "\n";
  return Status::OK();
}

}  // namespace dux::cli
