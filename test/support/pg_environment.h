// One PostgreSQL server for a whole gtest binary: registered as a global test environment,
// started before the first test and stopped after the last.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

#include "pg_server.h"

namespace dux::test {

/// The binary's server while its tests run; null when none could start (tests then skip).
inline PgServer*& SharedPgServer() {
  static PgServer* server = nullptr;
  return server;
}

class PgEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    std::string why;
    server_ = PgServer::Start(&why);
    if (!server_) {
      std::fprintf(stderr, "PostgreSQL tests skipped: %s\n", why.c_str());
      return;
    }
    SharedPgServer() = server_.get();
  }
  void TearDown() override {
    SharedPgServer() = nullptr;
    server_.reset();
  }

 private:
  std::unique_ptr<PgServer> server_;
};

}  // namespace dux::test
