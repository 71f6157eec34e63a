// dux explain --analyze, run as a user runs it: a shuffle join on real worker processes
// (--local-workers) with the skewed data of test/e2e/joins/distributed.test, its JSON form,
// a local run with DuckDB's profile, and its usage mistakes.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "cli_fixture.h"

namespace {

using namespace dux::test;  // NOLINT: the fixture
using nlohmann::json;

// The facts and dims of test/e2e/joins/distributed.test: k = 1 holds more than half of the
// facts (a skewed key); one facts file is empty.
const char* const kFacts[] = {
    "SELECT i AS id, CASE WHEN i % 13 = 0 THEN NULL WHEN i % 11 = 0 THEN 100 + i % 5 ELSE i % 50 "
    "END::INTEGER AS k, 'k' || (i % 50) AS s, i * 0.5 AS v FROM range(0, 3000) t(i)",
    "SELECT i AS id, CASE WHEN i % 3 <> 0 THEN 1 WHEN i % 17 = 0 THEN NULL ELSE i % 60 "
    "END::INTEGER AS k, 'k' || (i % 60) AS s, i * 0.25 AS v FROM range(3000, 15000) t(i)",
    "SELECT 0::BIGINT AS id, 0::INTEGER AS k, '' AS s, 0.0::DOUBLE AS v LIMIT 0",
};
const char* const kDims[] = {
    "SELECT i::BIGINT AS k, 'n' || i AS name FROM range(0, 40) t(i) UNION ALL SELECT NULL, 'nil'",
    "SELECT i::BIGINT AS k, 'n' || i AS name FROM range(40, 70) t(i) UNION ALL SELECT 1, 'one "
    "again' UNION ALL SELECT NULL, 'nil'",
};

const char* const kJoin =
    "from_parquet(\"facts-*.parquet\") |> join(from_parquet(\"dims-*.parquet\"), on: k)";

// Every match of `pattern` (one group, a number) in `text`.
std::vector<int64_t> Numbers(const std::string& text, const std::string& pattern) {
  std::vector<int64_t> out;
  std::regex re(pattern);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    out.push_back(std::stoll((*it)[1].str()));
  }
  return out;
}

// The lines of one stage's block: from "stage NAME (" to the next stage.
std::string StageBlock(const std::string& text, const std::string& name) {
  size_t start = text.find("stage " + name + " (");
  if (start == std::string::npos) return "";
  size_t end = text.find("\nstage ", start + 1);
  size_t duckdb = text.find("\nDuckDB's profile", start + 1);
  end = std::min(end, duckdb);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start + 1);
}

class ExplainAnalyzeTest : public CliTest {
 protected:
  void WriteSkewedJoinData() {
    for (size_t i = 0; i < std::size(kFacts); ++i) {
      Outcome o =
          Dux({"run", "from_query(\"" + std::string(kFacts[i]) + "\") |> to_parquet(\"facts-" +
                          std::to_string(i) + ".parquet\")"});
      ASSERT_EQ(o.exit_code, 0) << o.err;
    }
    for (size_t i = 0; i < std::size(kDims); ++i) {
      Outcome o = Dux({"run", "from_query(\"" + std::string(kDims[i]) +
                                  "\") |> to_parquet(\"dims-" + std::to_string(i) + ".parquet\")"});
      ASSERT_EQ(o.exit_code, 0) << o.err;
    }
  }

  // The rows of the join, as `dux run` counts them locally.
  int64_t JoinRows() {
    Outcome o = Dux({"run", "--format", "csv", std::string(kJoin) + " |> summarise(n: count())"});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return std::stoll(o.out.substr(o.out.find('\n') + 1));
  }
};

