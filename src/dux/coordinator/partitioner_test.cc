#include "dux/coordinator/partitioner.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dux/coordinator/database_testing.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/sql/compiler.h"
#include "dux/sql/quote.h"

namespace dux::coordinator {
namespace {

namespace fs = std::filesystem;
using pipeline::Pipeline;

class PartitionerTest : public DatabaseTest {
 protected:
  std::string Path(const std::string& relative) const { return (dir_ / relative).string(); }

  /// Writes `select` to the parquet file `relative` (directories created).
  void Write(const std::string& relative, const std::string& select,
             const std::string& options = "") {
    fs::create_directories((dir_ / relative).parent_path());
    Sql("COPY (" + select + ") TO " + sql::QuoteString(Path(relative)) + " (FORMAT parquet" +
        options + ")");
  }

  /// A hive dataset: year=2022..2024 / month=01..12 (zero-padded, so DuckDB types month
  /// VARCHAR), 2 rows per file with v = year * 100 + month.
  void WriteCalendar() {
    Sql("COPY (SELECT y AS year, lpad(m::VARCHAR, 2, '0') AS month, y * 100 + m AS v "
        "FROM range(2022, 2025) a(y), range(1, 13) b(m), range(2) c(r)) TO " +
        sql::QuoteString(Path("cal")) + " (FORMAT parquet, PARTITION_BY (year, month))");
  }

  Partitioning Partition(const Pipeline& p, size_t n) {
    auto out = PartitionSource(con_.get(), p, n);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? std::move(out).value() : Partitioning{};
  }

  /// The files every partition reads, in partition order.
  static std::vector<std::string> AllFiles(const Partitioning& p) {
    std::vector<std::string> files;
    for (const auto& part : p.partitions)
      files.insert(files.end(), part.files.begin(), part.files.end());
    return files;
  }

  /// Runs `select_sql` and returns its first cell as text.
  std::string Scalar(const std::string& select_sql) {
    auto rows = con_->QueryText("SELECT CAST(#1 AS VARCHAR) FROM (" + select_sql + "\n)");
    EXPECT_TRUE(rows.ok()) << rows.status().ToString() << "\n" << select_sql;
    if (!rows.ok() || rows->empty() || !(*rows)[0][0]) return "<none>";
    return *(*rows)[0][0];
  }

