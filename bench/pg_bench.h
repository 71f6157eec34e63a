// What the PostgreSQL benchmarks share: timing, exiting on the first error, and the server
// they run against ($DUX_PG_CONNINFO, else one they start: test/support/pg_server.h).
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "dux/common/status.h"
#include "pg_server.h"

namespace dux::bench {

using Clock = std::chrono::steady_clock;

inline double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

template <typename T>
T Check(Result<T> r, const char* what) {
  if (!r.ok()) {
    fprintf(stderr, "%s: %s\n", what, r.status().message().c_str());
    exit(1);
  }
  return std::move(r).value();
}

inline void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    fprintf(stderr, "%s: %s\n", what, s.message().c_str());
    exit(1);
  }
}

/// $DUX_PG_CONNINFO, or the connection string of a server started into `*server` (exits
/// when none can be started).
inline std::string PgConnInfo(std::unique_ptr<test::PgServer>* server) {
  if (const char* c = getenv("DUX_PG_CONNINFO")) return c;
  std::string why;
  *server = test::PgServer::Start(&why);
  if (!*server) {
    fprintf(stderr, "no PostgreSQL: %s\n", why.c_str());
    exit(1);
  }
  return (*server)->ConnInfo();
}

}  // namespace dux::bench
