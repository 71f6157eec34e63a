// dux-client's command line (sibling_program.h): `dux run` with --server or $DUX_SERVER, parsed
// with the options dux-engine's `run` has, sent to the server by RunServed.
#pragma once

namespace dux::cli {

/// The exit code. Help, and a line that names no server after all, go to dux-engine, so that
/// both read as they do there.
int ServedClientMain(int argc, char** argv);

}  // namespace dux::cli
