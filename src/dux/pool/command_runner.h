// Runs a command line to completion and gives its exit code, stdout and stderr: what the
// slurm and command backends do with sbatch, scancel, squeue and user templates.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "dux/common/status.h"

namespace dux::pool {

struct CommandResult {
  int exit_code = -1;  ///< 128 + N when killed by signal N
  std::string out, err;
};

/// Runs argv (no shell) with stdin from /dev/null, killing it after `timeout`.
/// An error only when it cannot be started or did not end in time.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout);

/// argv as execv wants it: pointers into `args`, then nullptr. `args` must outlive it.
std::vector<char*> ExecArgv(const std::vector<std::string>& args);

/// The last non-empty line of `text`, trimmed: what an error quotes of a command's stderr.
std::string LastLine(const std::string& text);

/// `text` quoted for /bin/sh: 'a b' -> "'a b'".
std::string ShellQuote(const std::string& text);

}  // namespace dux::pool
