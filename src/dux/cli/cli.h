// The dux command line: `dux run`, `dux explain`, `dux demo`, `dux generate`.
#pragma once

namespace dux::cli {

/// Runs the dux command; returns the process exit code (0 on success, 1 when the pipeline
/// or its data is wrong, 2 for a usage mistake). Errors are one line on stderr.
int Main(int argc, char** argv);

}  // namespace dux::cli
