#include "dux/sql/table_references.h"

#include <nlohmann/json.hpp>
#include <optional>

namespace dux::sql {

namespace {

using Json = nlohmann::json;

// Every node of the parse tree, whatever holds it: a reference can sit in a FROM clause, a
// join, a CTE, a set operation or a subquery inside any expression.
void Collect(const Json& node, TableReferences* out) {
  if (node.is_array()) {
    for (const Json& child : node) Collect(child, out);
    return;
  }
  if (!node.is_object()) return;
  auto type = node.find("type");
  if (type != node.end() && type->is_string()) {
    if (*type == "BASE_TABLE" && node.contains("table_name") && node["table_name"].is_string()) {
      out->tables.insert(node["table_name"].get<std::string>());
    } else if (*type == "TABLE_FUNCTION" && node.contains("function") &&
               node["function"].is_object() &&
               node["function"].value("function_name", Json()).is_string()) {
      out->functions.insert(node["function"]["function_name"].get<std::string>());
    }
  }
  for (const auto& [key, child] : node.items()) Collect(child, out);
}

}  // namespace

Result<TableReferences> ReferencedTables(Binder* binder, const std::string& sql) {
  // Not through the expression analyser's cache: a fragment's text (its file list) differs
  // from partition to partition and can be large.
  DUX_ASSIGN_OR_RETURN(std::optional<std::string> text,
                       binder->CallText("json_serialize_sql", sql));
  if (!text) return Status::Internal("no result from json_serialize_sql");
  Json doc = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::Internal("json_serialize_sql returned invalid JSON");
  if (doc.value("error", false)) {
    return Status::InvalidArgument("cannot parse the statement: " +
                                   doc.value("error_message", std::string("syntax error")));
  }
  TableReferences refs;
  Collect(doc["statements"], &refs);
  return refs;
}

}  // namespace dux::sql
