#include "dux/pg/catalog.h"

#include <fmt/format.h>

#include <cstdlib>
#include <map>

#include "dux/common/ascii.h"

namespace dux::pg {

namespace {

// Type OIDs fixed by PostgreSQL (src/include/catalog/pg_type.dat).
enum Oid : uint32_t {
  kBoolOid = 16,
  kByteaOid = 17,
  kCharOid = 18,
  kNameOid = 19,
  kInt8Oid = 20,
  kInt2Oid = 21,
  kInt4Oid = 23,
  kTextOid = 25,
  kOidOid = 26,
  kJsonOid = 114,
  kFloat4Oid = 700,
  kFloat8Oid = 701,
  kBpcharOid = 1042,
  kVarcharOid = 1043,
  kDateOid = 1082,
  kTimeOid = 1083,
  kTimestampOid = 1114,
  kTimestampTzOid = 1184,
  kIntervalOid = 1186,
  kTimeTzOid = 1266,
  kNumericOid = 1700,
  kUuidOid = 2950,
  kJsonbOid = 3802,
};

constexpr int kMaxDecimalPrecision = 38;  // DuckDB's DECIMAL

bool ScalarKind(uint32_t oid, char typtype, Kind* kind) {
  if (typtype == 'e') {
    *kind = Kind::kText;  // an enum travels as its label
    return true;
  }
  static const std::map<uint32_t, Kind> kKinds = {
      {kBoolOid, Kind::kBool},
      {kByteaOid, Kind::kBytea},
      {kCharOid, Kind::kText},
      {kNameOid, Kind::kText},
      {kInt8Oid, Kind::kInt8},
      {kInt2Oid, Kind::kInt2},
      {kInt4Oid, Kind::kInt4},
      {kTextOid, Kind::kText},
      {kOidOid, Kind::kOid},
      {kJsonOid, Kind::kJson},
      {kFloat4Oid, Kind::kFloat4},
      {kFloat8Oid, Kind::kFloat8},
      {kBpcharOid, Kind::kText},
      {kVarcharOid, Kind::kText},
      {kDateOid, Kind::kDate},
      {kTimeOid, Kind::kTime},
      {kTimestampOid, Kind::kTimestamp},
      {kTimestampTzOid, Kind::kTimestampTz},
      {kIntervalOid, Kind::kInterval},
      {kTimeTzOid, Kind::kTimeTz},
      {kNumericOid, Kind::kNumeric},
      {kUuidOid, Kind::kUuid},
      {kJsonbOid, Kind::kJsonb},
  };
  auto it = kKinds.find(oid);
  if (it == kKinds.end()) return false;
  *kind = it->second;
  return true;
}

const char* ScalarDuckDbType(Kind kind) {
  switch (kind) {
    case Kind::kBool:
      return "BOOLEAN";
    case Kind::kInt2:
      return "SMALLINT";
    case Kind::kInt4:
      return "INTEGER";
    case Kind::kInt8:
      return "BIGINT";
    case Kind::kOid:
      return "UINTEGER";
    case Kind::kFloat4:
      return "FLOAT";
    case Kind::kFloat8:
    case Kind::kNumeric:  // unconstrained; DECIMAL is handled by the caller
      return "DOUBLE";
    case Kind::kText:
      return "VARCHAR";
    case Kind::kBytea:
      return "BLOB";
    case Kind::kDate:
      return "DATE";
    case Kind::kTime:
      return "TIME";
    case Kind::kTimeTz:
      return "TIME WITH TIME ZONE";
    case Kind::kTimestamp:
      return "TIMESTAMP";
    case Kind::kTimestampTz:
      return "TIMESTAMP WITH TIME ZONE";
    case Kind::kInterval:
      return "INTERVAL";
    case Kind::kUuid:
      return "UUID";
    case Kind::kJson:
    case Kind::kJsonb:
      return "JSON";
  }
  return "VARCHAR";
}

}  // namespace

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '\0') continue;
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string QuoteLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\0') continue;
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string TableName::Quoted() const {
  return schema.empty() ? QuoteIdentifier(name)
                        : QuoteIdentifier(schema) + "." + QuoteIdentifier(name);
}