TEST_F(ExplainAnalyzeTest, AShuffleJoinShowsBothExchangesWorkerRowsAndTheSkew) {
  WriteSkewedJoinData();
  int64_t rows = JoinRows();
  ASSERT_GT(rows, 8000);
  Outcome o =
      Dux({"explain", "--analyze", "--local-workers", "3", "--broadcast-threshold", "0", kJoin});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  const std::string& text = o.out;
  EXPECT_EQ(text.rfind("explain --analyze: " + std::to_string(rows) + " rows in ", 0), 0u) << text;
  EXPECT_NE(text.find("distributed on 3 workers"), std::string::npos) << text;

  // Both sides go through the exchange that the bucket owners read.
  std::string left = StageBlock(text, "scan"), right = StageBlock(text, "scan right");
  std::string owners = StageBlock(text, "exchange"), final_stage = StageBlock(text, "final");
  ASSERT_FALSE(left.empty()) << text;
  ASSERT_FALSE(right.empty()) << text;
  ASSERT_FALSE(owners.empty()) << text;
  ASSERT_FALSE(final_stage.empty()) << text;
  EXPECT_NE(left.find("exchange into stage exchange: 15000 rows"), std::string::npos) << left;
  EXPECT_NE(right.find("exchange into stage exchange: 73 rows"), std::string::npos) << right;

  // The bucket owners' rows, worker by worker, add up to the result.
  std::vector<int64_t> per_worker = Numbers(owners, R"(\n  worker [^:]+:\d+: .*? rows out (\d+))");
  ASSERT_EQ(per_worker.size(), 3u) << owners;
  int64_t sum = 0;
  for (int64_t r : per_worker) sum += r;
  EXPECT_EQ(sum, rows) << owners;
  EXPECT_EQ(Numbers(owners, R"(rows out (\d+), moved)")[0], rows) << owners;
  EXPECT_EQ(Numbers(final_stage, R"(rows in (\d+))"), std::vector<int64_t>{rows}) << final_stage;

  // The skewed key makes one bucket much larger than the median one.
  std::smatch skew;
  ASSERT_TRUE(
      std::regex_search(owners, skew,
                        std::regex(R"(reads the exchange on k: \d+ buckets, rows by bucket )"
                                   R"(\[[0-9, ]+\], largest (\d+), median (\d+), skew ([0-9.]+))")))
      << owners;
  int64_t largest = std::stoll(skew[1]), median = std::stoll(skew[2]);
  EXPECT_GT(largest, 8000);
  EXPECT_GT(largest, 2 * median);
  EXPECT_NEAR(std::stod(skew[3]), static_cast<double>(largest) / static_cast<double>(median), 0.01);
  EXPECT_NE(text.find("DuckDB's profile of the coordinator's finishing query:"), std::string::npos)
      << text;

  // The same run as JSON: the same stages, exchanges and rows.
  Outcome j = Dux({"explain", "--analyze", "--format", "json", "--local-workers", "3",
                   "--broadcast-threshold", "0", kJoin});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  json doc = json::parse(j.out);
  EXPECT_EQ(doc["rows"], rows);
  EXPECT_EQ(doc["distributed"], true);
  EXPECT_EQ(doc["workers"].size(), 3u);
  std::vector<std::string> names;
  for (const auto& s : doc["stages"]) names.push_back(s["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"scan", "scan right", "exchange", "final"}));
  ASSERT_EQ(doc["exchanges"].size(), 2u);
  EXPECT_EQ(doc["exchanges"][0]["from"], "scan");
  EXPECT_EQ(doc["exchanges"][0]["rows"], 15000);
  EXPECT_EQ(doc["exchanges"][1]["from"], "scan right");
  EXPECT_EQ(doc["exchanges"][1]["rows"], 73);
  const json& exchange = doc["stages"][2];
  EXPECT_EQ(exchange["rows_out"], rows);
  std::vector<int64_t> json_per_worker;
  for (const auto& w : exchange["workers"]) json_per_worker.push_back(w["rows_out"]);
  std::sort(per_worker.begin(), per_worker.end());
  std::sort(json_per_worker.begin(), json_per_worker.end());
  EXPECT_EQ(json_per_worker, per_worker);
  EXPECT_EQ(exchange["buckets"]["largest_rows"], largest);
  EXPECT_EQ(exchange["buckets"]["median_rows"], median);
  EXPECT_NEAR(exchange["buckets"]["skew"].get<double>(), std::stod(skew[3]), 0.01);
  for (const auto& s : doc["stages"]) {
    if (s["kind"] == "final") continue;
    EXPECT_EQ(s["status"], "ok") << s.dump();
    for (const auto& t : s["tasks"]) {
      EXPECT_EQ(t["status"], "ok") << t.dump();
      EXPECT_FALSE(t["rows_out"].is_null()) << t.dump();
      EXPECT_FALSE(t["peak_memory_bytes"].is_null()) << t.dump();
    }
  }
}

TEST_F(ExplainAnalyzeTest, ALocalRunShowsDuckDbsProfile) {
  Outcome o = Dux({"explain", "--analyze",
                   "from_query(\"SELECT range AS n FROM range(1000)\") |> filter(n % 2 = 0) |> "
                   "mutate(g: n % 10) |> group_by(g) |> summarise(c: count())"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out.rfind("explain --analyze: 5 rows in ", 0), 0u) << o.out;
  EXPECT_NE(o.out.find("on this process"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("stage "), std::string::npos) << o.out;
  size_t profile = o.out.find("DuckDB's profile of the query:\nquery  latency ");
  ASSERT_NE(profile, std::string::npos) << o.out;
  EXPECT_NE(o.out.find("HASH_GROUP_BY  rows 5", profile), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("FILTER  rows 500", profile), std::string::npos) << o.out;

  Outcome j = Dux({"explain", "--analyze", "--format", "json",
                   "from_query(\"SELECT range AS a FROM range(3)\")"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  json doc = json::parse(j.out);
  EXPECT_EQ(doc["rows"], 3);
  EXPECT_EQ(doc["distributed"], false);
  EXPECT_TRUE(doc["stages"].empty());
  EXPECT_EQ(doc["duckdb_profile"]["metrics"]["ROWS_RETURNED"], "3") << j.out;
  EXPECT_FALSE(doc["duckdb_profile"]["children"].empty()) << j.out;
}

TEST_F(ExplainAnalyzeTest, MistakesGiveOneLine) {
  ExpectOneLineError(Dux({"explain", "--format", "json", kTwoRows}), 1,
                     "--format json needs --analyze");
  ExpectOneLineError(Dux({"explain", "--analyze", "--format", "xml", kTwoRows}), 2, "xml");
  ExpectOneLineError(Dux({"explain", "--analyze", "from_values(a: [1])\n|> fliter(a > 1)"}), 1,
                     "unknown verb \"fliter\"");
  ExpectOneLineError(Dux({"explain", "--analyze", "--local-workers", "2",
                          "from_values(s: ['1', 'x'])\n|> mutate(n: s::INTEGER)"}),
                     1, "Could not convert string 'x' to INT32");
  EXPECT_EQ(WorkFiles(), std::vector<std::string>{});
}

}  // namespace
