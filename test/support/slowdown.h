// How much slower than a normal build this build runs: test/sanitizers/run.sh sets
// DUX_TEST_SLOWDOWN (4), so that a test's bounds on how soon something happens, and the
// leases it gives workers, scale with it.
#pragma once

#include <cstdlib>

namespace dux::test {

/// DUX_TEST_SLOWDOWN when it is a number of at least 1; else 1.
inline double TestSlowdown() {
  const char* slowdown = std::getenv("DUX_TEST_SLOWDOWN");
  return slowdown != nullptr && std::atof(slowdown) >= 1 ? std::atof(slowdown) : 1.0;
}

}  // namespace dux::test
