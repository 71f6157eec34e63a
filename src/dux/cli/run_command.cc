// dux run and dux explain.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <optional>

#include "dux/api/session.h"
#include "dux/cli/cluster.h"
#include "dux/cli/commands.h"
#include "dux/cli/progress_display.h"
#include "dux/cli/query_watch.h"
#include "dux/cli/registry_report.h"
#include "dux/cli/result_output.h"
#include "dux/cli/run_options.h"
#include "dux/cli/stdout_stream.h"
#include "dux/exec/arrow_export.h"
#include "dux/exec/output_target.h"
#include "dux/exec/sink_writer.h"
#include "dux/pipeline/language.h"

namespace dux::cli {

namespace {

// A session, distributed when the flags name workers. The cluster outlives the session
// (members are destroyed in reverse order), so local workers stop last; the report of the
// run, which listens to the session, goes first.
struct Opened {
  std::unique_ptr<Cluster> cluster;
  std::unique_ptr<Session> session;
  std::unique_ptr<RegistryReport> report;  ///< with --registry
};

Result<Opened> OpenSession(const RunOptions& o, const pipeline::Script& script) {
  Opened opened;
  SessionOptions options;
  options.threads = o.threads;
  options.memory_limit = o.memory_limit;
  options.keep_plans = false;  // one pipeline per process: nothing to reuse a plan for
  // Opening DuckDB (some 12 ms) and reaching the workers (gRPC's start; a pool's SpinUp or a
  // registry's list) do not depend on each other: they overlap.
  auto session = std::async(std::launch::async, [&options] { return Session::Open(options); });
  auto cluster = Cluster::Connect(o.cluster, o.threads, o.memory_limit);
  auto session_opened = session.get();
  DUX_ASSIGN_OR_RETURN(opened.cluster, std::move(cluster));
  DUX_ASSIGN_OR_RETURN(opened.session, std::move(session_opened));
  for (const auto& a : script.attachments) DUX_RETURN_NOT_OK(opened.session->Attach(a));
  pipeline::S3Settings s3 = script.s3;
  if (o.s3.region) s3.region = o.s3.region;
  if (o.s3.endpoint) s3.endpoint = o.s3.endpoint;
  if (o.s3.url_style) s3.url_style = o.s3.url_style;
  if (o.s3.tls) s3.tls = o.s3.tls;
  if (o.s3.profile) s3.profile = o.s3.profile;
  if (!s3.empty()) DUX_RETURN_NOT_OK(opened.session->UseS3Settings(s3));
  if (opened.cluster) opened.cluster->Apply(*opened.session, o.cluster);
  return opened;
}

// Where the result goes: stdout (no target), or a file, device or pipe (exec::OutputTarget).
using Destination = std::optional<exec::OutputTarget>;

Status WriteText(const std::string& text, const Destination& to) {
  if (!to) {
    std::cout.flush();
    FdOutputStream out(STDOUT_FILENO);
    return out.Write(text.data(), text.size());
  }
  return exec::WriteOutput(
             *to,
             [&](const std::string& path) -> Result<int64_t> {
               std::ofstream out(path, std::ios::binary);
               out << text;
               out.close();
               if (!out) {
                 return Status::IOError("cannot write \"" + path + "\": " + std::strerror(errno));
               }
               return 0;
             })
      .status();
}

// Whether DuckDB may write stdout itself by opening /dev/stdout: a pipe, FIFO or terminal.
// Not a regular file (opening it again would truncate it, and lose an append's position),
// nor a socket (Linux cannot open one by path).
bool StdoutReopenable() { return StdoutType() == S_IFIFO || StdoutType() == S_IFCHR; }

// --format csv, json or ndjson to stdout, as DuckDB writes them.
Result<int64_t> ExportToStdout(exec::Connection& connection, const std::string& select,
                               const std::string& format) {
  std::cout.flush();
  if (StdoutReopenable()) return exec::ExportQuery(connection, select, format, "/dev/stdout");
  // A file (or socket) gets a temporary file's bytes, copied in blocks.
  FdOutputStream out(STDOUT_FILENO);
  return ExportThroughFile(connection, select, format, &out);
}

// Writes the result the SELECT `select` produces, in `o.format`, to `to`.
Result<int64_t> WriteResult(Session& session, const std::string& select,
                            const pipeline::Schema& schema, const RunOptions& o,
                            const Destination& to) {
  exec::Connection& connection = session.connection();
  if (o.format == "table") {
    DUX_ASSIGN_OR_RETURN(exec::Table table,
                         connection.QueryEnds(select, schema, exec::Table::kFormatRows / 2));
    DUX_RETURN_NOT_OK(WriteText(table.Format(), to));
    return static_cast<int64_t>(table.NumRows());
  }
  if (o.format == "arrow") {
    arrow_ipc::WriteOptions options;
    DUX_ASSIGN_OR_RETURN(options.compression, exec::ParseCompression(o.arrow_compression));
    const exec::ArrowTypes types =
        o.arrow_lossless ? exec::ArrowTypes::kLossless : exec::ArrowTypes::kStandard;
    if (to) {
      return exec::WriteOutput(*to, [&](const std::string& path) {
        return exec::WriteIpcFile(connection, select, options, types, path);
      });
    }
    // An IPC stream, encoded batch by batch straight to stdout.
    std::cout.flush();
    FdOutputStream out(STDOUT_FILENO);
    return exec::WriteQueryIpc(connection, select, &out, options, types);
  }
  if (to) {
    return exec::WriteOutput(*to, [&](const std::string& path) {
      return exec::ExportQuery(connection, select, o.format, path);
    });
  }
  return ExportToStdout(connection, select, o.format);
}

}  // namespace

namespace {

// Runs the pipeline of `o` on the session it opens into `opened`, and writes the result.
Status RunIn(const RunOptions& o, Opened* opened) {
  // The target is checked before anything runs, so that its mistakes cost nothing.
  Destination to;
  if (!o.output.empty() && o.output != "-") {
    DUX_ASSIGN_OR_RETURN(to, exec::ClassifyOutput(o.output));
  }
  DUX_ASSIGN_OR_RETURN(std::string text, ReadPipelineText(o));
  DUX_ASSIGN_OR_RETURN(pipeline::Script script, pipeline::ParseScript(text));
  DUX_ASSIGN_OR_RETURN(*opened, OpenSession(o, script));
  Session* session = opened->session.get();
  // A distributed run shows its own progress (the coordinator's DuckDB idles meanwhile).
  QueryWatch watch(&session->connection(), !o.quiet && !opened->cluster);
  std::unique_ptr<ProgressDisplay> progress;
  if (opened->cluster) {
    progress = ProgressDisplay::Start(ChooseProgressMode(o.quiet, o.progress, o.cluster.telemetry),
                                      &session->telemetry());
  }
  const pipeline::Pipeline& p = script.pipeline;
  if (opened->cluster) opened->report = RegistryReport::Start(*opened->cluster, *session, text, p);
  if (p.sink()) {
    DUX_ASSIGN_OR_RETURN(exec::WriteReport report, session->Write(p));
    return WriteText(SinkSummary(p, report), to);
  }
  // Rows stream to a reader as the workers deliver them. A file shows nothing before it is
  // complete, so it gets them gathered first, where a failed partition can still be retried.
  const bool live = to ? to->kind == exec::TargetKind::kStream : StdoutType() != S_IFREG;
  return session
      ->Stream(
          p,
          [&](const std::string& select, const pipeline::Schema& schema, bool) {
            if (progress) progress->OutputStarts();
            return WriteResult(*session, select, schema, o, to);
          },
          live)
      .status();
}

// Whether the process may end without closing `session`'s database: not when DuckDB spilled
// to disk (closing removes its files), nor when a database file is attached (closing
// checkpoints its write-ahead log into it, so the file alone holds what was written), nor
// under AddressSanitizer (it checks for leaks at exit, and the skipped teardown would show
// as one).
bool MaySkipTeardown(const Session& session) {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#else
  return !session.HoldsFilesToClose();
#endif
}

}  // namespace

Status Run(const RunOptions& o) {
  // A reader that goes away makes writes fail with EPIPE (see StdoutClosed) instead of
  // killing the process before it cancels the workers' fragments.
  std::signal(SIGPIPE, SIG_IGN);
  if (!o.server.empty()) return RunServed(o);
  Opened opened;
  Status status = RunIn(o, &opened);
  if (!status.ok() && (o.output.empty() || o.output == "-") && StdoutClosed())
    status = Status::OK();
  if (opened.report) opened.report->Finish(status);
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
  if (o.format == "json" && !o.analyze) {
    return Status::InvalidArgument(
        "--format json needs --analyze (explain prints its plan as text)");
  }
  DUX_ASSIGN_OR_RETURN(std::string text, ReadPipelineText(o));
  DUX_ASSIGN_OR_RETURN(pipeline::Script script, pipeline::ParseScript(text));
  DUX_ASSIGN_OR_RETURN(Opened opened, OpenSession(o, script));
  if (o.analyze) {
    AnalyzedRun run;
    {
      QueryWatch watch(&opened.session->connection());
      DUX_ASSIGN_OR_RETURN(run, opened.session->ExplainAnalyze(script.pipeline));
    }
    std::cout << (o.format == "json" ? AnalyzedRunJson(run) : FormatAnalyzedRun(run));
    return Status::OK();
  }
  DUX_ASSIGN_OR_RETURN(std::string explained, opened.session->Explain(script.pipeline));
  std::cout << explained;
  return Status::OK();
}

}  // namespace dux::cli
