#include "dux/sql/quote.h"

#include <gtest/gtest.h>

namespace dux::sql {
namespace {

using pipeline::Value;

TEST(QuoteTest, IdentifiersDoubleTheirQuotes) {
  EXPECT_EQ(QuoteIdentifier("a"), "\"a\"");
  EXPECT_EQ(QuoteIdentifier("my \"col\""), "\"my \"\"col\"\"\"");
  EXPECT_EQ(QuoteIdentifiers({"select", "x y"}), "\"select\", \"x y\"");
}

TEST(QuoteTest, StringsDoubleQuotesAndSpliceNul) {
  EXPECT_EQ(QuoteString("it's"), "'it''s'");
  EXPECT_EQ(QuoteString("a\\b\nc"), "'a\\b\nc'");
  EXPECT_EQ(QuoteString(std::string("a\0b", 3)), "('a' || chr(0) || 'b')");
}

TEST(QuoteTest, LiteralsCarryTheirType) {
  EXPECT_EQ(*RenderLiteral(Value::Int(-5)), "CAST(-5 AS BIGINT)");
  EXPECT_EQ(*RenderLiteral(Value::Int(INT64_MIN)), "CAST('-9223372036854775808' AS BIGINT)");
  EXPECT_EQ(*RenderLiteral(Value::UInt(UINT64_MAX)), "CAST(18446744073709551615 AS UBIGINT)");
  EXPECT_EQ(*RenderLiteral(Value::Double(0.1)), "CAST(0.10000000000000001 AS DOUBLE)");
  EXPECT_EQ(*RenderLiteral(Value::Null()), "NULL");
  EXPECT_EQ(*RenderLiteral(Value::Blob("\x01z")), "CAST('\\x01\\x7A' AS BLOB)");
  EXPECT_EQ(*RenderLiteral(Value::Date("2024-01-31")), "CAST('2024-01-31' AS DATE)");
  EXPECT_EQ(*RenderLiteral(Value::Typed("STRUCT(\"a b\" INTEGER, c VARCHAR[])", "{}")),
            "CAST('{}' AS STRUCT(\"a b\" INTEGER, c VARCHAR[]))");
}

TEST(QuoteTest, TypeNamesCannotLeaveTheCast) {
  EXPECT_FALSE(RenderLiteral(Value::Typed("INT) , (SELECT 1", "1")).ok());
  EXPECT_FALSE(RenderLiteral(Value::Typed("INT; DROP TABLE t", "1")).ok());
  EXPECT_FALSE(RenderLiteral(Value::Typed("INT -- x", "1")).ok());
  EXPECT_FALSE(RenderLiteral(Value::Typed("", "1")).ok());
  EXPECT_FALSE(RenderLiteral(Value::Typed("STRUCT(\"a", "1")).ok());
  EXPECT_TRUE(CheckTypeName("DECIMAL(18, 3)").ok());
}

}  // namespace
}  // namespace dux::sql
