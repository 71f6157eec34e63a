#include "dux/cli/cli.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "dux/cli/commands.h"

namespace dux::cli {

namespace {

void AddPipelineOptions(CLI::App* cmd, RunOptions* o) {
  cmd->add_option("pipeline", o->pipeline, "pipeline text (or use -f, or stdin)");
  cmd->add_option("-f,--file", o->file, "read the pipeline from FILE (- for stdin)");
  cmd->add_option("--threads", o->threads, "DuckDB threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--memory-limit", o->memory_limit, "DuckDB memory limit, e.g. 4GB");
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"dux: dataframe pipelines on DuckDB, on one machine or many", "dux"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");

  RunOptions run;
  CLI::App* run_cmd = app.add_subcommand("run", "run a pipeline and print or write its result");
  AddPipelineOptions(run_cmd, &run);
  run_cmd->add_option("--format", run.format, "table, csv, json, ndjson or arrow (an IPC stream)")
      ->check(CLI::IsMember({"table", "csv", "json", "ndjson", "arrow"}));
  run_cmd
      ->add_option("--arrow-compression", run.arrow_compression,
                   "with --format arrow: lz4 or zstd body compression (default none)")
      ->check(CLI::IsMember({"none", "lz4", "zstd"}));
  run_cmd->add_option("-o,--output", run.output, "write the result to FILE instead of stdout");

  RunOptions explain;
  CLI::App* explain_cmd = app.add_subcommand("explain", "print the SQL a pipeline runs");
  AddPipelineOptions(explain_cmd, &explain);

  DemoOptions demo;
  CLI::App* demo_cmd =
      app.add_subcommand("demo", "generate a sample parquet dataset and run a pipeline on it");
  demo_cmd->add_option("--dir", demo.dir, "where to write the dataset (default: a temp dir)");
  demo_cmd->add_option("--rows", demo.rows, "rows in the dataset")->check(CLI::PositiveNumber);

  GenerateOptions gen;
  CLI::App* gen_cmd = app.add_subcommand(
      "generate", "write a benchmark dataset (H2O db-benchmark shapes) as parquet files");
  gen_cmd->add_option("dataset", gen.dataset, "groupby")
      ->required()
      ->check(CLI::IsMember({"groupby"}));
  gen_cmd->add_option("--out", gen.out, "output directory")->required();
  gen_cmd->add_option("--rows", gen.rows, "number of rows")->check(CLI::PositiveNumber);
  gen_cmd->add_option("--files", gen.files, "number of files")->check(CLI::PositiveNumber);

  // CLI11 reports a mistyped subcommand as "A subcommand is required", which hides the typo.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (CLI::App* cmd : {run_cmd, explain_cmd, demo_cmd, gen_cmd}) {
      known = known || cmd->check_name(argv[1]);
    }
    if (!known) {
      std::cerr << "dux: unknown subcommand \"" << argv[1] << "\" (see dux --help)\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "dux: " << e.what() << " (see dux --help)\n";
    return 2;
  }

  Status status;
  if (run_cmd->parsed()) {
    status = Run(run);
  } else if (explain_cmd->parsed()) {
    status = Explain(explain);
  } else if (demo_cmd->parsed()) {
    status = Demo(demo);
  } else {
    status = Generate(gen);
  }
  if (!status.ok()) {
    std::cout.flush();
    std::cerr << "dux: " << status.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace dux::cli
