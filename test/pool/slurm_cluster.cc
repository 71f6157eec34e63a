#include "slurm_cluster.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "free_port.h"
#include "subprocess.h"

namespace dux::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string ShortHostname() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  std::string host = name;
  return host.substr(0, host.find('.'));
}

// The program's path in /usr/sbin or /usr/bin, empty when in neither.
std::string Find(const char* program) {
  for (const char* dir : {"/usr/sbin/", "/usr/bin/"}) {
    std::string path = std::string(dir) + program;
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

}  // namespace

std::unique_ptr<SlurmCluster> SlurmCluster::Start(const fs::path& dir, std::string* why) {
  if (geteuid() != 0) {
    *why = "a Slurm cluster needs root";
    return nullptr;
  }
  for (const char* program : {"munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo"}) {
    if (Find(program).empty()) {
      *why = std::string(program) + " is not installed (Debian packages slurm-wlm and munge)";
      return nullptr;
    }
  }
  passwd* munge = getpwnam("munge");
  if (!munge) {
    *why = "no munge user";
    return nullptr;
  }
  auto cluster = std::unique_ptr<SlurmCluster>(new SlurmCluster());
  cluster->dir_ = dir;
  // munged runs as munge and refuses directories others may write.
  chmod(dir.c_str(), 0755);
  fs::path munge_dir = dir / "munge";
  fs::create_directories(munge_dir);
  fs::path key = munge_dir / "munge.key";
  ProcessOutcome made =
      RunProcess({Find("mungekey"), "--create", "--keyfile=" + key.string()}, dir);
  if (made.exit_code != 0) {
    *why = "mungekey failed: " + made.err;
    return nullptr;
  }
  chown(munge_dir.c_str(), munge->pw_uid, munge->pw_gid);
  chmod(munge_dir.c_str(), 0755);  // clients (slurmctld, slurmd, sbatch) reach the socket
  chown(key.c_str(), munge->pw_uid, munge->pw_gid);
  chmod(key.c_str(), 0600);
  fs::path socket = munge_dir / "munge.socket";
  ChildOptions munge_options;
  munge_options.stderr_file = munge_dir / "munged.err";  // munged may write there
  munge_options.run_as = std::make_pair(munge->pw_uid, munge->pw_gid);
  cluster->munged_ = ChildProcess::Start(
      {Find("munged"), "--foreground", "--force", "--key-file=" + key.string(),
       "--socket=" + socket.string(), "--pid-file=" + (munge_dir / "munged.pid").string(),
       "--log-file=" + (munge_dir / "munged.log").string(),
       "--seed-file=" + (munge_dir / "munged.seed").string()},
      munge_options, why);
  if (!cluster->munged_) return nullptr;
  for (int i = 0; i < 100 && !fs::exists(socket); ++i) std::this_thread::sleep_for(50ms);
  if (!fs::exists(socket)) {
    *why = "munged did not start: " + ReadFile(munge_dir / "munged.err") +
           ReadFile(munge_dir / "munged.log");
    return nullptr;
  }

  fs::path slurm = dir / "slurm";
  for (const char* sub : {"state", "spool", "log"}) fs::create_directories(slurm / sub);
  const std::string node = ShortHostname();
  const int cpus = static_cast<int>(std::thread::hardware_concurrency());
  std::string conf =
      "ClusterName=duxtest\nMailProg=/bin/true\nSlurmctldHost=" + node +
      "\nSlurmUser=root\nSlurmdUser=root\nAuthType=auth/munge\nCredType=cred/munge\n"
      "AuthInfo=socket=" +
      socket.string() + "\nSlurmctldPort=" + std::to_string(FreePort()) +
      "\nSlurmdPort=" + std::to_string(FreePort()) +
      "\nStateSaveLocation=" + (slurm / "state").string() +
      "\nSlurmdSpoolDir=" + (slurm / "spool").string() +
      "\nSlurmctldPidFile=" + (slurm / "slurmctld.pid").string() +
      "\nSlurmdPidFile=" + (slurm / "slurmd.pid").string() +
      "\nSlurmctldLogFile=" + (slurm / "log/slurmctld.log").string() +
      "\nSlurmdLogFile=" + (slurm / "log/slurmd.log").string() +
      "\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
      "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n"
      "JobCompType=jobcomp/none\nMpiDefault=none\nSwitchType=switch/none\n"
      "SchedulerType=sched/backfill\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
      "ReturnToService=2\nNodeName=" +
      node + " CPUs=" + std::to_string(cpus) +
      " RealMemory=2000 State=UNKNOWN\nPartitionName=debug Nodes=" + node +
      " Default=YES MaxTime=INFINITE State=UP\n";
  WriteFile(slurm / "slurm.conf", conf);
  ChildOptions options;
  options.environment = cluster->environment();
  options.stderr_file = dir / "slurmctld.err";
  cluster->slurmctld_ = ChildProcess::Start(
      {Find("slurmctld"), "-D", "-i", "-f", (slurm / "slurm.conf").string()}, options, why);
  if (!cluster->slurmctld_) return nullptr;
  options.stderr_file = dir / "slurmd.err";
  cluster->slurmd_ = ChildProcess::Start(
      {Find("slurmd"), "-D", "-f", (slurm / "slurm.conf").string()}, options, why);
  if (!cluster->slurmd_) return nullptr;
  for (int i = 0; i < 300; ++i) {
    std::string state = cluster->Run({"sinfo", "--noheader", "--format=%T"});
    if (state.rfind("idle", 0) == 0) return cluster;
    std::this_thread::sleep_for(100ms);
  }
  *why =
      "the Slurm node did not become idle within 30 s: " + ReadFile(slurm / "log/slurmctld.log") +
      ReadFile(dir / "slurmd.err");
  return nullptr;
}

SlurmCluster::~SlurmCluster() {
  // SIGTERM, so that each daemon ends its helpers (slurmctld's slurmscriptd) and reaps them.
  for (ChildProcess* daemon : {slurmd_.get(), slurmctld_.get(), munged_.get()}) {
    if (!daemon) continue;
    daemon->Signal(SIGTERM);
    daemon->Wait(10s);
  }
}

std::vector<std::pair<std::string, std::string>> SlurmCluster::environment() const {
  return {{"SLURM_CONF", (dir_ / "slurm/slurm.conf").string()}};
}

std::string SlurmCluster::Run(const std::vector<std::string>& argv) const {
  ProcessOptions options;
  options.environment = environment();
  std::vector<std::string> command = argv;
  command[0] = Find(argv[0].c_str());
  return RunProcess(command, dir_, options).out;
}

}  // namespace dux::test
