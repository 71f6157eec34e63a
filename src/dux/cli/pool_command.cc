// dux pool and dux pool status (docs/deploy.md).
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>

#include "dux/cli/commands.h"
#include "dux/cli/http_address.h"
#include "dux/cli/registry_status_page.h"
#include "dux/cli/stop_signals.h"
#include "dux/pool/command_backend.h"
#include "dux/pool/local_backend.h"
#include "dux/pool/slurm_backend.h"
#include "dux/rpc/pool_service.h"

namespace dux::cli {

namespace {

// The state directory, removed at exit when the pool made it.
class StateDir {
 public:
  static Result<std::unique_ptr<StateDir>> Open(const std::string& given) {
    auto dir = std::unique_ptr<StateDir>(new StateDir());
    if (!given.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(given, ec);
      if (ec) return Status::IOError("--state-dir " + given + ": " + ec.message());
      dir->path_ = std::filesystem::absolute(given).string();
      return dir;
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "dux-pool-XXXXXX").string();
    if (!mkdtemp(pattern.data())) return Status::IOError("cannot make a temporary directory");
    dir->path_ = pattern;
    dir->owned_ = true;
    return dir;
  }
  ~StateDir() {
    std::error_code ec;
    if (owned_) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  StateDir() = default;
  std::string path_;
  bool owned_ = false;
};

// Writes the token where only this user can read it; workers get the path, never the token.
Result<std::string> WriteTokenFile(const std::string& dir, const std::string& token) {
  std::string path = dir + "/token";
  std::filesystem::remove(path);
  mode_t old = umask(077);
  std::ofstream out(path);
  umask(old);
  out << token << "\n";
  out.close();
  if (!out) return Status::IOError("cannot write " + path);
  return path;
}

Result<std::unique_ptr<pool::Backend>> MakeBackend(const PoolCommandOptions& o,
                                                   const std::string& state_dir) {
  if (o.backend == "local") return std::unique_ptr<pool::Backend>(new pool::LocalBackend());
  if (o.backend == "slurm") {
    pool::SlurmOptions slurm = o.slurm;
    slurm.log_dir = state_dir + "/logs";
    std::error_code ec;
    std::filesystem::create_directories(slurm.log_dir, ec);
    return std::unique_ptr<pool::Backend>(new pool::SlurmBackend(slurm));
  }
  pool::CommandOptions command;
  command.start = o.start_command;
  command.stop = o.stop_command;
  command.timeout = Millis(o.boot_timeout);
  DUX_ASSIGN_OR_RETURN(auto backend, pool::CommandBackend::Make(command));
  return std::unique_ptr<pool::Backend>(std::move(backend));
}

std::string SelfBinary() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "dux" : self.string();
}

std::string Duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.1f}s", seconds);
  auto whole = static_cast<int64_t>(seconds);
  if (seconds < 3600) return fmt::format("{}m{:02}s", whole / 60, whole % 60);
  return fmt::format("{:.1f}h", seconds / 3600);
}

}  // namespace