std::string TableName::ToString() const { return schema.empty() ? name : schema + "." + name; }

Result<TableName> ParseTableName(std::string_view text) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t dot = text.find('.', start);
    parts.emplace_back(text.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  for (const auto& p : parts) {
    if (p.empty()) {
      return Status::InvalidArgument(fmt::format("bad table name \"{}\": an empty part", text));
    }
  }
  if (parts.size() > 2) {
    return Status::InvalidArgument(
        fmt::format("bad table name \"{}\": expected \"table\" or \"schema.table\"", text));
  }
  if (parts.size() == 1) return TableName{"", parts[0]};
  return TableName{parts[0], parts[1]};
}

std::string ColumnType::DuckDbType() const {
  std::string base = IsDecimal() ? fmt::format("DECIMAL({},{})", precision, scale)
                                 : std::string(ScalarDuckDbType(kind));
  return is_array ? base + "[]" : base;
}

Result<ColumnType> ResolveType(const CatalogType& type, const std::string& column) {
  ColumnType out;
  uint32_t oid = type.oid;
  char typtype = type.typtype;
  if (type.element_oid != 0) {
    out.is_array = true;
    oid = type.element_oid;
    typtype = type.element_typtype;
  }
  if (!ScalarKind(oid, typtype, &out.kind)) {
    return Status::InvalidArgument(fmt::format(
        "column \"{}\" has type {}, which dux cannot read (cast it in a view, e.g. to text)",
        column, type.name));
  }
  if (out.kind == Kind::kNumeric && type.typmod >= 4) {
    // numeric's typmod: ((precision << 16) | scale) + VARHDRSZ, the scale an 11-bit signed
    // field since PostgreSQL 15.
    int32_t packed = type.typmod - 4;
    int precision = (packed >> 16) & 0xffff;
    int scale = ((packed & 0x7ff) ^ 1024) - 1024;
    if (precision <= kMaxDecimalPrecision && scale >= 0 && scale <= precision) {
      out.precision = precision;
      out.scale = scale;
    }
  }
  return out;
}

int TableDescription::Find(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  int found = -1;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (AsciiUpper(columns[i].name) == AsciiUpper(name)) {
      if (found >= 0) return -1;  // ambiguous
      found = static_cast<int>(i);
    }
  }
  return found;
}

Result<bool> TableExists(Connection& connection, const TableName& table) {
  DUX_ASSIGN_OR_RETURN(TextRows rows,
                       connection.Query("SELECT to_regclass($1) IS NOT NULL", {table.Quoted()}));
  return !rows.empty() && rows[0][0] == std::optional<std::string>("t");
}

Result<TableDescription> DescribeTable(Connection& connection, const TableName& table) {
  DUX_ASSIGN_OR_RETURN(
      TextRows relation,
      connection.Query("SELECT c.oid::int8, n.nspname, c.relname, c.relkind FROM pg_class c "
                       "JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE c.oid = to_regclass($1)",
                       {table.Quoted()}));
  if (relation.empty()) {
    return Status::NotFound(fmt::format("no table \"{}\" in PostgreSQL", table.ToString()));
  }
  TableDescription out;
  out.name = {relation[0][1].value_or(""), relation[0][2].value_or("")};
  out.relkind = relation[0][3].value_or("r").front();
  // Domains resolve to their base type (one level); arrays to their element.
  DUX_ASSIGN_OR_RETURN(
      TextRows columns,
      connection.Query(
          "SELECT a.attname, format_type(a.atttypid, a.atttypmod), bt.oid::int8, "
          "  CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, bt.typtype, "
          "  COALESCE(et.oid::int8, 0), COALESCE(et.typtype, 'b') "
          "FROM pg_attribute a "
          "JOIN pg_type t ON t.oid = a.atttypid "
          "JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END "
          "LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A' "
          "WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped "
          "ORDER BY a.attnum",
          {relation[0][0].value_or("0")}));
  for (auto& row : columns) {
    PgColumn c;
    c.name = row[0].value_or("");
    c.catalog.name = row[1].value_or("");
    c.catalog.oid = static_cast<uint32_t>(std::strtoul(row[2].value_or("0").c_str(), nullptr, 10));
    c.catalog.typmod =
        static_cast<int32_t>(std::strtol(row[3].value_or("-1").c_str(), nullptr, 10));
    c.catalog.typtype = row[4].value_or("b").front();
    c.catalog.element_oid =
        static_cast<uint32_t>(std::strtoul(row[5].value_or("0").c_str(), nullptr, 10));
    c.catalog.element_typtype = row[6].value_or("b").front();
    auto type = ResolveType(c.catalog, c.name);
    if (type.ok()) {
      c.type = *type;
    } else {
      c.unsupported = type.status().message();
    }
    out.columns.push_back(std::move(c));
  }
  return out;
}

