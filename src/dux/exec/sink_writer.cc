#include "dux/exec/sink_writer.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "dux/common/unique_id.h"
#include "dux/exec/arrow_export.h"
#include "dux/exec/output_target.h"
#include "dux/sql/quote.h"

namespace dux::exec {

namespace fs = std::filesystem;
using namespace pipeline;  // NOLINT: the IR structs

namespace {

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

// The connection's UrlFiles, for what dux does with `url` itself.
Result<const UrlFiles*> UrlFilesOf(const Connection& connection, const std::string& url) {
  if (connection.url_files() == nullptr) {
    return Status::Unimplemented("cannot reach \"" + url +
                                 "\": this database has no file system for URLs");
  }
  return connection.url_files();
}

// The Arrow IPC options of a to_arrow sink.
Result<arrow_ipc::WriteOptions> IpcOptions(const ToArrowSink& sink) {
  arrow_ipc::WriteOptions options;
  options.format = sink.stream_format ? arrow_ipc::Format::kStream : arrow_ipc::Format::kFile;
  DUX_ASSIGN_OR_RETURN(options.compression, ParseCompression(sink.compression));
  return options;
}

// One object at `url`: by COPY, or for to_arrow by dux's encoder into an object stream that
// is completed only when every row is in.
Result<int64_t> WriteUrlObject(Connection& connection, const Sink& sink,
                               const sql::CompiledQuery& query, const std::string& url) {
  if (auto* a = std::get_if<ToArrowSink>(&sink.body)) {
    DUX_ASSIGN_OR_RETURN(arrow_ipc::WriteOptions options, IpcOptions(*a));
    DUX_ASSIGN_OR_RETURN(const UrlFiles* files, UrlFilesOf(connection, url));
    DUX_ASSIGN_OR_RETURN(std::unique_ptr<UrlOutputStream> out, files->OpenForWriting(url));
    DUX_ASSIGN_OR_RETURN(
        int64_t rows, WriteQueryIpc(connection, query.Sql(), out.get(), options,
                                    a->lossless ? ArrowTypes::kLossless : ArrowTypes::kStandard));
    DUX_RETURN_NOT_OK(out->Close());
    return rows;
  }
  DUX_ASSIGN_OR_RETURN(std::string statement,
                       sql::SinkStatement(sink, query.Sql(), query.schema, url));
  return connection.Execute(statement);
}

}  // namespace

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
  std::string target = SinkPath(sink);
  if (target.empty()) return SinkError(Status::InvalidArgument("needs a path"), sink);
  if (WritesDirectory(sink)) {
    Status empty = CheckDirectoryTarget(connection, target);
    if (!empty.ok()) return SinkError(empty, sink);
    std::error_code ec;
    bool existed = IsUrl(target) || fs::exists(target, ec);
    PartFiles part{NewWriteId(), 0, false};
    auto written = WritePart(connection, sink, query, part);
    if (!written.ok()) RemoveWrite(connection, target, part.write_id, !existed);
    return written;
  }
  if (IsUrl(target)) {
    // One object, written in place by DuckDB's file system for the URL's scheme (or, for
    // to_arrow, by dux's encoder through the same), which makes it visible only once
    // complete: a failed write leaves none, and an object already there stays whole until
    // the new one replaces it (docs/s3.md, "Writes"). So no temporary name, nothing to rename.
    Result<int64_t> rows = WriteUrlObject(connection, sink, query, target);
    if (!rows.ok()) return SinkError(rows.status(), sink);
    report.rows = *rows;
    report.files = {target};
    return report;
  }
  auto rows = WriteToPath(target, [&](const std::string& written) -> Result<int64_t> {
    if (auto* a = std::get_if<ToArrowSink>(&sink.body)) {
      // Written by dux's own IPC encoder rather than by a COPY statement.
      DUX_ASSIGN_OR_RETURN(arrow_ipc::WriteOptions options, IpcOptions(*a));
      return WriteIpcFile(connection, select_sql, options,
                          a->lossless ? ArrowTypes::kLossless : ArrowTypes::kStandard, written);
    }
    DUX_ASSIGN_OR_RETURN(std::string statement,
                         sql::SinkStatement(sink, select_sql, query.schema, written));
    return connection.Execute(statement);
  });
  if (!rows.ok()) return SinkError(rows.status(), sink);
  report.rows = *rows;
  report.files = {target};
  return report;
}

