#include "dux/cli/served_client.h"

#include <CLI/CLI.hpp>
#include <memory>

#include "dux/cli/commands.h"
#include "dux/cli/exit_code.h"
#include "dux/cli/run_options.h"
#include "dux/cli/sibling_program.h"
#include "dux/rpc/transport.h"

namespace dux::cli {

int ServedClientMain(int argc, char** argv) {
  std::unique_ptr<CLI::App> app = NewCommandLine();
  RunOptions run;
  AddRunCommand(app.get(), &run);
  try {
    app->parse(argc, argv);
  } catch (const CLI::Success&) {  // --help: the engine's, which lists every subcommand
    return ExecSibling(kEngineProgram, argv);
  } catch (const CLI::ParseError& e) {
    return UsageError(e);
  }
  if (run.server.empty()) return ExecSibling(kEngineProgram, argv);
  rpc::DropGrpcLog();
  return ExitCode(RunServed(run));
}

}  // namespace dux::cli
