#include "dux/exec/comoments_aggregate.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace dux::exec {
namespace {

using pipeline::Value;

class ComomentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    ASSERT_TRUE(RegisterComomentsAggregate(db_).ok());
    auto con = Connection::Open(db_);
    ASSERT_TRUE(con.ok());
    con_ = std::make_unique<Connection>(std::move(con).value());
    // Groups 0-6: 300,000 rows over three row groups (so 4 threads combine states), x around
    // 1e9 where a naive sum of squares loses every digit, and NULLs on either side. 100: x one
    // constant. 101: one pair. 102: no pair at all.
    ASSERT_TRUE(
        con_->Execute("CREATE TABLE t AS SELECT range % 7 AS g, CASE WHEN range % 11 = 0 THEN "
                      "NULL ELSE 1e9 + (range * 37 % 101) / 7.0 END AS x, CASE WHEN range % 13 "
                      "= 0 THEN NULL ELSE (range * 17 % 89) - 40.5 END AS y FROM range(300000) "
                      "UNION ALL SELECT 100, 0.1, range * 1.5 FROM range(200000) "
                      "UNION ALL SELECT 101, 2.0, 3.0 "
                      "UNION ALL SELECT 102, NULL, range FROM range(10)")
            .ok());
  }

  // The groups where `ours` (g and m, the struct) disagrees with DuckDB's regr_* over t (both
  // NULL agrees): on a mean beyond 1e-9 relative (regr_avgx is a sum / count, ours Welford's
  // mean), on a sum of squares beyond `relative`.
  Result<Table> Disagreements(const std::string& ours, const std::string& relative) {
    auto close = [&](const std::string& ours, const std::string& theirs) {
      const std::string bound = ours.find("avg") != std::string::npos ? "1e-9" : relative;
      return "((" + ours + " IS NULL AND " + theirs + " IS NULL) OR abs(" + ours + " - " + theirs +
             ") <= " + bound + " * greatest(abs(" + ours + "), abs(" + theirs + ")))";
    };
    std::string agree = "m.n = r.n";
    for (const char* f : {"avgx", "avgy", "sxx", "syy", "sxy"}) {
      agree += " AND " + close(std::string("m.") + f, std::string("r.") + f);
    }
    return con_->Query(
        "WITH ours AS (" + ours +
        "), theirs AS (SELECT g, regr_count(y, x) AS n, regr_avgx(y, x) AS avgx, "
        "regr_avgy(y, x) AS avgy, regr_sxx(y, x) AS sxx, regr_syy(y, x) AS syy, regr_sxy(y, x) "
        "AS sxy FROM t GROUP BY g) "
        "SELECT g FROM ours JOIN theirs r USING (g) WHERE NOT (" +
        agree + ")");
  }

  Database db_;
  std::unique_ptr<Connection> con_;
};

// One thread runs DuckDB's own updates: the same sums of squares to the last bit. Four threads
// combine states in an order that varies from run to run, DuckDB's as much as ours: around
// 1e9, sxy then moves by up to about 1e-6 relative either way, while a naive sum of squares
// would lose every digit.
TEST_F(ComomentsTest, GivesDuckDBsRegressionMomentsOnOneThreadAndCombinedAcrossFour) {
  for (const auto& [threads, relative] : {std::pair{"1", "1e-13"}, std::pair{"4", "1e-5"}}) {
    ASSERT_TRUE(con_->Execute(std::string("SET threads = ") + threads).ok());
    auto bad = Disagreements("SELECT g, dux_comoments(y, x) AS m FROM t GROUP BY g", relative);
    ASSERT_TRUE(bad.ok()) << bad.status().ToString();
    EXPECT_EQ(bad->NumRows(), 0u) << threads << " threads: " << bad->Format();
  }
}