  /// What partition `i` of `p` returns for `pipeline`, summarised by `summary` (a select
  /// list over its rows).
  std::string RunPartition(const Pipeline& pipeline, const Partitioning& p, size_t i,
                           const std::string& summary) {
    sql::Compiler compiler(con_.get());
    auto query = compiler.Compile(PartitionPipeline(pipeline, p, i));
    EXPECT_TRUE(query.ok()) << query.status().ToString();
    if (!query.ok()) return "<error>";
    return Scalar("SELECT " + summary + " FROM (" + query->Sql() + "\n)");
  }
};

Pipeline Hive(const std::string& glob) { return Pipeline::FromParquet(glob, true); }

// ---- files --------------------------------------------------------------------------------

TEST_F(PartitionerTest, OtherSourcesAreOnePartition) {
  Partitioning p = Partition(Pipeline::FromQuery("SELECT 1 AS a"), 3);
  ASSERT_EQ(p.partitions.size(), 1u);
  EXPECT_TRUE(p.partitions[0].files.empty());
  EXPECT_EQ(p.unsplit_reason, "from_query is read once, by one worker");
}

TEST_F(PartitionerTest, FilesAreBinPackedBySizeLargestFirst) {
  // One file far larger than the others (one row group, so it is not split), three small.
  Write("d/a.parquet", "SELECT i, md5(i::VARCHAR) AS s FROM range(0, 50000) t(i)",
        ", ROW_GROUP_SIZE 1000000");
  for (const char* name : {"b", "c", "e"}) {
    Write(std::string("d/") + name + ".parquet", "SELECT i, 'x' AS s FROM range(0, 10) t(i)");
  }
  Partitioning p = Partition(Pipeline::FromParquet(Path("d/*.parquet")), 3);
  ASSERT_EQ(p.partitions.size(), 3u);
  EXPECT_EQ(p.unsplit_reason, "");
  EXPECT_EQ(p.partitions[0].files, std::vector<std::string>{Path("d/a.parquet")});
  EXPECT_EQ(p.partitions[1].files.size() + p.partitions[2].files.size(), 3u);
  EXPECT_TRUE(p.row_group_counts.empty());
  std::vector<std::string> all = AllFiles(p);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 4u);
}

TEST_F(PartitionerTest, FilesWhoseColumnsDifferOnlyInOrderAreNotSplit) {
  Write("o/1.parquet", "SELECT 1 AS a, 'x' AS b");
  Write("o/2.parquet", "SELECT 'y' AS b, 2 AS a");
  Partitioning p = Partition(Pipeline::FromParquet(Path("o/*.parquet")), 2);
  ASSERT_EQ(p.partitions.size(), 1u);
  EXPECT_NE(p.unsplit_reason.find("schemas differ"), std::string::npos);
  // In glob order: the first file decides the columns, as in a local read.
  EXPECT_EQ(p.partitions[0].files,
            (std::vector<std::string>{Path("o/1.parquet"), Path("o/2.parquet")}));
}

TEST_F(PartitionerTest, UnionByNameIsNotSplit) {
  Write("u/1.parquet", "SELECT 1 AS a");
  Write("u/2.parquet", "SELECT 2 AS b");
  Partitioning p = Partition(Pipeline::FromParquet(Path("u/*.parquet"), false, true), 2);
  ASSERT_EQ(p.partitions.size(), 1u);
  EXPECT_TRUE(p.partitions[0].files.empty());
  EXPECT_NE(p.unsplit_reason.find("union_by_name"), std::string::npos);
}

// ---- row groups ---------------------------------------------------------------------------

TEST_F(PartitionerTest, ALargeFileIsSplitByRowGroupsReadExactlyOnce) {
  Write("big.parquet", "SELECT i AS id, i % 7 AS g FROM range(0, 40000) t(i)",
        ", ROW_GROUP_SIZE 4096");
  const std::string file = Path("big.parquet");
  const int64_t groups = std::stoll(
      Scalar("SELECT num_row_groups FROM parquet_file_metadata(" + sql::QuoteString(file) + ")"));
  ASSERT_GE(groups, 6);
  Pipeline pipeline = Pipeline::FromParquet(file);
  Partitioning p = Partition(pipeline, 3);
  ASSERT_EQ(p.partitions.size(), 3u);
  EXPECT_EQ(p.row_group_counts.at(file), groups);
  std::set<int64_t> seen;
  int64_t rows = 0, sum = 0;
  for (size_t i = 0; i < p.partitions.size(); ++i) {
    const auto& part = p.partitions[i];
    EXPECT_EQ(part.files, std::vector<std::string>{file});
    ASSERT_FALSE(part.row_ranges.empty());
    for (int64_t g : part.row_groups.at(file)) EXPECT_TRUE(seen.insert(g).second) << g;
    // Each partition's rows are exactly its ranges' rows.
    std::string got = RunPartition(pipeline, p, i, "count(*) || ' ' || sum(id)");
    int64_t n = 0, s = 0;
    for (const auto& r : part.row_ranges) {
      n += r.end - r.begin;
      s += (r.begin + r.end - 1) * (r.end - r.begin) / 2;  // ids equal row numbers
    }
    EXPECT_EQ(got, std::to_string(n) + " " + std::to_string(s));
    rows += n;
    sum += s;
  }
  EXPECT_EQ(static_cast<int64_t>(seen.size()), groups);
  EXPECT_EQ(rows, 40000);
  EXPECT_EQ(sum, 40000LL * 39999 / 2);
  // Balanced by compressed size: no partition holds more than half the file.
  for (const auto& part : p.partitions) {
    EXPECT_LT(part.row_groups.at(file).size(), static_cast<size_t>(groups) / 2 + 1);
  }
}

TEST_F(PartitionerTest, TheWorkerReadHasOnlyTheFileColumns) {
  Write("big.parquet", "SELECT i AS id, 'x' AS s FROM range(0, 20000) t(i)",
        ", ROW_GROUP_SIZE 2048");
  Pipeline pipeline = Pipeline::FromParquet(Path("big.parquet"));
  Partitioning p = Partition(pipeline, 2);
  ASSERT_EQ(p.partitions.size(), 2u);
  sql::Compiler compiler(con_.get());
  auto query = compiler.Compile(PartitionPipeline(pipeline, p, 1));
  ASSERT_TRUE(query.ok()) << query.status().ToString();
  EXPECT_EQ(query->schema, (pipeline::Schema{{{"id", "BIGINT"}, {"s", "VARCHAR"}}}));
  EXPECT_NE(query->Sql().find("file_row_number"), std::string::npos) << query->Sql();
}

TEST_F(PartitionerTest, FewerFilesThanWorkersAreSplitByRowGroups) {
  Write("two/1.parquet", "SELECT i AS id FROM range(0, 30000) t(i)", ", ROW_GROUP_SIZE 2048");
  Write("two/2.parquet", "SELECT i AS id FROM range(0, 30000) t(i)", ", ROW_GROUP_SIZE 2048");
  Partitioning p = Partition(Pipeline::FromParquet(Path("two/*.parquet")), 3);
  EXPECT_EQ(p.partitions.size(), 3u);
  EXPECT_EQ(p.row_group_counts.size(), 2u);
}

TEST_F(PartitionerTest, AFileRowNumberColumnKeepsFilesWhole) {
  Write("frn.parquet", "SELECT i AS file_row_number FROM range(0, 20000) t(i)",
        ", ROW_GROUP_SIZE 2048");
  Partitioning p = Partition(Pipeline::FromParquet(Path("frn.parquet")), 3);
  ASSERT_EQ(p.partitions.size(), 1u);
  EXPECT_TRUE(p.partitions[0].row_ranges.empty());
}

// ---- hive partitioning --------------------------------------------------------------------

TEST_F(PartitionerTest, HiveKeysArePinnedToTheWholeReadsTypes) {
  WriteCalendar();
  Pipeline pipeline = Hive(Path("cal/**/*.parquet"));
  Partitioning p = Partition(pipeline, 3);
  EXPECT_EQ(p.partitions.size(), 3u);
  // month=01 stays VARCHAR in DuckDB's inference (it does not read back as written).
  EXPECT_EQ(p.hive_types, (std::vector<std::pair<std::string, std::string>>{{"month", "VARCHAR"},
                                                                            {"year", "BIGINT"}}));
  Pipeline worker = PartitionPipeline(pipeline, p, 0);
  const auto& read = std::get<pipeline::ParquetSource>(worker.source().body);
  EXPECT_EQ(read.hive_types, p.hive_types);
  EXPECT_EQ(read.files, p.partitions[0].files);
  // A worker whose files all have month=01..09 would infer BIGINT without the pin.
  sql::Compiler compiler(con_.get());
  auto local = compiler.Compile(pipeline);
  auto remote = compiler.Compile(worker);
  ASSERT_TRUE(local.ok() && remote.ok());
  EXPECT_EQ(remote->schema, local->schema);
}

TEST_F(PartitionerTest, PruningComparesTypedValues) {
  WriteCalendar();
  struct Case {
    std::string filter;
    size_t kept;
  };
  // 36 files: 3 years x 12 months.
  const std::vector<Case> cases = {
      {"month == 1", 3},  // month=01 is '01', compared as DuckDB compares it with 1
      {"month = '01'", 3},
      {"year = 2023", 12},
      {"year = 2023 OR year = 2024", 24},
      {"year IN (2022, 2024) AND month IN ('01', '02')", 4},
      {"year BETWEEN 2023 AND 2030", 24},
      {"NOT (year <> 2024) AND CAST(month AS INTEGER) >= 11", 2},
      {"year = 2023 AND v > 0", 12},      // the conjunct on v is left to the filter
      {"year = 2023 OR v > 202400", 36},  // mixes keys and columns: prunes nothing
      {"year IS NULL OR year > 2023", 12},
      {"abs(year) = 2023", 36},  // a function call: not judged
  };
  for (const auto& c : cases) {
    Pipeline pipeline = Hive(Path("cal/**/*.parquet")).Filter(c.filter);
    Partitioning p = Partition(pipeline, 2);
    std::vector<std::string> files = AllFiles(p);
    EXPECT_EQ(files.size(), c.kept) << c.filter;
    EXPECT_EQ(p.pruning.files.size(), 36 - c.kept) << c.filter;
    EXPECT_EQ(p.pruning.total_files, 36u) << c.filter;
    // The kept files are exactly those that hold rows the filter keeps.
    std::string expected = Scalar("SELECT count(DISTINCT filename) FROM read_parquet(" +
                                  sql::QuoteString(Path("cal/**/*.parquet")) +
                                  ", hive_partitioning = true, filename = true) WHERE " + c.filter);
    if (c.kept < 36) {  // else not pruned: some files may hold no kept row
      EXPECT_EQ(std::to_string(c.kept), expected) << c.filter;
    }
  }
}

TEST_F(PartitionerTest, PruningStopsAtVerbsThatChangeKeysOrSeeAllRows) {
  WriteCalendar();
  auto kept = [&](const Pipeline& pipeline) { return AllFiles(Partition(pipeline, 2)).size(); };
  const std::string glob = Path("cal/**/*.parquet");
  EXPECT_EQ(kept(Hive(glob).Filter("year = 2023").Filter("month = '02'")), 1u);
  EXPECT_EQ(kept(Hive(glob).Mutate({{"w", "v * 2"}}).DropNil().Filter("year = 2023")), 12u);
  EXPECT_EQ(kept(Hive(glob).Select({"year", "v"}).Filter("year = 2023")), 12u);
  EXPECT_EQ(kept(Hive(glob).Mutate({{"year", "year + 1"}}).Filter("year = 2023")), 36u);
  EXPECT_EQ(kept(Hive(glob).Mutate({{"YEAR", "2023"}}).Filter("year = 2023")), 36u);
  EXPECT_EQ(kept(Hive(glob).Rename({{"v", "year2"}}).Filter("year = 2023")), 36u);
  EXPECT_EQ(kept(Hive(glob).Mutate({{"r", "row_number() OVER ()"}}).Filter("year = 2023")), 36u);
  EXPECT_EQ(kept(Hive(glob).Filter("v > (SELECT 0)").Filter("year = 2023")), 12u);
  EXPECT_EQ(kept(Hive(glob).Filter("year = 2023 AND v < max(v) OVER ()")), 36u);
  EXPECT_EQ(kept(Hive(glob).GroupBy({"year"}).Filter("year = 2023")), 36u);
}

TEST_F(PartitionerTest, EverythingPrunedKeepsTheFirstFile) {
  WriteCalendar();
  Pipeline pipeline = Hive(Path("cal/**/*.parquet")).Filter("year = 1999");
  Partitioning p = Partition(pipeline, 3);
  ASSERT_EQ(p.partitions.size(), 1u);
  EXPECT_EQ(p.partitions[0].files,
            std::vector<std::string>{Path("cal/year=2022/month=01/data_0.parquet")});
  EXPECT_EQ(p.pruning.files.size(), 36u);
  EXPECT_EQ(p.pruning.kept_anyway, Path("cal/year=2022/month=01/data_0.parquet"));
  EXPECT_EQ(RunPartition(pipeline, p, 0, "count(*)"), "0");
}

TEST_F(PartitionerTest, OddKeyValuesArePrunedOnlyWhenDuckDbWouldDropThem) {
  // One row per file; "NULL" (any case) is NULL, VARCHAR values are URL-decoded, an empty
  // value is NULL for non-VARCHAR keys and __HIVE_DEFAULT__ is just text.
  const std::vector<std::string> dirs = {
      "k=01/s=a%20b", "k=NULL/s=NULL",          "k=/s=", "k=null/s=x%2Fy", "k=3/s=a b",
      "k=%34/s=%41",  "k=+5/s=__HIVE_DEFAULT__"};
  for (size_t i = 0; i < dirs.size(); ++i) {
    Write("odd/" + dirs[i] + "/f.parquet", "SELECT " + std::to_string(i) + " AS v");
  }
  const std::string glob = Path("odd/**/*.parquet");
  const std::vector<std::string> filters = {
      "k = 3",   "k IS NULL",          "k IS NOT NULL",     "s = 'a b'",   "s IS NULL", "s = ''",
      "s = 'A'", "s = 'x/y' OR k = 5", "k BETWEEN 1 AND 4", "k IN (1, 4)", "s > 'a'"};
  for (const char* types : {"k: 'INTEGER'", "k: 'VARCHAR'"}) {
    for (const auto& filter : filters) {
      pipeline::ParquetSource read{glob, true, false, {}, {}, {}};
      read.hive_types = {
          {"k", std::string(types).find("INTEGER") != std::string::npos ? "INTEGER" : "VARCHAR"}};
      Pipeline pipeline = Pipeline(pipeline::Source{read, {}}).Filter(filter);
      Partitioning p = Partition(pipeline, 2);
      std::set<std::string> kept;
      for (const auto& f : AllFiles(p)) kept.insert(f);
      // Every file DuckDB returns a row from is kept.
      auto rows =
          con_->QueryText("SELECT DISTINCT filename FROM read_parquet(" + sql::QuoteString(glob) +
                          ", hive_partitioning = true, filename = true, hive_types = {" + types +
                          "}) WHERE " + filter);
      if (!rows.ok()) {
        // DuckDB cannot evaluate it on these values ('' as a number): nothing is pruned, and
        // the workers fail as a local read does.
        EXPECT_EQ(kept.size(), dirs.size()) << types << " " << filter;
        continue;
      }
      for (const auto& row : *rows) {
        EXPECT_TRUE(kept.count(*row[0])) << types << " " << filter << ": " << *row[0];
      }
      // And nothing else, unless every file was pruned (the first is then kept).
      if (rows->empty()) {
        EXPECT_EQ(kept.size(), 1u) << types << " " << filter;
      } else {
        EXPECT_EQ(kept.size(), rows->size()) << types << " " << filter;
      }
    }
  }
}

// Many files: one that differs from the first (a DOUBLE where the others have a VARCHAR), far
// from it in the glob's order. A worker reads it into its part's first file's columns, as a
// local read reads it into the first file's: the source is split all the same. (When such a
// file starts a part, the source is read whole: FilesWhoseColumnsDifferOnlyInOrderAreNotSplit.)
TEST_F(PartitionerTest, OnlyThePartsFirstFilesAreComparedWithTheFirstFile) {
  for (int i = 0; i < 17; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "m/%02d.parquet", i);
    Write(name, "SELECT " + std::to_string(i) + " AS a, 'x' AS b");
    Write(std::string("n/") + (name + 2),
          i == 15 ? "SELECT 15 AS a, 1.5 AS b" : "SELECT " + std::to_string(i) + " AS a, 'x' AS b");
  }
  Partitioning same = Partition(Pipeline::FromParquet(Path("m/*.parquet")), 2);
  EXPECT_EQ(same.unsplit_reason, "");
  EXPECT_EQ(same.partitions.size(), 2u);
  Partitioning later = Partition(Pipeline::FromParquet(Path("n/*.parquet")), 2);
  EXPECT_EQ(later.unsplit_reason, "");
  ASSERT_EQ(later.partitions.size(), 2u);
  for (const auto& part : later.partitions) EXPECT_NE(part.files[0], Path("n/15.parquet"));
}

