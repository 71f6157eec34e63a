// PostgreSQL tables as dux sees them: names, columns described from the catalog, and the
// mapping of PostgreSQL types to DuckDB types (reading) and back (writing).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dux/common/status.h"
#include "dux/pg/connection.h"

namespace dux::pg {

/// A table (or view) of a PostgreSQL database: `schema` may be empty (PostgreSQL's
/// search_path decides). Names are exact: they are always quoted in PostgreSQL SQL.
struct TableName {
  std::string schema;
  std::string name;

  /// `"schema"."name"` (or `"name"`), quoted for PostgreSQL.
  std::string Quoted() const;
  /// `schema.name` as the user wrote it, for messages.
  std::string ToString() const;
  bool operator==(const TableName&) const = default;
};

/// Splits "table" or "schema.table"; InvalidArgument for an empty part or more than two.
Result<TableName> ParseTableName(std::string_view text);

/// `name` as a double-quoted PostgreSQL identifier; any name is safe.
std::string QuoteIdentifier(std::string_view name);
/// `text` as a PostgreSQL string literal (standard_conforming_strings on, which every dux
/// session sets); NUL bytes, which PostgreSQL text cannot hold, are dropped.
std::string QuoteLiteral(std::string_view text);

/// The PostgreSQL types dux reads, as they travel in COPY's binary format.
enum class Kind {
  kBool,
  kInt2,
  kInt4,
  kInt8,
  kOid,
  kFloat4,
  kFloat8,
  kNumeric,
  kText,  ///< text, varchar, bpchar, name, "char", enums: UTF-8 bytes
  kBytea,
  kDate,
  kTime,
  kTimeTz,
  kTimestamp,
  kTimestampTz,
  kInterval,
  kUuid,
  kJson,
  kJsonb,
};

/// A column's type resolved for reading: the scalar kind, whether it is a (one-dimensional)
/// array of it, and for numeric its precision and scale (0 and -1 when unconstrained, or
/// when the precision exceeds DuckDB's 38 digits: read as DOUBLE).
struct ColumnType {
  Kind kind = Kind::kText;
  bool is_array = false;
  int precision = 0;
  int scale = -1;

  /// DuckDB's type name: "INTEGER", "DECIMAL(12,2)", "TIMESTAMP WITH TIME ZONE", "UUID[]", ...
  std::string DuckDbType() const;
  /// Whether a numeric is read as DECIMAL (else DOUBLE).
  bool IsDecimal() const { return kind == Kind::kNumeric && scale >= 0; }
  bool operator==(const ColumnType&) const = default;
};

/// What the catalog says about a column's type. Domains are already resolved to their base
/// type (one level), arrays carry their element.
struct CatalogType {
  uint32_t oid = 0;
  int32_t typmod = -1;
  char typtype = 'b';        ///< 'b' base, 'e' enum, 'c' composite, 'r' range, ...
  uint32_t element_oid = 0;  ///< for arrays (typcategory 'A'), else 0
  char element_typtype = 'b';
  std::string name;  ///< format_type(), e.g. "numeric(12,2)", "point", "integer[]"
};

/// Resolves a catalog type for reading; InvalidArgument naming `column` and the type
/// ("column \"p\" has type point, which dux cannot read") for anything else. Pure.
Result<ColumnType> ResolveType(const CatalogType& type, const std::string& column);

struct PgColumn {
  std::string name;
  CatalogType catalog;
  /// Empty `unsupported` means `type` holds the resolved type.
  ColumnType type;
  std::string unsupported;  ///< why it cannot be read (a complete message), or ""
};

/// A described table: its resolved name and its columns in order.
struct TableDescription {
  TableName name;      ///< schema filled in
  char relkind = 'r';  ///< 'r' table, 'v' view, 'm' materialized view, 'p' partitioned, 'f'
  std::vector<PgColumn> columns;

  /// Index of `name`: an exact match, else the only case-insensitive one; -1 when none.
  int Find(std::string_view name) const;
};

/// Describes `table` from the catalog. NotFound ("no table \"public.x\" in PostgreSQL") when
/// it does not exist or the user may not see it. Unsupported column types are recorded in
/// PgColumn::unsupported, not reported: only reading such a column fails.
Result<TableDescription> DescribeTable(Connection& connection, const TableName& table);

/// Whether `table` exists (any relation kind).
Result<bool> TableExists(Connection& connection, const TableName& table);

/// The PostgreSQL type `create: true` gives a column of DuckDB type `duckdb_type`
/// ("BIGINT" -> "bigint", "DECIMAL(12,2)" -> "numeric(12,2)", "VARCHAR[]" -> "text[]").
/// InvalidArgument naming the column for types PostgreSQL has no column type for (STRUCT,
/// MAP, UNION, nested lists). Pure.
Result<std::string> PgTypeFor(const std::string& duckdb_type, const std::string& column);

}  // namespace dux::pg
