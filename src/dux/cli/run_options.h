// The `dux` command line: the options of `dux run` and of the commands that share them
// (explain, workers), and where a pipeline's text comes from. DuckDB-free: the thin client
// (served_client.h) parses the same command line as dux-engine.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "dux/cli/commands.h"
#include "dux/common/status.h"

namespace dux::cli {

/// The `dux` command line before its subcommands: its description, `--help-all`, one
/// subcommand required.
std::unique_ptr<CLI::App> NewCommandLine();

/// Prints a mistake on the command line as one line ("dux: ... (see dux --help)"); returns
/// the exit code for it, 2.
int UsageError(const CLI::ParseError& error);

/// The pipeline (argument, -f), DuckDB's threads and memory, and the --s3-* settings.
void AddPipelineOptions(CLI::App* cmd, RunOptions* o);

/// Where a pipeline runs (--workers, --registry, ...) and how; `running` adds what only a run
/// uses (--timeout, --speculation, --telemetry).
void AddClusterOptions(CLI::App* cmd, ClusterFlags* c, bool running);

/// Adds the `run` subcommand to `app`, its options bound to `o`.
CLI::App* AddRunCommand(CLI::App* app, RunOptions* o);

/// Reads the pipeline text from the argument, the file, or stdin, in that order.
Result<std::string> ReadPipelineText(const RunOptions& options);

}  // namespace dux::cli
