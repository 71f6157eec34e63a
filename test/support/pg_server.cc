#include "pg_server.h"

#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <thread>
#include <vector>

#include "free_port.h"
#include "subprocess.h"

namespace dux::test {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

// $DUX_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin holding initdb and postgres.
std::optional<fs::path> FindBinaries() {
  if (const char* bin = getenv("DUX_PG_BIN")) return fs::path(bin);
  std::optional<fs::path> best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    fs::path bin = e.path() / "bin";
    if (!fs::exists(bin / "initdb", ec) || !fs::exists(bin / "postgres", ec)) continue;
    int version = std::atoi(e.path().filename().c_str());
    if (version > best_version) {
      best_version = version;
      best = bin;
    }
  }
  return best;
}

void ChownTree(const fs::path& root, uid_t uid, gid_t gid) {
  (void)chown(root.c_str(), uid, gid);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    (void)chown(it->path().c_str(), uid, gid);
  }
}

}  // namespace

std::unique_ptr<PgServer> PgServer::Start(std::string* why) {
  std::optional<fs::path> bin = FindBinaries();
  if (!bin) {
    *why = "no PostgreSQL server binaries (set DUX_PG_BIN or install postgresql-15)";
    return nullptr;
  }
  ChildOptions as_user;
  if (getuid() == 0) {
    // initdb and postgres refuse to run as root.
    passwd* nobody = getpwnam("nobody");
    if (nobody == nullptr) {
      *why = "running as root and there is no user \"nobody\" to run PostgreSQL as";
      return nullptr;
    }
    as_user.run_as = std::make_pair(nobody->pw_uid, nobody->pw_gid);
  }
  // The socket path must stay under the 107 bytes of sun_path: a short directory in /tmp.
  std::string tmpl = "/tmp/dux-pg-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    *why = std::string("cannot create a temporary directory: ") + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<PgServer> server(new PgServer());
  server->dir_ = tmpl;
  const fs::path data = server->dir_ / "data";
  if (as_user.run_as) ChownTree(server->dir_, as_user.run_as->first, as_user.run_as->second);

  std::string error;
  ChildOptions initdb_options = as_user;
  initdb_options.stdout_file = server->dir_ / "initdb.log";
  initdb_options.stderr_file = server->dir_ / "initdb.err";
  auto initdb = ChildProcess::Start({(*bin / "initdb").string(), "-D", data.string(), "-U", "dux",
                                     "-A", "trust", "-E", "UTF8", "--no-locale", "-N"},
                                    initdb_options, &error);
  std::optional<int> code = initdb ? initdb->Wait(milliseconds(120000)) : std::nullopt;
  if (!initdb || code != 0) {
    *why = "initdb failed: " + error + ReadFile(server->dir_ / "initdb.err");
    return nullptr;
  }
  // The superuser "dux" gets in without a password; every other role must give one.
  {
    std::ofstream hba(data / "pg_hba.conf", std::ios::trunc);
    hba << "local all dux trust\n"
           "local all all scram-sha-256\n"
           "host all dux 127.0.0.1/32 trust\n"
           "host all all 127.0.0.1/32 scram-sha-256\n";
  }
  if (as_user.run_as) ChownTree(data, as_user.run_as->first, as_user.run_as->second);

  for (int attempt = 0; attempt < 3; ++attempt) {
    server->port_ = FreePort();
    ChildOptions options = as_user;
    options.stdout_file = server->dir_ / "postgres.out";
    options.stderr_file = server->dir_ / "postgres.log";
    server->postgres_ = ChildProcess::Start(
        {(*bin / "postgres").string(), "-D", data.string(), "-p", std::to_string(server->port_),
         "-k", server->dir_.string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
         "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=40"},
        options, &error);
    if (!server->postgres_) {
      *why = "cannot start postgres: " + error;
      return nullptr;
    }
    const std::string ping = server->ConnInfo() + " connect_timeout=2";
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (PQping(ping.c_str()) == PQPING_OK) return server;
      if (server->postgres_->Wait(milliseconds(50))) break;  // it exited
    }
    std::string log = server->Log();
    server->postgres_.reset();
    if (log.find("could not bind") == std::string::npos &&
        log.find("could not create any TCP/IP sockets") == std::string::npos) {
      *why = "postgres did not start: " + log;
      return nullptr;
    }
  }
  *why = "postgres found no free port: " + server->Log();
  return nullptr;
}

PgServer::~PgServer() {
  if (postgres_) {
    postgres_->Signal(SIGINT);  // fast shutdown: disconnects clients, stops cleanly
    (void)postgres_->Wait(milliseconds(10000));
    postgres_.reset();  // SIGKILL if it is still running
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::string PgServer::ConnInfo(const std::string& dbname, const std::string& user) const {
  return "host=" + dir_.string() + " port=" + std::to_string(port_) + " user=" + user +
         " dbname=" + dbname;
}

std::string PgServer::TcpConnInfo(const std::string& dbname, const std::string& user) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=" + user + " dbname=" + dbname;
}

std::string PgServer::Log() const { return ReadFile(dir_ / "postgres.log"); }

}  // namespace dux::test