// ---- directory writes ---------------------------------------------------------------------

namespace {

constexpr const char* kTemporarySuffix = ".dux-tmp";

// "part-00003-<id>": the part of every name of partition `partition` of write `id`.
std::string PartStem(const std::string& id, int partition) {
  return fmt::format("part-{:05d}-{}", partition, id);
}

// Whether `name` is a file (or, `temporary`, a hidden temporary) of write `id`, of partition
// `partition` (-1: of any). Final names are "<stem>.ext" or "<stem>-cN.ext"; temporary ones
// ".<stem>.<attempt>.dux-tmp".
bool OfWrite(const std::string& name, const std::string& id, int partition, bool* temporary) {
  std::string_view rest(name);
  *temporary = rest.starts_with('.');
  if (*temporary) {
    if (!rest.ends_with(kTemporarySuffix)) return false;
    rest.remove_prefix(1);
  }
  if (!rest.starts_with("part-")) return false;
  rest.remove_prefix(5);
  size_t digits = 0;
  while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
  if (digits < 5 || digits >= rest.size() || rest[digits] != '-') return false;
  if (partition >= 0 && std::stoll(std::string(rest.substr(0, digits))) != partition) return false;
  rest.remove_prefix(digits + 1);
  if (!rest.starts_with(id)) return false;
  rest.remove_prefix(id.size());
  return !rest.empty() && (rest[0] == '.' || (!*temporary && rest[0] == '-'));
}

// Removes what write `id` (partition `partition`, -1 for all) left under `directory`;
// returns the hive directories visited, deepest first.
std::vector<fs::path> RemoveFiles(const std::string& directory, const std::string& id,
                                  int partition) {
  std::vector<fs::path> doomed, hive_dirs;
  // Directory by directory, so that an entry vanishing under another task (whose temporary
  // output is renamed and removed meanwhile) skips only itself. Temporary output is never
  // entered: it is removed whole, or it is another attempt's.
  std::vector<fs::path> pending{directory};
  while (!pending.empty()) {
    fs::path d = std::move(pending.back());
    pending.pop_back();
    std::error_code ec;
    for (auto it = fs::directory_iterator(d, ec); !ec && it != fs::end(it); it.increment(ec)) {
      std::string name = it->path().filename().string();
      bool temporary = false;
      std::error_code type_ec;
      if (OfWrite(name, id, partition, &temporary)) {
        doomed.push_back(it->path());
      } else if (!name.starts_with('.') && it->is_directory(type_ec) && !it->is_symlink(type_ec)) {
        pending.push_back(it->path());
        if (name.find('=') != std::string::npos) hive_dirs.push_back(it->path());
      }
    }
  }
  std::error_code ec;
  for (const auto& p : doomed) fs::remove_all(p, ec);
  // Longest paths first: children before their parents.
  std::sort(hive_dirs.begin(), hive_dirs.end(), [](const fs::path& a, const fs::path& b) {
    return a.native().size() > b.native().size();
  });
  return hive_dirs;
}

// Unique per attempt, also across hosts that share a filesystem.
std::string AttemptTag() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t kRandom = std::random_device{}() | (uint64_t{std::random_device{}()} << 32);
  return fmt::format("{:x}-{:x}-{}", kRandom, static_cast<unsigned>(getpid()), counter++);
}

