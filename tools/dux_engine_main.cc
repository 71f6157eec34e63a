// dux-engine: every dux command (dux/cli/sibling_program.h).
#include "dux/cli/cli.h"

int main(int argc, char** argv) { return dux::cli::Main(argc, argv); }
