#include "dux/pool/local_backend.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "dux/pool/command_runner.h"

namespace dux::pool {

namespace {

constexpr auto kStopGrace = std::chrono::seconds(10);

// Waits for `pid` to end within `grace`; true when it did (and was reaped).
bool WaitFor(pid_t pid, std::chrono::milliseconds grace) {
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = waitpid(pid, nullptr, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void StopProcess(pid_t pid) {
  kill(pid, SIGTERM);
  if (WaitFor(pid, kStopGrace)) return;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

}  // namespace

LocalBackend::~LocalBackend() {
  std::set<pid_t> left;
  {
    std::lock_guard lock(mu_);
    left.swap(running_);
  }
  for (pid_t pid : left) kill(pid, SIGTERM);
  for (pid_t pid : left) StopProcess(pid);
}

Result<std::string> LocalBackend::Start(const WorkerLaunch& launch) {
  if (launch.argv.empty()) return Status::InvalidArgument("local backend: no command");
  std::vector<char*> args = ExecArgv(launch.argv);
  pid_t pid = fork();
  if (pid < 0) return Status::IOError(std::string("local backend: fork: ") + std::strerror(errno));
  if (pid == 0) {
    // The worker's first stdout line (its address) is for whoever starts it by hand; the
    // pool learns the address when the worker joins. stderr stays the pool's log.
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
    }
    // The pool blocks SIGTERM/SIGINT in its threads; a worker must receive them.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  std::lock_guard lock(mu_);
  running_.insert(pid);
  return std::to_string(pid);
}

Status LocalBackend::Stop(const std::string& job_id) {
  pid_t pid = 0;
  try {
    pid = static_cast<pid_t>(std::stoi(job_id));
  } catch (const std::exception&) {
    return Status::InvalidArgument("local backend: \"" + job_id + "\" is not a process id");
  }
  {
    std::lock_guard lock(mu_);
    if (running_.erase(pid) == 0) return Status::OK();
  }
  StopProcess(pid);
  return Status::OK();
}

void LocalBackend::ReapLocked() {
  std::erase_if(running_, [](pid_t pid) {
    pid_t r = waitpid(pid, nullptr, WNOHANG);
    return r == pid || (r < 0 && errno == ECHILD);
  });
}

Result<std::vector<std::string>> LocalBackend::List() {
  std::lock_guard lock(mu_);
  ReapLocked();
  std::vector<std::string> ids;
  for (pid_t pid : running_) ids.push_back(std::to_string(pid));
  return ids;
}

}  // namespace dux::pool