Result<std::string> PgTypeFor(const std::string& duckdb_type, const std::string& column) {
  auto unsupported = [&] {
    return Status::InvalidArgument(
        fmt::format("column \"{}\" has type {}, which has no PostgreSQL column type in dux "
                    "(turn it into text or JSON with mutate first)",
                    column, duckdb_type));
  };
  std::string type = duckdb_type;
  bool list = false;
  // A list "T[]" or a fixed-size array "T[3]" becomes a PostgreSQL array of T.
  if (!type.empty() && type.back() == ']') {
    size_t open = type.rfind('[');
    if (open == std::string::npos) return unsupported();
    type = type.substr(0, open);
    list = true;
    if (!type.empty() && type.back() == ']') return unsupported();  // nested lists
  }
  std::string pg;
  std::string upper = AsciiUpper(type);
  static const std::map<std::string, std::string> kTypes = {
      {"BOOLEAN", "boolean"},
      {"TINYINT", "smallint"},
      {"SMALLINT", "smallint"},
      {"INTEGER", "integer"},
      {"BIGINT", "bigint"},
      {"UTINYINT", "smallint"},
      {"USMALLINT", "integer"},
      {"UINTEGER", "bigint"},
      {"UBIGINT", "numeric(20,0)"},
      {"HUGEINT", "numeric(39,0)"},
      {"UHUGEINT", "numeric(39,0)"},
      {"BIGNUM", "numeric"},
      {"VARINT", "numeric"},
      {"FLOAT", "real"},
      {"DOUBLE", "double precision"},
      {"VARCHAR", "text"},
      {"BLOB", "bytea"},
      {"BIT", "bit varying"},
      {"DATE", "date"},
      {"TIME", "time"},
      {"TIME WITH TIME ZONE", "time with time zone"},
      {"TIMESTAMP", "timestamp"},
      {"TIMESTAMP_S", "timestamp(0)"},
      {"TIMESTAMP_MS", "timestamp(3)"},
      {"TIMESTAMP_NS", "timestamp"},
      {"TIMESTAMP WITH TIME ZONE", "timestamp with time zone"},
      {"INTERVAL", "interval"},
      {"UUID", "uuid"},
      {"JSON", "json"},
  };
  if (auto it = kTypes.find(upper); it != kTypes.end()) {
    pg = it->second;
  } else if (upper.starts_with("DECIMAL(")) {
    int precision = 0, scale = 0;
    if (std::sscanf(upper.c_str(), "DECIMAL(%d,%d)", &precision, &scale) != 2) return unsupported();
    pg = fmt::format("numeric({},{})", precision, scale);
  } else if (upper.starts_with("ENUM(")) {
    pg = "text";
  } else {
    return unsupported();
  }
  if (list && pg == "bit varying") return unsupported();
  return list ? pg + "[]" : pg;
}

}  // namespace dux::pg
