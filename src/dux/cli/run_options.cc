#include "dux/cli/run_options.h"

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

namespace dux::cli {

std::unique_ptr<CLI::App> NewCommandLine() {
  auto app = std::make_unique<CLI::App>(
      "dux: dataframe pipelines on DuckDB, on one machine or many", "dux");
  app->require_subcommand(1);
  app->set_help_all_flag("--help-all", "help for every subcommand");
  return app;
}

int UsageError(const CLI::ParseError& error) {
  std::cerr << "dux: " << error.what() << " (see dux --help)\n";
  return 2;
}

void AddPipelineOptions(CLI::App* cmd, RunOptions* o) {
  cmd->add_option("pipeline", o->pipeline, "pipeline text (or use -f, or stdin)");
  cmd->add_option("-f,--file", o->file, "read the pipeline from FILE (- for stdin)");
  cmd->add_option("--threads", o->threads, "DuckDB threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--memory-limit", o->memory_limit, "DuckDB memory limit, e.g. 4GB");
  // Per-run S3 settings, as the pipeline's s3(...) statement takes them (these win).
  cmd->add_option("--s3-region", o->s3.region, "S3 region for this run");
  cmd->add_option("--s3-endpoint", o->s3.endpoint, "S3 endpoint URL for this run");
  cmd->add_option("--s3-url-style", o->s3.url_style, "S3 URL style: path, virtual or auto")
      ->check(CLI::IsMember({"path", "virtual", "auto"}));
  cmd->add_option("--s3-tls", o->s3.tls, "S3 over TLS (true) or plain HTTP (false)");
  cmd->add_option("--s3-profile", o->s3.profile, "AWS profile for this run's S3 access");
}

void AddClusterOptions(CLI::App* cmd, ClusterFlags* c, bool running) {
  cmd->add_option("--workers", c->workers,
                  "run on these workers: HOST:PORT,HOST:PORT (or $DUX_WORKERS)")
      ->envname("DUX_WORKERS");
  cmd->add_option("--registry", c->registry,
                  "run on the live workers of this registry (or $DUX_REGISTRY)")
      ->envname("DUX_REGISTRY");
  cmd->add_option("--local-workers", c->local_workers, "start N local workers for this command")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--pool", c->pool, "run on workers of this pool (or $DUX_POOL)")
      ->envname("DUX_POOL");
  cmd->add_option("--workers-wanted", c->workers_wanted,
                  "with --pool: ask it for N workers and wait for them up to its boot timeout "
                  "(default: 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--token", c->token, "bearer token for the workers (or $DUX_TOKEN)")
      ->envname("DUX_TOKEN");
  cmd->add_option("--tls-ca", c->tls_ca, "use TLS, trusting workers signed by this CA (PEM)");
  cmd->add_option("--broadcast-threshold", c->broadcast_threshold,
                  "broadcast a join's right side estimated at most BYTES of Arrow IPC, else "
                  "hash-exchange both sides (default: 268435456; 0: always exchange)")
      ->check(CLI::NonNegativeNumber);
  if (!running) return;
  cmd->add_option("--timeout", c->timeout,
                  "seconds each worker's share may take (default: no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--speculation", c->speculation,
                  "on: start a partition running over 3x the median of its finished peers "
                  "(after 1 s, half of them done) again on an idle worker; the first to "
                  "finish wins (default: off)")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_flag("--telemetry", c->telemetry, "print distributed events as JSON lines on stderr");
}

CLI::App* AddRunCommand(CLI::App* app, RunOptions* o) {
  CLI::App* run_cmd = app->add_subcommand("run", "run a pipeline and print or write its result");
  AddPipelineOptions(run_cmd, o);
  run_cmd->add_option("--format", o->format, "table, csv, json, ndjson or arrow (an IPC stream)")
      ->check(CLI::IsMember({"table", "csv", "json", "ndjson", "arrow"}));
  run_cmd
      ->add_option("--arrow-compression", o->arrow_compression,
                   "with --format arrow: lz4 or zstd body compression (default none)")
      ->check(CLI::IsMember({"none", "lz4", "zstd"}));
  run_cmd->add_flag("--arrow-lossless", o->arrow_lossless,
                    "with --format arrow: DuckDB's lossless types (BOOLEAN as Int8 arrow.bool8, "
                    "...) instead of the standard ones any Arrow reader understands");
  run_cmd->add_option("-o,--output", o->output,
                      "write the result to FILE (a file is replaced whole; a device or pipe is "
                      "written as rows come; \"-\": stdout)");
  AddClusterOptions(run_cmd, &o->cluster, /*running=*/true);
  run_cmd->add_flag("--progress", o->progress,
                    "print a distributed run's progress on stderr as plain lines (at most one "
                    "a second), also when stderr is not a terminal");
  run_cmd->add_flag("-q,--quiet", o->quiet, "print no progress line");
  run_cmd
      ->add_option("--server", o->server,
                   "send the pipeline to this `dux serve` (HOST:PORT) and print what it returns "
                   "(or $DUX_SERVER); --token and --tls-ca reach it")
      ->envname("DUX_SERVER");
  return run_cmd;
}

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

}  // namespace dux::cli
