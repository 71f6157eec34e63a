#include "dux/rpc/local_cluster.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "dux/rpc/grpc_worker_client.h"

namespace dux::rpc {

namespace {

std::string FindBinary(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("DUX_BINARY"); env && *env) return env;
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec && self.filename() == "dux") return self.string();
  if (!ec && std::filesystem::exists(self.parent_path() / "dux")) {
    return (self.parent_path() / "dux").string();
  }
  return "dux";
}

// Reads the child's first stdout line ("listening HOST:PORT") within `timeout`.
Result<std::string> ReadFirstLine(int fd, std::chrono::milliseconds timeout) {
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Status(StatusCode::kDeadlineExceeded, "no address in time");
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buffer[256];
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IOError("it exited before printing its address");
    line.append(buffer, static_cast<size_t>(n));
  }
  return line.substr(0, line.find('\n'));
}

void Stop(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::vector<pid_t> left = pids;
  while (!left.empty()) {
    std::erase_if(left, [](pid_t pid) { return waitpid(pid, nullptr, WNOHANG) != 0; });
    if (left.empty()) break;
    if (std::chrono::steady_clock::now() > deadline) {
      for (pid_t pid : left) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

Result<std::unique_ptr<LocalCluster>> LocalCluster::Start(const LocalClusterOptions& options) {
  if (options.workers < 1) return Status::InvalidArgument("--local-workers must be at least 1");
  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  std::string binary = FindBinary(options.binary);
  auto cluster = std::unique_ptr<LocalCluster>(new LocalCluster());
  std::vector<int> pipes;
  for (int i = 0; i < options.workers; ++i) {
    // Threads shared out: the first ones take the remainder.
    int mine = std::max(1, threads / options.workers + (i < threads % options.workers ? 1 : 0));
    std::vector<std::string> args = {binary,        "worker",    "--listen",
                                     "127.0.0.1:0", "--threads", std::to_string(mine)};
    if (!options.memory_limit.empty()) {
      args.insert(args.end(), {"--memory-limit", options.memory_limit});
    }
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return Status::IOError("cannot create a pipe");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
      close(fds[0]);
      close(fds[1]);
      Stop(cluster->pids_);
      cluster->pids_.clear();
      return Status::IOError("cannot start a local worker: fork failed");
    }
    if (pid == 0) {
      // The workers die with their coordinator, even when it is killed.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(1);
      dup2(fds[1], STDOUT_FILENO);
      std::vector<char*> argv;
      argv.reserve(args.size() + 1);
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    cluster->pids_.push_back(pid);
    pipes.push_back(fds[0]);
  }
  Status failed;
  for (size_t i = 0; i < pipes.size(); ++i) {
    auto line = ReadFirstLine(pipes[i], std::chrono::seconds(30));
    close(pipes[i]);
    if (failed.ok() && !line.ok()) {
      failed =
          Status(line.status().code(), "local worker " + std::to_string(i) + " (" + binary +
                                           " worker) did not start: " + line.status().message());
    }
    if (failed.ok() && line->rfind("listening ", 0) != 0) {
      failed = Status::Internal("local worker " + std::to_string(i) + " printed \"" + *line +
                                "\" instead of its address");
    }
    if (failed.ok()) cluster->addresses_.push_back(line->substr(std::strlen("listening ")));
  }
  if (!failed.ok()) {
    Stop(cluster->pids_);
    cluster->pids_.clear();
    return failed;
  }
  for (const auto& address : cluster->addresses_) {
    DUX_ASSIGN_OR_RETURN(auto client, ConnectWorker(address, ClientOptions{}));
    cluster->clients_.push_back(std::move(client));
  }
  return cluster;
}

LocalCluster::~LocalCluster() {
  clients_.clear();
  Stop(pids_);
}

}  // namespace dux::rpc
