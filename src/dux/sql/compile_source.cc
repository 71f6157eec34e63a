// Sources: each becomes the first CTE of its pipeline.
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <regex>
#include <set>

#include "dux/sql/compiler_internal.h"
#include "dux/sql/quote.h"

namespace dux::sql::internal {

using namespace pipeline;  // NOLINT: the IR structs

namespace {

std::string Bool(bool b) { return b ? "true" : "false"; }

Result<std::string> ValuesSql(const ValuesSource& v, const Location& loc) {
  if (v.columns.empty()) return VerbError("from_values", loc, "needs at least one column");
  std::vector<std::string> type_of(v.columns.size());
  for (const auto& [name, type] : v.types) {
    size_t i = 0;
    while (i < v.columns.size() && v.columns[i] != name) ++i;
    if (i == v.columns.size()) {
      return VerbError("from_values", loc, "types: unknown column " + QuoteIdentifier(name));
    }
    Status s = CheckTypeName(type);
    if (!s.ok()) return VerbError("from_values", loc, s.message());
    type_of[i] = type;
  }
  std::vector<std::string> select;
  for (size_t i = 0; i < v.columns.size(); ++i) {
    std::string col = QuoteIdentifier(v.columns[i]);
    if (v.rows.empty() && type_of[i].empty()) {
      return VerbError("from_values", loc,
                       "column " + col + " has no rows; give its type with types:");
    }
    // VALUES columns carry the final names, so a failing cast names the user's column.
    std::string ref = v.rows.empty() ? "NULL" : col;
    select.push_back(type_of[i].empty() ? ref + " AS " + col
                                        : "CAST(" + ref + " AS " + type_of[i] + ") AS " + col);
  }
  std::string sql = "SELECT " + fmt::format("{}", fmt::join(select, ", "));
  if (v.rows.empty()) return sql + " LIMIT 0";
  std::string rows;
  for (size_t r = 0; r < v.rows.size(); ++r) {
    if (v.rows[r].size() != v.columns.size()) {
      return VerbError("from_values", loc,
                       fmt::format("row {} has {} values for {} columns", r + 1, v.rows[r].size(),
                                   v.columns.size()));
    }
    rows += r ? ", (" : "(";
    for (size_t c = 0; c < v.rows[r].size(); ++c) {
      auto literal = RenderLiteral(v.rows[r][c]);
      if (!literal.ok()) return VerbError("from_values", loc, literal.status().message());
      rows += (c ? ", " : "") + *literal;
    }
    rows += ")";
  }
  std::vector<std::string> aliases;
  for (const auto& name : v.columns) aliases.push_back(QuoteIdentifier(name));
  return sql + " FROM (VALUES " + rows + ") AS \"values\"(" +
         fmt::format("{}", fmt::join(aliases, ", ")) + ")";
}

// The query without trailing semicolons and blanks: "SELECT 1;" is how SQL is usually
// written, and a semicolon inside the wrapping subquery is a syntax error.
Result<std::string> QueryBody(const std::string& sql, const Location& loc) {
  size_t end = sql.find_last_not_of(" \t\r\n;");
  if (end == std::string::npos) return VerbError("from_query", loc, "needs a SQL query");
  return sql.substr(0, end + 1);
}

std::string CsvSql(const CsvSource& csv) {
  std::string args = QuoteString(csv.path);
  if (csv.delimiter) args += ", delim = " + QuoteString(*csv.delimiter);
  if (csv.header) args += ", header = " + Bool(*csv.header);
  if (csv.skip) args += fmt::format(", skip = {}", *csv.skip);
  if (csv.nullstr) args += ", nullstr = " + QuoteString(*csv.nullstr);
  if (!csv.columns.empty()) {
    std::string names;
    for (const auto& n : csv.columns) names += (names.empty() ? "" : ", ") + QuoteString(n);
    args += ", names = [" + names + "]";
  }
  if (!csv.types.empty()) {
    std::string types;
    for (const auto& [n, t] : csv.types) {
      types += (types.empty() ? "" : ", ") + QuoteString(n) + ": " + QuoteString(t);
    }
    args += ", types = {" + types + "}";
  }
  return "SELECT * FROM read_csv(" + args + ")";
}

// read_parquet of `files` (a quoted path or a list) with the source's options.
std::string ReadParquet(const ParquetSource& p, const std::string& files) {
  std::string sql = "SELECT * FROM read_parquet(" + files +
                    ", hive_partitioning = " + Bool(p.hive_partitioning) +
                    ", union_by_name = " + Bool(p.union_by_name);
  if (!p.hive_types.empty()) {
    std::string types;
    for (const auto& [column, type] : p.hive_types) {
      types += (types.empty() ? "" : ", ") + QuoteString(column) + ": " + QuoteString(type);
    }
    sql += ", hive_types = {" + types + "}";
  }
  return sql + ")";
}

// The parquet read. Each row range of a file read in part is a read of that file with a filter
// on DuckDB's file_row_number (a virtual column: `*` does not include it), which DuckDB checks
// against each row group's row numbers before reading it, so the other row groups are
// skipped. The reads are put together by name, so the columns come in the first read's order
// whatever order the others have.
Result<std::string> ParquetSql(const ParquetSource& p, const Location& loc) {
  if (p.row_ranges.empty()) {
    return ReadParquet(p, p.files.empty() ? QuoteString(p.path) : StringList(p.files));
  }
  std::vector<std::string> ranged;  // in the order of `files`
  for (const RowRange& r : p.row_ranges) {
    if (std::find(p.files.begin(), p.files.end(), r.file) == p.files.end()) {
      return VerbError("from_parquet", loc,
                       "row range of a file not in files: " + QuoteString(r.file));
    }
    if (r.begin < 0 || r.end <= r.begin) {
      return VerbError(
          "from_parquet", loc,
          fmt::format("empty row range [{}, {}) of {}", r.begin, r.end, QuoteString(r.file)));
    }
  }
  std::vector<std::string> whole, reads;
  std::set<std::string> done;
  for (const auto& f : p.files) {
    bool in_part = false;
    for (const RowRange& r : p.row_ranges) {
      if (r.file != f) continue;
      in_part = true;
      // One read per range: DuckDB skips row groups for an OR of ranges too, but runs it
      // about 3x slower than separate reads (measured on 1.4.4).
      if (done.count(f)) continue;
      reads.push_back(
          ReadParquet(p, QuoteString(f)) +
          fmt::format(" WHERE file_row_number >= {} AND file_row_number < {}", r.begin, r.end));
    }
    if (!in_part) whole.push_back(f);
    done.insert(f);
  }
  if (!whole.empty()) reads.insert(reads.begin(), ReadParquet(p, StringList(whole)));
  std::string sql;
  for (const auto& r : reads) sql += (sql.empty() ? "" : " UNION ALL BY NAME ") + r;
  return sql;
}

}  // namespace

}  // namespace dux::sql::internal

