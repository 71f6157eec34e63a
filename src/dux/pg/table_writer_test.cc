#include "dux/pg/table_writer.h"

#include <gtest/gtest.h>

namespace dux::pg {
namespace {

std::string CopyText(std::string_view value) {
  std::string out;
  AppendCopyText(value, &out);
  return out;
}

TEST(WriterTest, EscapesCopyText) {
  EXPECT_EQ(CopyText("plain"), "plain");
  EXPECT_EQ(CopyText(""), "");
  EXPECT_EQ(CopyText("a\tb\nc\rd\\e"), "a\\tb\\nc\\rd\\\\e");
  EXPECT_EQ(CopyText("\\N"), "\\\\N");  // the text \N, not NULL
  EXPECT_EQ(CopyText("\"quotes\" and 'apostrophes'"), "\"quotes\" and 'apostrophes'");
  EXPECT_EQ(CopyText("ünï €"), "ünï €");
}

TEST(WriterTest, NamesEachAttemptsStagingTable) {
  // Stable (the coordinator and the worker compute it apart), distinct per attempt, and a
  // short PostgreSQL identifier.
  EXPECT_EQ(AttemptStagingName("q1-i0"), AttemptStagingName("q1-i0"));
  EXPECT_NE(AttemptStagingName("q1-i0"), AttemptStagingName("q1-i0-retry"));
  EXPECT_NE(AttemptStagingName("q1-i0"), AttemptStagingName("q1-i1"));
  EXPECT_EQ(AttemptStagingName("").size(), std::string("__dux_stage_").size() + 16);
  EXPECT_EQ(AttemptStagingName("q").rfind("__dux_stage_", 0), 0u);
}

TEST(WriterTest, RendersColumnsAsPostgresText) {
  EXPECT_EQ(*CopyTextExpression("\"c\"", "INTEGER"), "CAST(\"c\" AS VARCHAR)");
  EXPECT_EQ(*CopyTextExpression("\"c\"", "BLOB"), "('\\x' || hex(\"c\"))");
  EXPECT_EQ(*CopyTextExpression("\"c\"", "DATE"),
            "replace(CAST(\"c\" AS VARCHAR), ' (BC)', ' BC')");
  std::string list = *CopyTextExpression("\"c\"", "VARCHAR[]");
  EXPECT_NE(list.find("list_transform(CAST(\"c\" AS VARCHAR[])"), std::string::npos) << list;
  EXPECT_FALSE(CopyTextExpression("\"c\"", "STRUCT(a INTEGER)").ok());
}

TEST(WriterTest, ChecksAssignableFamilies) {
  PgColumn date;
  date.name = "d";
  date.catalog.name = "date";
  date.type = ColumnType{Kind::kDate};
  EXPECT_TRUE(CheckAssignable("d", "DATE", date, "pg.t").ok());
  EXPECT_TRUE(CheckAssignable("d", "VARCHAR", date, "pg.t").ok());  // PostgreSQL parses it
  EXPECT_TRUE(CheckAssignable("d", "TIMESTAMP", date, "pg.t").ok());
  Status bad = CheckAssignable("d", "INTEGER", date, "pg.t");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(), "column \"d\" is INTEGER in the pipeline but date in pg.t");
  PgColumn text;
  text.catalog.name = "text";
  text.type = ColumnType{Kind::kText};
  EXPECT_TRUE(CheckAssignable("t", "DOUBLE", text, "pg.t").ok());
  EXPECT_FALSE(CheckAssignable("t", "BLOB", text, "pg.t").ok());
}

}  // namespace
}  // namespace dux::pg
