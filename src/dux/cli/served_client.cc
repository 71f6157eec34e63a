#include "dux/cli/served_client.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "dux/cli/commands.h"
#include "dux/cli/exit_code.h"
#include "dux/cli/run_options.h"
#include "dux/cli/sibling_program.h"
#include "dux/rpc/transport.h"

namespace dux::cli {

int ServedClientMain(int argc, char** argv) {
  CLI::App app{"dux: dataframe pipelines on DuckDB, on one machine or many", "dux"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");
  RunOptions run;
  AddRunCommand(&app, &run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success&) {  // --help: the engine's, which lists every subcommand
    return ExecSibling(kEngineProgram, argv);
  } catch (const CLI::ParseError& e) {
    std::cerr << "dux: " << e.what() << " (see dux --help)\n";
    return 2;
  }
  if (run.server.empty()) return ExecSibling(kEngineProgram, argv);
  rpc::DropGrpcLog();
  return ExitCode(RunServed(run));
}

}  // namespace dux::cli