TEST_F(PartitionerTest, WhenSchemasDifferTheFirstFileIsReadEvenIfPruned) {
  // The first file decides the columns of a local read; reading only the second would give
  // them in another order.
  Write("ds/k=1/f.parquet", "SELECT 1 AS a, 'x' AS b");
  Write("ds/k=2/f.parquet", "SELECT 'y' AS b, 2 AS a");
  Pipeline pipeline = Hive(Path("ds/**/*.parquet")).Filter("k = 2");
  sql::Compiler compiler(con_.get());
  auto local = compiler.Compile(pipeline);
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  for (size_t workers : {1, 2}) {
    Partitioning p = Partition(pipeline, workers);
    ASSERT_EQ(p.partitions.size(), 1u);
    EXPECT_EQ(p.pruning.files, std::vector<std::string>{Path("ds/k=1/f.parquet")});
    EXPECT_EQ(p.partitions[0].files,
              (std::vector<std::string>{Path("ds/k=1/f.parquet"), Path("ds/k=2/f.parquet")}));
    auto remote = compiler.Compile(PartitionPipeline(pipeline, p, 0));
    ASSERT_TRUE(remote.ok()) << remote.status().ToString();
    EXPECT_EQ(remote->schema, local->schema);
    EXPECT_EQ(RunPartition(pipeline, p, 0, "string_agg(a || b, ',')"), "2y");
  }
}

