#include "dux/pool/slurm_backend.h"

#include <sstream>

#include "dux/pool/command_runner.h"

namespace dux::pool {

namespace {

constexpr auto kCommandTimeout = std::chrono::seconds(30);

// Runs a Slurm command; an error names it and quotes its stderr.
Result<std::string> Slurm(const std::vector<std::string>& argv) {
  auto run = RunCommand(argv, kCommandTimeout);
  if (!run.ok()) return Status(run.status().code(), "slurm backend: " + run.status().message());
  if (run->exit_code != 0) {
    std::string why = LastLine(run->err);
    return Status::Unavailable("slurm backend: " + argv[0] + " exited " +
                               std::to_string(run->exit_code) + (why.empty() ? "" : ": " + why));
  }
  return std::move(run->out);
}

}  // namespace

Result<std::string> SlurmBackend::Start(const WorkerLaunch& launch) {
  std::string command = "exec";
  for (const auto& a : launch.argv) command += " " + ShellQuote(a);
  std::vector<std::string> argv = {
      "sbatch",
      "--parsable",
      "--job-name=" + launch.name,
      "--cpus-per-task=" + std::to_string(options_.cpus_per_task),
      "--time=" + options_.time,
      "--output=" + (options_.log_dir.empty() ? std::string("/dev/null")
                                              : options_.log_dir + "/" + launch.name + ".log"),
  };
  if (!options_.mem.empty()) argv.push_back("--mem=" + options_.mem);
  if (!options_.partition.empty()) argv.push_back("--partition=" + options_.partition);
  if (!options_.account.empty()) argv.push_back("--account=" + options_.account);
  argv.push_back("--wrap=" + command);
  DUX_ASSIGN_OR_RETURN(std::string out, Slurm(argv));
  // --parsable prints "JOBID" or "JOBID;CLUSTER".
  std::string id = LastLine(out);
  id = id.substr(0, id.find(';'));
  if (id.empty()) return Status::Unavailable("slurm backend: sbatch printed no job id");
  std::lock_guard lock(mu_);
  started_.insert(id);
  return id;
}

Status SlurmBackend::Stop(const std::string& job_id) {
  {
    std::lock_guard lock(mu_);
    started_.erase(job_id);
  }
  return Slurm({"scancel", job_id}).status();
}

Result<std::vector<std::string>> SlurmBackend::List() {
  std::set<std::string> mine;
  {
    std::lock_guard lock(mu_);
    mine = started_;
  }
  if (mine.empty()) return std::vector<std::string>{};
  DUX_ASSIGN_OR_RETURN(std::string out, Slurm({"squeue", "--noheader", "--format=%i"}));
  std::vector<std::string> ids;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::string id = LastLine(line);
    if (mine.count(id)) ids.push_back(id);
  }
  return ids;
}

}  // namespace dux::pool
