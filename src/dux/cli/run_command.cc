// dux run and dux explain.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "dux/api/session.h"
#include "dux/cli/cluster.h"
#include "dux/cli/commands.h"
#include "dux/cli/query_watch.h"
#include "dux/exec/arrow_bridge.h"
#include "dux/exec/writer.h"
#include "dux/pipeline/language.h"

namespace dux::cli {

namespace {

// A session, distributed when the flags name workers. The cluster outlives the session
// (members are destroyed in reverse order), so local workers stop last.
struct Opened {
  std::unique_ptr<Cluster> cluster;
  std::unique_ptr<Session> session;
};

Result<Opened> OpenSession(const RunOptions& o, const pipeline::Script& script) {
  Opened opened;
  DUX_ASSIGN_OR_RETURN(opened.cluster, Cluster::Connect(o.cluster, o.threads, o.memory_limit));
  SessionOptions options;
  options.threads = o.threads;
  options.memory_limit = o.memory_limit;
  DUX_ASSIGN_OR_RETURN(opened.session, Session::Open(options));
  for (const auto& a : script.attachments) DUX_RETURN_NOT_OK(opened.session->Attach(a));
  if (opened.cluster) opened.cluster->Apply(*opened.session, o.cluster);
  return opened;
}

Status WriteText(const std::string& text, const std::string& path) {
  if (path.empty()) {
    std::cout << text;
    std::cout.flush();
    return Status::OK();
  }
  return exec::WriteAtomically(
             path,
             [&](const std::string& temporary) {
               std::ofstream out(temporary, std::ios::binary);
               out << text;
               out.close();
               if (!out)
                 return Result<int64_t>(Status::IOError("cannot write \"" + temporary + "\""));
               return Result<int64_t>(0);
             })
      .status();
}

// Writes to a file descriptor it does not own (stdout), retrying short writes.
class FdOutputStream : public ipc::OutputStream {
 public:
  explicit FdOutputStream(int fd) : fd_(fd) {}
  Status Write(const void* data, size_t size) override {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      ssize_t n = ::write(fd_, p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        return Status::IOError(std::string("cannot write output: ") + std::strerror(errno));
      p += n;
      size -= static_cast<size_t>(n);
    }
    return Status::OK();
  }

 private:
  int fd_;
};

// --format arrow: an IPC stream, encoded batch by batch straight to stdout, or to --output
// through a temporary file renamed when complete.
Status WriteArrow(Session& session, const sql::CompiledQuery& query, const RunOptions& o) {
  ipc::WriteOptions options;
  DUX_ASSIGN_OR_RETURN(options.compression, exec::ParseCompression(o.arrow_compression));
  if (o.output.empty()) {
    std::cout.flush();
    FdOutputStream out(STDOUT_FILENO);
    return exec::WriteQueryIpc(session.connection(), query.Sql(), &out, options).status();
  }
  return exec::WriteAtomically(
             o.output,
             [&](const std::string& temporary) -> Result<int64_t> {
               DUX_ASSIGN_OR_RETURN(auto file, ipc::FileOutputStream::Open(temporary));
               DUX_ASSIGN_OR_RETURN(
                   int64_t rows,
                   exec::WriteQueryIpc(session.connection(), query.Sql(), file.get(), options));
               DUX_RETURN_NOT_OK(file->Close());
               return rows;
             })
      .status();
}

}  // namespace

Result<std::string> ReadPipelineText(const RunOptions& o) {
  if (!o.pipeline.empty() && !o.file.empty()) {
    return Status::InvalidArgument("give the pipeline as an argument or with -f, not both");
  }
  if (!o.pipeline.empty() && o.pipeline != "-") return o.pipeline;
  std::stringstream buffer;
  if (!o.file.empty() && o.file != "-") {
    std::ifstream in(o.file);
    if (!in) return Status::NotFound("cannot read pipeline file \"" + o.file + "\"");
    buffer << in.rdbuf();
  } else {
    if (o.pipeline.empty() && o.file.empty() && isatty(STDIN_FILENO)) {
      return Status::InvalidArgument(
          "no pipeline: give it as an argument, with -f FILE, or on stdin");
    }
    buffer << std::cin.rdbuf();
  }
  return buffer.str();
}

// The writers put a temporary file next to `path` first; checking the directory up front
// names the user's path in the error (not the temporary one) and runs nothing in vain.
Status CheckOutputDirectory(const std::string& path) {
  if (path.empty()) return Status::OK();
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    return Status::IOError("cannot write \"" + path + "\": no such directory");
  }
  return Status::OK();
}

