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

namespace {

// `rows` rows of `select` as `files` parquet files under `dir`: each file's rows are
// `select` with `ROWS` replaced by its range of row numbers `i`.
Status WriteParts(Session& session, const std::string& select, int64_t rows, int files,
                  const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create \"" + dir + "\": " + ec.message());
  int64_t per_file = (rows + files - 1) / files;
  for (int f = 0; f < files; ++f) {
    int64_t first = f * per_file;
    int64_t last = std::min(rows, first + per_file);
    if (first >= last) break;
    std::string sql = select;
    sql.replace(sql.find("ROWS"), 4, fmt::format("range({}, {}) AS r(i)", first, last));
    DUX_RETURN_NOT_OK(WriteParquet(session, sql, fmt::format("{}/part-{:04d}.parquet", dir, f)));
  }
  return Status::OK();
}

// H2O db-benchmark groupby shape (docs/architecture.md section 8), K = 100.
Status GenerateGroupBy(Session& session, const GenerateOptions& o) {
  const int64_t k = 100;
  const int64_t groups = std::max<int64_t>(1, o.rows / k);
  return WriteParts(
      session,
      fmt::format("SELECT format('id{{:03d}}', (hash(i * 16 + 1) % {k} + 1)::INTEGER) AS id1, "
                  "format('id{{:03d}}', (hash(i * 16 + 2) % {k} + 1)::INTEGER) AS id2, "
                  "format('id{{:010d}}', (hash(i * 16 + 3) % {g} + 1)::BIGINT) AS id3, "
                  "(hash(i * 16 + 4) % {k} + 1)::INTEGER AS id4, "
                  "(hash(i * 16 + 5) % {k} + 1)::INTEGER AS id5, "
                  "(hash(i * 16 + 6) % {g} + 1)::INTEGER AS id6, "
                  "(hash(i * 16 + 7) % 5 + 1)::INTEGER AS v1, "
                  "(hash(i * 16 + 8) % 15 + 1)::INTEGER AS v2, "
                  "round((hash(i * 16 + 9) % 100000000)::DOUBLE / 1000000.0, 6) AS v3 FROM ROWS",
                  fmt::arg("k", k), fmt::arg("g", groups)),
      o.rows, o.files, o.out);
}

// H2O db-benchmark join shape (docs/architecture.md section 8): x with N rows in `files` files, and
// small (N/1e6 rows), medium (N/1e3) and big (N) to join it with. x's keys are drawn from
// 10% more values than the tables hold, so about 90% of x matches.
Status GenerateJoin(Session& session, const GenerateOptions& o) {
  const int64_t n1 = std::max<int64_t>(1, o.rows / 1'000'000);
  const int64_t n2 = std::max<int64_t>(1, o.rows / 1'000);
  const int64_t n3 = o.rows;
  auto drawn = [](int salt, int64_t n) {
    return fmt::format("(hash(i * 8 + {}) % {} + 1)::BIGINT", salt,
                       n + std::max<int64_t>(1, n / 10));
  };
  auto value = [](int salt) {
    return fmt::format("round((hash(i * 8 + {}) % 100000000)::DOUBLE / 1000000.0, 6)", salt);
  };
  DUX_RETURN_NOT_OK(WriteParts(
      session,
      fmt::format("SELECT id1, id2, id3, 'id' || id1 AS id4, 'id' || id2 AS id5, 'id' || id3 AS "
                  "id6, v1 FROM (SELECT {} AS id1, {} AS id2, {} AS id3, {} AS v1 FROM ROWS)",
                  drawn(1, n1), drawn(2, n2), drawn(3, n3), value(4)),
      o.rows, o.files, o.out + "/x"));
  DUX_RETURN_NOT_OK(WriteParts(
      session,
      fmt::format("SELECT i + 1 AS id1, 'id' || (i + 1) AS id4, {} AS v2 FROM ROWS", value(5)), n1,
      1, o.out + "/small"));
  DUX_RETURN_NOT_OK(WriteParts(
      session,
      fmt::format("SELECT (hash(i * 8 + 6) % {} + 1)::BIGINT AS id1, i + 1 AS id2, 'id' || "
                  "(hash(i * 8 + 6) % {} + 1) AS id4, 'id' || (i + 1) AS id5, {} AS v2 FROM ROWS",
                  n1, n1, value(5)),
      n2, 1, o.out + "/medium"));
  return WriteParts(
      session,
      fmt::format(
          "SELECT (hash(i * 8 + 6) % {n1} + 1)::BIGINT AS id1, (hash(i * 8 + 7) % {n2} + "
          "1)::BIGINT AS id2, i + 1 AS id3, 'id' || (hash(i * 8 + 6) % {n1} + 1) AS id4, "
          "'id' || (hash(i * 8 + 7) % {n2} + 1) AS id5, 'id' || (i + 1) AS id6, {v} AS v2 FROM "
          "ROWS",
          fmt::arg("n1", n1), fmt::arg("n2", n2), fmt::arg("v", value(5))),
      n3, o.files, o.out + "/big");
}

}  // namespace

Status Generate(const GenerateOptions& o) {
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::Open());
  // Every row is drawn from a hash of its row number, so every run writes the same data.
  DUX_RETURN_NOT_OK(o.dataset == "join" ? GenerateJoin(*session, o) : GenerateGroupBy(*session, o));
  std::cout << "dux generate: " << o.rows << " rows of " << o.dataset << " in " << o.out << "\n";
  return Status::OK();
}

}  // namespace dux::cli
