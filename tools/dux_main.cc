// `dux`: replaces itself with dux-client or dux-engine (dux/cli/sibling_program.h).
#include "dux/cli/sibling_program.h"

int main(int argc, char** argv) {
  using namespace dux::cli;
  return ExecSibling(WantsClient(argc, argv) ? kClientProgram : kEngineProgram, argv);
}
