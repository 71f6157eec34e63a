#include "child_process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

#include "subprocess.h"

namespace dux::test {

namespace {

using Clock = std::chrono::steady_clock;

int OpenOutput(const std::filesystem::path& path) {
  if (path.empty()) return open("/dev/null", O_WRONLY);
  return open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
}

}  // namespace

std::unique_ptr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& args,
                                                  const ChildOptions& options, std::string* error) {
  if (args.empty()) {
    *error = "no program to run";
    return nullptr;
  }
  // Everything the child needs is prepared before fork: after it, only async-signal-safe
  // calls are made.
  std::vector<std::string> strings = args;
  std::vector<char*> argv;
  argv.reserve(strings.size() + 1);
  for (auto& a : strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> variables;
  for (char** e = environ; *e; ++e) {
    std::string variable = *e;
    bool replaced = false;
    for (const auto& [name, value] : options.environment) {
      replaced = replaced || variable.rfind(name + "=", 0) == 0;
    }
    if (!replaced) variables.push_back(std::move(variable));
  }
  for (const auto& [name, value] : options.environment) variables.push_back(name + "=" + value);
  std::vector<char*> envp;
  envp.reserve(variables.size() + 1);
  for (auto& v : variables) envp.push_back(v.data());
  envp.push_back(nullptr);
  int fds[2] = {-1, -1};
  if (options.stdout_file.empty() && pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::string("cannot create a pipe: ") + std::strerror(errno);
    return nullptr;
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("cannot fork: ") + std::strerror(errno);
    if (fds[0] >= 0) {
      close(fds[0]);
      close(fds[1]);
    }
    return nullptr;
  }
  if (pid == 0) {
    // Credentials first: changing them clears the parent-death signal set below.
    if (options.run_as) {
      if (setgroups(0, nullptr) != 0 || setgid(options.run_as->second) != 0 ||
          setuid(options.run_as->first) != 0) {
        _exit(126);
      }
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    int in = open("/dev/null", O_RDONLY);
    int out = options.stdout_file.empty() ? fds[1] : OpenOutput(options.stdout_file);
    int err = OpenOutput(options.stderr_file);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    // A blocked signal stays blocked across exec; the child starts with none.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execvpe(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (fds[1] >= 0) close(fds[1]);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, fds[0]));
}

ChildProcess::~ChildProcess() {
  if (!ended_) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

std::optional<std::string> ChildProcess::ReadLine(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    size_t newline = buffered_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffered_.substr(0, newline);
      buffered_.erase(0, newline + 1);
      return line;
    }
    if (stdout_fd_ < 0) return std::nullopt;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{stdout_fd_, POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char chunk[512];
    ssize_t n = read(stdout_fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buffered_.append(chunk, static_cast<size_t>(n));
  }
}

void ChildProcess::Signal(int signal) {
  if (!ended_) kill(pid_, signal);
}

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!ended_) {
    int status = 0;
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      ended_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      break;
    }
    if (done < 0 && errno != EINTR) {
      ended_ = -1000;  // not a child of ours (any more): nothing to wait for
      break;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return ended_;
}

std::optional<ListeningChild> StartListening(const std::vector<std::string>& argv,
                                             const ChildOptions& options,
                                             std::chrono::milliseconds timeout,
                                             std::string* error) {
  constexpr std::string_view kPrefix = "listening ";
  ListeningChild child;
  child.process = ChildProcess::Start(argv, options, error);
  if (!child.process) return std::nullopt;
  std::optional<std::string> line = child.process->ReadLine(timeout);
  if (line && line->rfind(kPrefix, 0) == 0) {
    child.address = line->substr(kPrefix.size());
    return child;
  }
  child.process.reset();  // killed and reaped: its stderr is complete
  std::string stderr_text = options.stderr_file.empty() ? "" : ReadFile(options.stderr_file);
  std::string command;
  for (const auto& arg : argv) command += (command.empty() ? "" : " ") + arg;
  *error = "`" + command + "` printed \"" + line.value_or("") +
           "\" instead of its address; stderr: " + stderr_text;
  return std::nullopt;
}

double CpuSeconds(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");  // a size of 0: read it as a stream
  std::string stat;
  std::getline(file, stat);
  size_t paren = stat.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return -1;
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  double utime = 0, stime = 0;
  // After the name: state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace dux::test
