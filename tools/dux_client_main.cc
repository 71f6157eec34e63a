// dux-client: `dux run --server`, without DuckDB (dux/cli/sibling_program.h).
#include "dux/cli/served_client.h"

int main(int argc, char** argv) { return dux::cli::ServedClientMain(argc, argv); }
