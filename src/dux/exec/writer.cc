#include "dux/exec/writer.h"

#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <filesystem>

#include "dux/sql/quote.h"

namespace dux::exec {

namespace fs = std::filesystem;
using namespace pipeline;  // NOLINT: the IR structs

namespace {

// A name beside `target`, unique to this process and call, hidden from globs like "*.parquet".
std::string TemporaryName(const std::string& target) {
  static std::atomic<int> counter{0};
  fs::path p(target);
  std::string name = "." + p.filename().string() + ".dux-tmp-" + std::to_string(getpid()) + "-" +
                     std::to_string(counter++);
  return (p.parent_path() / name).string();
}

void RemoveQuietly(const std::string& path) {
  std::error_code ignored;
  fs::remove_all(path, ignored);
}

// Moves a finished temporary output into place.
Status Publish(const std::string& temporary, const std::string& target, bool directory) {
  std::error_code ec;
  if (directory && fs::exists(target, ec)) {
    if (!fs::is_directory(target, ec) || !fs::is_empty(target, ec)) {
      return Status::AlreadyExists("target \"" + target + "\" exists and is not an empty directory");
    }
    fs::remove(target, ec);
  }
  fs::rename(temporary, target, ec);
  if (ec) return Status::IOError("cannot rename output into \"" + target + "\": " + ec.message());
  return Status::OK();
}

std::vector<std::string> ListFiles(const std::string& root) {
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_regular_file(root, ec)) return {root};
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

Result<WriteReport> WriteSink(Connection& connection, const Sink& sink,
                              const sql::CompiledQuery& query) {
  std::string select_sql = query.Sql();
  WriteReport report;
  if (std::holds_alternative<InsertIntoSink>(sink.body)) {
    DUX_ASSIGN_OR_RETURN(std::string statement,
                         sql::SinkStatement(sink, select_sql, query.schema, ""));
    auto rows = connection.Execute(statement);
    if (!rows.ok()) return rows.status().WithPrefix(sink.Verb()).WithSuffix(sink.loc.Suffix());
    report.rows = *rows;
    return report;
  }
  std::string target;
  bool directory = false;
  if (auto* p = std::get_if<ToParquetSink>(&sink.body)) {
    target = p->path;
    directory = !p->partition_by.empty();
  } else if (auto* c = std::get_if<ToCsvSink>(&sink.body)) {
    target = c->path;
  } else {
    target = std::get<ToNdjsonSink>(sink.body).path;
  }
  if (target.empty()) return Status::InvalidArgument(std::string(sink.Verb()) + ": needs a path");
  std::string temporary = TemporaryName(target);
  DUX_ASSIGN_OR_RETURN(std::string statement,
                       sql::SinkStatement(sink, select_sql, query.schema, temporary));
  auto rows = connection.Execute(statement);
  if (!rows.ok()) {
    RemoveQuietly(temporary);
    return rows.status().WithPrefix(sink.Verb()).WithSuffix(sink.loc.Suffix());
  }
  Status published = Publish(temporary, target, directory);
  if (!published.ok()) {
    RemoveQuietly(temporary);
    return published.WithPrefix(sink.Verb());
  }
  report.rows = *rows;
  report.files = ListFiles(target);
  return report;
}

Status ExportResult(Connection& connection, const std::string& select_sql,
                    const std::string& format, const std::string& path) {
  std::string options;
  if (format == "csv") {
    options = "FORMAT csv, HEADER true";
  } else if (format == "json") {
    options = "FORMAT json, ARRAY true";
  } else if (format == "ndjson") {
    options = "FORMAT json";
  } else {
    return Status::InvalidArgument("unknown export format \"" + format + "\"");
  }
  std::string target = TemporaryName(path);
  auto rows = connection.Execute("COPY (" + select_sql + ") TO " + sql::QuoteString(target) +
                                 " (" + options + ")");
  if (!rows.ok()) {
    RemoveQuietly(target);
    return rows.status();
  }
  Status published = Publish(target, path, false);
  if (!published.ok()) RemoveQuietly(target);
  return published;
}

}  // namespace dux::exec
