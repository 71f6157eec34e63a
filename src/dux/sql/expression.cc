#include "dux/sql/expression.h"

#include <algorithm>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "dux/sql/quote.h"

namespace dux::sql {

namespace {

using Json = nlohmann::json;

// json_serialize_sql or json_deserialize_sql of `argument`. Their answers depend only on the
// linked DuckDB's parser, so they are kept for the life of the process: a compile asks for
// the same expressions in several passes, and a worker compiles the same fragments'
// expressions query after query.
Result<std::string> ParserText(Binder* binder, const std::string& function,
                               const std::string& argument) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::string> known;
  constexpr size_t kMaxKnown = 4096;  // then it starts over: a bound, not an eviction policy
  std::string key = function + '\0' + argument;
  {
    std::lock_guard lock(mutex);
    auto it = known.find(key);
    if (it != known.end()) return it->second;
  }
  DUX_ASSIGN_OR_RETURN(std::optional<std::string> text, binder->CallText(function, argument));
  if (!text) return Status::Internal("no result from " + function);
  std::lock_guard lock(mutex);
  if (known.size() >= kMaxKnown) known.clear();
  known.emplace(std::move(key), *text);
  return *text;
}

// Parses `SELECT <expr>` with DuckDB's parser and returns the one select-list node, after
// checking that nothing else (FROM, WHERE, a second statement, an alias, ...) came along.
Result<Json> ParseSingleExpression(Binder* binder, const std::string& expr) {
  DUX_ASSIGN_OR_RETURN(std::string text,
                       ParserText(binder, "json_serialize_sql", "SELECT " + expr + "\n"));
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::Internal("json_serialize_sql returned invalid JSON");
  if (doc.value("error", false)) {
    std::string message = doc.value("error_message", std::string("cannot parse"));
    return Status::InvalidArgument("syntax error in \"" + expr + "\": " + message);
  }
  const Json& statements = doc["statements"];
  auto not_one = [&] {
    return Status::InvalidArgument("expected one expression, got \"" + expr + "\"");
  };
  if (!statements.is_array() || statements.size() != 1) return not_one();
  const Json& node = statements[0]["node"];
  if (node.value("type", "") != "SELECT_NODE") return not_one();
  const Json& list = node["select_list"];
  if (!list.is_array() || list.size() != 1) return not_one();
  bool clean = node["from_table"].value("type", "") == "EMPTY" && node["where_clause"].is_null() &&
               node["having"].is_null() && node["qualify"].is_null() &&
               node["group_expressions"].empty() && node["modifiers"].empty() &&
               node["cte_map"]["map"].empty() && node["sample"].is_null();
  if (!clean) return not_one();
  const Json& e = list[0];
  if (!e.value("alias", std::string()).empty()) {
    return Status::InvalidArgument("an expression cannot carry an alias: \"" + expr + "\"");
  }
  if (e.value("class", "") == "STAR") {
    return Status::InvalidArgument("expected an expression, got \"" + expr + "\"");
  }
  return doc;
}

Json& SelectExpression(Json& doc) { return doc["statements"][0]["node"]["select_list"][0]; }

// Visits every object node of an expression tree, depth first; `visit` returns whether to go
// on into the node's children (false: the node is handled, or belongs to something else).
void WalkTree(Json& node, const std::function<bool(Json& node)>& visit) {
  if (node.is_object()) {
    if (!visit(node)) return;
    for (auto& [key, child] : node.items()) WalkTree(child, visit);
  } else if (node.is_array()) {
    for (auto& child : node) WalkTree(child, visit);
  }
}

bool IsAggregateCall(const Json& node, bool (*is_aggregate)(const std::string&)) {
  return node.value("class", "") == "FUNCTION" && is_aggregate(node.value("function_name", ""));
}

Json ColumnRef(const std::string& name) {
  return Json{{"class", "COLUMN_REF"},
              {"type", "COLUMN_REF"},
              {"alias", ""},
              {"query_location", 18446744073709551615ull},
              {"column_names", Json::array({name})}};
}

}  // namespace

std::string Parenthesize(const std::string& expr) { return "(" + expr + "\n)"; }

bool ExpressionAnalyzer::IsAggregate(const std::string& function_name) {
  static const std::set<std::string> kAggregates = {
#include "dux/sql/aggregate_names.inc"
      "count_star",         // what the parser makes of count(*)
      kComomentsAggregate,  // dux's own
  };
  return kAggregates.count(function_name) > 0;
}

