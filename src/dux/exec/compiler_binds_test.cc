// How the compiler binds a pipeline verb by verb (sql/compiler.cc), against a real DuckDB
// connection: the source once, each later verb against typed stand-ins of the CTEs before it,
// and the chain itself where a stand-in cannot be spelled.
#include <gtest/gtest.h>

#include "dux/exec/duckdb_connection.h"
#include "dux/pipeline/language.h"
#include "dux/sql/compiler.h"

namespace dux::exec {
namespace {

// Records every statement the compiler binds.
class RecordingBinder : public sql::Binder {
 public:
  explicit RecordingBinder(Connection* c, bool refuse_stand_ins)
      : c_(c), refuse_(refuse_stand_ins) {}
  Result<pipeline::Schema> Describe(const std::string& select_sql) override {
    described.push_back(select_sql);
    if (refuse_ && select_sql.find(" LIMIT 0)") != std::string::npos) {
      return Status::InvalidArgument("a stand-in that does not bind");
    }
    return c_->Describe(select_sql);
  }
  Result<sql::TextRows> QueryText(const std::string& sql) override { return c_->QueryText(sql); }
  std::vector<std::string> described;

 private:
  Connection* c_;
  bool refuse_;
};

class CompilerBindsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open();
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    auto con = Connection::Open(db_);
    ASSERT_TRUE(con.ok());
    con_ = std::make_unique<Connection>(std::move(con).value());
  }
  // Compiles `text` and returns how many binds mentioned `marker`, a string of the source.
  size_t BindsOf(const std::string& text, const std::string& marker, pipeline::Schema* schema,
                 bool refuse_stand_ins = false) {
    auto script = pipeline::ParseScript(text);
    EXPECT_TRUE(script.ok()) << script.status().ToString();
    RecordingBinder binder(con_.get(), refuse_stand_ins);
    sql::Compiler compiler(&binder);
    auto query = compiler.Compile(script->pipeline);
    EXPECT_TRUE(query.ok()) << query.status().ToString();
    if (query.ok()) *schema = query->schema;
    size_t n = 0;
    for (const auto& sql : binder.described) n += sql.find(marker) != std::string::npos;
    return n;
  }
  Database db_;
  std::unique_ptr<Connection> con_;
};

TEST_F(CompilerBindsTest, BindsTheSourceOnceAndLaterVerbsAgainstStandIns) {
  pipeline::Schema schema;
  size_t binds =
      BindsOf(R"(from_query("SELECT 41 AS a, 'x' AS \"b c\", [1.5]::DECIMAL(9,2)[] AS d") )"
              R"(|> filter(a > 0) |> mutate(e: a + 1) |> select(e, "b c", d) |> group_by("b c") )"
              R"(|> summarise(e: sum(e), d: max(d)))",
              "SELECT 41", &schema);
  EXPECT_EQ(binds, 1u);
  EXPECT_EQ(schema,
            (pipeline::Schema{{{"b c", "VARCHAR"}, {"e", "HUGEINT"}, {"d", "DECIMAL(9,2)[]"}}}));
}

TEST_F(CompilerBindsTest, BindsTheChainWhereAStandInDoesNotBind) {
  const std::string text =
      "from_query(\"SELECT 41 AS a, 'x' AS b\") |> mutate(c: a + 1) |> filter(c > 0) |> "
      "select(b, c)";
  pipeline::Schema with, without;
  EXPECT_EQ(BindsOf(text, "SELECT 41", &with), 1u);
  // Every stand-in refused: each verb binds the chain, source and all, and gets the same.
  EXPECT_EQ(BindsOf(text, "SELECT 41", &without, /*refuse_stand_ins=*/true), 4u);
  EXPECT_EQ(without, with);
  EXPECT_EQ(with, (pipeline::Schema{{{"b", "VARCHAR"}, {"c", "INTEGER"}}}));
}

}  // namespace
}  // namespace dux::exec
