#include "dux/pg/pushdown.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>

#include "dux/sql/quote.h"

namespace dux::pg {

namespace {

using Json = nlohmann::json;

// The parsed `SELECT <filter>` expression, or nothing when DuckDB cannot parse it.
std::optional<Json> Parse(sql::Binder* binder, const std::string& filter) {
  auto text = binder->CallText("json_serialize_sql", "SELECT " + filter + "\n");
  if (!text.ok() || !*text) return std::nullopt;
  Json doc = Json::parse(**text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || doc.value("error", false)) return std::nullopt;
  const Json& statements = doc["statements"];
  if (!statements.is_array() || statements.size() != 1) return std::nullopt;
  const Json& list = statements[0]["node"]["select_list"];
  if (!list.is_array() || list.size() != 1) return std::nullopt;
  return list[0];
}

// A DuckDB constant as PostgreSQL text, with what it is.
struct Constant {
  enum class Kind { kNumber, kBool, kText, kDate, kTimestamp } kind;
  std::string sql;   ///< a PostgreSQL literal
  std::string text;  ///< the VARCHAR value, for text constants
};

bool IsIsoDate(const std::string& s) {
  static const std::regex kDate(R"(\d{4}-\d{2}-\d{2})");
  return std::regex_match(s, kDate);
}

bool IsIsoTimestamp(const std::string& s) {
  static const std::regex kTimestamp(R"(\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?)");
  return std::regex_match(s, kTimestamp);
}

std::optional<Constant> ReadConstant(const Json& node) {
  // CAST('2024-01-01' AS DATE), CAST('t' AS BOOLEAN): typed literals as DuckDB parses them.
  if (node.value("class", "") == "CAST" && !node.value("try_cast", false)) {
    std::string to = node["cast_type"].value("id", "");
    auto inner = ReadConstant(node["child"]);
    if (!inner || inner->kind != Constant::Kind::kText) return std::nullopt;
    if (to == "DATE" && IsIsoDate(inner->text)) {
      return Constant{Constant::Kind::kDate, QuoteLiteral(inner->text), ""};
    }
    if (to == "TIMESTAMP" && IsIsoTimestamp(inner->text)) {
      return Constant{Constant::Kind::kTimestamp, QuoteLiteral(inner->text), ""};
    }
    if (to == "BOOLEAN") {
      if (inner->text == "t" || inner->text == "true")
        return Constant{Constant::Kind::kBool, "true", ""};
      if (inner->text == "f" || inner->text == "false") {
        return Constant{Constant::Kind::kBool, "false", ""};
      }
    }
    return std::nullopt;
  }
  if (node.value("class", "") != "CONSTANT") return std::nullopt;
  const Json& value = node["value"];
  if (value.value("is_null", true)) return std::nullopt;
  const std::string type = value["type"].value("id", "");
  const Json& v = value["value"];
  static const char* const kIntegers[] = {"TINYINT",  "SMALLINT",  "INTEGER",  "BIGINT", "HUGEINT",
                                          "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"};
  for (const char* t : kIntegers) {
    if (type != t) continue;
    if (v.is_number_integer()) return Constant{Constant::Kind::kNumber, v.dump(), ""};
    return std::nullopt;
  }
  if (type == "DECIMAL" && v.is_number_integer()) {
    // The unscaled integer and the type's scale: 25 with scale 1 is 2.5.
    int scale = value["type"]["type_info"].value("scale", 0);
    std::string digits = v.dump();
    bool negative = !digits.empty() && digits[0] == '-';
    if (negative) digits.erase(0, 1);
    if (scale > 0) {
      if (digits.size() <= static_cast<size_t>(scale)) {
        digits.insert(0, static_cast<size_t>(scale) + 1 - digits.size(), '0');
      }
      digits.insert(digits.size() - static_cast<size_t>(scale), ".");
    }
    return Constant{Constant::Kind::kNumber, (negative ? "-" : "") + digits, ""};
  }
  if (type == "DOUBLE" && v.is_number() && std::isfinite(v.get<double>())) {
    return Constant{Constant::Kind::kNumber, fmt::format("{:.17g}::float8", v.get<double>()), ""};
  }
  if (type == "BOOLEAN" && v.is_boolean()) {
    return Constant{Constant::Kind::kBool, v.get<bool>() ? "true" : "false", ""};
  }
  if (type == "VARCHAR" && v.is_string()) {
    std::string text = v.get<std::string>();
    if (text.find('\0') != std::string::npos) return std::nullopt;
    return Constant{Constant::Kind::kText, QuoteLiteral(text), text};
  }
  return std::nullopt;
}

// The column a COLUMN_REF names, when it is one of the table's readable columns.
const PgColumn* ReadColumn(const Json& node, const TableDescription& table) {
  if (node.value("class", "") != "COLUMN_REF") return nullptr;
  const Json& names = node["column_names"];
  if (!names.is_array() || names.size() != 1 || !names[0].is_string()) return nullptr;
  int i = table.Find(names[0].get<std::string>());
  if (i < 0 || !table.columns[i].unsupported.empty()) return nullptr;
  return &table.columns[i];
}

// Whether `column <op> constant` means the same in PostgreSQL as in DuckDB.
bool Comparable(const PgColumn& column, const std::string& op, const Constant& c) {
  const ColumnType& t = column.type;
  if (t.is_array) return false;
  switch (t.kind) {
    case Kind::kInt2:
    case Kind::kInt4:
    case Kind::kInt8:
    case Kind::kOid:
    case Kind::kFloat8:
      return c.kind == Constant::Kind::kNumber;
    case Kind::kNumeric:
      // Unconstrained numerics are read as DOUBLE: DuckDB compares the rounded value.
      return t.IsDecimal() && c.kind == Constant::Kind::kNumber;
    case Kind::kBool:
      return c.kind == Constant::Kind::kBool && (op == "=" || op == "<>");
    case Kind::kText:
      // Equality of base text types is bytewise in deterministic collations (looser in
      // the others, which is still safe); an enum would reject an unknown label.
      return c.kind == Constant::Kind::kText && op == "=" && column.catalog.typtype == 'b';
    case Kind::kDate:
      return c.kind == Constant::Kind::kDate ||
             (c.kind == Constant::Kind::kText && IsIsoDate(c.text));
    case Kind::kTimestamp:
      return c.kind == Constant::Kind::kTimestamp || c.kind == Constant::Kind::kDate ||
             (c.kind == Constant::Kind::kText && IsIsoTimestamp(c.text));
    default:
      return false;
  }
}

std::optional<std::string> Leaf(const Json& node, const TableDescription& table) {
  const std::string type = node.value("type", "");
  if (type == "OPERATOR_IS_NULL" || type == "OPERATOR_IS_NOT_NULL") {
    const Json& children = node["children"];
    if (!children.is_array() || children.size() != 1) return std::nullopt;
    const PgColumn* column = ReadColumn(children[0], table);
    if (!column) return std::nullopt;
    return QuoteIdentifier(column->name) +
           (type == "OPERATOR_IS_NULL" ? " IS NULL" : " IS NOT NULL");
  }
  if (node.value("class", "") != "COMPARISON") return std::nullopt;
  static const std::map<std::string, std::pair<std::string, std::string>> kOps = {
      // DuckDB's comparison: the operator, and the same with its sides swapped.
      {"COMPARE_EQUAL", {"=", "="}},
      {"COMPARE_NOTEQUAL", {"<>", "<>"}},
      {"COMPARE_LESSTHAN", {"<", ">"}},
      {"COMPARE_GREATERTHAN", {">", "<"}},
      {"COMPARE_LESSTHANOREQUALTO", {"<=", ">="}},
      {"COMPARE_GREATERTHANOREQUALTO", {">=", "<="}},
  };
  auto op = kOps.find(type);
  if (op == kOps.end()) return std::nullopt;
  const PgColumn* column = ReadColumn(node["left"], table);
  std::optional<Constant> constant = ReadConstant(node["right"]);
  std::string symbol = op->second.first;
  if (!column) {
    column = ReadColumn(node["right"], table);
    constant = ReadConstant(node["left"]);
    symbol = op->second.second;
  }
  if (!column || !constant || !Comparable(*column, symbol, *constant)) return std::nullopt;
  return QuoteIdentifier(column->name) + " " + symbol + " " + constant->sql;
}

void Collect(const Json& node, const TableDescription& table, std::vector<std::string>* out) {
  if (node.value("type", "") == "CONJUNCTION_AND") {
    for (const Json& child : node["children"]) Collect(child, table, out);
    return;
  }
  if (auto leaf = Leaf(node, table)) out->push_back(*leaf);
}

}  // namespace

std::vector<std::string> PushableConjuncts(sql::Binder* binder, const std::string& filter,
                                           const TableDescription& table) {
  std::vector<std::string> out;
  if (std::optional<Json> expr = Parse(binder, filter)) Collect(*expr, table, &out);
  return out;
}

}  // namespace dux::pg
