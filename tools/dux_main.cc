// The dux binary.
#include "dux/cli/cli.h"

int main(int argc, char** argv) { return dux::cli::Main(argc, argv); }