Status Pool(const PoolCommandOptions& given) {
  PoolCommandOptions o = given;
  DUX_ASSIGN_OR_RETURN(o.token, ReadToken(o.token, o.token_file));
  sigset_t stop = StopSignals();
  if (o.heartbeat_ms < 10) return Status::InvalidArgument("--heartbeat-ms must be at least 10");
  if (o.min > o.max) {
    return Status::InvalidArgument(fmt::format("--min {} is above --max {}", o.min, o.max));
  }
  if (o.backend == "command" && (o.start_command.empty() || o.stop_command.empty())) {
    return Status::InvalidArgument("--backend command needs --start-command and --stop-command");
  }
  if (o.backend != "command" && (!o.start_command.empty() || !o.stop_command.empty())) {
    return Status::InvalidArgument("--start-command and --stop-command need --backend command");
  }
  DUX_ASSIGN_OR_RETURN(auto state, StateDir::Open(o.state_dir));
  DUX_ASSIGN_OR_RETURN(auto backend, MakeBackend(o, state->path()));

  DUX_ASSIGN_OR_RETURN(std::string http_address, HttpAddress(o.http, o.token));
  RegistryStatusPage page;
  rpc::RegistryService registry(o.token, std::chrono::milliseconds(o.heartbeat_ms),
                                page.ReportHandler());
  rpc::PoolService service(o.token, o.min, o.max);
  std::string bound;
  DUX_ASSIGN_OR_RETURN(auto server,
                       rpc::StartServer({o.listen, o.token, o.tls_cert, o.tls_key, o.tls_ca},
                                        {&registry, &service}, &bound));

  Telemetry telemetry;
  std::mutex log_mu;
  if (o.telemetry) {
    telemetry.Subscribe([&log_mu](const Event& e) {
      std::lock_guard lock(log_mu);
      std::cerr << ToJsonLine(e) << std::endl;
    });
  }
  pool::PoolOptions options;
  options.min = o.min;
  options.max = o.max;
  options.idle_shutdown = Millis(o.idle_shutdown);
  options.boot_timeout = Millis(o.boot_timeout);
  options.registry = o.registry_address.empty() ? bound : o.registry_address;
  options.worker_registry_timeout = Millis(o.worker_registry_timeout);
  options.worker_idle_exit = Millis(o.worker_idle_exit);
  options.telemetry = &telemetry;
  if (!o.token.empty()) {
    DUX_ASSIGN_OR_RETURN(options.token_file, WriteTokenFile(state->path(), o.token));
  }
  options.worker_command = {SelfBinary(), "worker", "--listen", o.worker_listen};
  if (o.threads > 0)
    options.worker_command.insert(options.worker_command.end(),
                                  {"--threads", std::to_string(o.threads)});
  if (!o.memory_limit.empty())
    options.worker_command.insert(options.worker_command.end(), {"--memory-limit", o.memory_limit});
  options.worker_command.insert(options.worker_command.end(), o.worker_args.begin(),
                                o.worker_args.end());

  rpc::ClientOptions client{o.token, o.tls_ca};
  DUX_ASSIGN_OR_RETURN(auto pool, pool::Pool::Start(options, std::move(backend),
                                                    rpc::MakePoolProbes(&registry, client)));
  registry.SetRetained(
      [p = pool.get()](const std::string& address) { return p->Retained(address); });
  service.SetPool(pool.get());
  std::cout << "listening " << bound << std::endl;
  DUX_RETURN_NOT_OK(page.Serve(http_address, o.token, &registry));
  rpc::ShowGrpcLog();
  WaitForStop(stop);
  // No call may reach the pool once it is gone: the server ends first; then the pool stops
  // every worker it started.
  page.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
  pool.reset();
  return Status::OK();
}

Status PoolStatus(const PoolCommandOptions& given) {
  PoolCommandOptions o = given;
  DUX_ASSIGN_OR_RETURN(o.token, ReadToken(o.token, o.token_file));
  DUX_ASSIGN_OR_RETURN(auto client,
                       rpc::PoolClient::Connect(o.status_address, {o.token, o.tls_ca}));
  DUX_ASSIGN_OR_RETURN(v1::PoolStatusReply reply, client->Status());
  std::cout << fmt::format("pool {}: backend {}, min {}, max {}, {} workers\n", o.status_address,
                           reply.backend(), reply.min(), reply.max(), reply.workers_size());
  std::cout << fmt::format("{:<28} {:<10} {:<22} {:<9} {:>9} {:>9}\n", "NAME", "JOB", "ADDRESS",
                           "STATE", "UPTIME", "IDLE");
  for (const auto& w : reply.workers()) {
    std::cout << fmt::format(
        "{:<28} {:<10} {:<22} {:<9} {:>9} {:>9}\n",
        w.name().empty() ? "(started by hand)" : w.name(), w.job_id().empty() ? "-" : w.job_id(),
        w.address().empty() ? "-" : w.address(), w.state(), Duration(w.uptime_seconds()),
        w.state() == "idle" ? Duration(w.idle_seconds()) : "-");
  }
  return Status::OK();
}

}  // namespace dux::cli