// The last segment of a path or URL.
std::string NameOf(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// The objects of write `id` (of partition `partition`; -1: of every one) below the URL
// `directory`. Objects are never temporary: an object appears only once complete.
Result<std::vector<std::string>> ObjectsOfWrite(const UrlFiles& files, const std::string& directory,
                                                const std::string& id, int partition) {
  DUX_ASSIGN_OR_RETURN(std::vector<std::string> below, files.ListBelow(directory));
  std::vector<std::string> of_write;
  for (std::string& url : below) {
    bool temporary = false;
    if (OfWrite(NameOf(url), id, partition, &temporary) && !temporary) {
      of_write.push_back(std::move(url));
    }
  }
  return of_write;
}

// Removes every object in `urls`; the first failure, once all were tried.
Status RemoveObjects(const UrlFiles& files, const std::vector<std::string>& urls) {
  Status first;
  for (const std::string& url : urls) {
    Status removed = files.Remove(url);
    if (first.ok() && !removed.ok()) first = removed;
  }
  return first;
}

// One partition of a directory write whose target is a URL (an S3 prefix). S3 has no
// directories and no rename, and an object is invisible until complete, so each file is
// written straight to its final name: a failed attempt leaves nothing, a retry replaces or
// removes what an earlier attempt completed. partition_by output is named by DuckDB's
// FILENAME_PATTERN ("part-00003-<id>-c0.parquet" in each hive directory), written beside
// the other partitions' files.
Result<WriteReport> WriteObjects(Connection& connection, const Sink& sink,
                                 const sql::CompiledQuery& query, const PartFiles& part,
                                 const std::string& target) {
  DUX_ASSIGN_OR_RETURN(const UrlFiles* files, UrlFilesOf(connection, target));
  if (part.retry) {
    DUX_ASSIGN_OR_RETURN(auto earlier,
                         ObjectsOfWrite(*files, target, part.write_id, part.partition));
    DUX_RETURN_NOT_OK(RemoveObjects(*files, earlier));
  }
  auto* parquet = std::get_if<ToParquetSink>(&sink.body);
  WriteReport report;
  if (!parquet || parquet->partition_by.empty()) {
    std::string name = target + "/" + PartFileName(part, PartExtension(sink), 0);
    DUX_ASSIGN_OR_RETURN(std::string statement,
                         sql::SinkStatement(sink, query.Sql(), query.schema, name));
    DUX_ASSIGN_OR_RETURN(report.rows, connection.Execute(statement));
    report.files = {name};
    return report;
  }
  DUX_ASSIGN_OR_RETURN(std::string statement,
                       sql::SinkStatement(sink, query.Sql(), query.schema, target,
                                          PartStem(part.write_id, part.partition) + "-c{i}"));
  Result<int64_t> rows = connection.Execute(statement);
  Result<std::vector<std::string>> written =
      ObjectsOfWrite(*files, target, part.write_id, part.partition);
  if (!rows.ok() || !written.ok()) {
    // Some hive directories may be complete: the attempt's objects go.
    if (written.ok()) (void)RemoveObjects(*files, *written);
    return rows.ok() ? written.status() : rows.status();
  }
  report.rows = *rows;
  report.files = std::move(*written);
  return report;
}

// Creates the target directory of a directory write and checks that files can be made in it.
Status PrepareDirectory(const std::string& target) {
  std::error_code ec;
  if (fs::exists(target, ec) && !fs::is_directory(target, ec)) {
    return Status::AlreadyExists("target \"" + target + "\" exists and is not a directory");
  }
  fs::create_directories(target, ec);
  if (ec || !fs::is_directory(target, ec)) {
    return Status(StatusCode::kPermissionDenied,
                  "cannot create directory \"" + target + "\": " + ec.message());
  }
  if (::access(target.c_str(), W_OK | X_OK) != 0) {
    return Status(StatusCode::kPermissionDenied,
                  "cannot write into directory \"" + target + "\": " + std::strerror(errno));
  }
  return Status::OK();
}

}  // namespace

namespace {

// The sink's path as the pipeline gives it; "" for insert_into.
std::string PathAsWritten(const Sink& sink) {
  return std::visit(
      [](const auto& s) -> std::string {
        if constexpr (requires { s.path; }) {
          return s.path;
        } else {
          return "";
        }
      },
      sink.body);
}

}  // namespace

