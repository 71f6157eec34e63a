// A program a test runs in the background (a server, a command to kill midway), with
// deadlines on everything a test waits for and a guaranteed kill on the way out.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dux::test {

struct ChildOptions {
  /// Where stdout goes; empty: a pipe the test reads with ReadLine.
  std::filesystem::path stdout_file;
  /// Where stderr goes; empty: /dev/null.
  std::filesystem::path stderr_file;
  std::vector<std::pair<std::string, std::string>> environment;  ///< over the caller's
  /// When set (the caller must be root), the child runs as this user and group, with no
  /// supplementary groups (e.g. a server that refuses to run as root).
  std::optional<std::pair<uid_t, gid_t>> run_as;
};

/// One child process, owned by this object. stdin is /dev/null. The child gets SIGKILL if
/// the test process dies, so a crashed test leaves no server behind. Not thread-safe.
class ChildProcess {
 public:
  /// Starts `argv` (argv[0] a path or a name on $PATH). nullptr, with `*error` saying why,
  /// when the pipe or the fork fails; a program that cannot be executed exits with 127.
  static std::unique_ptr<ChildProcess> Start(const std::vector<std::string>& argv,
                                             const ChildOptions& options, std::string* error);
  /// SIGKILL and reap when the child is still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  /// The next line of the piped stdout without its '\n'; nullopt at end of file or when
  /// `timeout` passes first.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);

  /// Sends `signal` unless the child has already been reaped.
  void Signal(int signal);

  /// Waits up to `timeout` for the child to end: its exit code, or minus the signal that
  /// ended it; nullopt while it is still running. Once it has ended, returns that at once.
  std::optional<int> Wait(std::chrono::milliseconds timeout);

 private:
  ChildProcess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}

  pid_t pid_;
  int stdout_fd_;  ///< -1 when stdout goes to a file
  std::string buffered_;
  std::optional<int> ended_;
};

/// A dux server (worker, registry, pool, serve) running, and where it listens.
struct ListeningChild {
  std::unique_ptr<ChildProcess> process;
  std::string address;  ///< HOST:PORT from its first line of stdout, "listening HOST:PORT"
};

/// Starts `argv` (stdout piped: options.stdout_file must be empty) and waits up to `timeout`
/// for its first line, "listening HOST:PORT". nullopt, with `*error` saying what it printed
/// instead and what its stderr file holds, when it cannot start or prints anything else in
/// time; the process is then killed.
std::optional<ListeningChild> StartListening(const std::vector<std::string>& argv,
                                             const ChildOptions& options,
                                             std::chrono::milliseconds timeout, std::string* error);

/// CPU seconds (user and system, all threads) process `pid` has used, from /proc/PID/stat;
/// -1 when unreadable.
double CpuSeconds(pid_t pid);

}  // namespace dux::test