namespace dux::sql {

std::string ArrowTableName(const std::string& path) {
  return fmt::format("__dux_arrow_{:016x}", std::hash<std::string>{}(path));
}

std::string AttachedTableName(const pipeline::AttachedSource& source) {
  // NUL cannot occur in the parts that matter here, so the key is unambiguous.
  std::string key = source.alias + '\0' + source.table;
  for (const auto& c : source.columns) key += '\0' + c;
  return fmt::format("__dux_attached_{:016x}", std::hash<std::string>{}(key));
}

}  // namespace dux::sql

namespace dux::sql::internal {

Result<Relation> CompileSource(CompileContext& ctx, const Source& source) {
  const char* verb = source.Name();
  // DuckDB reads an empty path as the current directory, every file under it: never what
  // the user meant.
  const std::string* path = nullptr;
  if (auto* p = std::get_if<ParquetSource>(&source.body)) path = &p->path;
  if (auto* c = std::get_if<CsvSource>(&source.body)) path = &c->path;
  if (auto* n = std::get_if<NdjsonSource>(&source.body)) path = &n->path;
  if (path != nullptr && path->empty()) return VerbError(verb, source.loc, "needs a path");
  std::string body;
  Relation like;
  if (auto* p = std::get_if<ParquetSource>(&source.body)) {
    DUX_ASSIGN_OR_RETURN(body, ParquetSql(*p, source.loc));
  } else if (auto* c = std::get_if<CsvSource>(&source.body)) {
    body = CsvSql(*c);
  } else if (auto* n = std::get_if<NdjsonSource>(&source.body)) {
    body = "SELECT * FROM read_json(" + QuoteString(n->path) + ", format = 'newline_delimited')";
  } else if (auto* a = std::get_if<ArrowSource>(&source.body)) {
    if (a->path.empty()) return VerbError(verb, source.loc, "needs a path");
    body = "SELECT * FROM " + QuoteIdentifier(ArrowTableName(a->path));
  } else if (auto* t = std::get_if<AttachedSource>(&source.body)) {
    if (t->alias.empty() || t->table.empty()) {
      return VerbError(verb, source.loc, "needs an alias and a table name");
    }
    body = "SELECT * FROM " + QuoteIdentifier(AttachedTableName(*t));
  } else if (auto* q = std::get_if<QuerySource>(&source.body)) {
    DUX_ASSIGN_OR_RETURN(std::string sql, QueryBody(q->sql, source.loc));
    body = "SELECT * FROM (" + sql + "\n)";
    // The words alone, wherever they are (a comment or a string too): a needless barrier
    // costs a copy of the rows, a missing one a wrong answer.
    static const std::regex kLimit(R"(\b(limit|offset)\b)", std::regex::icase);
    like.limited = std::regex_search(q->sql, kLimit);
  } else {
    DUX_ASSIGN_OR_RETURN(body, ValuesSql(std::get<ValuesSource>(source.body), source.loc));
  }
  return ctx.AddCte(body, like, verb, source.loc);
}

}  // namespace dux::sql::internal