bool WritesDirectory(const Sink& sink) {
  if (auto* p = std::get_if<ToParquetSink>(&sink.body); p && !p->partition_by.empty()) return true;
  if (!std::holds_alternative<ToParquetSink>(sink.body) &&
      !std::holds_alternative<ToCsvSink>(sink.body) &&
      !std::holds_alternative<ToNdjsonSink>(sink.body)) {
    return false;
  }
  std::string path = PathAsWritten(sink);
  if (path.empty()) return false;
  if (path.back() == '/') return true;
  std::error_code ec;
  if (!IsUrl(path) && fs::exists(path, ec) && !fs::is_directory(path, ec)) return false;
  std::string name = fs::path(path).filename().string();
  // A leading dot alone (".hidden") is not an extension.
  return name.find('.', 1) == std::string::npos;
}

std::string SinkPath(const Sink& sink) {
  std::string path = PathAsWritten(sink);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string PartExtension(const Sink& sink) {
  if (std::holds_alternative<ToCsvSink>(sink.body)) return "csv";
  if (std::holds_alternative<ToNdjsonSink>(sink.body)) return "ndjson";
  return "parquet";
}

std::string PartFileName(const PartFiles& part, const std::string& extension, int index) {
  std::string stem = PartStem(part.write_id, part.partition);
  if (index > 0) stem += "-c" + std::to_string(index);
  return stem + "." + extension;
}

Status CheckDirectoryTarget(const Connection& connection, const std::string& target) {
  if (IsUrl(target)) {
    DUX_ASSIGN_OR_RETURN(const UrlFiles* files, UrlFilesOf(connection, target));
    DUX_ASSIGN_OR_RETURN(std::vector<std::string> below, files->ListBelow(target));
    if (below.empty()) return Status::OK();  // else the local message: a prefix is a directory
  } else {
    std::error_code ec;
    if (!fs::exists(target, ec) || (fs::is_directory(target, ec) && fs::is_empty(target, ec))) {
      return Status::OK();
    }
  }
  return Status::AlreadyExists("target \"" + target + "\" exists and is not an empty directory");
}

namespace {

// RemoveWrite of partition `partition` (-1: of every one).
void RemoveWriteFiles(const Connection& connection, const std::string& directory,
                      const std::string& write_id, int partition, bool remove_directory) {
  if (IsUrl(directory)) {
    if (connection.url_files() == nullptr) return;
    auto doomed = ObjectsOfWrite(*connection.url_files(), directory, write_id, partition);
    if (doomed.ok()) (void)RemoveObjects(*connection.url_files(), *doomed);
    return;
  }
  std::error_code ec;
  if (!fs::is_directory(directory, ec)) return;
  for (const auto& d : RemoveFiles(directory, write_id, partition)) {
    if (fs::is_empty(d, ec)) fs::remove(d, ec);
  }
  if (remove_directory && fs::is_empty(directory, ec)) fs::remove(directory, ec);
}

}  // namespace

void RemoveWrite(const Connection& connection, const std::string& directory,
                 const std::string& write_id, bool remove_directory) {
  RemoveWriteFiles(connection, directory, write_id, -1, remove_directory);
}

void RemoveWritePartition(const Connection& connection, const std::string& directory,
                          const std::string& write_id, int partition) {
  RemoveWriteFiles(connection, directory, write_id, partition, false);
}

void RemoveWriteTemporaries(const std::string& directory, const std::string& write_id) {
  if (IsUrl(directory)) return;  // objects have no temporary names
  std::error_code ec;
  std::vector<fs::path> doomed;
  for (auto it = fs::directory_iterator(directory, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    bool temporary = false;
    if (OfWrite(it->path().filename().string(), write_id, -1, &temporary) && temporary) {
      doomed.push_back(it->path());
    }
  }
  for (const auto& p : doomed) fs::remove_all(p, ec);
}

Status RemoveWrittenFile(const Connection& connection, const std::string& path) {
  if (IsUrl(path)) {
    DUX_ASSIGN_OR_RETURN(const UrlFiles* files, UrlFilesOf(connection, path));
    return files->Remove(path);
  }
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) return Status::IOError("cannot remove \"" + path + "\": " + ec.message());
  return Status::OK();
}

std::string NewWriteId() { return UniqueId('w'); }

Result<WriteReport> WritePart(Connection& connection, const Sink& sink,
                              const sql::CompiledQuery& query, const PartFiles& part) {
  std::string target = SinkPath(sink);
  if (target.empty()) return SinkError(Status::InvalidArgument("needs a path"), sink);
  if (part.write_id.empty()) {
    return SinkError(Status::InvalidArgument("a directory write needs a write id"), sink);
  }
  if (IsUrl(target)) {
    auto written = WriteObjects(connection, sink, query, part, target);
    if (!written.ok()) return SinkError(written.status(), sink);
    return written;
  }
  Status prepared = PrepareDirectory(target);
  if (!prepared.ok()) return SinkError(prepared, sink);
  if (part.retry) (void)RemoveFiles(target, part.write_id, part.partition);
  const std::string extension = PartExtension(sink);
  auto* parquet = std::get_if<ToParquetSink>(&sink.body);
  const bool hive = parquet && !parquet->partition_by.empty();
  const std::string temporary = (fs::path(target) / ("." + PartStem(part.write_id, part.partition) +
                                                     "." + AttemptTag() + kTemporarySuffix))
                                    .string();
  WriteReport report;
  std::vector<std::string> renamed;
  auto write = [&]() -> Status {
    DUX_ASSIGN_OR_RETURN(std::string statement,
                         sql::SinkStatement(sink, query.Sql(), query.schema, temporary));
    DUX_ASSIGN_OR_RETURN(report.rows, connection.Execute(statement));
    if (!hive) {
      std::string name = (fs::path(target) / PartFileName(part, extension, 0)).string();
      std::error_code ec;
      fs::rename(temporary, name, ec);
      if (ec) return Status::IOError("cannot rename output into \"" + name + "\": " + ec.message());
      renamed.push_back(name);
      return Status::OK();
    }
    // DuckDB wrote `key=value/.../data_N.parquet` under the temporary directory: each file
    // moves to the same hive directory under the target, named after the partition.
    std::map<fs::path, std::vector<fs::path>> by_directory;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(temporary, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it->is_regular_file(ec)) {
        by_directory[fs::relative(it->path().parent_path(), temporary, ec)].push_back(it->path());
      }
    }
    if (ec) return Status::IOError("cannot list \"" + temporary + "\": " + ec.message());
    for (auto& [relative, files] : by_directory) {
      std::sort(files.begin(), files.end());
      fs::path directory = fs::path(target) / relative;
      fs::create_directories(directory, ec);
      if (ec) {
        return Status::IOError("cannot create directory \"" + directory.string() +
                               "\": " + ec.message());
      }
      for (size_t i = 0; i < files.size(); ++i) {
        std::string name =
            (directory / PartFileName(part, extension, static_cast<int>(i))).lexically_normal();
        fs::rename(files[i], name, ec);
        if (ec)
          return Status::IOError("cannot rename output into \"" + name + "\": " + ec.message());
        renamed.push_back(name);
      }
    }
    fs::remove_all(temporary, ec);
    return Status::OK();
  };
  Status status = write();
  if (!status.ok()) {
    std::error_code ignored;
    fs::remove_all(temporary, ignored);
    for (const auto& f : renamed) fs::remove(f, ignored);
    // DuckDB names the file it was writing, which is the temporary one.
    return SinkError(NameTarget(status, temporary, target), sink);
  }
  std::sort(renamed.begin(), renamed.end());
  report.files = std::move(renamed);
  return report;
}

Result<int64_t> WriteIpcFile(Connection& connection, const std::string& select_sql,
                             const arrow_ipc::WriteOptions& options, ArrowTypes types,
                             const std::string& path) {
  DUX_ASSIGN_OR_RETURN(auto file, arrow_ipc::FileOutputStream::Open(path));
  DUX_ASSIGN_OR_RETURN(int64_t rows,
                       WriteQueryIpc(connection, select_sql, file.get(), options, types));
  DUX_RETURN_NOT_OK(file->Close());
  return rows;
}

Result<int64_t> ExportQuery(Connection& connection, const std::string& select_sql,
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
  return connection.Execute("COPY (" + select_sql + ") TO " + sql::QuoteString(path) + " (" +
                            options + ")");
}

}  // namespace dux::exec