Result<ExpressionInfo> ExpressionAnalyzer::Analyze(const std::string& expr) {
  DUX_ASSIGN_OR_RETURN(Json doc, ParseSingleExpression(binder_, expr));
  ExpressionInfo info;
  // Aggregates inside a window's arguments or inside a subquery belong to those.
  WalkTree(SelectExpression(doc), [&](Json& node) {
    std::string cls = node.value("class", "");
    if (cls == "WINDOW") {
      info.has_window = true;
      return false;
    }
    if (cls == "SUBQUERY") {
      info.has_subquery = true;
      return false;
    }
    if (IsAggregateCall(node, IsAggregate)) {
      std::string name = node.value("function_name", "");
      info.aggregates.push_back(name == "count_star" ? "count" : name);
    }
    return true;
  });
  // Columns are read inside windows too.
  WalkTree(SelectExpression(doc), [&](Json& node) {
    std::string cls = node.value("class", "");
    if (cls == "SUBQUERY") return false;
    if (cls == "COLUMN_REF") {
      if (node["column_names"].size() == 1) {
        info.columns.push_back(node["column_names"][0].get<std::string>());
      } else {
        info.all_columns = true;
      }
    }
    if (cls == "STAR") info.all_columns = true;
    return true;
  });
  return info;
}

namespace {

// The SQL text of `doc` (a parsed `SELECT <expr>`) with `node` as its expression.
Result<std::string> Deserialize(Binder* binder, Json doc, const Json& node) {
  SelectExpression(doc) = node;
  DUX_ASSIGN_OR_RETURN(std::string sql, ParserText(binder, "json_deserialize_sql", doc.dump()));
  const std::string prefix = "SELECT ";
  if (sql.rfind(prefix, 0) != 0) return Status::Internal("unexpected deserialized SQL: " + sql);
  return sql.substr(prefix.size());
}

}  // namespace

Result<std::string> ExpressionAnalyzer::ReplaceAggregates(
    const std::string& expr,
    const std::function<Result<std::string>(const AggregateCall& call, size_t index)>& replace) {
  DUX_ASSIGN_OR_RETURN(Json doc, ParseSingleExpression(binder_, expr));
  Status status;
  size_t index = 0;
  auto rewrite = [&](Json& node) {
    std::string cls = node.value("class", "");
    if (!status.ok() || cls == "SUBQUERY" || cls == "WINDOW") return false;
    if (IsAggregateCall(node, IsAggregate)) {
      AggregateCall call;
      call.name = node.value("function_name", "");
      call.distinct = node.value("distinct", false);
      call.has_filter = !node["filter"].is_null();
      call.has_order = node["order_bys"].is_object() && !node["order_bys"]["orders"].empty();
      const Json original = node;
      call.n_args = original["children"].is_array() ? original["children"].size() : 0;
      call.renamed = [&, original](const std::string& name) -> Result<std::string> {
        Json renamed = original;
        renamed["function_name"] = name;
        // count(*) has no argument to carry over; its other names take none either.
        return Deserialize(binder_, doc, renamed);
      };
      call.instantiate = [this, original](const std::string& pattern) -> Result<std::string> {
        DUX_ASSIGN_OR_RETURN(Json pattern_doc, ParseSingleExpression(binder_, pattern));
        Json filter = original["filter"];
        if (filter.is_null()) {
          DUX_ASSIGN_OR_RETURN(Json always, ParseSingleExpression(binder_, "true"));
          filter = SelectExpression(always);
        }
        Json root = SelectExpression(pattern_doc);
        Status bad;
        WalkTree(root, [&](Json& node) {
          if (node.value("class", "") != "COLUMN_REF" || node["column_names"].size() != 1) {
            return true;
          }
          std::string name = node["column_names"][0].get<std::string>();
          if (name == "__filter") {
            node = filter;
          } else if (name.rfind("__arg", 0) == 0) {
            size_t i = std::stoul(name.substr(5));
            if (i >= original["children"].size()) {
              bad = Status::Internal("the aggregate has no argument " + name);
              return false;
            }
            node = original["children"][i];
          }
          return false;
        });
        DUX_RETURN_NOT_OK(bad);
        return Deserialize(binder_, pattern_doc, root);
      };
      auto replacement = replace(call, index++);
      if (!replacement.ok()) {
        status = replacement.status();
        return false;
      }
      auto parsed = ParseSingleExpression(binder_, *replacement);
      if (!parsed.ok()) {
        status = parsed.status();
        return false;
      }
      node = SelectExpression(*parsed);
      return false;
    }
    return true;
  };
  Json root = SelectExpression(doc);
  WalkTree(root, rewrite);
  DUX_RETURN_NOT_OK(status);
  return Deserialize(binder_, doc, root);
}

namespace {

// The node classes and types a simple conjunct may hold (see Conjunct::simple).
bool SimpleNode(const Json& node) {
  static const std::set<std::string> kComparisons = {
      "COMPARE_EQUAL",       "COMPARE_NOTEQUAL",
      "COMPARE_LESSTHAN",    "COMPARE_LESSTHANOREQUALTO",
      "COMPARE_GREATERTHAN", "COMPARE_GREATERTHANOREQUALTO"};
  static const std::set<std::string> kOperators = {
      "OPERATOR_NOT", "OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL", "COMPARE_IN", "COMPARE_NOT_IN"};
  const std::string cls = node.value("class", "");
  const std::string type = node.value("type", "");
  if (cls == "COLUMN_REF") return node["column_names"].size() == 1;
  if (cls == "CONSTANT" || cls == "CAST" || cls == "BETWEEN") return true;
  if (cls == "COMPARISON") return kComparisons.count(type) > 0;
  if (cls == "CONJUNCTION") return type == "CONJUNCTION_AND" || type == "CONJUNCTION_OR";
  if (cls == "OPERATOR") return kOperators.count(type) > 0;
  return false;
}

}  // namespace

