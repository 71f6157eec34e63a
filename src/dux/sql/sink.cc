// Sink statements: COPY for file writers, INSERT / CREATE TABLE AS for insert_into.
#include <fmt/format.h>

#include "dux/sql/compiler.h"
#include "dux/sql/compiler_internal.h"
#include "dux/sql/quote.h"

namespace dux::sql {

using namespace pipeline;  // NOLINT: the IR structs

namespace {

// "db.schema.table" -> quoted parts; names with dots inside must be quoted by the caller
// as "a.b" is always split.
std::string QuoteQualified(const std::string& table) {
  std::string out, part;
  for (char c : table) {
    if (c == '.') {
      out += QuoteIdentifier(part) + ".";
      part.clear();
    } else {
      part += c;
    }
  }
  return out + QuoteIdentifier(part);
}

}  // namespace

Result<std::string> SinkStatement(const Sink& sink, const std::string& select_sql,
                                  const Schema& schema, const std::string& target,
                                  const std::string& file_pattern) {
  const char* verb = sink.Verb();
  if (auto* p = std::get_if<ToParquetSink>(&sink.body)) {
    std::string options = "FORMAT parquet";
    if (!p->compression.empty()) options += ", COMPRESSION " + QuoteString(p->compression);
    if (p->row_group_size) {
      if (*p->row_group_size <= 0) {
        return internal::VerbError(verb, sink.loc, "row_group_size must be positive");
      }
      options += fmt::format(", ROW_GROUP_SIZE {}", *p->row_group_size);
    }
    if (!p->partition_by.empty()) {
      DUX_ASSIGN_OR_RETURN(auto cols,
                           internal::ResolveColumns(p->partition_by, schema, verb, sink.loc));
      options += ", PARTITION_BY (" + QuoteIdentifiers(cols) + ")";
      if (!file_pattern.empty()) {
        options += ", FILENAME_PATTERN " + QuoteString(file_pattern) + ", OVERWRITE_OR_IGNORE";
      }
    }
    return "COPY (" + select_sql + ") TO " + QuoteString(target) + " (" + options + ")";
  }
  if (auto* c = std::get_if<ToCsvSink>(&sink.body)) {
    // DuckDB's CSV writer writes only the first byte of the delimiter: "" and "ab" would
    // silently give a file that does not read back, and "§" fails inside DuckDB.
    if (c->delimiter.size() != 1 || static_cast<unsigned char>(c->delimiter[0]) >= 0x80) {
      return internal::VerbError(
          verb, sink.loc, "delimiter must be one ASCII character, got \"" + c->delimiter + "\"");
    }
    return "COPY (" + select_sql + ") TO " + QuoteString(target) + " (FORMAT csv, DELIMITER " +
           QuoteString(c->delimiter) + ", HEADER " + (c->header ? "true" : "false") + ")";
  }
  if (std::holds_alternative<ToNdjsonSink>(sink.body)) {
    return "COPY (" + select_sql + ") TO " + QuoteString(target) + " (FORMAT json)";
  }
  const auto& insert = std::get<InsertIntoSink>(sink.body);
  if (insert.table.empty()) return internal::VerbError(verb, sink.loc, "needs a table name");
  std::string table = QuoteQualified(insert.table);
  if (insert.create) return "CREATE TABLE " + table + " AS " + select_sql;
  return "INSERT INTO " + table + " BY NAME " + select_sql;
}

}  // namespace dux::sql
