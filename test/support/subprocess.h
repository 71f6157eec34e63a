// Running a real program from a test: argv, stdin from a file, stdout and stderr captured.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace dux::test {

struct ProcessOutcome {
  int exit_code = -1;  ///< -1 unless the process exited normally (or could not start)
  std::string out;
  std::string err;
};

struct ProcessOptions {
  std::string stdin_text;                                        ///< what the child reads
  std::filesystem::path working_directory;                       ///< empty: the caller's
  std::vector<std::pair<std::string, std::string>> environment;  ///< added to the caller's
};

/// Runs `argv` (argv[0] a path) to completion. Its stdin, stdout and stderr are files in
/// `scratch` (a directory the caller owns), so no pipe can fill up and block the child.
ProcessOutcome RunProcess(const std::vector<std::string>& argv,
                          const std::filesystem::path& scratch, const ProcessOptions& options = {});

std::string ReadFile(const std::filesystem::path& path);

/// The lines of a program's output, without their '\n'.
std::vector<std::string> Lines(const std::string& text);
/// Whether `part` occurs in `text` (a line of output, say).
bool Contains(const std::string& text, const std::string& part);
void WriteFile(const std::filesystem::path& path, const std::string& text);

}  // namespace dux::test