Result<std::vector<Conjunct>> ExpressionAnalyzer::Conjuncts(const std::string& expr) {
  DUX_ASSIGN_OR_RETURN(Json doc, ParseSingleExpression(binder_, expr));
  std::vector<Json> nodes;
  std::function<void(const Json&)> flatten = [&](const Json& node) {
    if (node.value("class", "") == "CONJUNCTION" && node.value("type", "") == "CONJUNCTION_AND") {
      for (const auto& child : node["children"]) flatten(child);
    } else {
      nodes.push_back(node);
    }
  };
  flatten(SelectExpression(doc));
  std::vector<Conjunct> out;
  for (Json& node : nodes) {
    Conjunct c;
    c.simple = true;
    // Every object that is an expression node carries a class; the others (constant
    // values, cast types) are the nodes' data.
    WalkTree(node, [&](Json& n) {
      if (!n.contains("class")) return true;
      if (!SimpleNode(n)) c.simple = false;
      if (n.value("class", "") == "COLUMN_REF" && n["column_names"].size() == 1) {
        std::string name = n["column_names"][0].get<std::string>();
        if (std::find(c.columns.begin(), c.columns.end(), name) == c.columns.end()) {
          c.columns.push_back(name);
        }
      }
      return true;
    });
    DUX_ASSIGN_OR_RETURN(c.sql, Deserialize(binder_, doc, node));
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::string> ExpressionAnalyzer::Windowed(const std::string& expr,
                                                 const std::vector<std::string>& partition_by) {
  DUX_ASSIGN_OR_RETURN(Json doc, ParseSingleExpression(binder_, expr));
  Json partitions = Json::array();
  for (const auto& key : partition_by) partitions.push_back(ColumnRef(key));

  // DuckDB turns an ordered-set aggregate, `percentile_cont(0.5) WITHIN GROUP (ORDER BY x)`
  // (parsed as quantile_cont(0.5) with an ORDER BY), into quantile_cont(x, 0.5) when it binds
  // an aggregate but not a window, so the window gets the plain form. A descending order
  // means the complementary fraction, as in DuckDB's binder.
  std::optional<Json> complement;  // `1 - NULL`, parsed once when first needed
  Status status;
  auto ordered_set = [&](Json& node) {
    const std::string name = node.value("function_name", "");
    const Json& orders = node["order_bys"].is_object() ? node["order_bys"]["orders"] : Json();
    if (!orders.is_array() || orders.size() != 1) return;
    bool quantile = name == "quantile_cont" || name == "quantile_disc";
    if (!quantile && !(name == "mode" && node["children"].empty())) return;
    Json children = Json::array({orders[0]["expression"]});
    for (auto& c : node["children"]) {
      if (quantile && orders[0].value("type", "") == "DESCENDING") {
        if (!complement) {
          auto parsed = ParseSingleExpression(binder_, "1 - NULL");
          if (!parsed.ok()) {
            status = parsed.status();
            return;
          }
          complement = SelectExpression(*parsed);
        }
        Json minus = *complement;
        minus["children"][1] = c;
        children.push_back(minus);
      } else {
        children.push_back(c);
      }
    }
    node["children"] = children;
    node["order_bys"]["orders"] = Json::array();
  };

  auto rewrite = [&](Json& node) {
    std::string cls = node.value("class", "");
    if (cls == "SUBQUERY") return false;
    if (cls == "WINDOW") {
      Json merged = partitions;
      for (auto& p : node["partitions"]) merged.push_back(p);
      node["partitions"] = merged;
      return false;
    }
    if (IsAggregateCall(node, IsAggregate)) {
      ordered_set(node);
      Json order = node["order_bys"].is_object() ? node["order_bys"]["orders"] : Json::array();
      node = Json{{"class", "WINDOW"},
                  {"type", "WINDOW_AGGREGATE"},
                  {"alias", ""},
                  {"query_location", node["query_location"]},
                  {"function_name", node["function_name"]},
                  {"schema", node["schema"]},
                  {"catalog", node["catalog"]},
                  {"children", node["children"]},
                  {"partitions", partitions},
                  {"orders", Json::array()},
                  {"start", "UNBOUNDED_PRECEDING"},
                  {"end", "CURRENT_ROW_RANGE"},
                  {"start_expr", nullptr},
                  {"end_expr", nullptr},
                  {"offset_expr", nullptr},
                  {"default_expr", nullptr},
                  {"ignore_nulls", false},
                  {"filter_expr", node["filter"]},
                  {"exclude_clause", "NO_OTHER"},
                  {"distinct", node["distinct"]},
                  {"arg_orders", order}};
      return false;
    }
    return true;
  };
  Json root = SelectExpression(doc);
  WalkTree(root, rewrite);
  DUX_RETURN_NOT_OK(status);
  return Deserialize(binder_, doc, root);
}

}  // namespace dux::sql