TEST_F(ComomentsTest, KeepsAConstantsMomentExactlyZeroAndMarksAGroupWithoutPairs) {
  ASSERT_TRUE(con_->Execute("SET threads = 4").ok());
  auto t = con_->Query(
      "SELECT g, m.n, m.avgx, m.sxx, m.sxy, m.avgy FROM (SELECT g, dux_comoments(y, x) AS m "
      "FROM t WHERE g >= 100 GROUP BY g) ORDER BY g");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->NumRows(), 3u);
  const auto& constant = t->rows[0];
  EXPECT_EQ(constant[1], Value::Int(200000));
  EXPECT_EQ(constant[2], Value::Double(0.1));  // the mean of a constant is the constant
  EXPECT_EQ(constant[3], Value::Double(0.0));
  EXPECT_EQ(constant[4], Value::Double(0.0));
  const auto& one_pair = t->rows[1];
  EXPECT_EQ(one_pair[1], Value::Int(1));
  EXPECT_EQ(one_pair[3], Value::Double(0.0));
  EXPECT_EQ(one_pair[5], Value::Double(3.0));
  const auto& no_pair = t->rows[2];
  EXPECT_EQ(no_pair[1], Value::Int(0));
  for (size_t c = 2; c < no_pair.size(); ++c) EXPECT_TRUE(no_pair[c].is_null()) << c;
}

// What the final step of a distributed run does: partials of each group's rows split five
// ways (some parts without pairs, and a NULL partial), merged by the one-argument overload.
TEST_F(ComomentsTest, MergesPartialsToTheMomentsOfTheWholeGroup) {
  const std::string merged =
      "SELECT g, dux_comoments(p) AS m FROM (SELECT g, dux_comoments(y, x) AS p FROM t GROUP "
      "BY g, hash(x, y) % 5 UNION ALL SELECT 0, NULL) GROUP BY g";
  auto bad = Disagreements(merged, "1e-5");  // merged around 1e9, as four threads above
  ASSERT_TRUE(bad.ok()) << bad.status().ToString();
  EXPECT_EQ(bad->NumRows(), 0u) << bad->Format();
  // A constant split over partitions merges to exactly 0; two constants to their spread.
  auto t = con_->Query(
      "SELECT 1 AS k, (dux_comoments(p)).sxx, (dux_comoments(p)).avgx FROM (SELECT "
      "dux_comoments(y, x) AS p FROM t WHERE g = 100 GROUP BY y % 7) UNION ALL SELECT 2, "
      "(dux_comoments(p)).sxx, NULL FROM (SELECT dux_comoments(1.0, x) AS p FROM (VALUES "
      "(0.1), (0.1), (0.3)) v(x) GROUP BY x) ORDER BY k");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->NumRows(), 2u);
  EXPECT_EQ(t->rows[0][1], Value::Double(0.0));
  EXPECT_EQ(t->rows[0][2], Value::Double(0.1));
  EXPECT_NEAR(t->rows[1][1].double_value(), 2.0 / 3 * 0.04, 1e-15);
}

TEST_F(ComomentsTest, RefusesAPartialWithPairsButAFieldMissing) {
  auto t = con_->Query(
      "SELECT dux_comoments({'n': 2::BIGINT, 'avgx': 1.0::DOUBLE, 'avgy': NULL::DOUBLE, "
      "'sxx': 0.0::DOUBLE, 'syy': 0.0::DOUBLE, 'sxy': 0.0::DOUBLE})");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("dux_comoments: a partial with pairs has no avgy"),
            std::string::npos)
      << t.status().ToString();
}

TEST_F(ComomentsTest, FailsAnInfiniteSpreadAsDuckDBsRegrSxx) {
  auto t = con_->Query(
      "SELECT dux_comoments(y, x) FROM (VALUES (1.0, 'inf'::DOUBLE), (2.0, 3.0)) v(y, x)");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("VARPOP is out of range!"), std::string::npos)
      << t.status().ToString();
  // One infinite pair alone has no spread: 0, as regr_sxx gives.
  auto one = con_->Query("SELECT (dux_comoments(1.0, 'inf'::DOUBLE)).sxx");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->rows[0][0], Value::Double(0.0));
}

}  // namespace
}  // namespace dux::exec
