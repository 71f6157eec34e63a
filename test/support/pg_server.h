// A real PostgreSQL server for tests: a fresh cluster (initdb) in a temporary directory,
// listening on a free 127.0.0.1 port and on a unix socket in that directory, stopped and
// removed when the owner goes away.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "child_process.h"

namespace dux::test {

/// One PostgreSQL server owned by the test. The superuser is "dux" (no password, over the
/// socket and 127.0.0.1); every other role must give its password (scram-sha-256), so tests
/// can check password handling. As root, the cluster runs as the unprivileged user
/// `nobody` (initdb and postgres refuse root). The server dies with the test process even
/// when it crashes (parent-death signal). Not thread-safe.
class PgServer {
 public:
  /// Starts a server; nullptr with `*why` set when that is impossible here (no PostgreSQL
  /// binaries, no unprivileged user) or fails (the server's log is in `*why`). The binaries
  /// come from $DUX_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin.
  static std::unique_ptr<PgServer> Start(std::string* why);
  /// Stops the server (fast shutdown, then SIGKILL after 10 s) and removes its directory.
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  /// A libpq connection string for `user` on database `dbname` over the unix socket.
  std::string ConnInfo(const std::string& dbname = "postgres",
                       const std::string& user = "dux") const;
  /// The same over TCP on 127.0.0.1.
  std::string TcpConnInfo(const std::string& dbname = "postgres",
                          const std::string& user = "dux") const;
  int port() const { return port_; }
  const std::filesystem::path& directory() const { return dir_; }
  /// The server's log so far (for a failing test's message).
  std::string Log() const;

 private:
  PgServer() = default;
  std::filesystem::path dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> postgres_;
};

}  // namespace dux::test
