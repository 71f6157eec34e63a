// The options of `dux run` and of the commands that share them (explain, workers), and where a
// pipeline's text comes from. DuckDB-free: the thin client (served_client.h) parses the same
// command line as dux-engine.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "dux/cli/commands.h"
#include "dux/common/status.h"

namespace dux::cli {

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
