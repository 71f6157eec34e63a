#include "subprocess.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace dux::test {

namespace fs = std::filesystem;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

ProcessOutcome RunProcess(const std::vector<std::string>& args, const fs::path& scratch,
                          const ProcessOptions& options) {
  const fs::path in = scratch / "stdin", out = scratch / "stdout", err = scratch / "stderr";
  WriteFile(in, options.stdin_text);
  std::vector<std::string> strings = args;
  std::vector<char*> argv;
  argv.reserve(strings.size() + 1);
  for (auto& a : strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string work = options.working_directory.string();
  pid_t pid = fork();
  if (pid == 0) {
    int fd_in = open(in.c_str(), O_RDONLY);
    int fd_out = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fd_err = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd_in < 0 || fd_out < 0 || fd_err < 0) _exit(127);
    if (!work.empty() && chdir(work.c_str()) != 0) _exit(127);
    dup2(fd_in, STDIN_FILENO);
    dup2(fd_out, STDOUT_FILENO);
    dup2(fd_err, STDERR_FILENO);
    for (const auto& [name, value] : options.environment) setenv(name.c_str(), value.c_str(), 1);
    execv(argv[0], argv.data());
    _exit(127);
  }
  ProcessOutcome o;
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return o;
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  o.out = ReadFile(out);
  o.err = ReadFile(err);
  return o;
}

}  // namespace dux::test
