#include "dux/exec/writer.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>

#include "dux/exec/arrow_bridge.h"
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

// A partitioned write goes into a missing or empty directory, never among other files.
Status CheckDirectoryTarget(const std::string& target) {
  std::error_code ec;
  if (fs::exists(target, ec) && (!fs::is_directory(target, ec) || !fs::is_empty(target, ec))) {
    return Status::AlreadyExists("target \"" + target + "\" exists and is not an empty directory");
  }
  return Status::OK();
}

// Moves a finished temporary output into place.
Status Publish(const std::string& temporary, const std::string& target, bool directory) {
  std::error_code ec;
  if (directory && fs::exists(target, ec)) {
    DUX_RETURN_NOT_OK(CheckDirectoryTarget(target));
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

// `status` as the sink's error: "verb: message (line L, col C)".
Status SinkError(const Status& status, const Sink& sink) {
  return Status(status.code(),
                std::string(sink.Verb()) + ": " + status.message() + sink.loc.Suffix());
}

// create: true. DuckDB's C API reports no row count for CREATE TABLE AS, so the table is
// created empty from the query's types and then filled by an INSERT (which reports its
// count), both in one transaction so that a failure leaves no table behind.
Result<int64_t> CreateAndInsert(Connection& connection, const Sink& sink,
                                const std::string& select_sql, const pipeline::Schema& schema) {
  Sink append = sink;
  std::get<InsertIntoSink>(append.body).create = false;
  DUX_ASSIGN_OR_RETURN(
      std::string create_sql,
      sql::SinkStatement(sink, "SELECT * FROM (" + select_sql + "\n) LIMIT 0", schema, ""));
  DUX_ASSIGN_OR_RETURN(std::string insert_sql, sql::SinkStatement(append, select_sql, schema, ""));
  DUX_RETURN_NOT_OK(connection.Execute("BEGIN TRANSACTION").status());
  Result<int64_t> rows = connection.Execute(create_sql);
  if (rows.ok()) rows = connection.Execute(insert_sql);
  if (rows.ok()) {
    auto committed = connection.Execute("COMMIT");
    if (!committed.ok()) rows = committed.status();
  }
  // After a failed COMMIT DuckDB has already rolled back; this ROLLBACK then fails harmlessly.
  if (!rows.ok()) (void)connection.Execute("ROLLBACK");
  return rows;
}

// to_arrow is written by dux's own IPC encoder rather than by a COPY statement.
Result<int64_t> WriteArrowFile(Connection& connection, const std::string& select_sql,
                               const ToArrowSink& sink, const std::string& path) {
  ipc::WriteOptions options;
  options.format = sink.stream_format ? ipc::Format::kStream : ipc::Format::kFile;
  DUX_ASSIGN_OR_RETURN(options.compression, ParseCompression(sink.compression));
  DUX_ASSIGN_OR_RETURN(auto file, ipc::FileOutputStream::Open(path));
  DUX_ASSIGN_OR_RETURN(int64_t rows, WriteQueryIpc(connection, select_sql, file.get(), options));
  DUX_RETURN_NOT_OK(file->Close());
  return rows;
}

}  // namespace

Result<int64_t> WriteAtomically(const std::string& target, bool directory,
                                const std::function<Result<int64_t>(const std::string&)>& write) {
  // Checked before writing too, so that a refused write does not first write everything.
  if (directory) DUX_RETURN_NOT_OK(CheckDirectoryTarget(target));
  std::string temporary = TemporaryName(target);
  Result<int64_t> written = write(temporary);
  Status status = written.ok() ? Publish(temporary, target, directory) : written.status();
  if (status.ok()) return written;
  RemoveQuietly(temporary);
  // DuckDB names the file it was writing, which is the temporary one; the user only knows
  // the target.
  std::string message = status.message();
  for (size_t at = message.find(temporary); at != std::string::npos;
       at = message.find(temporary, at + target.size())) {
    message.replace(at, temporary.size(), target);
  }
  return Status(status.code(), message);
}

Result<WriteReport> WriteSink(Connection& connection, const Sink& sink,
                              const sql::CompiledQuery& query) {
  std::string select_sql = query.Sql();
  WriteReport report;
  if (auto* insert = std::get_if<InsertIntoSink>(&sink.body)) {
    // Built first in both cases: a mistake in the sink is already a complete message.
    DUX_ASSIGN_OR_RETURN(std::string statement,
                         sql::SinkStatement(sink, select_sql, query.schema, ""));
    Result<int64_t> rows = insert->create
                               ? CreateAndInsert(connection, sink, select_sql, query.schema)
                               : connection.Execute(statement);
    if (!rows.ok()) return SinkError(rows.status(), sink);
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
  } else if (auto* a = std::get_if<ToArrowSink>(&sink.body)) {
    target = a->path;
  } else {
    target = std::get<ToNdjsonSink>(sink.body).path;
  }
  if (target.empty()) return SinkError(Status::InvalidArgument("needs a path"), sink);
  auto rows = WriteAtomically(target, directory, [&](const std::string& temporary) {
    if (auto* a = std::get_if<ToArrowSink>(&sink.body)) {
      return WriteArrowFile(connection, select_sql, *a, temporary);
    }
    auto statement = sql::SinkStatement(sink, select_sql, query.schema, temporary);
    if (!statement.ok()) return Result<int64_t>(statement.status());
    return connection.Execute(*statement);
  });
  if (!rows.ok()) return SinkError(rows.status(), sink);
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
  return WriteAtomically(path, /*directory=*/false,
                         [&](const std::string& temporary) {
                           return connection.Execute("COPY (" + select_sql + ") TO " +
                                                     sql::QuoteString(temporary) + " (" + options +
                                                     ")");
                         })
      .status();
}

}  // namespace dux::exec
