#include "dux/pg/catalog.h"

#include <gtest/gtest.h>

namespace dux::pg {
namespace {

CatalogType Type(uint32_t oid, int32_t typmod = -1, std::string name = "t") {
  CatalogType t;
  t.oid = oid;
  t.typmod = typmod;
  t.name = std::move(name);
  return t;
}

std::string DuckDb(const CatalogType& t) {
  auto resolved = ResolveType(t, "c");
  return resolved.ok() ? resolved->DuckDbType() : "error: " + resolved.status().message();
}

// numeric(p, s) as PostgreSQL stores it in atttypmod.
int32_t NumericTypmod(int precision, int scale) {
  return ((precision << 16) | (scale & 0x7ff)) + 4;
}

TEST(CatalogTest, MapsScalarTypes) {
  EXPECT_EQ(DuckDb(Type(16)), "BOOLEAN");
  EXPECT_EQ(DuckDb(Type(21)), "SMALLINT");
  EXPECT_EQ(DuckDb(Type(23)), "INTEGER");
  EXPECT_EQ(DuckDb(Type(20)), "BIGINT");
  EXPECT_EQ(DuckDb(Type(700)), "FLOAT");
  EXPECT_EQ(DuckDb(Type(701)), "DOUBLE");
  EXPECT_EQ(DuckDb(Type(25)), "VARCHAR");
  EXPECT_EQ(DuckDb(Type(1043, 14)), "VARCHAR");
  EXPECT_EQ(DuckDb(Type(1042, 8)), "VARCHAR");
  EXPECT_EQ(DuckDb(Type(17)), "BLOB");
  EXPECT_EQ(DuckDb(Type(1082)), "DATE");
  EXPECT_EQ(DuckDb(Type(1114)), "TIMESTAMP");
  EXPECT_EQ(DuckDb(Type(1184)), "TIMESTAMP WITH TIME ZONE");
  EXPECT_EQ(DuckDb(Type(1083)), "TIME");
  EXPECT_EQ(DuckDb(Type(1266)), "TIME WITH TIME ZONE");
  EXPECT_EQ(DuckDb(Type(1186)), "INTERVAL");
  EXPECT_EQ(DuckDb(Type(2950)), "UUID");
  EXPECT_EQ(DuckDb(Type(114)), "JSON");
  EXPECT_EQ(DuckDb(Type(3802)), "JSON");
}

TEST(CatalogTest, MapsNumericByPrecision) {
  EXPECT_EQ(DuckDb(Type(1700, NumericTypmod(12, 2))), "DECIMAL(12,2)");
  EXPECT_EQ(DuckDb(Type(1700, NumericTypmod(38, 0))), "DECIMAL(38,0)");
  // Beyond DuckDB's 38 digits, unconstrained, or a scale DECIMAL cannot take: DOUBLE.
  EXPECT_EQ(DuckDb(Type(1700, NumericTypmod(39, 0))), "DOUBLE");
  EXPECT_EQ(DuckDb(Type(1700)), "DOUBLE");
  EXPECT_EQ(DuckDb(Type(1700, NumericTypmod(5, -2))), "DOUBLE");
  EXPECT_EQ(DuckDb(Type(1700, NumericTypmod(2, 5))), "DOUBLE");
}

TEST(CatalogTest, MapsArraysAndEnums) {
  CatalogType ints = Type(1007, -1, "integer[]");
  ints.element_oid = 23;
  EXPECT_EQ(DuckDb(ints), "INTEGER[]");
  CatalogType numbers = Type(1231, NumericTypmod(10, 3), "numeric(10,3)[]");
  numbers.element_oid = 1700;
  EXPECT_EQ(DuckDb(numbers), "DECIMAL(10,3)[]");
  CatalogType mood = Type(40000, -1, "mood");
  mood.typtype = 'e';
  EXPECT_EQ(DuckDb(mood), "VARCHAR");
  CatalogType moods = Type(40001, -1, "mood[]");
  moods.element_oid = 40000;
  moods.element_typtype = 'e';
  EXPECT_EQ(DuckDb(moods), "VARCHAR[]");
}

TEST(CatalogTest, UnsupportedTypesNameTheColumnAndType) {
  auto point = ResolveType(Type(600, -1, "point"), "location");
  ASSERT_FALSE(point.ok());
  EXPECT_EQ(point.status().message(),
            "column \"location\" has type point, which dux cannot read (cast it in a view, e.g. "
            "to text)");
}

TEST(CatalogTest, ParsesTableNames) {
  EXPECT_EQ(*ParseTableName("orders"), (TableName{"", "orders"}));
  EXPECT_EQ(*ParseTableName("public.Orders"), (TableName{"public", "Orders"}));
  EXPECT_EQ(ParseTableName("public.Orders")->Quoted(), "\"public\".\"Orders\"");
  EXPECT_FALSE(ParseTableName("a.b.c").ok());
  EXPECT_FALSE(ParseTableName("a.").ok());
  EXPECT_FALSE(ParseTableName("").ok());
}

TEST(CatalogTest, QuotesForPostgres) {
  EXPECT_EQ(QuoteIdentifier("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(QuoteLiteral("back\\slash"), "'back\\slash'");
}

TEST(CatalogTest, PgTypesForCreate) {
  EXPECT_EQ(*PgTypeFor("BIGINT", "c"), "bigint");
  EXPECT_EQ(*PgTypeFor("DECIMAL(12,2)", "c"), "numeric(12,2)");
  EXPECT_EQ(*PgTypeFor("VARCHAR[]", "c"), "text[]");
  EXPECT_EQ(*PgTypeFor("INTEGER[3]", "c"), "integer[]");
  EXPECT_EQ(*PgTypeFor("TIMESTAMP WITH TIME ZONE", "c"), "timestamp with time zone");
  EXPECT_EQ(*PgTypeFor("UBIGINT", "c"), "numeric(20,0)");
  EXPECT_EQ(*PgTypeFor("ENUM('a', 'b')", "c"), "text");
  EXPECT_EQ(*PgTypeFor("JSON", "c"), "json");
  auto nested = PgTypeFor("INTEGER[][]", "c");
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.status().message(),
            "column \"c\" has type INTEGER[][], which has no PostgreSQL column type in dux (turn "
            "it into text or JSON with mutate first)");
  EXPECT_FALSE(PgTypeFor("STRUCT(a INTEGER)", "c").ok());
  EXPECT_FALSE(PgTypeFor("MAP(VARCHAR, INTEGER)", "c").ok());
}

}  // namespace
}  // namespace dux::pg