TEST_F(PartitionerTest, UntypableKeysAreKept) {
  Write("bad/k=1/f.parquet", "SELECT 1 AS v");
  Write("bad/k=x/f.parquet", "SELECT 2 AS v");
  pipeline::ParquetSource read{Path("bad/**/*.parquet"), true, false, {}, {}, {}};
  // A local read fails on k=x; the partitioner must not prune that file away silently.
  read.hive_types = {{"k", "INTEGER"}};
  Pipeline pipeline = Pipeline(pipeline::Source{read, {}}).Filter("k = 1");
  Partitioning p = Partition(pipeline, 2);
  EXPECT_EQ(AllFiles(p).size(), 2u);
  EXPECT_TRUE(p.pruning.files.empty());
}

TEST_F(PartitionerTest, OneWorkerStillPrunes) {
  WriteCalendar();
  Partitioning p = Partition(Hive(Path("cal/**/*.parquet")).Filter("year = 2024"), 1);
  ASSERT_EQ(p.partitions.size(), 1u);
  EXPECT_EQ(p.partitions[0].files.size(), 12u);
  Partitioning whole = Partition(Hive(Path("cal/**/*.parquet")), 1);
  ASSERT_EQ(whole.partitions.size(), 1u);
  EXPECT_TRUE(whole.partitions[0].files.empty());
}

}  // namespace
}  // namespace dux::coordinator
