#include "dux/sql/compiler.h"

#include <fmt/format.h>

#include <regex>

#include "dux/common/edit_distance.h"
#include "dux/sql/compiler_internal.h"
#include "dux/sql/quote.h"

namespace dux::sql {

using pipeline::Location;
using pipeline::Op;
using pipeline::Pipeline;
using pipeline::Schema;

std::string CompiledQuery::Sql() const {
  std::string sql = "WITH\n";
  for (size_t i = 0; i < ctes.size(); ++i) {
    sql += "  " + ctes[i].name + " AS (" + ctes[i].body + ")";
    sql += (i + 1 < ctes.size()) ? ",\n" : "\n";
  }
  return sql + "SELECT * FROM " + output;
}

Status Compiler::Probe(const Pipeline& pipeline) {
  internal::CompileContext ctx(binder_, /*probe=*/true);
  return ctx.CompilePipeline(pipeline).status();
}

Result<CompiledQuery> Compiler::Compile(const Pipeline& pipeline) {
  internal::CompileContext ctx(binder_);
  CompiledQuery out;
  DUX_ASSIGN_OR_RETURN(internal::Relation relation,
                       ctx.CompilePipeline(pipeline, &out.verb_schemas));
  out.ctes = ctx.ctes();
  out.output = relation.cte;
  out.schema = std::move(relation.schema);
  out.ordered = relation.ordered;
  return out;
}

namespace internal {

namespace {

std::string UnknownColumn(const std::string& name, const Schema& schema) {
  std::string best;
  size_t best_distance = 3;
  for (const auto& c : schema.columns) {
    size_t d = EditDistance(name, c.name, /*ignore_case=*/true);
    if (d < best_distance) {
      best_distance = d;
      best = c.name;
    }
  }
  std::string message = "unknown column " + QuoteIdentifier(name);
  if (!best.empty()) message += "; did you mean " + QuoteIdentifier(best) + "?";
  return message;
}

}  // namespace

Status VerbError(const char* verb, const Location& loc, const std::string& message) {
  return Status::InvalidArgument(std::string(verb) + ": " + message + loc.Suffix());
}

Status Attribute(const Status& status, const char* verb, const Location& loc) {
  if (status.ok()) return status;
  static const std::regex kErrorKind(R"(^[A-Za-z ]+ Error: )");
  static const std::regex kCteName(R"("?__dux_\d+"?\.)");
  static const std::regex kUnknownColumn(R"re(Referenced column "((?:[^"]|"")*)" not found)re");
  static const std::regex kCandidate(R"re(Candidate bindings: "([^"]*)")re");
  std::string message = std::regex_replace(status.message(), kErrorKind, "");
  message = std::regex_replace(message, kCteName, "");
  std::smatch m;
  if (std::regex_search(message, m, kUnknownColumn)) {
    std::string column = m[1].str();
    std::smatch candidate;
    bool has_candidate = std::regex_search(message, candidate, kCandidate);
    std::string suggestion = has_candidate ? candidate[1].str() : "";
    // DuckDB offers its nearest binding however far it is; only a near miss helps.
    if (EditDistance(column, suggestion, /*ignore_case=*/true) > 2) suggestion.clear();
    message = "unknown column " + QuoteIdentifier(column);
    if (!suggestion.empty()) message += "; did you mean " + QuoteIdentifier(suggestion) + "?";
  }
  return Status(status.code(), std::string(verb) + ": " + message + loc.Suffix());
}

Result<std::vector<std::string>> ResolveColumns(const std::vector<std::string>& names,
                                                const Schema& schema, const char* verb,
                                                const Location& loc) {
  std::vector<std::string> out;
  for (const auto& name : names) {
    auto index = schema.Find(name);
    if (!index) return VerbError(verb, loc, UnknownColumn(name, schema));
    for (const auto& seen : out) {
      if (seen == schema.columns[*index].name) {
        return VerbError(verb, loc, "column " + QuoteIdentifier(name) + " given twice");
      }
    }
    out.push_back(schema.columns[*index].name);
  }
  return out;
}

Result<std::string> PrepareExpression(CompileContext& ctx, const pipeline::Expr& expr,
                                      const Relation& relation, const char* verb,
                                      bool* has_window) {
  auto info = ctx.analyzer().Analyze(expr.sql);
  if (!info.ok()) return Attribute(info.status(), verb, expr.loc);
  bool grouped = !relation.groups.empty();
  if (!info->aggregates.empty() && !grouped) {
    // sort_by ignores groups, so grouping first would not help there.
    std::string advice = std::string(verb) == "sort_by"
                             ? "summarise first"
                             : "use summarise, or group_by first for per-group values";
    return VerbError(verb, expr.loc,
                     "aggregate " + info->aggregates[0] + "() is not allowed here; " + advice);
  }
  if (has_window) *has_window = info->has_window || (grouped && !info->aggregates.empty());
  if (grouped && (info->has_window || !info->aggregates.empty())) {
    std::vector<std::string> keys;
    for (const auto& g : relation.groups) keys.push_back(g);
    auto windowed = ctx.analyzer().Windowed(expr.sql, keys);
    if (!windowed.ok()) return Attribute(windowed.status(), verb, expr.loc);
    return Parenthesize(*windowed);
  }
  return Parenthesize(expr.sql);
}

std::string CompileContext::WithCtes(const std::string& query) const {
  return Chain(query, StandIns::kNone);
}

std::string CompileContext::Chain(const std::string& query, StandIns stand_ins) const {
  if (ctes_.empty()) return query;
  const std::string limit = stand_ins == StandIns::kEmpty ? " LIMIT 0" : " LIMIT 1";
  std::string sql = "WITH ";
  for (size_t i = 0; i < ctes_.size(); ++i) {
    bool stand_in = stand_ins != StandIns::kNone && i < stand_ins_.size() && !stand_ins_[i].empty();
    sql += (i ? ", " : "") + ctes_[i].name + " AS (" +
           (stand_in ? stand_ins_[i] + limit : ctes_[i].body) + ")";
  }
  return sql + " " + query;
}

namespace {

// `SELECT CAST(NULL AS type) AS name, ...`: with LIMIT 0, binds to `schema` without reading
// anything; with LIMIT 1, one row of NULLs. Binding a verb depends on its input's column names and
// types alone (data-dependent steps, such as pivot's names, run their own queries over the real
// chain). "" when the schema cannot be spelled so: no columns, or names that clash (DuckDB would
// rename them).
std::string StandIn(const Schema& schema) {
  std::string select;
  for (size_t i = 0; i < schema.columns.size(); ++i) {
    const auto& c = schema.columns[i];
    for (size_t j = 0; j < i; ++j) {
      if (pipeline::SameColumnName(schema.columns[j].name, c.name)) return "";
    }
    select += (i ? ", " : "") + ("CAST(NULL AS " + c.type + ") AS " + QuoteIdentifier(c.name));
  }
  return select.empty() ? "" : "SELECT " + select;
}

}  // namespace

Result<Schema> CompileContext::Describe(const std::string& query) {
  std::string real = WithCtes(query), stood_in = Chain(query, StandIns::kEmpty);
  if (stood_in != real) {
    auto schema = binder_->Describe(stood_in);
    if (schema.ok()) return schema;
  }
  return binder_->Describe(real);
}

Result<Relation> CompileContext::ReplaceLastCte(const std::string& body, const Relation& like,
                                                const char* verb, const Location& loc) {
  if (ctes_.empty() || ctes_.back().name != like.cte || stand_ins_.empty()) {
    return Status::Internal("ReplaceLastCte: the relation is not the last CTE");
  }
  ctes_.pop_back();
  stand_ins_.pop_back();
  return AddCte(body, like, verb, loc);
}

Result<Relation> CompileContext::AddCte(const std::string& body, const Relation& like,
                                        const char* verb, const Location& loc) {
  ctes_.push_back(Cte{QuoteIdentifier(fmt::format("__dux_{}", ctes_.size())), body});
  const std::string all = "SELECT * FROM " + ctes_.back().name;
  auto schema = Describe(all);
  if (schema.ok() && probe_ && Chain(all, StandIns::kOneNullRow) != WithCtes(all)) {
    // hash() of the whole row: every column is computed (count(*) alone lets DuckDB skip
    // the columns it does not need).
    auto ran = binder_->QueryText("SELECT CAST(count(*) AS VARCHAR) FROM (" +
                                  Chain(all, StandIns::kOneNullRow) +
                                  ") AS __dux_probe WHERE hash(__dux_probe) IS NOT NULL");
    if (!ran.ok()) schema = ran.status();
  }
  if (!schema.ok()) {
    ctes_.pop_back();
    return Attribute(schema.status(), verb, loc);
  }
  stand_ins_.push_back(StandIn(*schema));
  Relation relation = like;
  relation.sort_query.clear();
  relation.cte = ctes_.back().name;
  relation.schema = std::move(schema).value();
  return relation;
}

Result<Relation> CompileContext::CompilePipeline(const Pipeline& pipeline,
                                                 std::vector<Schema>* after_each) {
  DUX_ASSIGN_OR_RETURN(Relation relation, CompileSource(*this, pipeline.source()));
  for (const Op& op : pipeline.ops()) {
    using namespace pipeline;  // NOLINT: the verb structs, for the dispatch below
    const OpBody& b = op.body;
    Result<Relation> next = Status::Internal("verb not dispatched");
    if (std::holds_alternative<FilterOp>(b) || std::holds_alternative<MutateOp>(b) ||
        std::holds_alternative<SelectOp>(b) || std::holds_alternative<DiscardOp>(b) ||
        std::holds_alternative<RenameOp>(b) || std::holds_alternative<DropNilOp>(b)) {
      next = CompileRowwise(*this, op, relation);
    } else if (std::holds_alternative<GroupByOp>(b) || std::holds_alternative<UngroupOp>(b) ||
               std::holds_alternative<SummariseOp>(b)) {
      next = CompileGrouping(*this, op, relation);
    } else if (std::holds_alternative<SortByOp>(b) || std::holds_alternative<HeadOp>(b) ||
               std::holds_alternative<SliceOp>(b) || std::holds_alternative<DistinctOp>(b)) {
      next = CompileOrdering(*this, op, relation);
    } else if (std::holds_alternative<JoinOp>(b) || std::holds_alternative<AsofJoinOp>(b) ||
               std::holds_alternative<ConcatRowsOp>(b)) {
      next = CompileCombining(*this, op, relation);
    } else {
      next = CompileReshaping(*this, op, relation);
    }
    if (!next.ok()) return next.status();
    relation = std::move(next).value();
    if (after_each) after_each->push_back(relation.schema);
  }
  return relation;
}

}  // namespace internal
}  // namespace dux::sql
