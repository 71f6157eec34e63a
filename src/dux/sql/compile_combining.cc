// Verbs that combine frames: join, asof_join, concat_rows. The other frames are complete
// pipelines compiled into the same WITH list, with all their verbs.
#include <fmt/format.h>

#include <algorithm>

#include "dux/sql/compiler_internal.h"
#include "dux/sql/quote.h"

namespace dux::sql::internal {

using namespace pipeline;  // NOLINT: the IR structs

namespace {

std::string JoinList(const std::vector<std::string>& parts, const char* sep = ", ") {
  return fmt::format("{}", fmt::join(parts, sep));
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  for (const auto& n : names) {
    if (SameColumnName(n, name)) return true;
  }
  return false;
}

// What a key column holds, as far as matching keys is concerned.
enum class KeyKind { kString, kNumber, kTemporal, kBoolean, kOther };

KeyKind KindOf(const std::string& type) {
  static const char* const kNumbers[] = {"TINYINT",  "SMALLINT",  "INTEGER",  "BIGINT",  "HUGEINT",
                                         "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
                                         "FLOAT",    "DOUBLE",    "DECIMAL"};
  auto starts = [&](const char* prefix) { return type.rfind(prefix, 0) == 0; };
  if (starts("VARCHAR")) return KeyKind::kString;
  for (const char* n : kNumbers) {
    if (starts(n)) return KeyKind::kNumber;
  }
  if (starts("DATE") || starts("TIME") || starts("INTERVAL")) return KeyKind::kTemporal;
  if (type == "BOOLEAN") return KeyKind::kBoolean;
  return KeyKind::kOther;
}

// DuckDB binds a join of keys of different kinds by casting one side, so a VARCHAR "01"
// silently matches the number 1, and a string that is not a number (or an INTEGER against a
// DATE) fails only while running, with no verb or position. Such keys are refused here;
// kinds DuckDB compares natively (INTEGER with BIGINT, DATE with TIMESTAMP) stay allowed.
Status CheckKeyTypes(const Column& left, const Column& right, const Op& op) {
  KeyKind l = KindOf(left.type), r = KindOf(right.type);
  if (l == r || l == KeyKind::kOther || r == KeyKind::kOther) return Status::OK();
  return VerbError(op.Verb(), op.loc,
                   "key " + QuoteIdentifier(left.name) + " is " + left.type + " on the left but " +
                       QuoteIdentifier(right.name) + " is " + right.type +
                       " on the right; cast one side with mutate");
}

// Resolves join keys on both sides; no keys means every shared column name.
Result<std::vector<JoinKey>> ResolveKeys(const std::vector<JoinKey>& on, const Schema& left,
                                         const Schema& right, const Op& op) {
  std::vector<JoinKey> keys;
  if (on.empty()) {
    for (const auto& c : left.columns) {
      if (auto r = right.Find(c.name)) {
        DUX_RETURN_NOT_OK(CheckKeyTypes(c, right.columns[*r], op));
        keys.push_back({c.name, right.columns[*r].name});
      }
    }
    if (keys.empty()) {
      return VerbError(op.Verb(), op.loc, "the two sides share no column; give on:");
    }
    return keys;
  }
  for (const JoinKey& k : on) {
    auto l = left.Find(k.left);
    if (!l)
      return VerbError(op.Verb(), op.loc, "unknown left key column " + QuoteIdentifier(k.left));
    auto r = right.Find(k.right);
    if (!r) {
      return VerbError(op.Verb(), op.loc, "unknown right key column " + QuoteIdentifier(k.right));
    }
    DUX_RETURN_NOT_OK(CheckKeyTypes(left.columns[*l], right.columns[*r], op));
    keys.push_back({left.columns[*l].name, right.columns[*r].name});
  }
  return keys;
}

// Appends the right side's columns (except `skip`) to `select`, adding `suffix` to names
// that clash with names already taken.
Status AddRightColumns(const Relation& right, const std::vector<std::string>& skip,
                       const std::string& suffix, const Op& op, std::vector<std::string>* taken,
                       std::vector<std::string>* select) {
  for (const auto& c : right.schema.columns) {
    if (std::find(skip.begin(), skip.end(), c.name) != skip.end()) continue;
    std::string name = c.name;
    if (Contains(*taken, name)) {
      name += suffix;
      if (Contains(*taken, name)) {
        return VerbError(op.Verb(), op.loc,
                         "column " + QuoteIdentifier(name) +
                             " exists on both sides even with "
                             "the suffix; rename one side or give another suffix:");
      }
    }
    taken->push_back(name);
    select->push_back("r." + QuoteIdentifier(c.name) +
                      (name == c.name ? "" : " AS " + QuoteIdentifier(name)));
  }
  return Status::OK();
}

std::string KeyCondition(const std::vector<JoinKey>& keys) {
  std::vector<std::string> parts;
  parts.reserve(keys.size());
  for (const auto& k : keys) {
    parts.push_back("l." + QuoteIdentifier(k.left) + " = r." + QuoteIdentifier(k.right));
  }
  return JoinList(parts, " AND ");
}

// A join's side as the join reads it. DuckDB 1.4 pushes a join's runtime filter (the
// min and max of the build side's keys) below LIMIT and TOP_N into the scans under them
// (duckdb/duckdb#22924, fixed after 1.4), so the limit then picks its rows among the
// filtered ones: `sort_by |> head(10) |> join(..., how: semi)` returned other rows than
// the top ten whenever the build side was done before the scan. A materialized CTE stops
// the pushdown; what it holds is at most the limit's rows.
std::string JoinSide(const Relation& side) {
  if (!side.limited) return side.cte;
  return "(WITH \"__dux_limited\" AS MATERIALIZED (SELECT * FROM " + side.cte +
         ") SELECT * FROM \"__dux_limited\")";
}

Result<Relation> Join(CompileContext& ctx, const JoinOp& j, const Op& op, const Relation& in) {
  DUX_ASSIGN_OR_RETURN(Relation right, ctx.CompilePipeline(*j.right));
  const char* verb = op.Verb();
  std::string from = " FROM " + JoinSide(in) + " AS l ";
  std::string right_rel = " " + JoinSide(right) + " AS r";
  Relation like = in;
  like.ordered = false;
  like.limited = false;  // both sides are behind barriers

  if (j.how == JoinHow::kCross) {
    if (!j.on.empty()) return VerbError(verb, op.loc, "a cross join takes no on:");
    std::vector<std::string> taken, select = {"l.*"};
    for (const auto& c : in.schema.columns) taken.push_back(c.name);
    DUX_RETURN_NOT_OK(AddRightColumns(right, {}, j.suffix, op, &taken, &select));
    return ctx.AddCte("SELECT " + JoinList(select) + from + "CROSS JOIN" + right_rel, like, verb,
                      op.loc);
  }
  DUX_ASSIGN_OR_RETURN(auto keys, ResolveKeys(j.on, in.schema, right.schema, op));
  std::string on = " ON " + KeyCondition(keys);
  if (j.how == JoinHow::kSemi || j.how == JoinHow::kAnti) {
    std::string kind = j.how == JoinHow::kSemi ? "SEMI JOIN" : "ANTI JOIN";
    return ctx.AddCte("SELECT l.*" + from + kind + right_rel + on, like, verb, op.loc);
  }
  // Key columns appear once, under the left name; a right or full join takes the key from
  // whichever side has it.
  bool coalesce = j.how == JoinHow::kRight || j.how == JoinHow::kFull;
  std::vector<std::string> taken, select, right_keys;
  for (const auto& c : in.schema.columns) {
    taken.push_back(c.name);
    const JoinKey* key = nullptr;
    for (const auto& k : keys) {
      if (k.left == c.name) key = &k;
    }
    std::string col = "l." + QuoteIdentifier(c.name);
    if (key && coalesce) {
      col = "COALESCE(" + col + ", r." + QuoteIdentifier(key->right) + ") AS " +
            QuoteIdentifier(c.name);
    }
    select.push_back(col);
  }
  for (const auto& k : keys) right_keys.push_back(k.right);
  DUX_RETURN_NOT_OK(AddRightColumns(right, right_keys, j.suffix, op, &taken, &select));
  const char* kind = j.how == JoinHow::kInner   ? "INNER JOIN"
                     : j.how == JoinHow::kLeft  ? "LEFT JOIN"
                     : j.how == JoinHow::kRight ? "RIGHT JOIN"
                                                : "FULL JOIN";
  return ctx.AddCte("SELECT " + JoinList(select) + from + kind + right_rel + on, like, verb,
                    op.loc);
}

Result<Relation> AsofJoin(CompileContext& ctx, const AsofJoinOp& j, const Op& op,
                          const Relation& in) {
  DUX_ASSIGN_OR_RETURN(Relation right, ctx.CompilePipeline(*j.right));
  const char* verb = op.Verb();
  std::vector<JoinKey> keys;
  if (!j.on.empty()) {
    DUX_ASSIGN_OR_RETURN(keys, ResolveKeys(j.on, in.schema, right.schema, op));
  }
  DUX_ASSIGN_OR_RETURN(auto by, ResolveKeys({j.by}, in.schema, right.schema, op));
  std::string condition = keys.empty() ? "" : KeyCondition(keys) + " AND ";
  condition += "l." + QuoteIdentifier(by[0].left) + " " + AsofCompareSql(j.compare) + " r." +
               QuoteIdentifier(by[0].right);
  std::vector<std::string> taken, select = {"l.*"}, right_keys;
  for (const auto& c : in.schema.columns) taken.push_back(c.name);
  for (const auto& k : keys) right_keys.push_back(k.right);
  DUX_RETURN_NOT_OK(AddRightColumns(right, right_keys, j.suffix, op, &taken, &select));
  Relation like = in;
  like.ordered = false;
  // DuckDB 1.4's EmptyResultPullup drops an ASOF join whose right side is known to be
  // empty (filter(false), head(0), an empty from_values), even a LEFT one that must keep
  // every left row (duckdb/duckdb#21514). A materialized CTE hides that emptiness from it.
  std::string right_rel = right.cte;
  if (j.left) {
    right_rel = "(WITH \"__dux_asof_right\" AS MATERIALIZED (SELECT * FROM " + right.cte +
                ") SELECT * FROM \"__dux_asof_right\")";
  }
  return ctx.AddCte("SELECT " + JoinList(select) + " FROM " + in.cte + " AS l " +
                        (j.left ? "ASOF LEFT JOIN " : "ASOF JOIN ") + right_rel + " AS r ON " +
                        condition,
                    like, verb, op.loc);
}

}  // namespace

Result<Relation> CompileCombining(CompileContext& ctx, const Op& op, const Relation& in) {
  if (auto* j = std::get_if<JoinOp>(&op.body)) return Join(ctx, *j, op, in);
  if (auto* a = std::get_if<AsofJoinOp>(&op.body)) return AsofJoin(ctx, *a, op, in);
  const auto& c = std::get<ConcatRowsOp>(op.body);
  if (c.others.empty()) return VerbError(op.Verb(), op.loc, "needs at least one other relation");
  std::string body = "SELECT * FROM " + in.cte;
  bool limited = in.limited;
  for (const auto& other : c.others) {
    DUX_ASSIGN_OR_RETURN(Relation f, ctx.CompilePipeline(*other));
    body += " UNION ALL BY NAME SELECT * FROM " + f.cte;
    limited = limited || f.limited;
  }
  Relation like = in;
  like.ordered = false;
  like.limited = limited;
  return ctx.AddCte(body, like, op.Verb(), op.loc);
}

}  // namespace dux::sql::internal

namespace dux::sql {

Result<std::vector<pipeline::JoinKey>> ResolveJoinKeys(const std::vector<pipeline::JoinKey>& on,
                                                       const pipeline::Schema& left,
                                                       const pipeline::Schema& right,
                                                       const pipeline::Op& op) {
  return internal::ResolveKeys(on, left, right, op);
}

}  // namespace dux::sql