namespace {

// Runs the pipeline of `o` on the session it opens into `opened`, and writes the result.
Status RunIn(const RunOptions& o, Opened* opened) {
  DUX_RETURN_NOT_OK(CheckOutputDirectory(o.output));
  DUX_ASSIGN_OR_RETURN(std::string text, ReadPipelineText(o));
  DUX_ASSIGN_OR_RETURN(pipeline::Script script, pipeline::ParseScript(text));
  DUX_ASSIGN_OR_RETURN(*opened, OpenSession(o, script));
  Session* session = opened->session.get();
  QueryWatch watch(&session->connection());
  const pipeline::Pipeline& p = script.pipeline;
  if (p.sink()) {
    DUX_ASSIGN_OR_RETURN(exec::WriteReport report, session->Write(p));
    std::string summary =
        p.sink()->Verb() + std::string(": wrote ") + std::to_string(report.rows) + " rows";
    if (!report.files.empty()) {
      summary += " to " + std::to_string(report.files.size()) +
                 (report.files.size() == 1 ? " file" : " files");
    }
    return WriteText(summary + "\n", o.output);
  }
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, session->Compile(p));
  if (o.format == "table") {
    DUX_ASSIGN_OR_RETURN(exec::Table table, session->connection().Query(query.Sql(), query.schema));
    return WriteText(table.Format(), o.output);
  }
  if (o.format == "arrow") return WriteArrow(*session, query, o);
  if (!o.output.empty()) {
    return exec::ExportResult(session->connection(), query.Sql(), o.format, o.output);
  }
  // DuckDB writes files, so stdout gets a temporary file's bytes, streamed in blocks.
  std::string tmpl = (std::filesystem::temp_directory_path() / "dux-out-XXXXXX").string();
  int fd = mkstemp(tmpl.data());
  if (fd < 0) return Status::IOError("cannot create a temporary file");
  close(fd);
  Status exported = exec::ExportResult(session->connection(), query.Sql(), o.format, tmpl);
  if (exported.ok()) {
    std::ifstream in(tmpl, std::ios::binary);
    std::cout << in.rdbuf();
    std::cout.flush();
  }
  std::remove(tmpl.c_str());
  return exported;
}

// Whether the process may end without closing `session`'s database: not when DuckDB spilled
// to disk (closing removes its files), nor when a database file is attached (closing
// checkpoints its write-ahead log into it, so the file alone holds what was written), nor
// under AddressSanitizer (it checks for leaks at exit, and the skipped teardown would show
// as one).
bool MaySkipTeardown(Session& session) {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#else
  auto held = session.connection().QueryText(
      "SELECT CAST((SELECT count(*) FROM duckdb_temporary_files()) + (SELECT count(*) FROM "
      "duckdb_databases() WHERE NOT internal AND path IS NOT NULL) AS VARCHAR)");
  return held.ok() && (*held)[0][0] == "0";
#endif
}

}  // namespace

Status Run(const RunOptions& o) {
  Opened opened;
  Status status = RunIn(o, &opened);
  // Closing DuckDB (joining its threads, freeing its buffers) and the workers' channels
  // takes 5-7 ms of a run that has written everything already (BENCHMARKS.md); the operating
  // system reclaims the same at once.
  if (status.ok() && opened.session && MaySkipTeardown(*opened.session)) {
    std::cout.flush();
    std::fflush(nullptr);
    std::_Exit(0);
  }
  return status;
}

Status Explain(const RunOptions& o) {
  DUX_ASSIGN_OR_RETURN(std::string text, ReadPipelineText(o));
  DUX_ASSIGN_OR_RETURN(pipeline::Script script, pipeline::ParseScript(text));
  DUX_ASSIGN_OR_RETURN(Opened opened, OpenSession(o, script));
  DUX_ASSIGN_OR_RETURN(std::string explained, opened.session->Explain(script.pipeline));
  std::cout << explained;
  return Status::OK();
}

}  // namespace dux::cli
